//! Restart backoff (interface.md section 10): the never-spin rule with every default, the
//! `restart_delay*` keys and `fatal_retry`, on real processes.

use std::time::{Duration, Instant};

use taskmaster::supervisor::{Command, StateName};

use crate::harness::binary::Daemon;
use crate::harness::inprocess::Tm;
use crate::harness::procfs::stat;
use crate::harness::{read, wait_until};

/// Regression: with starttime 0 a command that exits at once was restarted ~960 times a
/// second forever (each run counted as RUNNING, so startretries never applied).
#[test]
fn starttime_zero_and_an_instant_exit_never_spin() {
    let mut bin = Daemon::start(
        r#"
[programs.spin]
cmd = "sh -c 'exit 1'"
starttime = 0
"#,
    );
    let log = bin.log.clone();
    let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    wait_until(Duration::from_secs(10), "the first spawn", || {
        read(&log).contains("spawned: 'spin'")
    });
    let t0 = Instant::now();
    let cpu0 = stat(bin.pid()).expect("taskmaster is alive").cpu_ticks;
    let spawns0 = read(&log).matches("spawned: 'spin'").count();
    // Let it loop for 4 s of wall time: a poll of the log, not a bare sleep.
    wait_until(Duration::from_secs(10), "4 s of looping", || {
        t0.elapsed() >= Duration::from_secs(4)
    });
    let wall = t0.elapsed().as_secs_f64();
    let spawns = read(&log).matches("spawned: 'spin'").count() - spawns0;
    let cpu = (stat(bin.pid()).expect("taskmaster is alive").cpu_ticks - cpu0) as f64 / ticks;
    assert!(bin.running(), "taskmaster survives");
    eprintln!(
        "backoff: {spawns} restarts in {wall:.1} s, binary CPU {:.2} % of a core",
        cpu / wall * 100.0
    );
    // Delays 0.1, 0.2, 0.4, 0.8, 1.6, 3.2 s: at most 6 starts in any 4 s after the first.
    assert!(
        (2..=7).contains(&spawns),
        "restarts per second are bounded by the doubling delay: {spawns} in {wall:.1} s"
    );
    assert!(
        cpu / wall < 0.05,
        "supervisor CPU {:.1} % of a core while a program exits at once",
        cpu / wall * 100.0
    );
    let text = read(&log);
    assert!(
        text.contains("restarting: spin in 0.1 s (autorestart unexpected; it ran 0.0 s)"),
        "the delay is in the log:\n{text}"
    );
    assert!(
        text.contains("restarting: spin in 0.2 s"),
        "it doubles:\n{text}"
    );
}

#[test]
fn a_pending_restart_shows_in_status_and_stop_cancels_it() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.flaky]
cmd = "sh -c 'sleep 0.2; exit 3'"
starttime = 0.1
restart_delay = 30
"#,
    );
    wait_until(Duration::from_secs(10), "a restart pending", || {
        let p = tm.info("flaky");
        p.state == StateName::Exited && p.retry_at.is_some()
    });
    let line = tm.info("flaky").status_line(std::time::SystemTime::now());
    assert!(
        line.contains("(exit status 3; not expected), restarting in 30 s")
            || line.contains("restarting in 29 s"),
        "status tells when: {line}"
    );
    let r = tm.actions(Command::stop(vec!["flaky".into()]));
    assert_eq!(r[0].render(), "flaky: stopped");
    let p = tm.info("flaky");
    assert_eq!(p.state, StateName::Stopped);
    assert_eq!(p.retry_at, None, "nothing pending after a stop");
    tm.shutdown();
}

#[test]
fn fatal_retry_starts_a_fatal_process_again() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.broken]
cmd = "sh -c 'exit 1'"
starttime = 1
startretries = 0
fatal_retry = 0.5
"#,
    );
    wait_until(
        Duration::from_secs(10),
        "FATAL with a retry pending",
        || {
            let p = tm.info("broken");
            p.state == StateName::Fatal && p.retry_at.is_some()
        },
    );
    let first = tm.info("broken").started_at;
    wait_until(
        Duration::from_secs(10),
        "spawned again after fatal_retry",
        || tm.info("broken").started_at != first,
    );
    tm.shutdown();
}
