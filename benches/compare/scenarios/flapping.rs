//! A program that exits at once (starttime 1, startretries 3): when it was spawned and when
//! it went FATAL, read from the daemon's event log (both log `spawned: 'NAME' with pid N` and
//! `gave up: NAME entered FATAL state` with milliseconds), relative to the first spawn.
//! supervisor's schedule: spawns at 0, 1, 3, 6 s, FATAL at 6 s.

use std::time::Duration;

use super::each_kind;
use crate::daemon::{Program, log_line_ms, wait_for};
use crate::report::{Goal, Report};
use crate::{Ctx, Res};

const EXPECTED: [f64; 5] = [0.0, 1.0, 3.0, 6.0, 6.0];

/// Spawn times and the FATAL time, in seconds after the first spawn.
fn schedule(log: &str, name: &str) -> Res<Vec<f64>> {
    let spawned = format!("spawned: '{name}'");
    let gave_up = format!("gave up: {name} ");
    let mut times: Vec<f64> = log
        .lines()
        .filter(|l| l.contains(&spawned))
        .filter_map(log_line_ms)
        .collect();
    let fatal = log
        .lines()
        .find(|l| l.contains(&gave_up))
        .and_then(log_line_ms)
        .ok_or("no `gave up:` line in the event log")?;
    times.push(fatal);
    let first = times[0];
    // A run across midnight wraps the clock.
    Ok(times
        .iter()
        .map(|t| if *t < first { t + 86_400_000.0 - first } else { t - first } / 1000.0)
        .collect())
}

pub fn run(ctx: &Ctx, report: &mut Report) {
    const S: &str = "flapping";
    let labels = ["spawn 1", "spawn 2", "spawn 3", "spawn 4", "FATAL"];
    let worst = "worst error against 0, 1, 3, 6 s";
    for (label, exp) in labels.iter().zip(EXPECTED) {
        report.declare_info(S, &format!("{label} (expected {exp} s)"), "s");
    }
    if let Some(m) = report.metrics.last_mut() {
        m.reference = Some("6.0 s");
    }
    report.declare(S, worst, "ms", Goal::AtMost(50.0), None);
    let n = ctx.repeats(1);
    each_kind(ctx, report, S, |kind, report| {
        for _ in 0..n {
            let mut r = ctx.launch(kind, |_| {
                let mut p = Program::new("flap", "false");
                p.startretries = 3;
                p.starttime = 1.0;
                vec![p]
            })?;
            let d = r.d.as_mut();
            wait_for(
                Duration::from_secs(30),
                Duration::from_millis(20),
                "flap FATAL",
                || Ok(d.status()?.iter().any(|p| p.state == "FATAL").then_some(())),
            )?;
            let log = std::fs::read_to_string(d.log_path())?;
            let times = schedule(&log, "flap")?;
            if times.len() != EXPECTED.len() {
                return Err(
                    format!("{} spawns logged, expected 4: {times:?}", times.len() - 1).into(),
                );
            }
            let mut worst_ms: f64 = 0.0;
            for ((label, exp), t) in labels.iter().zip(EXPECTED).zip(&times) {
                report.add(S, &format!("{label} (expected {exp} s)"), kind.name(), *t);
                worst_ms = worst_ms.max((t - exp).abs() * 1000.0);
            }
            report.add(S, worst, kind.name(), worst_ms);
        }
        Ok(())
    });
}
