//! One supervised process and its state machine (supervisor's `process.py`). No system calls:
//! every handler takes `now`, changes the state and returns the [`Effect`]s the supervisor
//! thread must carry out, so the whole machine is unit-testable without forking.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::snapshot::{ExitInfo, ExitKind, ProcessInfo, StateName};
use crate::config::{AutoRestart, ProgramConfig};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcState {
    Stopped,
    Starting {
        pid: Pid,
        since: Instant,
    },
    Running {
        pid: Pid,
        since: Instant,
    },
    /// `retry_at` is when the next attempt is made.
    Backoff {
        retry_at: Instant,
    },
    /// `kill_at` is when SIGKILL follows; `None` once it was sent.
    Stopping {
        pid: Pid,
        kill_at: Option<Instant>,
    },
    Exited,
    Fatal,
}

/// What the supervisor thread must do after a transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Start a child now and report back with `on_spawned` or `on_spawn_failed`.
    Spawn,
    /// Send a signal to the child's process group.
    SignalGroup(Pid, Signal),
    /// One event-log line.
    Log(String),
}

/// What happens once a stop completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterStop {
    Start,
    Remove,
}

pub struct Process {
    pub name: String,
    pub config: Arc<ProgramConfig>,
    pub state: ProcState,
    pub state_since: SystemTime,
    pub started_at: Option<SystemTime>,
    /// Failed attempts in the current start series (supervisor's `backoff`).
    pub retries: u32,
    pub restarts: u32,
    pub last_exit: Option<ExitInfo>,
    /// Why BACKOFF/FATAL: the spawn error, or "Exited too quickly ...".
    pub reason: String,
    /// The last failure was a spawn error (not an early exit).
    pub spawn_failed: bool,
    pub after_stop: Option<AfterStop>,
}

const TOO_QUICKLY: &str = "Exited too quickly (process log may have details)";

impl Process {
    pub fn new(name: String, config: Arc<ProgramConfig>) -> Process {
        Process {
            name,
            config,
            state: ProcState::Stopped,
            state_since: SystemTime::now(),
            started_at: None,
            retries: 0,
            restarts: 0,
            last_exit: None,
            reason: String::new(),
            spawn_failed: false,
            after_stop: None,
        }
    }

    pub fn pid(&self) -> Option<Pid> {
        match self.state {
            ProcState::Starting { pid, .. }
            | ProcState::Running { pid, .. }
            | ProcState::Stopping { pid, .. } => Some(pid),
            _ => None,
        }
    }

    pub fn state_name(&self) -> StateName {
        match self.state {
            ProcState::Stopped => StateName::Stopped,
            ProcState::Starting { .. } => StateName::Starting,
            ProcState::Running { .. } => StateName::Running,
            ProcState::Backoff { .. } => StateName::Backoff,
            ProcState::Stopping { .. } => StateName::Stopping,
            ProcState::Exited => StateName::Exited,
            ProcState::Fatal => StateName::Fatal,
        }
    }

    /// STARTING, RUNNING or BACKOFF: a start is refused as "already started".
    pub fn is_started(&self) -> bool {
        matches!(
            self.state,
            ProcState::Starting { .. } | ProcState::Running { .. } | ProcState::Backoff { .. }
        )
    }

    /// The next instant a deadline fires for this process.
    pub fn deadline(&self) -> Option<Instant> {
        match self.state {
            ProcState::Starting { since, .. } => Some(since + self.config.starttime),
            ProcState::Backoff { retry_at } => Some(retry_at),
            ProcState::Stopping { kill_at, .. } => kill_at,
            _ => None,
        }
    }

    fn set_state(&mut self, state: ProcState) {
        self.state = state;
        self.state_since = SystemTime::now();
    }

