//! One test per transition of the state machine, with explicit time: no fork, no clock.

use super::*;
use crate::supervisor::snapshot::HealthStatus;

fn program(extra: &str) -> Arc<ProgramConfig> {
    let text = format!("[programs.web]\ncmd = \"sleep 1\"\n{extra}\n");
    let config =
        crate::config::parse(std::path::Path::new("/t.toml"), &text).expect("test config parses");
    Arc::new(config.programs["web"].clone())
}

fn process(extra: &str, t0: Now) -> Process {
    Process::new("web".into(), program(extra), t0)
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn pid(n: i32) -> Pid {
    Pid::from_raw(n)
}

/// Started and spawned as pid 100 at `t0`.
fn started(p: &mut Process, t0: Now) {
    assert_eq!(p.on_start(t0), Ok(vec![Effect::Spawn]), "a start spawns");
    p.on_spawned(pid(100), t0);
}

fn logs(effects: &[Effect]) -> Vec<&str> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Log(l) => Some(l.as_str()),
            _ => None,
        })
        .collect()
}

fn entered(effects: &[Effect]) -> Vec<StateName> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Entered { to, .. } => Some(*to),
            _ => None,
        })
        .collect()
}

#[test]
fn start_from_stopped_spawns_and_clears_retries() {
    let t0 = Now::current();
    let mut p = process("", t0);
    p.retries = 2;
    assert_eq!(p.on_start(t0), Ok(vec![Effect::Spawn]));
    assert_eq!(p.retries, 0, "a manual start clears the retry count");
}

#[test]
fn spawned_enters_starting_at_the_given_time() {
    let t0 = Now::current();
    let mut p = process("starttime = 1", t0);
    let later = t0.after(secs(5.0));
    let effects = p.on_spawned(pid(7), later);
    assert_eq!(
        p.state,
        ProcState::Starting {
            pid: pid(7),
            since: later.mono
        }
    );
    assert_eq!(entered(&effects), vec![StateName::Starting]);
    let info = p.info(t0);
    assert_eq!(
        info.since, later.wall,
        "state time is the wall time passed in"
    );
    assert_eq!(info.started_at, Some(later.wall));
}

#[test]
fn spawned_with_starttime_zero_is_running_at_once() {
    let t0 = Now::current();
    let mut p = process("starttime = 0", t0);
    let effects = p.on_spawned(pid(7), t0);
    assert_eq!(p.state_name(), StateName::Running);
    assert_eq!(entered(&effects), vec![StateName::Running]);
}

#[test]
fn staying_up_past_starttime_enters_running_and_clears_retries() {
    let t0 = Now::current();
    let mut p = process("starttime = 1", t0);
    started(&mut p, t0);
    p.retries = 2;
    assert!(
        p.on_deadline(t0.after(secs(0.999))).is_empty(),
        "a deadline that is not due yet does nothing"
    );
    p.on_deadline(t0.after(secs(1.0)));
    assert_eq!(
        p.state,
        ProcState::Running {
            pid: pid(100),
            since: t0.mono,
            health: None
        }
    );
    assert_eq!(p.retries, 0);
}

#[test]
fn exit_before_starttime_goes_to_backoff_with_growing_delay() {
    let t0 = Now::current();
    let mut p = process("starttime = 1\nstartretries = 3", t0);
    started(&mut p, t0);
    let effects = p.on_exit(ExitKind::Code(1), t0, false);
    assert_eq!(
        p.state,
        ProcState::Backoff {
            retry_at: t0.mono + secs(1.0),
            why: Failure::TooQuickly
        }
    );
    assert_eq!(
        logs(&effects),
        vec![
            "exited: web (exit status 1; not expected)",
            "backoff: web entered BACKOFF state, retry 1 of 3 in 1 s"
        ]
    );
    let t1 = t0.after(secs(1.0));
    p.on_deadline(t1);
    p.on_spawned(pid(101), t1);
    p.on_exit(ExitKind::Code(1), t1, false);
    assert!(
        matches!(p.state, ProcState::Backoff { retry_at, .. } if retry_at == t1.mono + secs(2.0)),
        "the second delay is 2 s: {:?}",
        p.state
    );
}

