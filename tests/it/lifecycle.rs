//! Every transition of interface.md section 2, with real children.

use std::time::{Duration, Instant};

use taskmaster::supervisor::{Command, ExitKind, StateName};

use crate::harness::inprocess::Tm;
use crate::harness::procfs::{alive, gone, group_members};
use crate::harness::{LONG, read, wait_until};

#[test]
fn autostart_process_goes_starting_then_running_after_starttime() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.sleeper]
cmd = "sleep 1000"
starttime = 0.5
"#,
    );
    let first = tm.info("sleeper");
    assert!(
        matches!(first.state, StateName::Starting | StateName::Running),
        "an autostart process is STARTING at once, got {first:?}"
    );
    let t0 = Instant::now();
    let running = tm.wait_state("sleeper", StateName::Running);
    let pid = running.pid.expect("a RUNNING process has a pid");
    assert!(alive(pid), "the RUNNING pid {pid} is a live process");
    if first.state == StateName::Starting {
        assert!(t0.elapsed() < LONG, "reaches RUNNING after starttime");
    }
    assert!(
        running
            .status_line(std::time::SystemTime::now())
            .contains(&format!("pid {pid}, uptime 0:00:0")),
        "status line shows pid and uptime: {}",
        running.status_line(std::time::SystemTime::now())
    );
}

#[test]
fn autostart_false_stays_stopped_until_started_by_hand() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.idle]
cmd = "sleep 1000"
autostart = false
starttime = 0
"#,
    );
    let info = tm.info("idle");
    assert_eq!(
        info.state,
        StateName::Stopped,
        "autostart=false stays STOPPED"
    );
    assert!(
        info.status_line(std::time::SystemTime::now())
            .ends_with("STOPPED   Not started")
    );
    let r = tm.actions(Command::start(vec!["idle".into()]));
    assert_eq!(r[0].render(), "idle: started", "start reports started");
    assert_eq!(
        tm.info("idle").state,
        StateName::Running,
        "start waits for RUNNING"
    );
    let again = tm.actions(Command::start(vec!["idle".into()]));
    assert_eq!(again[0].render(), "idle: ERROR (already started)");
    let stop = tm.actions(Command::stop(vec!["idle".into()]));
    assert_eq!(stop[0].render(), "idle: stopped", "stop reports stopped");
    assert_eq!(
        tm.info("idle").state,
        StateName::Stopped,
        "stop waits for STOPPED"
    );
    let again = tm.actions(Command::stop(vec!["idle".into()]));
    assert_eq!(again[0].render(), "idle: ERROR (not running)");
}

#[test]
fn quick_exit_backs_off_with_growing_delay_then_fatal() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.crash]
cmd = "sh -c 'exit 1'"
starttime = 1
startretries = 2
autorestart = "always"
"#,
    );
    let t0 = Instant::now();
    let fatal = tm.wait_state("crash", StateName::Fatal);
    let took = t0.elapsed();
    // Attempts at 0, 1 and 3 s: FATAL right after the third quick exit.
    assert!(
        took >= Duration::from_millis(2_900),
        "FATAL comes after the 1 s and 2 s backoffs, took {took:?}"
    );
    assert_eq!(fatal.retries, 3, "startretries 2 means 3 failed attempts");
    assert!(
        fatal.reason.contains("Exited too quickly"),
        "FATAL says why: {:?}",
        fatal.reason
    );
    // A manual start clears the count and tries again.
    let r = tm.actions(Command::start(vec!["crash".into()]));
    assert_eq!(r[0].render(), "crash: ERROR (abnormal termination)");
    assert_eq!(
        tm.info("crash").retries,
        1,
        "a manual start begins a new series"
    );
}

#[test]
fn expected_exit_is_not_restarted_with_autorestart_unexpected() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.batch]
cmd = "sh -c 'sleep 0.3; exit 2'"
starttime = 0.1
exitcodes = [0, 2]
autorestart = "unexpected"
"#,
    );
    let exited = tm.wait_state("batch", StateName::Exited);
    let exit = exited.last_exit.expect("EXITED has an exit status");
    assert_eq!(exit.kind, ExitKind::Code(2));
    assert!(exit.expected(), "2 is in exitcodes");
    assert!(
        exited
            .status_line(std::time::SystemTime::now())
            .contains("(exit status 2; expected)")
    );
    // Nothing is to happen: a restart would follow the exit within milliseconds, so 300 ms
    // of nothing is the check (a sleep on purpose; there is no condition to wait for).
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        tm.info("batch").state,
        StateName::Exited,
        "expected exit is not restarted"
    );
    assert_eq!(tm.info("batch").restarts, 0);
}