    /// A start asked by a user (or autostart): clears the retry count.
    pub fn on_start(&mut self) -> Result<Vec<Effect>, &'static str> {
        match self.state {
            // STARTING/RUNNING/BACKOFF: refused
            ProcState::Starting { .. } | ProcState::Running { .. } | ProcState::Backoff { .. } => {
                Err("already started")
            }
            // STOPPING: started once the stop completes
            ProcState::Stopping { .. } => {
                if self.after_stop != Some(AfterStop::Remove) {
                    self.after_stop = Some(AfterStop::Start);
                }
                Ok(vec![])
            }
            // STOPPED/EXITED/FATAL -> (spawn) STARTING
            ProcState::Stopped | ProcState::Exited | ProcState::Fatal => {
                self.retries = 0;
                Ok(vec![Effect::Spawn])
            }
        }
    }

    pub fn on_spawned(&mut self, pid: Pid, now: Instant) -> Vec<Effect> {
        self.started_at = Some(SystemTime::now());
        self.spawn_failed = false;
        let mut effects = vec![Effect::Log(format!(
            "spawned: '{}' with pid {pid}",
            self.name
        ))];
        if self.config.starttime.is_zero() {
            // (spawn) -> RUNNING: with starttime 0 there is nothing to wait for
            self.set_state(ProcState::Running { pid, since: now });
            self.retries = 0;
            effects.push(self.running_line());
        } else {
            // (spawn) -> STARTING
            self.set_state(ProcState::Starting { pid, since: now });
        }
        effects
    }

    pub fn on_spawn_failed(&mut self, why: String, now: Instant) -> Vec<Effect> {
        self.spawn_failed = true;
        let mut effects = vec![Effect::Log(format!("spawnerr: {}: {why}", self.name))];
        self.reason = why;
        effects.extend(self.backoff_or_give_up(now));
        effects
    }

    fn backoff_or_give_up(&mut self, now: Instant) -> Vec<Effect> {
        self.retries += 1;
        if !self.spawn_failed {
            self.reason = TOO_QUICKLY.to_string();
        }
        if self.retries > self.config.startretries {
            // BACKOFF -> FATAL
            self.set_state(ProcState::Fatal);
            return vec![Effect::Log(format!(
                "gave up: {} entered FATAL state, too many start retries too quickly ({})",
                self.name, self.reason
            ))];
        }
        // STARTING -> BACKOFF
        let delay = Duration::from_secs(u64::from(self.retries));
        self.set_state(ProcState::Backoff {
            retry_at: now + delay,
        });
        vec![Effect::Log(format!(
            "backoff: {} entered BACKOFF state, retry {} of {} in {} s",
            self.name,
            self.retries,
            self.config.startretries,
            delay.as_secs()
        ))]
    }

    fn running_line(&self) -> Effect {
        Effect::Log(format!(
            "success: {} entered RUNNING state, process has stayed up for > than {} seconds (starttime)",
            self.name,
            self.config.starttime.as_secs_f64()
        ))
    }

    pub fn on_deadline(&mut self, now: Instant) -> Vec<Effect> {
        match self.state {
            ProcState::Starting { pid, since } if now >= since + self.config.starttime => {
                // STARTING -> RUNNING
                self.set_state(ProcState::Running { pid, since });
                self.retries = 0;
                vec![self.running_line()]
            }
            ProcState::Backoff { retry_at } if now >= retry_at => vec![Effect::Spawn],
            ProcState::Stopping {
                pid,
                kill_at: Some(at),
            } if now >= at => {
                // STOPPING -> STOPPING (killed)
                self.set_state(ProcState::Stopping { pid, kill_at: None });
                vec![
                    Effect::Log(format!(
                        "killing: {} (pid {pid}) with SIGKILL, still alive after stoptime {} s",
                        self.name,
                        self.config.stoptime.as_secs_f64()
                    )),
                    Effect::SignalGroup(pid, Signal::SIGKILL),
                ]
            }
            ProcState::Starting { .. }
            | ProcState::Backoff { .. }
            | ProcState::Stopping { .. }
            | ProcState::Running { .. }
            | ProcState::Stopped
            | ProcState::Exited
            | ProcState::Fatal => vec![],
        }
    }

    /// A stop asked by a user, a reload or the shutdown.
    pub fn on_stop(&mut self, now: Instant) -> Result<Vec<Effect>, &'static str> {
        match self.state {
            // STARTING/RUNNING -> STOPPING
            ProcState::Starting { pid, .. } | ProcState::Running { pid, .. } => {
                let sig = self.config.stopsignal;
                self.set_state(ProcState::Stopping {
                    pid,
                    kill_at: Some(now + self.config.stoptime),
                });
                Ok(vec![
                    Effect::Log(format!(
                        "stop requested: {} (sending {} to process group {pid})",
                        self.name,
                        sig.as_str()
                    )),
                    Effect::SignalGroup(pid, sig),
                ])
            }
            // BACKOFF -> STOPPED
            ProcState::Backoff { .. } => {
                self.set_state(ProcState::Stopped);
                Ok(vec![Effect::Log(format!(
                    "stopped: {} (was in BACKOFF)",
                    self.name
                ))])
            }
            // STOPPING: already on its way
            ProcState::Stopping { .. } => {
                if self.after_stop == Some(AfterStop::Start) {
                    self.after_stop = None;
                }
                Ok(vec![])
            }
            ProcState::Stopped | ProcState::Exited | ProcState::Fatal => Err("not running"),
        }
    }

    /// The child was reaped. `shutting_down` suppresses restarts.
    pub fn on_exit(&mut self, kind: ExitKind, now: Instant, shutting_down: bool) -> Vec<Effect> {
        let expected = matches!(kind, ExitKind::Code(c) if self.config.exitcodes.contains(&c));
        let info = ExitInfo {
            kind,
            expected,
            at: SystemTime::now(),
        };
        let how = describe_exit(kind);
        // Whatever the leader left in its group (background children) was SIGKILLed by the
        // reaper before this, while the zombie still held the group id (`spawn::reaper`).
        match self.state {
            // STOPPING -> STOPPED
            ProcState::Stopping { kill_at, .. } => {
                self.last_exit = Some(info);
                self.set_state(ProcState::Stopped);
                let manner = if kill_at.is_none() {
                    "killed after stoptime"
                } else {
                    "graceful"
                };
                vec![Effect::Log(format!(
                    "stopped: {} ({how}; {manner})",
                    self.name
                ))]
            }
            // STARTING -> BACKOFF (or FATAL)
            ProcState::Starting { since, .. } if now < since + self.config.starttime => {
                self.last_exit = Some(info);
                let mut effects = vec![Effect::Log(format!(
                    "exited: {} ({how}; not expected)",
                    self.name
                ))];
                if shutting_down {
                    self.set_state(ProcState::Exited);
                    return effects;
                }
                effects.extend(self.backoff_or_give_up(now));
                effects
            }
            // RUNNING -> EXITED (-> STARTING by autorestart)
            ProcState::Starting { .. } | ProcState::Running { .. } => {
                self.last_exit = Some(info);
                self.set_state(ProcState::Exited);
                let verdict = if expected { "expected" } else { "not expected" };
                let mut effects = vec![Effect::Log(format!(
                    "exited: {} ({how}; {verdict})",
                    self.name
                ))];
                let restart = match self.config.autorestart {
                    AutoRestart::Always => true,
                    AutoRestart::Unexpected => !expected,
                    AutoRestart::Never => false,
                };
                if restart && !shutting_down {
                    self.restarts += 1;
                    self.retries = 0;
                    effects.push(Effect::Log(format!(
                        "restarting: {} (autorestart {})",
                        self.name,
                        autorestart_word(self.config.autorestart)
                    )));
                    effects.push(Effect::Spawn);
                }
                effects
            }
            ProcState::Stopped
            | ProcState::Backoff { .. }
            | ProcState::Exited
            | ProcState::Fatal => {
                log::debug!("exit of {} ignored in state {:?}", self.name, self.state);
                vec![]
            }
        }
    }

    pub fn info(&self) -> ProcessInfo {
        ProcessInfo {
            name: self.name.clone(),
            program: self.config.name.clone(),
            state: self.state_name(),
            pid: self.pid().map(|p| p.as_raw() as u32),
            since: self.state_since,
            started_at: self.started_at,
            restarts: self.restarts,
            retries: self.retries,
            last_exit: self.last_exit,
            reason: match self.state {
                ProcState::Backoff { .. } | ProcState::Fatal => self.reason.clone(),
                _ => String::new(),
            },
            pty: self.config.pty,
        }
    }
}