#[test]
fn backoff_spawns_again_when_due() {
    let t0 = Now::current();
    let mut p = process("starttime = 1", t0);
    started(&mut p, t0);
    p.on_exit(ExitKind::Code(1), t0, false);
    assert!(p.on_deadline(t0.after(secs(0.5))).is_empty(), "not yet");
    assert_eq!(p.on_deadline(t0.after(secs(1.0))), vec![Effect::Spawn]);
}

#[test]
fn too_many_quick_exits_give_up_with_the_reason_said_once() {
    let t0 = Now::current();
    let mut p = process("starttime = 1\nstartretries = 1", t0);
    started(&mut p, t0);
    p.on_exit(ExitKind::Code(1), t0, false);
    let t1 = t0.after(secs(1.0));
    p.on_spawned(pid(101), t1);
    let effects = p.on_exit(ExitKind::Code(1), t1, false);
    assert_eq!(
        p.state,
        ProcState::Fatal {
            why: Failure::TooQuickly,
            retry_at: None
        }
    );
    assert_eq!(
        logs(&effects).last().copied(),
        Some("gave up: web entered FATAL state, too many start retries too quickly"),
        "supervisor's words, no nested reason"
    );
    assert_eq!(
        p.info(t0).reason,
        "Exited too quickly (process log may have details)"
    );
    assert_eq!(p.info(t0).retries, 2);
}

#[test]
fn spawn_error_goes_to_backoff_then_fatal_with_the_error() {
    let t0 = Now::current();
    let mut p = process("startretries = 1", t0);
    let why = "can't find command '/x'".to_string();
    p.on_spawn_failed(why.clone(), t0);
    assert_eq!(
        p.state,
        ProcState::Backoff {
            retry_at: t0.mono + secs(1.0),
            why: Failure::Spawn(why.clone())
        }
    );
    assert_eq!(
        p.start_outcome(),
        Some(Err(Fault::Spawn("can't find command '/x'".to_string())))
    );
    let effects = p.on_spawn_failed(why.clone(), t0.after(secs(1.0)));
    assert_eq!(
        logs(&effects),
        vec![
            "spawnerr: web: can't find command '/x'",
            "gave up: web entered FATAL state, 2 failed starts: can't find command '/x'"
        ]
    );
    assert_eq!(p.info(t0).reason, why, "status shows the error alone");
}

#[test]
fn exit_after_starttime_follows_the_autorestart_policy() {
    for (policy, code, restarts) in [
        ("unexpected", 0, false),
        ("unexpected", 1, true),
        ("always", 0, true),
        ("never", 1, false),
    ] {
        let t0 = Now::current();
        let mut p = process(&format!("starttime = 0\nautorestart = \"{policy}\""), t0);
        started(&mut p, t0);
        let effects = p.on_exit(ExitKind::Code(code), t0.after(secs(3.0)), false);
        assert_eq!(
            effects.contains(&Effect::Spawn),
            restarts,
            "{policy} with exit {code}"
        );
        assert_eq!(p.restarts, u32::from(restarts), "a policy restart counts");
        assert_eq!(p.state_name(), StateName::Exited);
        assert_eq!(
            p.last_exit.map(|e| e.at),
            Some(t0.after(secs(3.0)).wall),
            "the exit time is the wall time passed in"
        );
    }
}

#[test]
fn death_by_signal_is_never_expected() {
    let t0 = Now::current();
    let mut p = process("starttime = 0\nexitcodes = [0, 15]", t0);
    started(&mut p, t0);
    let effects = p.on_exit(ExitKind::Signal(15), t0.after(secs(3.0)), false);
    assert!(effects.contains(&Effect::Spawn));
    assert_eq!(
        logs(&effects)[0],
        "exited: web (terminated by SIGTERM; not expected)"
    );
    assert_eq!(p.last_exit.map(|e| e.expected()), Some(false));
}

