//! The scenarios, each a function filling the report for every subject. A failure of one
//! subject is noted in the report and the others carry on.

mod alerts;
mod dashboard;
mod flapping;
mod many;
mod output;
mod pty;
mod reload;
mod reload2000;
mod restart;
mod rotation;
mod scale;
mod spawn;
mod stack;
mod stopall;
mod supervisord10k;

use std::time::{Duration, Instant};

use crate::daemon::Kind;
use crate::report::Report;
use crate::{Ctx, Res};

pub struct Scenario {
    pub name: &'static str,
    pub about: &'static str,
    pub run: fn(&Ctx, &mut Report),
}

pub const ALL: &[Scenario] = &[
    Scenario {
        name: "alerts",
        about: "taskmaster only: event -> exec alert started, event -> webhook received, restart after SIGKILL with a blackholed webhook vs none",
        run: alerts::run,
    },
    Scenario {
        name: "restart",
        about: "SIGKILL a RUNNING child; time until its replacement has exec'd (starttime 0)",
        run: restart::run_restart,
    },
    Scenario {
        name: "death",
        about: "SIGKILL a RUNNING child; time until status stops showing it RUNNING",
        run: restart::run_death,
    },
    Scenario {
        name: "output",
        about: "a child writes 1 GiB to stdout = a file; throughput and supervisor CPU",
        run: output::run,
    },
    Scenario {
        name: "rotation",
        about: "1 GiB of lines rotated every 8 MB (200 backups), and with timestamps; vs no rotation",
        run: rotation::run,
    },
    Scenario {
        name: "many",
        about: "1,000 `sleep` processes: start-up, RSS, idle CPU, threads; then 10,000 (taskmaster): start-up, RSS, idle CPU, status, stop all, dashboard key → frame",
        run: many::run,
    },
    Scenario {
        name: "spawn",
        about: "taskmaster against TM_BENCH_BEFORE in the same run: 1,000 `sleep`s to all spawned and all RUNNING (starttime kept or not), 10,000 to last spawned",
        run: spawn::run,
    },
    Scenario {
        name: "stopall",
        about: "`stop all` on 100 processes that die at once on SIGTERM",
        run: stopall::run,
    },
    Scenario {
        name: "reload",
        about: "reload of 200 programs: 1 changed, 1 added, 1 removed; then a stoptime change",
        run: reload::run,
    },
    Scenario {
        name: "reload2000",
        about: "2,000 programs RUNNING: reload with no change, after editing 1 (exactly 1 replaced), adding 100 and removing 100",
        run: reload2000::run,
    },
    Scenario {
        name: "supervisord10k",
        about: "supervisord (needs --compare supervisord) at 10,000 `sleep`s, 5 min cap: time to all RUNNING, or how many at the cap",
        run: supervisord10k::run,
    },
    Scenario {
        name: "flapping",
        about: "a program that exits at once, startretries 3: spawn and FATAL times",
        run: flapping::run,
    },
    Scenario {
        name: "stack",
        about: "depends_on chain of 10 by tcp health (interval 0.1); CPU of 1,000 health-checked processes",
        run: stack::run,
    },
    Scenario {
        name: "dashboard",
        about: "a child writes 1 GiB shown live in the dashboard (own pty): frames/s, key latency, CPU",
        run: dashboard::run,
    },
    Scenario {
        name: "pty",
        about: "pty programs: `yes` with its pane visible vs a pipe, attach key latency, file, RSS",
        run: pty::run,
    },
];

/// Runs `f` for each subject under test, noting (not propagating) a subject's failure.
pub fn each_kind(
    ctx: &Ctx,
    report: &mut Report,
    scenario: &str,
    mut f: impl FnMut(Kind, &mut Report) -> Res<()>,
) {
    for &kind in &ctx.kinds {
        if let Err(e) = f(kind, report) {
            report.note(format!("{scenario}: {} failed: {e}", kind.name()));
        }
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Spins (yielding) until `probe` holds, up to `limit`; the moment it was first seen.
pub fn spin_until(
    limit: Duration,
    what: &str,
    mut probe: impl FnMut() -> Res<bool>,
) -> Res<Instant> {
    let deadline = Instant::now() + limit;
    loop {
        if probe()? {
            return Ok(Instant::now());
        }
        if Instant::now() >= deadline {
            return Err(format!("timed out after {limit:?} waiting for {what}").into());
        }
        std::thread::yield_now();
    }
}
