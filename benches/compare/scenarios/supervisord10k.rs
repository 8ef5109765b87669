//! supervisord at 10,000 processes (issue 13: "and supervisord at 10,000 if it gets there
//! within a few minutes; report when it does not"): the `many` scenario's 10,000 `sleep`s
//! (output discarded, as taskmaster's 10,000 run), given [`CAP`] to reach all RUNNING. When it
//! does not, how far it got: RUNNING at the cap, and the other states it showed. Needs
//! `--compare supervisord`; taskmaster's 10,000 figures are the `many` scenario's.

use std::collections::BTreeMap;
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
const AT_CAP: &str = "10,000 procs: RUNNING at the end (all, or at the cap)";
const RSS: &str = "10,000 procs: RSS at the end";
const STATUS: &str = "10,000 procs: status round trip at the end";

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
    report.declare_info(S, STATUS, "ms");
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

fn supervisord(ctx: &Ctx, report: &mut Report) -> Res<()> {
    let t0 = Instant::now();
    let mut r = ctx.launch(Kind::Supervisord, |_| sleepers())?;
    let d = r.d.as_mut();
    let mut next_progress = PROGRESS;
    let (states, done) = loop {
        let t = Instant::now();
        let st = d.status()?;
        let mut states: BTreeMap<String, usize> = BTreeMap::new();
        for p in &st {
            *states.entry(p.state.clone()).or_default() += 1;
        }
        let running = states.get("RUNNING").copied().unwrap_or(0);
        let elapsed = t0.elapsed();
        if running == N as usize {
            break (states, Some(elapsed));
        }
        if elapsed >= CAP {
            break (states, None);
        }
        if elapsed >= next_progress {
            println!(
                "   supervisord: {running} of {N} RUNNING after {:.0} s (status took {:.0} ms)",
                elapsed.as_secs_f64(),
                t.elapsed().as_secs_f64() * 1e3
            );
            next_progress += PROGRESS;
        }
        // As `wait_running`: polling costs it at most ~10 % of its time.
        std::thread::sleep((t.elapsed() * 10).max(Duration::from_millis(20)));
    };
    let running = states.get("RUNNING").copied().unwrap_or(0);
    report.add(S, AT_CAP, "supervisord", running as f64);
    if let Some(up) = done {
        report.add(S, UP, "supervisord", up.as_secs_f64());
    }
    let t = Instant::now();
    let _ = d.status()?;
    report.add(S, STATUS, "supervisord", t.elapsed().as_secs_f64() * 1e3);
    if let Some(kib) = procfs::rss_kib(d.pid()) {
        report.add(S, RSS, "supervisord", kib as f64 / 1024.0);
    }
    let states: Vec<String> = states.iter().map(|(s, n)| format!("{n} {s}")).collect();
    let why = std::fs::read_to_string(d.log_path())
        .unwrap_or_default()
        .lines()
        .find(|l| l.contains("Too many open files") || l.contains("spawnerr"))
        .map(|l| format!("; its log's first spawn error: {}", l.trim()))
        .unwrap_or_default();
    report.note(match done {
        Some(up) => format!(
            "{S}: supervisord ran all {N} in {:.0} s ({})",
            up.as_secs_f64(),
            states.join(", ")
        ),
        None => format!(
            "{S}: supervisord did not get there within {} s: {}{why}; open-file limit {}",
            CAP.as_secs(),
            states.join(", "),
            nofile_limit()
        ),
    });
    // 10,000 children: SIGTERM, and what is left is killed with the daemon on drop.
    let _ = r.d.shutdown();
    Ok(())
}

/// The bench's (so the daemon's) soft and hard open-file limits.
fn nofile_limit() -> String {
    match nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) => format!("{soft} (hard {hard})"),
        Err(_) => "unknown".into(),
    }
}