#[test]
fn unknown_wait_status_is_its_own_kind() {
    let t0 = Now::current();
    let mut p = process("starttime = 0\nautorestart = \"never\"", t0);
    started(&mut p, t0);
    let effects = p.on_exit(ExitKind::Unknown, t0, false);
    assert_eq!(
        logs(&effects),
        vec!["exited: web (exit status unknown; not expected)"],
        "never 'terminated by signal 0'"
    );
}

#[test]
fn stop_sends_stopsignal_to_the_group_and_enters_stopping() {
    let t0 = Now::current();
    let mut p = process("starttime = 0\nstopsignal = \"INT\"\nstoptime = 3", t0);
    started(&mut p, t0);
    let effects = p.on_stop(t0).expect("a running process stops");
    assert!(effects.contains(&Effect::SignalGroup(pid(100), Signal::SIGINT)));
    assert_eq!(p.deadline(), Some(t0.mono + secs(3.0)));
    assert_eq!(entered(&effects), vec![StateName::Stopping]);
}

#[test]
fn stop_escalates_to_sigkill_after_stoptime_and_says_so() {
    let t0 = Now::current();
    let mut p = process("starttime = 0", t0);
    started(&mut p, t0);
    p.on_stop(t0).expect("stops");
    let later = t0.after(secs(10.0));
    assert!(
        p.on_deadline(later)
            .contains(&Effect::SignalGroup(pid(100), Signal::SIGKILL))
    );
    let effects = p.on_exit(ExitKind::Signal(9), later, false);
    assert_eq!(
        p.state,
        ProcState::Stopped,
        "a stopped process is not restarted"
    );
    assert_eq!(
        logs(&effects),
        vec!["stopped: web (terminated by SIGKILL; killed after stoptime)"]
    );
}

#[test]
fn stop_ending_by_the_stop_signal_is_graceful() {
    let t0 = Now::current();
    let mut p = process("starttime = 0", t0);
    started(&mut p, t0);
    p.on_stop(t0).expect("stops");
    let effects = p.on_exit(ExitKind::Signal(15), t0, false);
    assert_eq!(
        logs(&effects),
        vec!["stopped: web (terminated by SIGTERM; graceful)"]
    );
    assert!(p.last_exit.is_some_and(|e| e.expected()));
}

#[test]
fn killed_by_someone_else_while_stopping_is_not_called_graceful() {
    let t0 = Now::current();
    let mut p = process("starttime = 0", t0);
    started(&mut p, t0);
    p.on_stop(t0).expect("stops");
    let effects = p.on_exit(ExitKind::Signal(9), t0.after(secs(1.0)), false);
    assert_eq!(
        logs(&effects),
        vec!["stopped: web (terminated by SIGKILL while stopping)"]
    );
}

#[test]
fn stop_in_backoff_is_stopped_at_once() {
    let t0 = Now::current();
    let mut p = process("starttime = 1", t0);
    started(&mut p, t0);
    p.on_exit(ExitKind::Code(1), t0, false);
    let effects = p.on_stop(t0).expect("backoff stops");
    assert_eq!(p.state, ProcState::Stopped);
    assert_eq!(entered(&effects), vec![StateName::Stopped]);
    assert_eq!(p.deadline(), None, "no retry is pending any more");
}

#[test]
fn start_and_stop_refused_where_they_make_no_sense() {
    let t0 = Now::current();
    let mut p = process("starttime = 1", t0);
    assert_eq!(p.on_stop(t0), Err(Fault::NotRunning));
    started(&mut p, t0);
    assert_eq!(p.on_start(t0), Err(Fault::AlreadyStarted));
}

