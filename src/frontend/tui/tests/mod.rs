//! Dashboard unit tests: hand-built snapshots rendered into ratatui's `TestBackend`
//! (`render.rs`) and key events in, effects out (`keys.rs`).

mod keys;
mod render;
mod stream;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::app::App;
use super::command_bar::CommandBar;
use super::view;
use crate::supervisor::{ExitCause, ExitInfo, ExitKind, ProcessInfo, Snapshot, StateName};

/// The fixed "now" of every test.
pub fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn ago(secs: u64) -> SystemTime {
    now() - Duration::from_secs(secs)
}

pub fn process(name: &str, state: StateName, pid: Option<u32>) -> ProcessInfo {
    ProcessInfo {
        name: name.to_string(),
        program: name.split(':').next().unwrap_or(name).to_string(),
        state,
        pid,
        since: ago(10),
        started_at: pid.map(|_| ago(67)),
        restarts: 0,
        retries: 0,
        last_exit: None,
        retry_at: None,
        health: None,
        depends_on: Vec::new(),
        reason: String::new(),
        pty: None,
        stopped_by: None,
    }
}

/// One process in every state, with fixed pids and uptimes.
pub fn snapshot() -> Snapshot {
    let mut web = process("web", StateName::Running, Some(4242));
    web.restarts = 2;
    web.last_exit = Some(ExitInfo {
        kind: ExitKind::Code(1),
        cause: ExitCause::Died { expected: false },
        at: ago(100),
    });
    let mut backoff = process("worker:worker_00", StateName::Backoff, None);
    backoff.reason = "Exited too quickly (process log may have details)".into();
    let mut fatal = process("broken", StateName::Fatal, None);
    fatal.reason = "can't find command '/no/such/bin'".into();
    let mut batch = process("batch", StateName::Exited, None);
    batch.last_exit = Some(ExitInfo {
        kind: ExitKind::Code(2),
        cause: ExitCause::Died { expected: true },
        at: ago(30),
    });
    Snapshot {
        config_path: PathBuf::from("/etc/taskmaster.toml"),
        taskmaster_pid: 1000,
        taskmaster_started: ago(3725),
        taken: now(),
        processes: vec![
            batch,
            fatal,
            process("cache", StateName::Stopping, Some(300)),
            process("db", StateName::Starting, Some(200)),
            process("ghost", StateName::Unknown, None),
            process("idle", StateName::Stopped, None),
            web,
            backoff,
        ],
    }
}

pub fn app() -> App {
    let mut app = App::new(
        Arc::new(snapshot()),
        PathBuf::from("/etc/taskmaster.toml"),
        CommandBar::new(crate::command::History::load(None)),
    );
    app.color = true;
    app
}

/// Draws `app` on a `w`x`h` test terminal and returns its lines.
pub fn draw(app: &mut App, w: u16, h: u16) -> Vec<String> {
    app.size = (w, h);
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    t.draw(|f| view::render(f, app, now())).expect("draw");
    let buf = t.backend().buffer().clone();
    (0..h)
        .map(|y| (0..w).map(|x| buf[(x, y)].symbol()).collect::<String>())
        .collect()
}

/// The style of the first cell of `needle` on the screen.
pub fn style_of(app: &mut App, w: u16, h: u16, needle: &str) -> Option<ratatui::style::Style> {
    app.size = (w, h);
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    t.draw(|f| view::render(f, app, now())).expect("draw");
    let buf = t.backend().buffer().clone();
    for y in 0..h {
        let line: String = (0..w).map(|x| buf[(x, y)].symbol()).collect();
        if let Some(i) = line.find(needle) {
            let x = line[..i].chars().count() as u16;
            return Some(buf[(x, y)].style());
        }
    }
    None
}

pub fn dump(lines: &[String]) -> String {
    lines.join("\n")
}
