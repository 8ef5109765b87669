//! Abuse 5 and 7: grandchildren that a stop or restart must not leave behind, and a shutdown
//! of 200 processes of which some ignore SIGTERM.

use std::time::{Duration, Instant};

use taskmaster::supervisor::{Command, StateName};

use crate::harness::inprocess::Tm;
use crate::harness::procfs::{alive, group_members};
use crate::harness::{wait_until, wait_until_showing};

const FAMILY: &str = r#"
[taskmaster]
socket = false
[programs.family]
cmd = "sh -c 'sleep 1000 & sleep 1000'"
starttime = 0
stoptime = 2
[programs.stubborn_family]
cmd = "sh -c 'trap \"\" TERM; sleep 1000 & sleep 1000'"
starttime = 0
stoptime = 0.5
"#;

/// Waits until the group of `name`'s current child has the shell and both sleeps; returns
/// every member.
fn family_of(tm: &Tm, name: &str) -> Vec<u32> {
    family_of_at_least(tm, name, 3)
}

fn family_of_at_least(tm: &Tm, name: &str, n: usize) -> Vec<u32> {
    let mut members = Vec::new();
    wait_until(Duration::from_secs(20), "the grandchild is forked", || {
        let Some(pid) = tm.info(name).pid else {
            return false;
        };
        members = group_members(pid);
        members.len() >= n
    });
    members
}

#[test]
fn stop_and_restart_leave_no_grandchild() {
    let tm = Tm::start(FAMILY);
    for name in ["family", "stubborn_family"] {
        let first = family_of(&tm, name);
        let r = tm.actions(Command::restart(vec![name.into()]));
        let last = r.last().map(|a| a.render());
        assert_eq!(last, Some(format!("{name}: started")), "{r:?}");
        wait_until(
            Duration::from_secs(5),
            "old family gone after restart",
            || first.iter().all(|&p| !alive(p)),
        );
        let second = family_of(&tm, name);
        assert!(second.iter().all(|p| !first.contains(p)));
        let r = tm.actions(Command::stop(vec![name.into()]));
        assert_eq!(r[0].render(), format!("{name}: stopped"));
        // The stop reply comes once the leader is reaped; the group SIGKILL is sent then.
        wait_until(Duration::from_secs(5), "family gone after stop", || {
            second.iter().all(|&p| !alive(p))
        });
        eprintln!(
            "chaos_procs: {name}: {} then {} group members, none left after restart and stop",
            first.len(),
            second.len()
        );
    }
    tm.shutdown();
}

/// The leader exits on its own and leaves a background child in its group: what becomes of
/// the orphan when the process is restarted by policy?
#[test]
fn leader_exit_and_autorestart_leave_no_grandchild() {
    // Each run lasts 2 s: long enough to be seen under load (a /proc scan may take a while
    // beside thousands of processes), and a run over 1 s is restarted without delay.
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.orphaner]
cmd = "sh -c 'sleep 1000 & sleep 2; exit 1'"
starttime = 0
autorestart = "unexpected"
stoptime = 1
"#,
    );
    let first = family_of_at_least(&tm, "orphaner", 2);
    let leader = tm.info("orphaner").pid;
    wait_until(Duration::from_secs(10), "restarted by policy", || {
        let i = tm.info("orphaner");
        i.restarts >= 1 && i.pid.is_some() && i.pid != leader
    });
    wait_until(
        Duration::from_secs(5),
        "the orphan of the old leader is gone",
        || first.iter().all(|&p| !alive(p)),
    );
    tm.shutdown();
}

#[test]
fn shutdown_of_200_processes_some_ignoring_sigterm_is_quick_and_complete() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.plain]
cmd = "sleep 1000"
numprocs = 150
starttime = 0
stoptime = 1
[programs.deaf]
cmd = "sh -c 'trap \"\" TERM; sleep 1000'"
numprocs = 50
starttime = 0
stoptime = 1
"#,
    );
    wait_until(Duration::from_secs(40), "200 running", || {
        tm.status().count(StateName::Running) == 200
    });
    // The deaf shells must have set their trap (their sleep is forked after it).
    let mut everyone: Vec<u32> = Vec::new();
    wait_until(
        Duration::from_secs(40),
        "every deaf shell has its sleep",
        || {
            everyone.clear();
            let mut ready = true;
            for p in &tm.status().processes {
                let Some(pid) = p.pid else { return false };
                let members = group_members(pid);
                if p.program == "deaf" && members.len() < 2 {
                    ready = false;
                }
                everyone.extend(members);
            }
            ready
        },
    );
    let handle = tm.handle.clone();
    let t0 = Instant::now();
    let stopper = std::thread::spawn(move || tm.shutdown());
    let left = || everyone.iter().filter(|&&p| alive(p)).count();
    // stoptime 1 s + 1 s.
    wait_until_showing(
        Duration::from_secs(2),
        "every process gone within stoptime + 1 s",
        || left() == 0,
        || format!("{} of {} pids left", left(), everyone.len()),
    );
    let took = t0.elapsed();
    eprintln!(
        "chaos_procs: shutdown of 200 processes ({} pids) took {took:?}",
        everyone.len()
    );
    stopper.join().expect("shutdown completes");
    assert!(matches!(
        handle.call_timeout(Command::status(vec![]), Duration::from_secs(1)),
        Err(taskmaster::supervisor::Fault::ShuttingDown)
    ));
}
