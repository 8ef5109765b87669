//! Events of process transitions, in one place. The state machine reports each change of
//! state as `Effect::Entered { from, to }`, after the event-log lines that tell it; the engine
//! hands both here, and every line becomes an [`Event`] carrying the data of section 9 (read
//! from the process's new state). Lines that tell no transition (`killing:`, `restarting:`)
//! become `note` events, so the event log, the dashboard, `events` and the alerts all read the
//! one stream.

use super::events::{Event, EventKind};
use super::snapshot::{ExitKind, HealthStatus, ProcessInfo, StateName, signal_name};
use crate::config::ProgramConfig;

/// Per process, what the engine remembers between transitions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Seen {
    /// Entered FATAL, BACKOFF or exited unexpectedly since it was last RUNNING: the next
    /// RUNNING is a recovery.
    troubled: bool,
    /// The pid of the child last known alive (an exit event names it).
    pid: Option<u32>,
}

/// A line of the state machine that tells no transition.
pub(super) fn note(line: String, info: Option<&ProcessInfo>) -> Event {
    let mut ev = Event::new(EventKind::Note, line);
    if let Some(p) = info {
        ev.program = Some(p.program.clone());
        ev.process = Some(p.name.clone());
        ev.pid = p.pid;
    }
    ev
}

/// The events of `from -> to`, with `lines` (the state machine's words for it) as their
/// text, in order, when there is one line per event; otherwise each line goes out as a note
/// first and the events keep words of their own (nothing is lost if the two drift apart).
pub(super) fn entered(
    seen: &mut Seen,
    from: StateName,
    to: StateName,
    now: &ProcessInfo,
    config: &ProgramConfig,
    lines: Vec<String>,
) -> Vec<Event> {
    let mut evs = derive(seen, from, to, now, config);
    // `recovered` is ours alone: the state machine has no line for it.
    let told: Vec<usize> = (0..evs.len())
        .filter(|i| evs[*i].kind != EventKind::Recovered)
        .collect();
    if told.len() == lines.len() {
        for (i, line) in told.into_iter().zip(lines) {
            evs[i].text = line;
        }
        return evs;
    }
    let mut out: Vec<Event> = lines.into_iter().map(|l| note(l, Some(now))).collect();
    out.extend(evs);
    out
}

fn derive(
    seen: &mut Seen,
    from: StateName,
    to: StateName,
    now: &ProcessInfo,
    config: &ProgramConfig,
) -> Vec<Event> {
    let name = &now.name;
    let base = |kind: EventKind, text: String| {
        let mut ev = Event::new(kind, text);
        ev.program = Some(now.program.clone());
        ev.process = Some(now.name.clone());
        ev.from = Some(from);
        ev.to = Some(to);
        ev.pid = now.pid;
        ev
    };
    let mut out = Vec::new();
    let had_child = matches!(
        from,
        StateName::Starting | StateName::Running | StateName::Stopping
    );
    // The child we knew is gone: its end comes first.
    if had_child && now.pid.is_none() {
        out.push(exit_event(seen, from, to, now));
    }
    match to {
        StateName::Starting => out.push(base(
            EventKind::Spawned,
            format!("spawned: '{name}' with pid {}", now.pid.unwrap_or(0)),
        )),
        StateName::Running => {
            if from != StateName::Starting {
                let mut ev = base(
                    EventKind::Spawned,
                    format!("spawned: '{name}' with pid {}", now.pid.unwrap_or(0)),
                );
                ev.to = Some(StateName::Starting);
                out.push(ev);
            }
            out.push(base(
                EventKind::Running,
                format!(
                    "success: {name} entered RUNNING state, process has stayed up for > than {} \
                     seconds (starttime)",
                    config.starttime.as_secs_f64()
                ),
            ));
            if std::mem::take(&mut seen.troubled) {
                out.push(base(
                    EventKind::Recovered,
                    format!("recovered: {name} is RUNNING again"),
                ));
            }
        }
        StateName::Backoff | StateName::Fatal => {
            seen.troubled = true;
            if !had_child {
                out.push(note(format!("spawnerr: {name}: {}", now.reason), Some(now)));
            }
            let (kind, text) = if to == StateName::Fatal {
                (
                    EventKind::Fatal,
                    format!("gave up: {name} entered FATAL state ({})", now.reason),
                )
            } else {
                (
                    EventKind::Backoff,
                    format!(
                        "backoff: {name} entered BACKOFF state, retry {} of {}",
                        now.retries, config.startretries
                    ),
                )
            };
            let mut ev = base(kind, text);
            ev.reason = Some(now.reason.clone());
            ev.tries = Some(now.retries);
            out.push(ev);
        }
        StateName::Stopping => out.push(note(
            format!(
                "stop requested: {name} (sending {} to process group {})",
                config.stopsignal.as_str(),
                now.pid.unwrap_or(0)
            ),
            Some(now),
        )),
        StateName::Stopped => {
            seen.troubled = false;
            if !had_child {
                out.push(base(
                    EventKind::Stopped,
                    format!("stopped: {name} (was in {from})"),
                ));
            }
        }
        StateName::Exited | StateName::Waiting | StateName::Unknown => {}
    }
    seen.pid = now.pid;
    out
}

