//! The dashboard's cost while a child writes 1 GiB of lines to captured stdout (shown live in
//! the tail pane): taskmaster run in a real terminal (tmux), against the same run headless.
//! Skipped, with a note, when tmux is missing or the binary shows no dashboard.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::daemon::{Daemon, Output, Program, wait_for};
use crate::guard;
use crate::procfs;
use crate::report::{Goal, Report};
use crate::taskmaster::Taskmaster;
use crate::{Ctx, Res};

const GIB: u64 = 1 << 30;

fn writer() -> Vec<Program> {
    let mut p = Program::new("writer", &format!("sh -c 'yes | head -c {GIB}'"));
    p.autostart = false;
    p.autorestart = "never";
    p.starttime = 0.0;
    p.stdout = Output::Capture;
    p.stderr = Output::Discard;
    vec![p]
}

/// A tmux server of our own running taskmaster in its one pane; killed on drop.
struct Tmux {
    socket: String,
    pid: i32,
}

impl Tmux {
    fn capture(&self) -> String {
        Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        if self.pid > 0 {
            guard::kill_tree(self.pid);
            guard::unregister(self.pid);
        }
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .stderr(Stdio::null())
            .status();
    }
}

/// Start `writer`, wait for it to exit: (seconds, taskmaster CPU-seconds).
fn one_gib(d: &mut dyn Daemon, pid: i32) -> Res<(f64, f64)> {
    let cpu0 = procfs::cpu_seconds(pid).ok_or("taskmaster gone")?;
    let t0 = Instant::now();
    d.start("writer")?;
    wait_for(
        Duration::from_secs(120),
        Duration::from_millis(10),
        "writer to exit",
        || {
            Ok(d.status()?
                .iter()
                .all(|p| p.state == "EXITED")
                .then_some(()))
        },
    )?;
    let secs = t0.elapsed().as_secs_f64();
    Ok((
        secs,
        procfs::cpu_seconds(pid).ok_or("taskmaster gone")? - cpu0,
    ))
}

pub fn run(ctx: &Ctx, report: &mut Report) {
    const S: &str = "dashboard";
    let cpu_dash = "dashboard: taskmaster CPU per GiB";
    let cpu_headless = "headless: taskmaster CPU per GiB";
    let secs_dash = "dashboard: 1 GiB of lines, wall time";
    let secs_headless = "headless: 1 GiB of lines, wall time";
    report.declare(S, cpu_headless, "CPU-s", Goal::None, None);
    report.declare(S, cpu_dash, "CPU-s", Goal::None, None);
    report.declare(S, secs_headless, "s", Goal::None, None);
    report.declare(S, secs_dash, "s", Goal::None, None);
    let names = [cpu_headless, cpu_dash, secs_headless, secs_dash];
    if let Err(e) = measure(ctx, report, S, names) {
        report.note(format!("dashboard: skipped: {e}"));
    }
}

fn measure(ctx: &Ctx, report: &mut Report, s: &'static str, names: [&str; 4]) -> Res<()> {
    if Command::new("tmux").arg("-V").output().is_err() {
        return Err("tmux is not installed".into());
    }
    let n = ctx.repeats(3);
    {
        let mut r = ctx.launch(crate::daemon::Kind::Taskmaster, |_| writer())?;
        for _ in 0..n {
            let pid = r.d.pid();
            let (secs, cpu) = one_gib(r.d.as_mut(), pid)?;
            report.add(s, names[0], "taskmaster", cpu);
            report.add(s, names[2], "taskmaster", secs);
        }
    }
    let dir = ctx.dir()?;
    let mut d = Taskmaster::prepare(dir.path(), &writer())?;
    let mut tmux = start_in_tmux(&ctx.tm_bin, dir.path())?;
    d.connect(Duration::from_secs(10))?;
    let pid = d.pid();
    tmux.pid = pid;
    guard::register(pid);
    wait_for(
        Duration::from_secs(10),
        Duration::from_millis(50),
        "the dashboard on screen",
        || Ok(tmux.capture().contains("writer").then_some(())),
    )
    .map_err(|_| {
        let screen = tmux.capture();
        format!(
            "the binary in a terminal showed no dashboard within 10 s (screen: {:?})",
            screen.trim()
        )
    })?;
    for _ in 0..n {
        let (secs, cpu) = one_gib(&mut d, pid)?;
        report.add(s, names[1], "taskmaster", cpu);
        report.add(s, names[3], "taskmaster", secs);
    }
    drop(tmux);
    Ok(())
}

fn start_in_tmux(bin: &Path, dir: &Path) -> Res<Tmux> {
    let socket = format!("tm-bench-{}", std::process::id());
    let cmd = format!(
        "'{}' -c '{}' 2>'{}'",
        bin.display(),
        dir.join("taskmaster.toml").display(),
        dir.join("daemon.err").display()
    );
    let ok = Command::new("tmux")
        .args([
            "-L",
            &socket,
            "new-session",
            "-d",
            "-x",
            "120",
            "-y",
            "40",
            &cmd,
        ])
        .status()?
        .success();
    if !ok {
        return Err("tmux new-session failed".into());
    }
    Ok(Tmux { socket, pid: 0 })
}
