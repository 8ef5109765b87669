//! 1,000 `sleep` processes (starttime 1): from daemon start to all RUNNING, then the
//! daemon's RSS, its CPU over 10 idle seconds, and its thread count against N = 10. Then
//! 10,000 (taskmaster only, see `scale.rs`): the same figures, a `status` round trip,
//! `stop all`, and the dashboard's key → frame with 10,000 rows.

use std::time::{Duration, Instant};

use super::each_kind;
use crate::daemon::{Kind, Program, log_line_ms, wait_running};
use crate::procfs;
use crate::report::{Goal, Report};
use crate::{Ctx, Res};

const IDLE: Duration = Duration::from_secs(10);

pub(super) fn sleepers(n: u32) -> Vec<Program> {
    let mut p = Program::new("sleeper", "sleep 100000");
    p.numprocs = n;
    p.starttime = 1.0;
    vec![p]
}

pub fn run(ctx: &Ctx, report: &mut Report) {
    const S: &str = "many";
    let up = "1,000 procs: start → all RUNNING (log)";
    let rss = "1,000 procs: RSS";
    let idle = "1,000 procs: idle CPU over 10 s";
    let idle_threads = IdleThreads::new("1,000");
    let t1000 = "threads at N = 1,000";
    let t10 = "threads at N = 10";
    let tdiff = "threads N=1,000 − N=10";
    let spawned = "1,000 procs: start → all spawned (event log)";
    report.declare(S, up, "s", Goal::AtMost(1.3), Some("4.5 s"));
    report.declare(S, spawned, "s", Goal::None, None);
    report.declare(S, rss, "MiB", Goal::AtMost(15.0), Some("40 MiB"));
    report.declare(S, idle, "%", Goal::AtMost(0.05), None);
    idle_threads.declare(report);
    report.declare_info(S, t10, "threads");
    report.declare_info(S, t1000, "threads");
    report.declare(S, tdiff, "threads", Goal::Exactly(0.0), None);
    let n = ctx.repeats(1);
    // taskmaster's N = 1,000 figures of this run: the 10,000 target is relative to them.
    let mut tm_1000 = Vec::new();
    each_kind(ctx, report, S, |kind, report| {
        for _ in 0..n {
            let threads_10 = {
                let mut r = ctx.launch(kind, |_| sleepers(10))?;
                wait_running(r.d.as_mut(), 10, Duration::from_secs(30))?;
                procfs::threads(r.d.pid()).ok_or("daemon gone")?
            };
            let t0 = Instant::now();
            let mut r = ctx.launch(kind, |_| sleepers(1000))?;
            let d = r.d.as_mut();
            wait_running(d, 1000, Duration::from_secs(120))?;
            let secs = last_running(d.log_path()).unwrap_or(t0.elapsed().as_secs_f64());
            let pid = d.pid();
            let threads_1000 = procfs::threads(pid).ok_or("daemon gone")?;
            let cpu0 = procfs::cpu_seconds(pid).ok_or("daemon gone")?;
            let threads0 = IdleThreads::read(pid);
            std::thread::sleep(IDLE);
            let cpu1 = procfs::cpu_seconds(pid).ok_or("daemon gone")?;
            if kind == Kind::Taskmaster {
                idle_threads.add(report, threads0, IdleThreads::read(pid), IDLE);
            }
            let rss_mib = procfs::rss_kib(pid).ok_or("daemon gone")? as f64 / 1024.0;
            report.add(S, up, kind.name(), secs);
            if kind == Kind::Taskmaster {
                tm_1000.push(secs);
            }
            report.add(S, rss, kind.name(), rss_mib);
            if let Some(s) = last_spawn(d.log_path()) {
                report.add(S, spawned, kind.name(), s);
            }
            report.add(
                S,
                idle,
                kind.name(),
                (cpu1 - cpu0) / IDLE.as_secs_f64() * 100.0,
            );
            report.add(S, t10, kind.name(), threads_10 as f64);
            report.add(S, t1000, kind.name(), threads_1000 as f64);
            report.add(
                S,
                tdiff,
                kind.name(),
                threads_1000 as f64 - threads_10 as f64,
            );
            stop(r)?;
        }
        Ok(())
    });
    super::scale::run(
        ctx,
        report,
        crate::report::summarize(&tm_1000).map(|s| s.median),
    );
}

/// The idle CPU of taskmaster's supervisor thread and of its process-event thread apart:
/// the second reads every fork and exit of the machine (it forwards only taskmaster's), so
/// its share is the machine's activity, not taskmaster's work.
pub(super) struct IdleThreads {
    supervisor: String,
    events: String,
}

const SUPERVISOR_THREAD: &str = "taskmaster-supe";
const EVENTS_THREAD: &str = "taskmaster-proc";

impl IdleThreads {
    pub(super) fn new(n: &str) -> IdleThreads {
        IdleThreads {
            supervisor: format!("{n} procs: idle CPU, supervisor thread"),
            events: format!("{n} procs: idle CPU, process-event thread"),
        }
    }

    pub(super) fn declare(&self, report: &mut Report) {
        report.declare_info("many", &self.supervisor, "%");
        report.declare_info("many", &self.events, "%");
    }

    /// CPU seconds of (supervisor, process events) now.
    pub(super) fn read(pid: i32) -> (f64, f64) {
        let of = |p| procfs::named_threads_cpu_seconds(pid, p).unwrap_or(0.0);
        (of(SUPERVISOR_THREAD), of(EVENTS_THREAD))
    }

    pub(super) fn add(&self, report: &mut Report, t0: (f64, f64), t1: (f64, f64), over: Duration) {
        let pct = |a: f64, b: f64| (b - a) / over.as_secs_f64() * 100.0;
        report.add("many", &self.supervisor, "taskmaster", pct(t0.0, t1.0));
        report.add("many", &self.events, "taskmaster", pct(t0.1, t1.1));
    }
}

/// Graceful stop, so 1,000 children are not left to the kill-on-drop path alone.
pub(super) fn stop(mut r: crate::Running) -> Res<()> {
    r.d.shutdown()
}

/// Seconds from the event log's first line (the daemon starting) to its last `spawned:`.
pub(super) fn last_spawn(log: &std::path::Path) -> Option<f64> {
    last_line_with(log, " spawned: '")
}

/// Seconds from the log's first line to its last `entered RUNNING state` (both daemons write
/// that line when the transition happens). Taken from the log rather than from the `status`
/// polls that waited for it: those back off to ten times a reply's cost, and a reply during
/// the start-up waits for a turn of the boot, so the poll's moment can be a second late.
pub(super) fn last_running(log: &std::path::Path) -> Option<f64> {
    last_line_with(log, " entered RUNNING state")
}

fn last_line_with(log: &std::path::Path, needle: &str) -> Option<f64> {
    let text = std::fs::read_to_string(log).ok()?;
    let first = log_line_ms(text.lines().next()?)?;
    let last = text
        .lines()
        .filter(|l| l.contains(needle))
        .filter_map(log_line_ms)
        .next_back()?;
    Some((last - first) / 1000.0)
}