#[test]
fn start_while_stopping_waits_for_the_stop_then_starts_again() {
    let t0 = Now::current();
    let mut p = process("starttime = 0\nautorestart = \"never\"", t0);
    started(&mut p, t0);
    p.on_stop(t0).expect("stops");
    assert_eq!(
        p.on_start(t0),
        Ok(vec![]),
        "no spawn while the old child lives"
    );
    let effects = p.on_exit(ExitKind::Signal(15), t0, false);
    assert!(
        effects.contains(&Effect::StartAgain),
        "the queued start follows"
    );
}

#[test]
fn stop_while_stopping_cancels_a_queued_start() {
    let t0 = Now::current();
    let mut p = process("starttime = 0", t0);
    started(&mut p, t0);
    p.on_stop(t0).expect("stops");
    p.on_start(t0).expect("queued");
    p.on_stop(t0).expect("still stopping");
    let effects = p.on_exit(ExitKind::Signal(15), t0, false);
    assert!(!effects.contains(&Effect::StartAgain));
}

#[test]
fn queued_start_is_dropped_during_shutdown() {
    let t0 = Now::current();
    let mut p = process("starttime = 0", t0);
    started(&mut p, t0);
    p.on_stop(t0).expect("stops");
    p.on_start(t0).expect("queued");
    let effects = p.on_exit(ExitKind::Signal(15), t0, true);
    assert!(!effects.contains(&Effect::StartAgain));
}

#[test]
fn retired_process_is_removed_once_stopped() {
    let t0 = Now::current();
    let mut p = process("starttime = 0", t0);
    started(&mut p, t0);
    let effects = p.on_retire(t0);
    assert!(effects.contains(&Effect::SignalGroup(pid(100), Signal::SIGTERM)));
    let effects = p.on_exit(ExitKind::Signal(15), t0, false);
    assert!(effects.contains(&Effect::Remove));
}

#[test]
fn retired_process_at_rest_is_removed_at_once() {
    let t0 = Now::current();
    let mut p = process("", t0);
    assert_eq!(p.on_retire(t0), vec![Effect::Remove]);
}

#[test]
fn readded_process_starts_again_instead_of_being_removed() {
    let t0 = Now::current();
    let mut p = process("starttime = 0", t0);
    started(&mut p, t0);
    p.on_retire(t0);
    p.on_readded();
    let effects = p.on_exit(ExitKind::Signal(15), t0, false);
    assert!(effects.contains(&Effect::StartAgain));
    assert!(!effects.contains(&Effect::Remove));
}

#[test]
fn exits_are_not_restarted_during_shutdown() {
    let t0 = Now::current();
    let mut p = process("starttime = 0\nautorestart = \"always\"", t0);
    started(&mut p, t0);
    let effects = p.on_exit(ExitKind::Code(0), t0, true);
    assert!(
        !effects.contains(&Effect::Spawn),
        "no restart while shutting down"
    );
}

#[test]
fn exit_without_a_child_is_ignored() {
    let t0 = Now::current();
    let mut p = process("", t0);
    assert!(p.on_exit(ExitKind::Code(0), t0, false).is_empty());
    assert_eq!(p.state, ProcState::Stopped);
}

#[test]
fn a_short_run_is_followed_by_a_delay_that_doubles() {
    let t0 = Now::current();
    let mut p = process("starttime = 0", t0);
    let mut now = t0;
    started(&mut p, now);
    let mut delays = Vec::new();
    for n in 0..4 {
        let effects = p.on_exit(ExitKind::Code(1), now.after(secs(0.01)), false);
        assert!(
            !effects.contains(&Effect::Spawn),
            "a run of 10 ms never restarts at once"
        );
        let at = p.retry_at().expect("a restart is pending");
        delays.push(at - now.after(secs(0.01)).mono);
        now = Now {
            mono: at,
            wall: t0.wall + (at - t0.mono),
        };
        assert_eq!(
            p.on_deadline(now),
            vec![Effect::Spawn],
            "restart {n} when due"
        );
        p.on_spawned(pid(200 + n), now);
    }
    assert_eq!(delays, [secs(0.1), secs(0.2), secs(0.4), secs(0.8)]);
    assert_eq!(p.restarts, 4, "each delayed restart counts");
}

