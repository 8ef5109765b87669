//! Events derived from state changes, in one place: the engine compares what it last saw of
//! a process with what the state machine left, and names what happened in section 9's words.

use super::events::{Event, EventKind};
use super::process::describe_exit;
use super::snapshot::{ExitKind, ProcessInfo, StateName, signal_name};
use crate::config::ProgramConfig;

/// What the engine last saw of one process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Observed {
    state: StateName,
    pid: Option<u32>,
    retries: u32,
    /// Entered FATAL, BACKOFF or exited unexpectedly since it was last RUNNING: the next
    /// RUNNING is a recovery.
    troubled: bool,
}

impl Default for Observed {
    fn default() -> Self {
        Observed {
            state: StateName::Stopped,
            pid: None,
            retries: 0,
            troubled: false,
        }
    }
}

/// The events between `seen` and `now`, oldest first; `seen` becomes `now`.
pub(super) fn observe(
    seen: &mut Observed,
    now: &ProcessInfo,
    config: &ProgramConfig,
) -> Vec<Event> {
    let (from, to) = (seen.state, now.state);
    let new_child = now.pid.is_some() && now.pid != seen.pid;
    let retried = to == StateName::Backoff && now.retries != seen.retries;
    if from == to && !new_child && !retried {
        return Vec::new();
    }
    let base = |kind: EventKind, text: String, from: StateName, to: StateName| {
        let mut ev = Event::new(kind, text);
        ev.program = Some(now.program.clone());
        ev.process = Some(now.name.clone());
        ev.from = Some(from);
        ev.to = Some(to);
        ev
    };
    let name = &now.name;
    let mut out = Vec::new();
    // The child we knew is gone (reaped, or replaced by a new one): its end comes first.
    if seen.pid.is_some() && now.pid != seen.pid {
        let stopped = to == StateName::Stopped;
        let exit_to = if new_child { StateName::Exited } else { to };
        let mut ev = match now.last_exit {
            Some(exit) => {
                let how = describe_exit(exit.kind);
                let (kind, text) = if stopped {
                    (EventKind::Stopped, format!("stopped: {name} ({how})"))
                } else if exit.expected {
                    (
                        EventKind::Exited,
                        format!("exited: {name} ({how}; expected)"),
                    )
                } else {
                    (
                        EventKind::ExitedUnexpected,
                        format!("exited: {name} ({how}; not expected)"),
                    )
                };
                let mut ev = base(kind, text, from, exit_to);
                match exit.kind {
                    ExitKind::Code(c) => ev.exit_code = Some(c),
                    ExitKind::Signal(s) => ev.signal = Some(signal_name(s)),
                }
                ev.expected = Some(exit.expected);
                ev
            }
            None => base(
                EventKind::Stopped,
                format!("stopped: {name}"),
                from,
                exit_to,
            ),
        };
        ev.pid = seen.pid;
        if ev.kind == EventKind::ExitedUnexpected {
            seen.troubled = true;
        }
        out.push(ev);
    }
    let entered = |kind, text| {
        let mut ev = base(kind, text, from, to);
        ev.pid = now.pid;
        ev
    };
    match to {
        StateName::Starting => out.push(entered(
            EventKind::Spawned,
            format!("spawned: '{name}' with pid {}", now.pid.unwrap_or(0)),
        )),
        StateName::Running => {
            if new_child {
                let mut ev = base(
                    EventKind::Spawned,
                    format!("spawned: '{name}' with pid {}", now.pid.unwrap_or(0)),
                    from,
                    StateName::Starting,
                );
                ev.pid = now.pid;
                out.push(ev);
            }
            out.push(entered(
                EventKind::Running,
                format!(
                    "success: {name} entered RUNNING state, process has stayed up for > than {} \
                     seconds (starttime)",
                    config.starttime.as_secs_f64()
                ),
            ));
            if seen.troubled {
                seen.troubled = false;
                out.push(entered(
                    EventKind::Recovered,
                    format!("recovered: {name} is RUNNING again"),
                ));
            }
        }
        StateName::Backoff | StateName::Fatal => {
            seen.troubled = true;
            let fatal = to == StateName::Fatal;
            let text = if fatal {
                format!(
                    "gave up: {name} entered FATAL state, too many start retries too quickly ({})",
                    now.reason
                )
            } else {
                format!(
                    "backoff: {name} entered BACKOFF state, retry {} of {} ({})",
                    now.retries, config.startretries, now.reason
                )
            };
            let kind = if fatal {
                EventKind::Fatal
            } else {
                EventKind::Backoff
            };
            let mut ev = entered(kind, text);
            ev.reason = Some(now.reason.clone());
            ev.tries = Some(now.retries);
            out.push(ev);
        }
        StateName::Stopped => {
            seen.troubled = false;
            if seen.pid.is_none() {
                out.push(entered(
                    EventKind::Stopped,
                    format!("stopped: {name} (was in {from})"),
                ));
            }
        }
        StateName::Exited | StateName::Stopping | StateName::Unknown => {}
    }
    *seen = Observed {
        state: to,
        pid: now.pid,
        retries: now.retries,
        troubled: seen.troubled,
    };
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::snapshot::ExitInfo;
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
            reason: String::new(),
            pty: false,
        }
    }

    fn kinds(evs: &[Event]) -> Vec<EventKind> {
        evs.iter().map(|e| e.kind).collect()
    }

    #[test]
    fn a_crash_then_restart_is_exited_unexpected_spawned_running_recovered() {
        let c = config();
        let mut seen = Observed::default();
        assert_eq!(
            kinds(&observe(
                &mut seen,
                &info(StateName::Starting, Some(10)),
                &c
            )),
            [EventKind::Spawned]
        );
        assert_eq!(
            kinds(&observe(&mut seen, &info(StateName::Running, Some(10)), &c)),
            [EventKind::Running]
        );
        let mut dead = info(StateName::Exited, None);
        dead.last_exit = Some(ExitInfo {
            kind: ExitKind::Signal(9),
            expected: false,
            at: SystemTime::now(),
        });
        let evs = observe(&mut seen, &dead, &c);
        assert_eq!(kinds(&evs), [EventKind::ExitedUnexpected]);
        assert_eq!(evs[0].signal.as_deref(), Some("SIGKILL"));
        assert_eq!(evs[0].pid, Some(10), "the pid of the child that died");
        let mut back = info(StateName::Running, Some(11));
        back.last_exit = dead.last_exit;
        assert_eq!(
            kinds(&observe(&mut seen, &back, &c)),
            [EventKind::Spawned, EventKind::Running, EventKind::Recovered],
            "starttime 0: straight to RUNNING, which is a recovery"
        );
        assert!(
            observe(&mut seen, &back, &c).is_empty(),
            "nothing new, no event"
        );
    }

    #[test]
    fn spawn_failures_are_backoff_each_try_then_fatal() {
        let c = config();
        let mut seen = Observed::default();
        let mut b = info(StateName::Backoff, None);
        b.retries = 1;
        b.reason = "can't find command".into();
        let evs = observe(&mut seen, &b, &c);
        assert_eq!(kinds(&evs), [EventKind::Backoff]);
        assert_eq!(evs[0].tries, Some(1));
        b.retries = 2;
        assert_eq!(
            kinds(&observe(&mut seen, &b, &c)),
            [EventKind::Backoff],
            "a second try"
        );
        let mut f = info(StateName::Fatal, None);
        f.retries = 4;
        let evs = observe(&mut seen, &f, &c);
        assert_eq!(kinds(&evs), [EventKind::Fatal]);
        assert_eq!(
            (evs[0].from, evs[0].to),
            (Some(StateName::Backoff), Some(StateName::Fatal))
        );
    }

    #[test]
    fn a_stop_is_one_stopped_event_with_the_signal() {
        let c = config();
        let mut seen = Observed::default();
        observe(&mut seen, &info(StateName::Running, Some(7)), &c);
        assert!(observe(&mut seen, &info(StateName::Stopping, Some(7)), &c).is_empty());
        let mut s = info(StateName::Stopped, None);
        s.last_exit = Some(ExitInfo {
            kind: ExitKind::Signal(15),
            expected: false,
            at: SystemTime::now(),
        });
        let evs = observe(&mut seen, &s, &c);
        assert_eq!(kinds(&evs), [EventKind::Stopped]);
        assert_eq!(evs[0].signal.as_deref(), Some("SIGTERM"));
    }
}
