//! Reload at scale (issue 13): 2,000 programs of one `sleep` each, all RUNNING, then per
//! repeat (a) a reload with nothing changed, (b) a reload after editing 1 program's `cmd`,
//! (c) a reload adding 100 programs and removing 100. Each: the reload command's round trip;
//! for (b) and (c) the time until the change shows in `status`; and from the pids before and
//! after, how many processes were replaced, which must be exactly the edited one (b) and none
//! of the 1,900 kept (c). supervisord (with `--compare supervisord`) does the same through
//! `reloadConfig` + add/remove groups, as `supervisorctl update` does.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::reload::{pids, program};
use super::{each_kind, ms};
use crate::Ctx;
use crate::daemon::{Kind, Program, wait_for, wait_running};
use crate::report::{Goal, Report};

const S: &str = "reload2000";
const N: usize = 2000;
const MOVED: usize = 100;

const SAME_RT: &str = "(a) no change: reload round trip";
const SAME_REPLACED: &str = "(a) no change: processes replaced";
const ONE_RT: &str = "(b) 1 program edited: reload round trip";
const ONE_VISIBLE: &str = "(b) 1 program edited: reload → new pid RUNNING in status";
const ONE_REPLACED: &str = "(b) 1 program edited: processes replaced";
const MOVE_RT: &str = "(c) 100 added, 100 removed: reload round trip";
const MOVE_VISIBLE: &str = "(c) 100 added, 100 removed: reload → all shown in status";
const MOVE_REPLACED: &str = "(c) 100 added, 100 removed: of the 1,900 kept, replaced";
const UP: &str = "2,000 programs: start → all RUNNING";

/// How many of `names` do not have the pid they had in `before`.
fn replaced<'a>(
    names: impl Iterator<Item = &'a String>,
    before: &BTreeMap<String, i32>,
    now: &BTreeMap<String, i32>,
) -> usize {
    names.filter(|n| before.get(*n) != now.get(*n)).count()
}

pub fn run(ctx: &Ctx, report: &mut Report) {
    report.declare(S, UP, "s", Goal::None, None);
    report.declare(S, SAME_RT, "ms", Goal::None, None);
    report.declare(S, SAME_REPLACED, "procs", Goal::Exactly(0.0), None);
    report.declare(S, ONE_RT, "ms", Goal::None, None);
    report.declare(S, ONE_VISIBLE, "ms", Goal::None, None);
    report.declare(S, ONE_REPLACED, "procs", Goal::Exactly(1.0), None);
    report.declare(S, MOVE_RT, "ms", Goal::None, None);
    report.declare(S, MOVE_VISIBLE, "ms", Goal::None, None);
    report.declare(S, MOVE_REPLACED, "procs", Goal::Exactly(0.0), None);
    each_kind(ctx, report, S, |kind, report| {
        // supervisord stops each removed group with a wait of its own (about a second each).
        let n = ctx.repeats(if kind == Kind::Supervisord { 1 } else { 3 });
        let mut programs: Vec<Program> = (0..N).map(program).collect();
        let t0 = Instant::now();
        let mut r = ctx.launch(kind, |_| programs.clone())?;
        let d = r.d.as_mut();
        wait_running(d, N, Duration::from_secs(600))?;
        report.add(S, UP, kind.name(), t0.elapsed().as_secs_f64());
        let mut before = pids(d)?;
        let mut next = N;
        for rep in 0..n {
            // (a) The same config again.
            let t = Instant::now();
            d.reload(&programs)?;
            report.add(S, SAME_RT, kind.name(), ms(t.elapsed()));
            let now = pids(d)?;
            report.add(
                S,
                SAME_REPLACED,
                kind.name(),
                replaced(before.keys(), &before, &now) as f64,
            );
            before = now;

            // (b) One program's command edited.
            programs[0].cmd = format!("sleep {}", 100_001 + rep);
            let edited = programs[0].name.clone();
            let old_pid = before.get(&edited).copied();
            let t = Instant::now();
            d.reload(&programs)?;
            report.add(S, ONE_RT, kind.name(), ms(t.elapsed()));
            let now = wait_for(
                Duration::from_secs(60),
                Duration::from_millis(1),
                "the edited program's new pid",
                || {
                    let now = pids(d)?;
                    let new = now.get(&edited).is_some_and(|p| Some(*p) != old_pid);
                    Ok(new.then_some(now))
                },
            )?;
            report.add(S, ONE_VISIBLE, kind.name(), ms(t.elapsed()));
            report.add(
                S,
                ONE_REPLACED,
                kind.name(),
                replaced(before.keys(), &before, &now) as f64,
            );
            before = now;

            // (c) 100 programs removed (after the edited one), 100 new ones added.
            let removed: Vec<String> = programs.drain(1..=MOVED).map(|p| p.name.clone()).collect();
            let added: Vec<String> = (next..next + MOVED)
                .map(|i| {
                    programs.push(program(i));
                    format!("p{i:04}")
                })
                .collect();
            next += MOVED;
            let t = Instant::now();
            d.reload(&programs)?;
            report.add(S, MOVE_RT, kind.name(), ms(t.elapsed()));
            let now = wait_for(
                Duration::from_secs(300),
                Duration::from_millis(1),
                "100 added RUNNING and 100 removed gone",
                || {
                    let st = d.status()?;
                    let gone = !st.iter().any(|p| removed.contains(&p.name));
                    let now: BTreeMap<String, i32> = st
                        .into_iter()
                        .filter_map(|p| Some((p.name.clone(), p.running_pid()?)))
                        .collect();
                    let up = added.iter().all(|n| now.contains_key(n));
                    Ok((gone && up).then_some(now))
                },
            )?;
            report.add(S, MOVE_VISIBLE, kind.name(), ms(t.elapsed()));
            let kept = programs
                .iter()
                .map(|p| &p.name)
                .filter(|n| !added.contains(n));
            report.add(
                S,
                MOVE_REPLACED,
                kind.name(),
                replaced(kept, &before, &now) as f64,
            );
            before = now;
        }
        // supervisord may take longer than the 20 s grace to stop 2,000: what is left is
        // killed with it on drop, and the figures are in.
        let _ = r.d.shutdown();
        Ok(())
    });
}