#[test]
fn a_pending_restart_shows_in_status() {
    let t0 = Now::current();
    let mut p = process("starttime = 0\nrestart_delay = 4", t0);
    started(&mut p, t0);
    let effects = p.on_exit(ExitKind::Code(1), t0.after(secs(5.0)), false);
    assert_eq!(
        logs(&effects),
        vec![
            "exited: web (exit status 1; not expected)",
            "restarting: web in 4 s (autorestart unexpected; it ran 5 s)"
        ]
    );
    let info = p.info(t0.after(secs(5.0)));
    assert_eq!(info.state, StateName::Exited);
    let line = info.description(t0.after(secs(5.0)).wall);
    assert!(
        line.ends_with("(exit status 1; not expected), restarting in 4 s"),
        "{line}"
    );
}

#[test]
fn restart_delay_doubles_and_a_long_run_resets_it() {
    let t0 = Now::current();
    let mut p = process(
        "starttime = 0\nrestart_delay = 1\nrestart_delay_max = 3\nrestart_delay_reset = 10",
        t0,
    );
    let mut now = t0;
    started(&mut p, now);
    let mut delays = Vec::new();
    for run in [2.0, 2.0, 2.0, 2.0, 10.0] {
        now = now.after(secs(run));
        p.on_exit(ExitKind::Code(1), now, false);
        let at = p.retry_at().expect("pending");
        delays.push(at - now.mono);
        now = now.after(at - now.mono);
        p.on_deadline(now);
        p.on_spawned(pid(300), now);
    }
    assert_eq!(
        delays,
        [secs(1.0), secs(2.0), secs(3.0), secs(3.0), secs(1.0)],
        "doubling, capped at restart_delay_max, reset by a 10 s run"
    );
}

#[test]
fn stop_cancels_a_pending_restart() {
    let t0 = Now::current();
    let mut p = process("starttime = 0\nrestart_delay = 4", t0);
    started(&mut p, t0);
    p.on_exit(ExitKind::Code(1), t0, false);
    assert!(p.is_active(), "a pending restart is something to stop");
    let effects = p.on_stop(t0).expect("stops");
    assert_eq!(p.state, ProcState::Stopped);
    assert_eq!(
        logs(&effects),
        vec!["stopped: web (its pending restart cancelled)"]
    );
    assert_eq!(p.deadline(), None);
}

#[test]
fn start_during_a_pending_restart_starts_now_and_resets_the_series() {
    let t0 = Now::current();
    let mut p = process("starttime = 0", t0);
    started(&mut p, t0);
    p.on_exit(ExitKind::Code(1), t0, false);
    assert_eq!(p.on_start(t0), Ok(vec![Effect::Spawn]));
    assert_eq!(p.delay, None, "a manual start resets the delay");
}

#[test]
fn fatal_retry_starts_again_as_a_new_series() {
    let t0 = Now::current();
    let mut p = process("startretries = 0\nfatal_retry = 30", t0);
    started(&mut p, t0);
    let effects = p.on_exit(ExitKind::Code(1), t0, false);
    assert_eq!(p.state_name(), StateName::Fatal);
    assert!(logs(&effects).contains(&"fatal_retry: web starts again in 30 s"));
    assert!(
        p.info(t0)
            .description(t0.wall)
            .ends_with("(process log may have details), retrying in 30 s")
    );
    assert!(p.on_deadline(t0.after(secs(29.0))).is_empty(), "not yet");
    let effects = p.on_deadline(t0.after(secs(30.0)));
    assert!(effects.contains(&Effect::Spawn));
    assert_eq!(p.retries, 0, "the retry starts a new series");
}