/// `healthy` or `unhealthy` (no change of state: `from`/`to` stay null), with the state
/// machine's line as its text when there is exactly one; `reason` is the last failure.
pub(super) fn health(healthy: bool, now: &ProcessInfo, lines: Vec<String>) -> Vec<Event> {
    let (kind, own) = if healthy {
        (EventKind::Healthy, format!("healthy: {}", now.name))
    } else {
        (EventKind::Unhealthy, format!("unhealthy: {}", now.name))
    };
    let mut out = Vec::new();
    let text = match <[String; 1]>::try_from(lines) {
        Ok([line]) => line,
        Err(lines) => {
            out.extend(lines.into_iter().map(|l| note(l, Some(now))));
            own
        }
    };
    let mut ev = Event::new(kind, text);
    ev.program = Some(now.program.clone());
    ev.process = Some(now.name.clone());
    ev.pid = now.pid;
    if let Some(HealthStatus::Unhealthy(why)) = &now.health {
        ev.reason = Some(why.clone());
    }
    out.push(ev);
    out
}

/// `exited`, `exited_unexpected` or `stopped` for the child that just ended.
fn exit_event(seen: &mut Seen, from: StateName, to: StateName, now: &ProcessInfo) -> Event {
    let name = &now.name;
    let stopped = from == StateName::Stopping;
    let (kind, text, mut ev) = match now.last_exit {
        Some(exit) => {
            let (kind, verb) = if stopped {
                (EventKind::Stopped, "stopped")
            } else if exit.expected() {
                (EventKind::Exited, "exited")
            } else {
                (EventKind::ExitedUnexpected, "exited")
            };
            let mut ev = Event::new(kind, String::new());
            match exit.kind {
                ExitKind::Code(c) => ev.exit_code = Some(c),
                ExitKind::Signal(s) => ev.signal = Some(signal_name(s)),
                ExitKind::Unknown => {}
            }
            ev.expected = Some(exit.expected());
            (kind, format!("{verb}: {name} ({})", exit.describe()), ev)
        }
        None => (
            EventKind::Stopped,
            format!("stopped: {name}"),
            Event::new(EventKind::Stopped, String::new()),
        ),
    };
    if kind == EventKind::ExitedUnexpected {
        seen.troubled = true;
    }
    ev.kind = kind;
    ev.text = text;
    ev.program = Some(now.program.clone());
    ev.process = Some(name.clone());
    ev.pid = seen.pid;
    ev.from = Some(from);
    // A death while STARTING is an exit on the way to BACKOFF/FATAL.
    ev.to = Some(if stopped {
        StateName::Stopped
    } else {
        StateName::Exited
    });
    let _ = to;
    ev
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::snapshot::{ExitCause, ExitInfo};
    use std::time::SystemTime;

    fn config() -> ProgramConfig {
        let c = crate::config::parse(
            std::path::Path::new("/t.toml"),
            "[programs.web]\ncmd = \"sleep 1\"\n",
        )
        .expect("parses");
        c.programs["web"].clone()
    }

    fn info(state: StateName, pid: Option<u32>) -> ProcessInfo {
        ProcessInfo {
            name: "web".into(),
            program: "web".into(),
            state,
            pid,
            since: SystemTime::now(),
            started_at: None,
            restarts: 0,
            retries: 0,
            last_exit: None,
            retry_at: None,
            reason: String::new(),
            pty: None,
            depends_on: Vec::new(),
            health: None,
            stopped_by: None,
        }
    }

    fn died(kind: ExitKind, cause: ExitCause) -> Option<ExitInfo> {
        Some(ExitInfo {
            kind,
            cause,
            at: SystemTime::now(),
        })
    }

    fn kinds(evs: &[Event]) -> Vec<EventKind> {
        evs.iter().map(|e| e.kind).collect()
    }

    use StateName::*;

    #[test]
    fn a_crash_then_restart_is_exited_unexpected_spawned_running_recovered() {
        let c = config();
        let mut seen = Seen::default();
        let lines = |n: usize| (0..n).map(|i| format!("line {i}")).collect::<Vec<_>>();
        let evs = entered(
            &mut seen,
            Stopped,
            Starting,
            &info(Starting, Some(10)),
            &c,
            lines(1),
        );
        assert_eq!(kinds(&evs), [EventKind::Spawned]);
        assert_eq!(
            evs[0].text, "line 0",
            "the state machine's words are the text"
        );
        entered(
            &mut seen,
            Starting,
            Running,
            &info(Running, Some(10)),
            &c,
            lines(1),
        );
        let mut dead = info(Exited, None);
        dead.last_exit = died(ExitKind::Signal(9), ExitCause::Died { expected: false });
        let evs = entered(&mut seen, Running, Exited, &dead, &c, lines(1));
        assert_eq!(kinds(&evs), [EventKind::ExitedUnexpected]);
        assert_eq!(evs[0].signal.as_deref(), Some("SIGKILL"));
        assert_eq!(evs[0].pid, Some(10), "the pid of the child that died");
        let evs = entered(
            &mut seen,
            Exited,
            Running,
            &info(Running, Some(11)),
            &c,
            lines(2),
        );
        assert_eq!(
            kinds(&evs),
            [EventKind::Spawned, EventKind::Running, EventKind::Recovered],
            "starttime 0: straight to RUNNING, which is a recovery"
        );
        assert_eq!(evs[2].text, "recovered: web is RUNNING again");
    }

    #[test]
    fn spawn_failures_are_a_note_and_a_backoff_then_fatal() {
        let c = config();
        let mut seen = Seen::default();
        let mut b = info(Backoff, None);
        b.retries = 1;
        b.reason = "can't find command".into();
        let evs = entered(
            &mut seen,
            Stopped,
            Backoff,
            &b,
            &c,
            vec!["a".into(), "b".into()],
        );
        assert_eq!(kinds(&evs), [EventKind::Note, EventKind::Backoff]);
        assert_eq!(evs[1].tries, Some(1));
        assert_eq!(evs[1].reason.as_deref(), Some("can't find command"));
        let mut f = info(Fatal, None);
        f.retries = 4;
        let evs = entered(&mut seen, Backoff, Fatal, &f, &c, vec![]);
        assert_eq!(
            kinds(&evs),
            [EventKind::Note, EventKind::Fatal],
            "own words without lines"
        );
        assert_eq!((evs[1].from, evs[1].to), (Some(Backoff), Some(Fatal)));
    }

    #[test]
    fn a_death_while_starting_is_an_unexpected_exit_then_backoff() {
        let c = config();
        let mut seen = Seen::default();
        entered(
            &mut seen,
            Stopped,
            Starting,
            &info(Starting, Some(5)),
            &c,
            vec![],
        );
        let mut b = info(Backoff, None);
        b.retries = 1;
        b.last_exit = died(ExitKind::Code(3), ExitCause::DiedStarting);
        let evs = entered(
            &mut seen,
            Starting,
            Backoff,
            &b,
            &c,
            vec!["x".into(), "y".into()],
        );
        assert_eq!(
            kinds(&evs),
            [EventKind::ExitedUnexpected, EventKind::Backoff]
        );
        assert_eq!(evs[0].exit_code, Some(3));
        assert_eq!((evs[0].text.as_str(), evs[1].text.as_str()), ("x", "y"));
    }

    #[test]
    fn a_stop_is_a_note_then_one_stopped_event_with_the_signal() {
        let c = config();
        let mut seen = Seen::default();
        entered(
            &mut seen,
            Stopped,
            Running,
            &info(Running, Some(7)),
            &c,
            vec![],
        );
        let evs = entered(
            &mut seen,
            Running,
            Stopping,
            &info(Stopping, Some(7)),
            &c,
            vec![],
        );
        assert_eq!(kinds(&evs), [EventKind::Note]);
        let mut s = info(Stopped, None);
        s.last_exit = died(
            ExitKind::Signal(15),
            ExitCause::Stopped(crate::supervisor::snapshot::StopEnd::Graceful),
        );
        let evs = entered(&mut seen, Stopping, Stopped, &s, &c, vec![]);
        assert_eq!(kinds(&evs), [EventKind::Stopped]);
        assert_eq!(evs[0].signal.as_deref(), Some("SIGTERM"));
        assert_eq!(
            evs[0].text,
            "stopped: web (terminated by SIGTERM; graceful)"
        );
    }

    #[test]
    fn health_changes_are_healthy_and_unhealthy_events_with_the_reason() {
        let mut up = info(Running, Some(7));
        up.health = Some(HealthStatus::Healthy);
        let evs = health(true, &up, vec!["healthy: web (tcp x)".into()]);
        assert_eq!(kinds(&evs), [EventKind::Healthy]);
        assert_eq!(evs[0].text, "healthy: web (tcp x)");
        assert_eq!((evs[0].pid, evs[0].reason.as_deref()), (Some(7), None));
        assert_eq!((evs[0].from, evs[0].to), (None, None), "no state change");
        let mut down = info(Running, Some(7));
        down.health = Some(HealthStatus::Unhealthy("refused".into()));
        let evs = health(false, &down, vec![]);
        assert_eq!(
            kinds(&evs),
            [EventKind::Unhealthy],
            "own words without lines"
        );
        assert_eq!(evs[0].reason.as_deref(), Some("refused"));
        assert_eq!(evs[0].process.as_deref(), Some("web"));
        let evs = health(false, &down, vec!["a".into(), "b".into()]);
        assert_eq!(
            kinds(&evs),
            [EventKind::Note, EventKind::Note, EventKind::Unhealthy]
        );
    }
}
