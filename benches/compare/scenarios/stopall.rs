//! `stop all` on 100 processes that die at once on SIGTERM: how long after the last death
//! the command returns. A second thread watches the 100 pids while the command blocks.

use std::time::{Duration, Instant};

use super::{each_kind, ms};
use crate::Ctx;
use crate::daemon::{Output, Program, wait_running};
use crate::procfs;
use crate::report::{Goal, Report};

/// Time of each pid's death (zombie or gone), watched from another thread.
fn watch_deaths(pids: Vec<i32>, limit: Duration) -> std::thread::JoinHandle<Option<Instant>> {
    std::thread::spawn(move || {
        let deadline = Instant::now() + limit;
        let mut alive = pids;
        let mut last = None;
        while !alive.is_empty() && Instant::now() < deadline {
            let before = alive.len();
            alive.retain(|&p| !procfs::is_dead(p));
            if alive.len() < before {
                last = Some(Instant::now());
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        if alive.is_empty() { last } else { None }
    })
}

pub fn run(ctx: &Ctx, report: &mut Report) {
    const S: &str = "stopall";
    let after = "last death → `stop all` returns";
    let total = "`stop all` duration";
    report.declare(S, after, "ms", Goal::AtMost(100.0), None);
    report.declare(S, total, "ms", Goal::None, Some("1.0 s"));
    let n = ctx.repeats(3);
    each_kind(ctx, report, S, |kind, report| {
        for _ in 0..n {
            let mut r = ctx.launch(kind, |_| {
                let mut p = Program::new("batch", "sleep 100000");
                p.numprocs = 100;
                p.starttime = 0.0;
                p.stdout = Output::Discard;
                p.stderr = Output::Discard;
                vec![p]
            })?;
            let d = r.d.as_mut();
            let pids: Vec<i32> = wait_running(d, 100, Duration::from_secs(60))?
                .iter()
                .filter_map(|p| p.running_pid())
                .collect();
            let watcher = watch_deaths(pids, Duration::from_secs(30));
            let t0 = Instant::now();
            d.stop_all()?;
            let returned = Instant::now();
            let last = watcher
                .join()
                .map_err(|_| "death watcher panicked")?
                .ok_or("not every process died")?;
            // Negative would mean it answered before every process had died.
            let gap = if returned >= last {
                ms(returned - last)
            } else {
                -ms(last - returned)
            };
            report.add(S, after, kind.name(), gap);
            report.add(S, total, kind.name(), ms(returned - t0));
        }
        Ok(())
    });
}