#[test]
fn stop_cancels_a_fatal_retry() {
    let t0 = Now::current();
    let mut p = process("startretries = 0\nfatal_retry = 30", t0);
    started(&mut p, t0);
    p.on_exit(ExitKind::Code(1), t0, false);
    p.on_stop(t0).expect("a pending retry stops");
    assert_eq!(p.state, ProcState::Stopped);
}

#[test]
fn fatal_without_fatal_retry_stays_fatal() {
    let t0 = Now::current();
    let mut p = process("startretries = 0", t0);
    started(&mut p, t0);
    p.on_exit(ExitKind::Code(1), t0, false);
    assert_eq!(p.deadline(), None);
    assert_eq!(p.on_stop(t0), Err(Fault::NotRunning));
}

#[test]
fn a_held_spawn_enters_waiting_with_its_reason() {
    let t0 = Now::current();
    let mut p = process("", t0);
    let effects = p.on_wait("db (healthy)".into(), None, t0);
    assert_eq!(p.state_name(), StateName::Waiting);
    assert_eq!(logs(&effects), vec!["waiting: web for db (healthy)"]);
    assert_eq!(p.info(t0).reason, "waiting for db (healthy)");
    assert!(p.is_active() && p.is_started());
    assert_eq!(p.start_outcome(), None, "a start waits on");
}

#[test]
fn waiting_with_the_same_reason_says_nothing_new() {
    let t0 = Now::current();
    let mut p = process("", t0);
    p.on_wait("db (running)".into(), None, t0);
    assert!(p.on_wait("db (running)".into(), None, t0).is_empty());
}

#[test]
fn a_blocked_wait_fails_a_waiting_start() {
    let t0 = Now::current();
    let mut p = process("", t0);
    p.on_wait("db (running)".into(), None, t0);
    let effects = p.on_wait("db (running)".into(), Some("db is FATAL".into()), t0);
    assert_eq!(
        logs(&effects),
        vec!["waiting: web for db (running): db is FATAL"]
    );
    assert_eq!(
        p.start_outcome(),
        Some(Err(Fault::Blocked(
            "waiting for db (running): db is FATAL".to_string()
        )))
    );
}

#[test]
fn waiting_is_left_by_a_spawn_or_a_stop() {
    let t0 = Now::current();
    let mut p = process("starttime = 1", t0);
    p.on_wait("db (running)".into(), None, t0);
    assert_eq!(p.on_start(t0), Ok(vec![]), "already on its way up");
    p.on_spawned(pid(9), t0);
    assert_eq!(p.state_name(), StateName::Starting);
    let mut q = process("", t0);
    q.on_wait("db (running)".into(), None, t0);
    let effects = q.on_stop(t0).expect("a waiting process stops");
    assert_eq!(q.state, ProcState::Stopped);
    assert_eq!(logs(&effects), vec!["stopped: web (was in WAITING)"]);
}

fn checked(extra: &str, t0: Now) -> Process {
    let mut p = process(
        &format!("starttime = 0\nhealth = {{ tcp = \"127.0.0.1:1\" }}\n{extra}"),
        t0,
    );
    started(&mut p, t0);
    p
}

#[test]
fn entering_running_schedules_a_check_at_once_and_one_at_a_time() {
    let t0 = Now::current();
    let mut p = checked("", t0);
    assert_eq!(p.info(t0).health, Some(HealthStatus::Checking));
    assert_eq!(
        p.check_due(),
        Some(t0.mono),
        "the first check is due at once"
    );
    assert_eq!(p.deadline(), None, "checks are queued apart");
    assert_eq!(p.on_check_due(t0), Some(pid(100)));
    assert_eq!(
        p.check_due(),
        None,
        "no second check while one is in flight"
    );
    assert_eq!(p.on_check_due(t0.after(secs(10.0))), None);
}

