//! Spawning at scale against an earlier build in the same run (`TM_BENCH_BEFORE=PATH`, the
//! `baseline` column; the fork build is fb84962): 1,000 `sleep`s to all spawned and to all
//! RUNNING, and 10,000 (output discarded) to all spawned. Each subject runs in turn, baseline
//! first, `--repeat` times, so both see the same machine.
//!
//! "All RUNNING" is read two ways. As the event log's last RUNNING line; and as the moment every process had
//! really been up for its starttime: the later of its RUNNING line and its `spawned` line plus
//! starttime. The two agree when RUNNING is never declared early; the count of RUNNING lines
//! that came sooner than starttime after their process's `spawned` line shows when it was
//! (a build that reads the clock once per turn of many spawns does that).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::many::{last_running, last_spawn};
use crate::daemon::{Kind, Output, Program, log_line_ms, wait_running};
use crate::report::{Goal, Report};
use crate::{Ctx, Res};

const S: &str = "spawn";
const STARTTIME_MS: f64 = 1000.0;
/// A RUNNING line this much sooner than starttime counts as early: far above the event log's
/// own lateness (a line is stamped when written, after the spawn it tells).
const EARLY_MS: f64 = 50.0;

const SPAWNED: &str = "1,000 procs: start → all spawned (event log)";
const RUNNING: &str = "1,000 procs: start → last RUNNING line (log)";
const HONEST: &str = "1,000 procs: start → all up for starttime (log)";
const EARLY: &str = "1,000 procs: RUNNING sooner than starttime after spawn";
const HONEST_RATIO: &str = "1,000: all up for starttime, taskmaster ÷ baseline";
const SPAWNED_RATIO: &str = "1,000: all spawned, taskmaster ÷ baseline";
const SPAWNED_10K: &str = "10,000 procs: start → last spawned (event log)";
const COUNT_10K: &str = "10,000 procs: spawned";
const RATIO_10K: &str = "10,000: last spawned, taskmaster ÷ baseline";

fn sleepers(n: u32, discard: bool) -> Vec<Program> {
    let mut p = Program::new("sleeper", "sleep 100000");
    p.numprocs = n;
    p.starttime = STARTTIME_MS / 1000.0;
    if discard {
        p.stdout = Output::Discard;
        p.stderr = Output::Discard;
    }
    vec![p]
}

pub fn run(ctx: &Ctx, report: &mut Report) {
    report.declare(S, SPAWNED, "s", Goal::None, None);
    report.declare(S, RUNNING, "s", Goal::None, None);
    report.declare(S, HONEST, "s", Goal::None, None);
    report.declare(S, EARLY, "procs", Goal::Exactly(0.0), None);
    report.declare(S, HONEST_RATIO, "×", Goal::AtMost(1.0), None);
    report.declare(S, SPAWNED_RATIO, "×", Goal::AtMost(1.0), None);
    report.declare(S, SPAWNED_10K, "s", Goal::None, None);
    report.declare(S, COUNT_10K, "procs", Goal::Exactly(10_000.0), None);
    report.declare(S, RATIO_10K, "×", Goal::AtMost(1.0), None);
    if !ctx.kinds.contains(&Kind::Taskmaster) {
        return;
    }
    let before = std::env::var_os("TM_BENCH_BEFORE").map(PathBuf::from);
    match &before {
        Some(b) => report.note(format!("spawn: baseline = TM_BENCH_BEFORE {}", b.display())),
        None => report
            .note("spawn: no TM_BENCH_BEFORE, so no baseline column and no ratios".to_string()),
    }
    let mut subjects = vec![(ctx.tm_bin.clone(), "taskmaster")];
    if let Some(b) = before {
        subjects.insert(0, (b, "baseline"));
    }
    for _ in 0..ctx.repeats(1) {
        let mut thousand = HashMap::new();
        for (bin, subject) in &subjects {
            match one_thousand(ctx, bin) {
                Ok(f) => {
                    report.add(S, SPAWNED, subject, f.spawned);
                    report.add(S, RUNNING, subject, f.running);
                    report.add(S, HONEST, subject, f.honest);
                    report.add(S, EARLY, subject, f.early as f64);
                    thousand.insert(*subject, f);
                }
                Err(e) => report.note(format!("spawn: {subject} at 1,000 failed: {e}")),
            }
        }
        if let (Some(b), Some(t)) = (thousand.get("baseline"), thousand.get("taskmaster")) {
            report.add(S, HONEST_RATIO, "taskmaster", t.honest / b.honest);
            report.add(S, SPAWNED_RATIO, "taskmaster", t.spawned / b.spawned);
        }
        let mut ten = HashMap::new();
        for (bin, subject) in &subjects {
            match ten_thousand(ctx, bin) {
                Ok((secs, count)) => {
                    report.add(S, SPAWNED_10K, subject, secs);
                    report.add(S, COUNT_10K, subject, count as f64);
                    ten.insert(*subject, secs);
                }
                Err(e) => report.note(format!("spawn: {subject} at 10,000 failed: {e}")),
            }
        }
        if let (Some(b), Some(t)) = (ten.get("baseline"), ten.get("taskmaster")) {
            report.add(S, RATIO_10K, "taskmaster", t / b);
        }
    }
}

