//! 10,000 `sleep` processes (the `many` scenario's second part; taskmaster only —
//! supervisord needs minutes for 1,000 already): start → all RUNNING against ten times the
//! N = 1,000 figure of the same run, RSS, idle CPU, a `status` round trip, `stop all`, and,
//! with the dashboard on a terminal the bench owns, key → frame with 10,000 rows.

use std::time::{Duration, Instant};

use super::dashboard::screen::Screen;
use super::dashboard::{COLS, KEY_PAIRS, ROWS, help_round_trip};
use super::many::{IdleThreads, last_running, last_spawn, stop};
use super::ms;
use crate::daemon::{Daemon, Kind, wait_running};
use crate::procfs;
use crate::report::{Goal, Report};
use crate::taskmaster::Taskmaster;
use crate::{Ctx, Res};

/// 10,000 `sleep`s with output discarded: one descriptor each (stdin's pipe) instead of three,
/// so they fit a hard limit of 20,000 that taskmaster may not raise (no CAP_SYS_RESOURCE in
/// the container the figures were taken in; with captured output it runs 6,640 and says why).
fn sleepers(n: u32) -> Vec<crate::daemon::Program> {
    let mut p = super::many::sleepers(n);
    for prog in &mut p {
        prog.stdout = crate::daemon::Output::Discard;
        prog.stderr = crate::daemon::Output::Discard;
    }
    p
}

const S: &str = "many";
const N: u32 = 10_000;
const IDLE: Duration = Duration::from_secs(10);
const UP: &str = "10,000 procs: start → all RUNNING (log)";
const RATIO: &str = "10,000 procs: all RUNNING ÷ (10 × N=1,000's)";
const SPAWNED: &str = "10,000 procs: start → all spawned (event log)";
const RSS: &str = "10,000 procs: RSS";
const IDLE_CPU: &str = "10,000 procs: idle CPU over 10 s";
const STATUS: &str = "10,000 procs: status round trip";
const STOP: &str = "10,000 procs: `stop all` returns";
const KEY: &str = "10,000 rows: dashboard key → frame on screen";

pub fn run(ctx: &Ctx, report: &mut Report, n1000: Option<f64>) {
    report.declare(S, UP, "s", Goal::None, None);
    report.declare(S, RATIO, "×", Goal::AtMost(1.3), None);
    report.declare(S, SPAWNED, "s", Goal::None, None);
    report.declare(S, RSS, "MiB", Goal::AtMost(40.0), None);
    report.declare(S, IDLE_CPU, "%", Goal::AtMost(0.05), None);
    IdleThreads::new("10,000").declare(report);
    report.declare(S, STATUS, "ms", Goal::None, None);
    report.declare(S, STOP, "ms", Goal::None, None);
    report.declare(S, KEY, "ms", Goal::AtMost(50.0), None);
    if !ctx.kinds.contains(&Kind::Taskmaster) {
        return;
    }
    if let Err(e) = headless(ctx, report, n1000) {
        report.note(format!("many: taskmaster at 10,000 failed: {e}"));
    }
    if let Err(e) = dashboard(ctx, report) {
        report.note(format!("many: dashboard at 10,000 rows failed: {e}"));
    }
    report.note(
        "many: supervisord is not run at 10,000 here (it takes ~14 s for 1,000); the \
         `supervisord10k` scenario runs it, with a cap"
            .to_string(),
    );
}

fn headless(ctx: &Ctx, report: &mut Report, n1000: Option<f64>) -> Res<()> {
    let t0 = Instant::now();
    let mut r = ctx.launch(Kind::Taskmaster, |_| sleepers(N))?;
    let d = r.d.as_mut();
    wait_running(d, N as usize, Duration::from_secs(600))?;
    let secs = last_running(d.log_path()).unwrap_or(t0.elapsed().as_secs_f64());
    report.add(S, UP, "taskmaster", secs);
    if let Some(base) = n1000 {
        report.add(S, RATIO, "taskmaster", secs / (10.0 * base));
    }
    if let Some(s) = last_spawn(d.log_path()) {
        report.add(S, SPAWNED, "taskmaster", s);
    }
    let pid = d.pid();
    let cpu0 = procfs::cpu_seconds(pid).ok_or("daemon gone")?;
    let threads0 = IdleThreads::read(pid);
    std::thread::sleep(IDLE);
    let cpu1 = procfs::cpu_seconds(pid).ok_or("daemon gone")?;
    IdleThreads::new("10,000").add(report, threads0, IdleThreads::read(pid), IDLE);
    report.add(
        S,
        IDLE_CPU,
        "taskmaster",
        (cpu1 - cpu0) / IDLE.as_secs_f64() * 100.0,
    );
    let rss = procfs::rss_kib(pid).ok_or("daemon gone")? as f64 / 1024.0;
    report.add(S, RSS, "taskmaster", rss);
    for _ in 0..ctx.repeats(5) {
        let t = Instant::now();
        let rows = d.status()?.len();
        report.add(S, STATUS, "taskmaster", ms(t.elapsed()));
        if rows != N as usize {
            return Err(format!("status listed {rows} processes").into());
        }
    }
    let t = Instant::now();
    d.stop_all()?;
    report.add(S, STOP, "taskmaster", ms(t.elapsed()));
    stop(r)
}

/// The dashboard on 10,000 running processes: the help overlay opened and closed, each key
/// timed to its frame on screen.
fn dashboard(ctx: &Ctx, report: &mut Report) -> Res<()> {
    let dir = ctx.dir()?;
    let mut d = Taskmaster::prepare(dir.path(), &sleepers(N))?;
    let err = dir.path().join("daemon.err");
    let config = dir.path().join("taskmaster.toml");
    let mut screen = Screen::spawn(&ctx.tm_bin, &config, &err, COLS, ROWS)?;
    d.connect(Duration::from_secs(60))?;
    wait_running(&mut d, N as usize, Duration::from_secs(600))?;
    // Settled: the last snapshots drawn.
    std::thread::sleep(Duration::from_secs(2));
    let _ = screen.take();
    for i in 0..KEY_PAIRS {
        for v in help_round_trip(&mut screen, i)? {
            report.add(S, KEY, "taskmaster", v);
        }
    }
    d.shutdown()
}
