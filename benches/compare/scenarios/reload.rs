//! Reload of 200 programs: 1 changed (cmd), 1 added, 1 removed; time until applied and
//! visible in status, and whether the 198 unchanged kept their pids. Then a monitoring-only
//! change (stoptime), which should restart nothing.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{each_kind, ms};
use crate::daemon::{Daemon, Output, Program, wait_for, wait_running};
use crate::report::{Goal, Report};
use crate::{Ctx, Res};

const N: usize = 200;

/// Program `i` of a reload scenario: an idle `sleep`, its output discarded. Names are
/// zero-padded to four digits so they sort as numbers up to 9,999.
pub(super) fn program(i: usize) -> Program {
    let mut p = Program::new(&format!("p{i:04}"), "sleep 100000");
    p.starttime = 0.0;
    p.stdout = Output::Discard;
    p.stderr = Output::Discard;
    p
}

/// Name → pid of every RUNNING process.
pub(super) fn pids(d: &mut dyn Daemon) -> Res<BTreeMap<String, i32>> {
    Ok(d.status()?
        .into_iter()
        .filter_map(|p| Some((p.name.clone(), p.running_pid()?)))
        .collect())
}

pub fn run(ctx: &Ctx, report: &mut Report) {
    const S: &str = "reload";
    let visible = "reload → applied and visible";
    let returned = "reload command returns";
    let kept = "unchanged pids kept";
    let restarts = "restarts after a stoptime-only change";
    report.declare(S, visible, "ms", Goal::AtMost(50.0), Some("0.2 s"));
    report.declare(S, returned, "ms", Goal::None, None);
    report.declare(S, kept, "of 198", Goal::Exactly(198.0), None);
    report.declare(S, restarts, "procs", Goal::Exactly(0.0), None);
    let n = ctx.repeats(2);
    each_kind(ctx, report, S, |kind, report| {
        for _ in 0..n {
            let mut programs: Vec<Program> = (0..N).map(program).collect();
            let mut r = ctx.launch(kind, |_| programs.clone())?;
            let d = r.d.as_mut();
            wait_running(d, N, Duration::from_secs(60))?;
            let before = pids(d)?;
            programs[0].cmd = "sleep 100001".into();
            programs.pop();
            programs.push(program(N));
            let t0 = Instant::now();
            d.reload(&programs)?;
            let t_ret = Instant::now();
            let after = wait_for(
                Duration::from_secs(30),
                Duration::from_micros(500),
                "the reload in status",
                || {
                    let now = pids(d)?;
                    let changed = now
                        .get("p0000")
                        .is_some_and(|p| Some(p) != before.get("p0000"));
                    let added = now.contains_key(&format!("p{N:04}"));
                    let removed = !d
                        .status()?
                        .iter()
                        .any(|p| p.name == format!("p{:04}", N - 1));
                    Ok((changed && added && removed).then_some(now))
                },
            )?;
            let t_vis = Instant::now();
            let unchanged = (1..N - 1)
                .map(|i| format!("p{i:04}"))
                .filter(|name| before.contains_key(name) && before.get(name) == after.get(name))
                .count();
            report.add(S, visible, kind.name(), ms(t_vis - t0));
            report.add(S, returned, kind.name(), ms(t_ret - t0));
            report.add(S, kept, kind.name(), unchanged as f64);

            programs[1].stoptime = 11.0;
            d.reload(&programs)?;
            // A restart, if any, happens within the reload or right after: give it a moment
            // to show, then count the pids that changed.
            let settled = wait_running(d, N, Duration::from_secs(30))?;
            std::thread::sleep(Duration::from_millis(300));
            let _ = settled;
            let now = pids(d)?;
            let restarted = after
                .iter()
                .filter(|(name, pid)| now.get(*name) != Some(pid))
                .count();
            report.add(S, restarts, kind.name(), restarted as f64);
        }
        Ok(())
    });
}