struct Thousand {
    spawned: f64,
    running: f64,
    honest: f64,
    early: usize,
}

fn one_thousand(ctx: &Ctx, bin: &Path) -> Res<Thousand> {
    let mut r = ctx.launch_bin(bin, Kind::Taskmaster, |_| sleepers(1000, false))?;
    let d = r.d.as_mut();
    wait_running(d, 1000, Duration::from_secs(120))?;
    let log = d.log_path().to_path_buf();
    let running = last_running(&log).ok_or("no RUNNING line")?;
    let spawned = last_spawn(&log).ok_or("no spawned line")?;
    let (honest, early) = starttime_kept(&log).ok_or("no RUNNING lines")?;
    r.d.shutdown()?;
    Ok(Thousand {
        spawned,
        running,
        honest,
        early,
    })
}

/// From the event log: seconds from its first line until every process had been up for its
/// starttime (the later of its RUNNING line and its spawn plus starttime), and how many
/// RUNNING lines came sooner than that.
fn starttime_kept(log: &Path) -> Option<(f64, usize)> {
    let text = std::fs::read_to_string(log).ok()?;
    let first = log_line_ms(text.lines().next()?)?;
    let mut spawned_at = HashMap::new();
    let mut all_up = first;
    let mut early = 0;
    for line in text.lines() {
        let Some(t) = log_line_ms(line) else { continue };
        if let Some(rest) = line.split_once(" spawned: '").map(|p| p.1) {
            spawned_at.insert(rest.split('\'').next()?.to_string(), t);
        } else if let Some(rest) = line.split_once(" success: ").map(|p| p.1) {
            let spawn = *spawned_at.get(rest.split_whitespace().next()?)?;
            if t - spawn < STARTTIME_MS - EARLY_MS {
                early += 1;
            }
            all_up = all_up.max(t.max(spawn + STARTTIME_MS));
        }
    }
    Some(((all_up - first) / 1000.0, early))
}

/// Seconds from the daemon's first log line to its last `spawned` line, and how many were
/// spawned: waits for 10,000 or until none was added for 30 s (an earlier build may run out
/// of descriptors), 10 minutes at most.
fn ten_thousand(ctx: &Ctx, bin: &Path) -> Res<(f64, usize)> {
    let r = ctx.launch_bin(bin, Kind::Taskmaster, |_| sleepers(10_000, true))?;
    let log = r.d.log_path().to_path_buf();
    let count = || {
        std::fs::read_to_string(&log)
            .map(|t| t.matches(" spawned: '").count())
            .unwrap_or(0)
    };
    let limit = Instant::now() + Duration::from_secs(600);
    let (mut last, mut since) = (0, Instant::now());
    while Instant::now() < limit {
        let n = count();
        if n >= 10_000 {
            break;
        }
        if n != last {
            (last, since) = (n, Instant::now());
        } else if since.elapsed() > Duration::from_secs(30) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let secs = last_spawn(&log).ok_or("no spawned line")?;
    let n = count().min(10_000);
    let mut r = r;
    r.d.shutdown()?;
    Ok((secs, n))
}