#[test]
fn a_check_runs_up_to_an_eighth_of_its_interval_early_at_most_125_ms() {
    let t0 = Now::current();
    let mut p = checked("health_interval = 1.6", t0);
    assert_eq!(p.check_slack(), secs(0.2).min(MAX_CHECK_SLACK));
    p.on_check_due(t0);
    p.on_health(pid(100), Ok(()), t0);
    let due = t0.mono + secs(1.6);
    assert_eq!(p.check_due(), Some(due));
    assert_eq!(p.on_check_due(t0.after(secs(1.46))), None, "too early");
    assert_eq!(p.on_check_due(t0.after(secs(1.48))), Some(pid(100)));
    let q = checked("health_interval = 0.16", t0);
    assert_eq!(q.check_slack(), secs(0.02));
}

#[test]
fn a_passing_check_makes_it_healthy_once_and_schedules_the_next() {
    let t0 = Now::current();
    let mut p = checked("health_interval = 5", t0);
    p.on_check_due(t0);
    let effects = p.on_health(pid(100), Ok(()), t0);
    assert_eq!(
        effects,
        vec![
            Effect::Log("healthy: web (tcp 127.0.0.1:1)".into()),
            Effect::Health { healthy: true }
        ]
    );
    assert!(p.is_healthy());
    assert_eq!(p.check_due(), Some(t0.mono + secs(5.0)));
    p.on_check_due(t0.after(secs(5.0)));
    assert!(
        p.on_health(pid(100), Ok(()), t0.after(secs(5.0)))
            .is_empty(),
        "still healthy: nothing new to say"
    );
    let line = p.info(t0).description(t0.wall);
    assert!(line.ends_with(", healthy"), "{line}");
}

#[test]
fn retries_failures_in_a_row_make_it_unhealthy_with_the_reason() {
    let t0 = Now::current();
    let mut p = checked("health_retries = 2", t0);
    assert!(
        p.on_health(pid(100), Err("refused".into()), t0).is_empty(),
        "one failure is not enough"
    );
    let effects = p.on_health(pid(100), Err("refused".into()), t0);
    assert_eq!(
        logs(&effects),
        vec!["unhealthy: web (tcp 127.0.0.1:1: 2 failed checks, last: refused)"]
    );
    assert!(effects.contains(&Effect::Health { healthy: false }));
    assert_eq!(
        p.info(t0).health,
        Some(HealthStatus::Unhealthy("refused".into()))
    );
    let effects = p.on_health(pid(100), Ok(()), t0);
    assert!(
        effects.contains(&Effect::Health { healthy: true }),
        "recovers"
    );
}

#[test]
fn unhealthy_with_health_restart_restarts_it() {
    let t0 = Now::current();
    let mut p = checked("health_retries = 1\nhealth_restart = true", t0);
    let effects = p.on_health(pid(100), Err("HTTP 500".into()), t0);
    assert!(effects.contains(&Effect::SignalGroup(pid(100), Signal::SIGTERM)));
    let effects = p.on_exit(ExitKind::Signal(15), t0, false);
    assert!(
        effects.contains(&Effect::StartAgain),
        "started again after the stop"
    );
    assert_eq!(p.restarts, 1, "a policy restart counts");
}

#[test]
fn a_stale_check_outcome_is_ignored() {
    let t0 = Now::current();
    let mut p = checked("", t0);
    assert!(p.on_health(pid(99), Ok(()), t0).is_empty());
    assert!(!p.is_healthy());
}

#[test]
fn a_log_check_waits_for_its_text_instead_of_a_timer() {
    let t0 = Now::current();
    let mut p = process("starttime = 0\nhealth = { log = \"ready\" }", t0);
    assert_eq!(p.on_start(t0), Ok(vec![Effect::Spawn]));
    let effects = p.on_spawned(pid(5), t0);
    assert!(effects.contains(&Effect::WatchLog));
    assert_eq!(p.check_due(), None, "no timer for a log check");
    p.on_health(pid(5), Ok(()), t0);
    assert!(p.is_healthy());
}