pub fn autorestart_word(a: AutoRestart) -> &'static str {
    match a {
        AutoRestart::Always => "always",
        AutoRestart::Never => "never",
        AutoRestart::Unexpected => "unexpected",
    }
}

pub fn describe_exit(kind: ExitKind) -> String {
    match kind {
        ExitKind::Code(c) => format!("exit status {c}"),
        ExitKind::Signal(s) => format!("terminated by {}", super::snapshot::signal_name(s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(starttime: f64, startretries: u32, autorestart: AutoRestart) -> Arc<ProgramConfig> {
        let policy = autorestart_word(autorestart);
        let text = format!(
            "[programs.web]\ncmd = \"sleep 1\"\nstarttime = {starttime}\n\
             startretries = {startretries}\nautorestart = \"{policy}\"\n"
        );
        let config = crate::config::parse(std::path::Path::new("/t.toml"), &text)
            .expect("test config parses");
        Arc::new(config.programs["web"].clone())
    }

    fn started(p: &mut Process, now: Instant) -> Pid {
        assert_eq!(p.on_start(), Ok(vec![Effect::Spawn]));
        let pid = Pid::from_raw(100);
        p.on_spawned(pid, now);
        pid
    }

    #[test]
    fn exit_before_starttime_goes_to_backoff_with_growing_delay_then_fatal() {
        let mut p = Process::new("web".into(), program(1.0, 2, AutoRestart::Always));
        let t0 = Instant::now();
        started(&mut p, t0);
        p.on_exit(ExitKind::Code(1), t0, false);
        assert_eq!(
            p.state,
            ProcState::Backoff {
                retry_at: t0 + Duration::from_secs(1)
            }
        );
        assert_eq!(
            p.on_deadline(t0 + Duration::from_secs(1)),
            vec![Effect::Spawn]
        );
        p.on_spawned(Pid::from_raw(101), t0 + Duration::from_secs(1));
        p.on_exit(ExitKind::Code(1), t0 + Duration::from_secs(1), false);
        assert_eq!(
            p.state,
            ProcState::Backoff {
                retry_at: t0 + Duration::from_secs(3)
            }
        );
        p.on_spawned(Pid::from_raw(102), t0 + Duration::from_secs(3));
        p.on_exit(ExitKind::Code(1), t0 + Duration::from_secs(3), false);
        assert_eq!(
            p.state,
            ProcState::Fatal,
            "third quick exit with startretries 2 gives up"
        );
        assert!(p.info().reason.starts_with("Exited too quickly"));
    }

    #[test]
    fn staying_up_past_starttime_enters_running_and_clears_retries() {
        let mut p = Process::new("web".into(), program(1.0, 3, AutoRestart::Unexpected));
        let t0 = Instant::now();
        let pid = started(&mut p, t0);
        p.retries = 2;
        assert!(
            p.on_deadline(t0 + Duration::from_millis(999)).is_empty(),
            "not yet"
        );
        p.on_deadline(t0 + Duration::from_secs(1));
        assert_eq!(p.state, ProcState::Running { pid, since: t0 });
        assert_eq!(p.retries, 0);
    }

    #[test]
    fn stop_escalates_to_sigkill_after_stoptime() {
        let mut p = Process::new("web".into(), program(0.0, 3, AutoRestart::Always));
        let t0 = Instant::now();
        let pid = started(&mut p, t0);
        let effects = p.on_stop(t0).expect("running process stops");
        assert!(effects.contains(&Effect::SignalGroup(pid, Signal::SIGTERM)));
        let later = t0 + Duration::from_secs(10);
        assert!(
            p.on_deadline(later)
                .contains(&Effect::SignalGroup(pid, Signal::SIGKILL))
        );
        p.on_exit(ExitKind::Signal(9), later, false);
        assert_eq!(
            p.state,
            ProcState::Stopped,
            "a stopped process is not restarted"
        );
    }

    #[test]
    fn expected_exit_follows_autorestart_policy() {
        for (policy, code, restarts) in [
            (AutoRestart::Unexpected, 0, false),
            (AutoRestart::Unexpected, 1, true),
            (AutoRestart::Always, 0, true),
            (AutoRestart::Never, 1, false),
        ] {
            let mut p = Process::new("web".into(), program(0.0, 3, policy));
            let t0 = Instant::now();
            started(&mut p, t0);
            let effects = p.on_exit(ExitKind::Code(code), t0, false);
            assert_eq!(
                effects.contains(&Effect::Spawn),
                restarts,
                "{policy:?} with exit {code}"
            );
        }
    }

    #[test]
    fn death_by_signal_is_never_expected() {
        let mut p = Process::new("web".into(), program(0.0, 3, AutoRestart::Unexpected));
        started(&mut p, Instant::now());
        let effects = p.on_exit(ExitKind::Signal(15), Instant::now(), false);
        assert!(effects.contains(&Effect::Spawn));
        assert_eq!(p.last_exit.map(|e| e.expected), Some(false));
    }

    #[test]
    fn start_while_stopping_waits_for_the_stop() {
        let mut p = Process::new("web".into(), program(0.0, 3, AutoRestart::Never));
        let t0 = Instant::now();
        started(&mut p, t0);
        p.on_stop(t0).expect("stops");
        assert_eq!(
            p.on_start(),
            Ok(vec![]),
            "no spawn while the old child lives"
        );
        assert_eq!(p.after_stop, Some(AfterStop::Start));
    }

    #[test]
    fn exits_are_ignored_during_shutdown() {
        let mut p = Process::new("web".into(), program(0.0, 3, AutoRestart::Always));
        started(&mut p, Instant::now());
        let effects = p.on_exit(ExitKind::Code(0), Instant::now(), true);
        assert!(
            !effects.contains(&Effect::Spawn),
            "no restart while shutting down"
        );
    }
}