#[test]
fn unexpected_exit_is_restarted_with_autorestart_unexpected() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.flaky]
cmd = "sh -c 'sleep 0.3; exit 3'"
starttime = 0.1
autorestart = "unexpected"
"#,
    );
    wait_until(LONG, "flaky restarted twice", || {
        tm.info("flaky").restarts >= 2
    });
    let info = tm.info("flaky");
    let exit = info.last_exit.expect("has exited before");
    assert_eq!(exit.kind, ExitKind::Code(3));
    assert!(!exit.expected(), "3 is not in exitcodes [0]");
}

#[test]
fn autorestart_always_restarts_expected_exits_and_never_does_not() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.always]
cmd = "sh -c 'sleep 0.2'"
starttime = 0.05
autorestart = "always"
[programs.never]
cmd = "sh -c 'sleep 0.2; exit 7'"
starttime = 0.05
autorestart = "never"
"#,
    );
    wait_until(LONG, "always restarted", || tm.info("always").restarts >= 2);
    let never = tm.wait_state("never", StateName::Exited);
    assert!(
        never
            .status_line(std::time::SystemTime::now())
            .contains("(exit status 7; not expected)")
    );
    // Nothing is to happen: `always` restarts within milliseconds of its exit, so 400 ms of
    // `never` staying EXITED is the check (a sleep on purpose).
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        tm.info("never").state,
        StateName::Exited,
        "never is never restarted"
    );
}

#[test]
fn death_by_signal_is_unexpected_and_restarted() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.victim]
cmd = "sleep 1000"
starttime = 0
exitcodes = [0, 1, 2, 9, 137]
"#,
    );
    let pid = tm.running_pid("victim");
    crate::harness::kill_group(pid);
    wait_until(LONG, "victim restarted with a new pid", || {
        let i = tm.info("victim");
        i.state == StateName::Running && i.pid != Some(pid)
    });
    let info = tm.info("victim");
    let exit = info.last_exit.expect("exit recorded");
    assert_eq!(exit.kind, ExitKind::Signal(9), "killed by SIGKILL");
    assert!(!exit.expected(), "death by signal is never expected");
}

/// The acceptance test: 100 SIGKILLs in a row, each followed by a restart, and status never
/// shows a pid as RUNNING once that pid has been reaped.
#[test]
fn hundred_sigkills_each_restarted_and_dead_pid_never_shown_running() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.target]
cmd = "sleep 1000"
starttime = 0
autorestart = "always"
# Each run is short: the never-spin delay (section 10) is kept at its first step.
restart_delay_max = 0.1
"#,
    );
    let mut pid = tm.running_pid("target");
    for round in 0..100 {
        crate::harness::kill_group(pid);
        let deadline = Instant::now() + LONG;
        loop {
            // Check the kernel first: if the old pid is reaped, status must not show it.
            let reaped = gone(pid);
            let info = tm.info("target");
            if reaped {
                assert!(
                    !(info.state == StateName::Running && info.pid == Some(pid)),
                    "round {round}: reaped pid {pid} still shown RUNNING"
                );
            }
            if let Some(new_pid) = info.pid.filter(|p| *p != pid)
                && info.state == StateName::Running
            {
                pid = new_pid;
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: no restart after kill, {info:?}"
            );
        }
    }
    assert!(
        tm.info("target").restarts >= 100,
        "every kill led to a restart"
    );
}

#[test]
fn stop_sends_stopsignal_to_the_process_group() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.polite]
cmd = "sh -c 'trap \"echo got-usr1 > {dir}/sig; exit 0\" USR1; while :; do sleep 0.05; done'"
starttime = 0.1
stopsignal = "USR1"
stoptime = 10
"#,
    );
    tm.wait_state("polite", StateName::Running);
    let r = tm.actions(Command::stop(vec!["polite".into()]));
    assert_eq!(r[0].render(), "polite: stopped");
    assert_eq!(
        read(&tm.path("sig")).trim(),
        "got-usr1",
        "the stopsignal was USR1"
    );
}

#[test]
fn stop_escalates_to_sigkill_after_stoptime() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.stubborn]
cmd = "sh -c 'trap \"\" TERM; sleep 1000'"
starttime = 0.1
stoptime = 0.5
"#,
    );
    let pid = tm.running_pid("stubborn");
    let t0 = Instant::now();
    let r = tm.actions(Command::stop(vec!["stubborn".into()]));
    let took = t0.elapsed();
    assert_eq!(r[0].render(), "stubborn: stopped");
    assert!(
        took >= Duration::from_millis(450),
        "waited stoptime before SIGKILL: {took:?}"
    );
    let info = tm.info("stubborn");
    assert_eq!(
        info.last_exit.map(|e| e.kind),
        Some(ExitKind::Signal(9)),
        "killed by SIGKILL"
    );
    wait_until(LONG, "the whole group is gone", || {
        group_members(pid).is_empty()
    });
}

