//! supervisord at 10,000 processes (issue 13: "and supervisord at 10,000 if it gets there
//! within a few minutes; report when it does not"): the `many` scenario's 10,000 `sleep`s
//! (output discarded, as taskmaster's 10,000 run), given [`CAP`] to reach all RUNNING. When it
//! does not, how far it got: RUNNING when every process has settled (RUNNING or FATAL) or at
//! the cap, FATAL, and its first spawn error. Needs `--compare supervisord`; taskmaster's
//! 10,000 figures are the `many` scenario's.

use std::time::{Duration, Instant};

use crate::daemon::{Kind, Output, Program};
use crate::procfs;
use crate::report::{Goal, Report};
use crate::{Ctx, Res};

const S: &str = "supervisord10k";
const N: u32 = 10_000;
/// How long supervisord gets to start them all.
const CAP: Duration = Duration::from_secs(300);
/// A progress line every this often, so a long run shows where it is.
const PROGRESS: Duration = Duration::from_secs(30);

const UP: &str = "10,000 procs: start → all RUNNING (within the cap)";
const AT_CAP: &str = "10,000 procs: RUNNING when all settled (RUNNING or FATAL) or at the cap";
const RSS: &str = "10,000 procs: RSS at the end";

fn sleepers() -> Vec<Program> {
    let mut p = Program::new("sleeper", "sleep 100000");
    p.numprocs = N;
    p.starttime = 1.0;
    p.stdout = Output::Discard;
    p.stderr = Output::Discard;
    vec![p]
}

pub fn run(ctx: &Ctx, report: &mut Report) {
    report.declare(S, UP, "s", Goal::AtMost(CAP.as_secs_f64()), None);
    report.declare(S, AT_CAP, "procs", Goal::Exactly(f64::from(N)), None);
    report.declare_info(S, RSS, "MiB");
    if !ctx.kinds.contains(&Kind::Supervisord) {
        report.note(format!(
            "{S}: skipped: run with `--compare supervisord` (taskmaster's 10,000 figures are the `many` scenario's)"
        ));
        return;
    }
    if let Err(e) = supervisord(ctx, report) {
        report.note(format!("{S}: supervisord failed: {e}"));
    }
}

/// What supervisord's log says so far: processes that entered RUNNING, that entered FATAL,
/// and the first spawn error.
fn log_counts(log: &std::path::Path) -> (usize, usize, Option<String>) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let running = text.matches("entered RUNNING state").count();
    let fatal = text.matches("entered FATAL state").count();
    let first_error = text
        .lines()
        .find(|l| l.contains("spawnerr"))
        .map(|l| l.trim().to_string());
    (running, fatal, first_error)
}

/// Progress is read from supervisord's log (one `entered RUNNING state` line a process), not
/// over XML-RPC: at 10,000 processes a `getAllProcessInfo` waited minutes behind the spawning,
/// so a status poll could neither keep the cap nor say how far it got.
fn supervisord(ctx: &Ctx, report: &mut Report) -> Res<()> {
    let t0 = Instant::now();
    let r = ctx.launch(Kind::Supervisord, |_| sleepers())?;
    let log = r.d.log_path().to_path_buf();
    let mut next_progress = PROGRESS;
    let n = N as usize;
    let (running, fatal, first_error, settled) = loop {
        let (running, fatal, first_error) = log_counts(&log);
        let elapsed = t0.elapsed();
        if running + fatal >= n {
            break (running, fatal, first_error, Some(elapsed));
        }
        if elapsed >= CAP {
            break (running, fatal, first_error, None);
        }
        if elapsed >= next_progress {
            println!(
                "   supervisord: {running} RUNNING, {fatal} FATAL of {N} after {:.0} s",
                elapsed.as_secs_f64()
            );
            next_progress += PROGRESS;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    report.add(S, AT_CAP, "supervisord", running as f64);
    if running == n
        && let Some(up) = settled
    {
        report.add(S, UP, "supervisord", up.as_secs_f64());
    }
    if let Some(kib) = procfs::rss_kib(r.d.pid()) {
        report.add(S, RSS, "supervisord", kib as f64 / 1024.0);
    }
    let why = first_error
        .map(|l| format!("; its log's first spawn error: {l}"))
        .unwrap_or_default();
    report.note(match settled {
        Some(t) if running == n => {
            format!("{S}: supervisord ran all {N} in {:.0} s", t.as_secs_f64())
        }
        Some(t) => format!(
            "{S}: supervisord settled after {:.0} s with {running} RUNNING and {fatal} FATAL{why}; \
             open-file limit {}",
            t.as_secs_f64(),
            nofile_limit()
        ),
        None => format!(
            "{S}: supervisord did not get there within {} s: {running} RUNNING, {fatal} FATAL{why}; \
             open-file limit {}",
            CAP.as_secs(),
            nofile_limit()
        ),
    });
    // 10,000 children, and supervisord may be slow to answer: they are killed with it on drop.
    drop(r);
    Ok(())
}

/// The bench's (so the daemon's) soft and hard open-file limits.
fn nofile_limit() -> String {
    match nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) => format!("{soft} (hard {hard})"),
        Err(_) => "unknown".into(),
    }
}