#[test]
fn stop_leaves_no_grandchild_behind() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.forker]
cmd = "sh -c 'sleep 1000 & sleep 1000 & wait'"
starttime = 0.2
"#,
    );
    let pid = tm.running_pid("forker");
    wait_until(LONG, "grandchildren started", || {
        group_members(pid).len() >= 3
    });
    let members = group_members(pid);
    tm.actions(Command::restart(vec!["forker".into()]));
    wait_until(LONG, "old group gone after restart", || {
        members.iter().all(|p| !alive(*p))
    });
    let new_pid = tm.running_pid("forker");
    wait_until(LONG, "new grandchildren started", || {
        group_members(new_pid).len() >= 3
    });
    let members = group_members(new_pid);
    tm.actions(Command::stop(vec!["forker".into()]));
    wait_until(LONG, "no grandchild after stop", || {
        members.iter().all(|p| !alive(*p))
    });
}

#[test]
fn restart_gives_a_new_pid_and_is_not_counted_as_a_crash() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.web]
cmd = "sleep 1000"
starttime = 0.1
"#,
    );
    let pid = tm.wait_state("web", StateName::Running).pid;
    let r = tm.actions(Command::restart(vec!["web".into()]));
    let lines: Vec<String> = r.iter().map(|a| a.render()).collect();
    assert_eq!(
        lines,
        ["web: stopped", "web: started"],
        "restart reports its stop and its start, as supervisorctl"
    );
    let info = tm.info("web");
    assert_eq!(info.state, StateName::Running);
    assert_ne!(info.pid, pid, "restart spawns a new child");
    assert_eq!(
        info.restarts, 0,
        "RESTARTS counts the policy's restarts, not the operator's"
    );
    let last = info.last_exit.expect("the stop is the last exit");
    assert_eq!(
        last.describe(),
        "terminated by SIGTERM; graceful",
        "the operator's restart reads as a graceful stop"
    );
}

#[test]
fn group_names_and_all_resolve() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.worker]
cmd = "sleep 1000"
numprocs = 3
starttime = 0
autostart = false
[programs.solo]
cmd = "sleep 1000"
starttime = 0
autostart = false
"#,
    );
    let names: Vec<String> = tm
        .status()
        .processes
        .iter()
        .map(|p| p.name.clone())
        .collect();
    assert_eq!(
        names,
        [
            "solo",
            "worker:worker_00",
            "worker:worker_01",
            "worker:worker_02"
        ],
        "a group of 3 is named worker:worker_NN"
    );
    let r = tm.actions(Command::start(vec!["worker:*".into()]));
    assert_eq!(r.len(), 3, "PROGRAM:* means every process of the group");
    let r = tm.actions(Command::start(vec!["all".into()]));
    assert_eq!(
        r.iter().filter(|a| a.outcome.is_ok()).count(),
        1,
        "only solo was left to start"
    );
    let r = tm.actions(Command::start(vec!["solo".into(), "nope".into()]));
    let lines: Vec<String> = r.iter().map(|a| a.render()).collect();
    assert_eq!(
        lines,
        [
            "solo: ERROR (already started)",
            "nope: ERROR (no such process)"
        ],
        "an unknown name is reported beside the others, as supervisorctl"
    );
    let r = tm.actions(Command::stop(vec!["worker".into()]));
    assert_eq!(r.len(), 3, "PROGRAM means every process of the group");
}

#[test]
fn shutdown_stops_everything_in_parallel_and_leaves_no_child() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.a]
cmd = "sh -c 'trap \"\" TERM; sleep 1000'"
numprocs = 3
starttime = 0
stoptime = 1
[programs.b]
cmd = "sleep 1000"
numprocs = 3
starttime = 0
"#,
    );
    wait_until(LONG, "all running", || {
        tm.status()
            .processes
            .iter()
            .all(|p| p.state == StateName::Running)
    });
    let pids = tm.pids();
    let t0 = Instant::now();
    tm.shutdown();
    let took = t0.elapsed();
    assert!(
        took < Duration::from_secs(4),
        "stops run in parallel: 3 x stoptime 1 s took {took:?}"
    );
    for pid in pids {
        assert!(
            group_members(pid).is_empty(),
            "no process of group {pid} is left"
        );
    }
}

#[test]
fn signal_command_reaches_the_process() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.hup]
cmd = "sh -c 'trap \"echo hup >> {dir}/hups\" HUP; touch {dir}/trapped; while :; do sleep 0.05; done'"
starttime = 0.1
"#,
    );
    tm.wait_state("hup", StateName::Running);
    // RUNNING says nothing about the shell's progress: on a loaded machine a HUP sent before
    // the trap is set kills it.
    wait_until(LONG, "the trap set", || tm.path("trapped").exists());
    let r = tm.actions(Command::signal("SIGHUP", vec!["hup".into()]));
    assert_eq!(r[0].render(), "hup: signalled");
    wait_until(LONG, "the trap ran", || {
        read(&tm.path("hups")).contains("hup")
    });
    assert_eq!(
        tm.info("hup").state,
        StateName::Running,
        "HUP did not stop it"
    );
}
