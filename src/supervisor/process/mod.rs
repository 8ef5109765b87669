//! One supervised process and its state machine (supervisor's `process.py`). No system calls
//! and no clocks: every handler takes [`Now`], changes the state and returns the [`Effect`]s
//! the supervisor thread must carry out, so the whole machine is unit-testable without
//! forking. Each state carries its own data; only this module writes a [`Process`].

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::clock::Now;
use super::reply::Fault;
use super::snapshot::{
    ExitCause, ExitInfo, ExitKind, HealthStatus, ProcessInfo, StateName, StopEnd,
};
use crate::config::{AutoRestart, Probe, ProgramConfig};

mod delay;
#[cfg(test)]
mod tests;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcState {
    Stopped,
    /// A start is held until its dependencies are met: `on` is the first unmet one
    /// (`db (healthy)`), `blocked` why it will not come by itself (`db is FATAL`).
    Waiting {
        on: String,
        blocked: Option<String>,
    },
    Starting {
        pid: Pid,
        since: Instant,
    },
    Running {
        pid: Pid,
        since: Instant,
        /// Present when the program has a health check.
        health: Option<HealthRun>,
    },
    /// A start failed; the next attempt is made at `retry_at`.
    Backoff {
        retry_at: Instant,
        why: Failure,
    },
    /// `kill_at` is when SIGKILL follows (`None` once it was sent); `then` is what happens
    /// once the child is gone.
    Stopping {
        pid: Pid,
        kill_at: Option<Instant>,
        then: AfterStop,
    },
    /// Ended after RUNNING; `restart_at` when autorestart restarts it after a delay.
    Exited {
        exit: ExitInfo,
        restart_at: Option<Instant>,
    },
    /// Gave up; `retry_at` when `fatal_retry` starts it again.
    Fatal {
        why: Failure,
        retry_at: Option<Instant>,
    },
}

/// The health of one run (one child): reset at every spawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthRun {
    pub status: HealthStatus,
    /// Consecutive failed checks.
    pub failures: u32,
    /// When the next check is due; `None` while one is in flight, and for `log` checks (the
    /// I/O thread reports the match).
    pub next_at: Option<Instant>,
}

/// Why a start failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The command could not be spawned (missing binary, bad workingdir, unknown user...).
    Spawn(String),
    /// The child died before `starttime`.
    TooQuickly,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Spawn(why) => f.write_str(why),
            Failure::TooQuickly => f.write_str("Exited too quickly (process log may have details)"),
        }
    }
}

/// What happens once a stop completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterStop {
    /// Stay STOPPED.
    Rest,
    /// Start again (a restart, or a start asked while stopping).
    Start,
    /// Drop the process (removed by a reload).
    Remove,
}

/// What the supervisor thread must do after a transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Start a child now and report back with `on_spawned` or `on_spawn_failed`.
    Spawn,
    /// Watch this child's output for the `log` health check's text; report with `on_health`.
    WatchLog,
    /// The health changed (the hook for `healthy`/`unhealthy` events).
    Health { healthy: bool },
    /// Send a signal to the child's process group.
    SignalGroup(Pid, Signal),
    /// One event-log line.
    Log(String),
    /// The state changed (the hook for events; carried out after the log lines before it).
    Entered { from: StateName, to: StateName },
    /// A stop completed with a start queued: start the process again, as a user's start.
    StartAgain,
    /// The process is at rest and was retired by a reload: drop it.
    Remove,
}

/// The most a health check runs before its due time (see `Process::check_slack`).
pub const MAX_CHECK_SLACK: Duration = Duration::from_millis(125);

pub struct Process {
    name: String,
    config: Arc<ProgramConfig>,
    state: ProcState,
    /// When the current state was entered.
    state_since: SystemTime,
    started_at: Option<SystemTime>,
    /// Failed attempts in the current start series (supervisor's `backoff`).
    retries: u32,
    /// Restarts by autorestart policy (not a user's restart).
    restarts: u32,
    /// The last restart delay of the current series (see `delay::next`).
    delay: Option<Duration>,
    last_exit: Option<ExitInfo>,
    /// The child of that pid is stopped by that signal (SIGSTOP, SIGTSTP, ...): keyed by pid
    /// so it never outlives the child it is about.
    job_stop: Option<(Pid, i32)>,
}

impl Process {
    pub fn new(name: String, config: Arc<ProgramConfig>, now: Now) -> Process {
        Process {
            name,
            config,
            state: ProcState::Stopped,
            state_since: now.wall,
            started_at: None,
            retries: 0,
            restarts: 0,
            delay: None,
            last_exit: None,
            job_stop: None,
        }
    }

    /// The child was stopped by `sig` (`waitid` WSTOPPED) or, with `None`, continued.
    pub fn on_job_control(&mut self, pid: Pid, sig: Option<i32>) -> Vec<Effect> {
        if self.pid() != Some(pid) {
            return vec![];
        }
        self.job_stop = sig.map(|s| (pid, s));
        let line = match sig {
            Some(s) => format!(
                "stopped by signal: {} (pid {pid}, {})",
                self.name,
                super::snapshot::signal_name(s)
            ),
            None => format!("continued: {} (pid {pid})", self.name),
        };
        vec![Effect::Log(line)]
    }

    /// The signal the current child is stopped by, if it is.
    pub fn stopped_by(&self) -> Option<i32> {
        self.job_stop
            .filter(|(pid, _)| self.pid() == Some(*pid))
            .map(|(_, s)| s)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn config(&self) -> &Arc<ProgramConfig> {
        &self.config
    }

    pub fn state(&self) -> &ProcState {
        &self.state
    }

    /// A reload changed its name (numprocs 1 <-> N); the state is untouched.
    pub fn rename(&mut self, to: &str) {
        self.name = to.to_string();
    }

    /// Takes new settings (a reload); the state is untouched.
    pub fn set_config(&mut self, config: Arc<ProgramConfig>) {
        self.config = config;
    }

    pub fn pid(&self) -> Option<Pid> {
        match self.state {
            ProcState::Starting { pid, .. }
            | ProcState::Running { pid, .. }
            | ProcState::Stopping { pid, .. } => Some(pid),
            ProcState::Stopped
            | ProcState::Waiting { .. }
            | ProcState::Backoff { .. }
            | ProcState::Exited { .. }
            | ProcState::Fatal { .. } => None,
        }
    }

    pub fn state_name(&self) -> StateName {
        match self.state {
            ProcState::Stopped => StateName::Stopped,
            ProcState::Waiting { .. } => StateName::Waiting,
            ProcState::Starting { .. } => StateName::Starting,
            ProcState::Running { .. } => StateName::Running,
            ProcState::Backoff { .. } => StateName::Backoff,
            ProcState::Stopping { .. } => StateName::Stopping,
            ProcState::Exited { .. } => StateName::Exited,
            ProcState::Fatal { .. } => StateName::Fatal,
        }
    }

    /// WAITING, STARTING, RUNNING or BACKOFF: on its way up already.
    pub fn is_started(&self) -> bool {
        matches!(
            self.state,
            ProcState::Waiting { .. }
                | ProcState::Starting { .. }
                | ProcState::Running { .. }
                | ProcState::Backoff { .. }
        )
    }

    /// Has a child, or will start by itself (WAITING, BACKOFF, a pending restart or FATAL
    /// retry): a stop applies to it.
    pub fn is_active(&self) -> bool {
        self.pid().is_some()
            || self.retry_at().is_some()
            || matches!(self.state, ProcState::Waiting { .. })
    }

    /// RUNNING with a health check that passes.
    pub fn is_healthy(&self) -> bool {
        matches!(
            &self.state,
            ProcState::Running {
                health: Some(HealthRun {
                    status: HealthStatus::Healthy,
                    ..
                }),
                ..
            }
        )
    }

    pub fn is_waiting(&self) -> bool {
        matches!(self.state, ProcState::Waiting { .. })
    }

    /// When it starts again by itself, if it will.
    pub fn retry_at(&self) -> Option<Instant> {
        match self.state {
            ProcState::Backoff { retry_at, .. } => Some(retry_at),
            ProcState::Exited { restart_at, .. } => restart_at,
            ProcState::Fatal { retry_at, .. } => retry_at,
            ProcState::Stopped
            | ProcState::Waiting { .. }
            | ProcState::Starting { .. }
            | ProcState::Running { .. }
            | ProcState::Stopping { .. } => None,
        }
    }

    /// The next instant a deadline fires for this process.
    pub fn deadline(&self) -> Option<Instant> {
        match self.state {
            ProcState::Starting { since, .. } => Some(since + self.config.starttime),
            ProcState::Stopping { kill_at, .. } => kill_at,
            ProcState::Backoff { .. } | ProcState::Exited { .. } | ProcState::Fatal { .. } => {
                self.retry_at()
            }
            // Health checks have their own queue (`check_due`).
            ProcState::Running { .. } | ProcState::Stopped | ProcState::Waiting { .. } => None,
        }
    }

    /// When the next health check is due (RUNNING, none in flight, not a `log` check). Kept
    /// apart from `deadline`: the engine queues checks by due time, so a thousand checked
    /// processes cost no scan of every process per check.
    pub fn check_due(&self) -> Option<Instant> {
        match &self.state {
            ProcState::Running {
                health: Some(h), ..
            } => h.next_at,
            _ => None,
        }
    }

    /// How early a due check may run: checks due close together run together, so their
    /// outcomes come back together and the supervisor wakes once for them, not once each.
    /// An eighth of the interval, at most 125 ms: 1,000 checks a second then go out in ~8
    /// batches, not ~20 (each batch is two wake-ups of the supervisor thread).
    pub fn check_slack(&self) -> Duration {
        self.config
            .health
            .as_ref()
            .map_or(Duration::ZERO, |h| (h.interval / 8).min(MAX_CHECK_SLACK))
    }

    /// RUNNING: a health check is due (within its slack; none is in flight): run it now.
    pub fn on_check_due(&mut self, now: Now) -> Option<Pid> {
        let slack = self.check_slack();
        match &mut self.state {
            ProcState::Running {
                pid,
                health: Some(h),
                ..
            } if h.next_at.is_some_and(|at| now.mono + slack >= at) => {
                h.next_at = None;
                Some(*pid)
            }
            _ => None,
        }
    }

    /// Changes state; returns the transition for the events hook.
    fn set_state(&mut self, state: ProcState, now: Now) -> Effect {
        let from = self.state_name();
        self.state = state;
        self.state_since = now.wall;
        Effect::Entered {
            from,
            to: self.state_name(),
        }
    }

    /// A start asked by a user (or autostart): clears the retry count.
    pub fn on_start(&mut self, _now: Now) -> Result<Vec<Effect>, Fault> {
        match &mut self.state {
            // STARTING/RUNNING/BACKOFF: refused
            ProcState::Starting { .. } | ProcState::Running { .. } | ProcState::Backoff { .. } => {
                Err(Fault::AlreadyStarted)
            }
            // WAITING: starts when its dependencies are met
            ProcState::Waiting { .. } => Ok(vec![]),
            // STOPPING: started once the stop completes
            ProcState::Stopping { then, .. } => {
                if *then == AfterStop::Rest {
                    *then = AfterStop::Start;
                }
                Ok(vec![])
            }
            // STOPPED/EXITED/FATAL -> (spawn) STARTING; a pending restart happens now
            ProcState::Stopped | ProcState::Exited { .. } | ProcState::Fatal { .. } => {
                self.retries = 0;
                self.delay = None;
                Ok(vec![Effect::Spawn])
            }
        }
    }

    pub fn on_spawned(&mut self, pid: Pid, now: Now) -> Vec<Effect> {
        self.started_at = Some(now.wall);
        let mut effects = vec![Effect::Log(format!(
            "spawned: '{}' with pid {pid}",
            self.name
        ))];
        if self.config.starttime.is_zero() {
            // (spawn) -> RUNNING: with starttime 0 there is nothing to wait for
            self.retries = 0;
            effects.push(self.running_line());
            let health = self.new_health(now);
            effects.push(self.set_state(
                ProcState::Running {
                    pid,
                    since: now.mono,
                    health,
                },
                now,
            ));
            effects.extend(self.watch_log());
        } else {
            // (spawn) -> STARTING
            effects.push(self.set_state(
                ProcState::Starting {
                    pid,
                    since: now.mono,
                },
                now,
            ));
        }
        effects
    }

    pub fn on_spawn_failed(&mut self, why: String, now: Now) -> Vec<Effect> {
        let mut effects = vec![Effect::Log(format!("spawnerr: {}: {why}", self.name))];
        effects.extend(self.backoff_or_give_up(Failure::Spawn(why), now));
        effects
    }

    fn backoff_or_give_up(&mut self, why: Failure, now: Now) -> Vec<Effect> {
        self.retries += 1;
        if self.retries > self.config.startretries {
            // STARTING -> FATAL
            let line = match &why {
                Failure::TooQuickly => format!(
                    "gave up: {} entered FATAL state, too many start retries too quickly",
                    self.name
                ),
                Failure::Spawn(e) => format!(
                    "gave up: {} entered FATAL state, {} failed starts: {e}",
                    self.name, self.retries
                ),
            };
            let retry = self.config.backoff.fatal_retry;
            let retry_at = (!retry.is_zero()).then(|| now.mono + retry);
            let entered = self.set_state(ProcState::Fatal { why, retry_at }, now);
            let mut effects = vec![Effect::Log(line), entered];
            if retry_at.is_some() {
                effects.push(Effect::Log(format!(
                    "fatal_retry: {} starts again in {}",
                    self.name,
                    format_delay(retry)
                )));
            }
            return effects;
        }
        // STARTING -> BACKOFF
        let delay = Duration::from_secs(u64::from(self.retries));
        let line = format!(
            "backoff: {} entered BACKOFF state, retry {} of {} in {} s",
            self.name,
            self.retries,
            self.config.startretries,
            delay.as_secs()
        );
        let entered = self.set_state(
            ProcState::Backoff {
                retry_at: now.mono + delay,
                why,
            },
            now,
        );
        vec![Effect::Log(line), entered]
    }

    /// A fresh health record for a new run: checked at once (the `log` check is pushed).
    fn new_health(&self, now: Now) -> Option<HealthRun> {
        let h = self.config.health.as_ref()?;
        Some(HealthRun {
            status: HealthStatus::Checking,
            failures: 0,
            next_at: match h.probe {
                Probe::Log(_) => None,
                Probe::Cmd { .. } | Probe::Tcp(_) | Probe::Http(_) => Some(now.mono),
            },
        })
    }

    fn watch_log(&self) -> Option<Effect> {
        matches!(
            self.config.health.as_ref().map(|h| &h.probe),
            Some(Probe::Log(_))
        )
        .then_some(Effect::WatchLog)
    }

    /// A health check of child `pid` went `result`; a change is said once.
    /// An outcome that changes nothing (the common case, a thousand a second at scale)
    /// allocates nothing: the words of a change are only made for a change.
    pub fn on_health(&mut self, pid: Pid, result: Result<(), String>, now: Now) -> Vec<Effect> {
        let config = Arc::clone(&self.config);
        let Some(cfg) = config.health.as_ref() else {
            return vec![];
        };
        let ProcState::Running {
            pid: current,
            health: Some(h),
            ..
        } = &mut self.state
        else {
            // A check of a child that is gone, or of a state without checks: stale.
            return vec![];
        };
        if *current != pid {
            return vec![];
        }
        h.next_at = match cfg.probe {
            Probe::Log(_) => None,
            Probe::Cmd { .. } | Probe::Tcp(_) | Probe::Http(_) => Some(now.mono + cfg.interval),
        };
        let what = || crate::health::describe(&cfg.probe);
        match result {
            // RUNNING (checking/unhealthy) -> RUNNING healthy
            Ok(()) => {
                h.failures = 0;
                if h.status == HealthStatus::Healthy {
                    return vec![];
                }
                h.status = HealthStatus::Healthy;
                vec![
                    Effect::Log(format!("healthy: {} ({})", self.name, what())),
                    Effect::Health { healthy: true },
                ]
            }
            Err(why) => {
                h.failures += 1;
                if h.failures < cfg.retries {
                    return vec![];
                }
                if let HealthStatus::Unhealthy(old) = &mut h.status {
                    // Still unhealthy: the latest reason, said in status only.
                    *old = why;
                    return vec![];
                }
                // RUNNING -> RUNNING unhealthy (-> STOPPING by health_restart)
                let name = self.name.clone();
                let line = format!(
                    "unhealthy: {name} ({}: {} failed checks, last: {why})",
                    what(),
                    h.failures
                );
                h.status = HealthStatus::Unhealthy(why);
                let mut effects = vec![Effect::Log(line), Effect::Health { healthy: false }];
                if cfg.restart {
                    self.restarts += 1;
                    effects.push(Effect::Log(format!(
                        "restarting: {name} (unhealthy, health_restart)"
                    )));
                    effects.extend(self.stop_then(AfterStop::Start, now).unwrap_or_default());
                }
                effects
            }
        }
    }

    fn running_line(&self) -> Effect {
        Effect::Log(format!(
            "success: {} entered RUNNING state, process has stayed up for > than {} seconds (starttime)",
            self.name,
            self.config.starttime.as_secs_f64()
        ))
    }

    pub fn on_deadline(&mut self, now: Now) -> Vec<Effect> {
        match self.state {
            ProcState::Starting { pid, since } if now.mono >= since + self.config.starttime => {
                // STARTING -> RUNNING
                self.retries = 0;
                let health = self.new_health(now);
                let mut effects = vec![
                    self.running_line(),
                    self.set_state(ProcState::Running { pid, since, health }, now),
                ];
                effects.extend(self.watch_log());
                effects
            }
            // BACKOFF -> (spawn) STARTING; EXITED -> (spawn) after the restart delay
            ProcState::Backoff { retry_at, .. }
            | ProcState::Exited {
                restart_at: Some(retry_at),
                ..
            } if now.mono >= retry_at => vec![Effect::Spawn],
            // FATAL -> (spawn) after fatal_retry: a new series, as a user's start
            ProcState::Fatal {
                retry_at: Some(at), ..
            } if now.mono >= at => {
                self.retries = 0;
                self.delay = None;
                vec![
                    Effect::Log(format!("retrying: {} (fatal_retry)", self.name)),
                    Effect::Spawn,
                ]
            }
            ProcState::Stopping {
                pid,
                kill_at: Some(at),
                then,
            } if now.mono >= at => {
                // STOPPING -> STOPPING (killed)
                self.state = ProcState::Stopping {
                    pid,
                    kill_at: None,
                    then,
                };
                vec![
                    Effect::Log(format!(
                        "killing: {} (pid {pid}) with SIGKILL, still alive after stoptime {} s",
                        self.name,
                        self.config.stoptime.as_secs_f64()
                    )),
                    Effect::SignalGroup(pid, Signal::SIGKILL),
                ]
            }
            // Not due yet, or nothing to wait for.
            ProcState::Starting { .. }
            | ProcState::Backoff { .. }
            | ProcState::Stopping { .. }
            | ProcState::Running { .. }
            | ProcState::Stopped
            | ProcState::Waiting { .. }
            | ProcState::Exited { .. }
            | ProcState::Fatal { .. } => vec![],
        }
    }

    /// A spawn was due but a dependency is not met: WAITING, or a new reason while WAITING.
    pub fn on_wait(&mut self, on: String, blocked: Option<String>, now: Now) -> Vec<Effect> {
        let line = match &blocked {
            Some(why) => format!("waiting: {} for {on}: {why}", self.name),
            None => format!("waiting: {} for {on}", self.name),
        };
        match &mut self.state {
            // WAITING -> WAITING (a new reason: said once)
            ProcState::Waiting {
                on: old_on,
                blocked: old_blocked,
            } => {
                if *old_on == on && *old_blocked == blocked {
                    return vec![];
                }
                *old_on = on;
                *old_blocked = blocked;
                vec![Effect::Log(line)]
            }
            // (spawn due) -> WAITING
            ProcState::Stopped
            | ProcState::Backoff { .. }
            | ProcState::Exited { .. }
            | ProcState::Fatal { .. } => {
                let entered = self.set_state(ProcState::Waiting { on, blocked }, now);
                vec![Effect::Log(line), entered]
            }
            ProcState::Starting { .. } | ProcState::Running { .. } | ProcState::Stopping { .. } => {
                log::debug!("wait of {} ignored in state {:?}", self.name, self.state);
                vec![]
            }
        }
    }

    /// A stop asked by a user, a reload or the shutdown.
    pub fn on_stop(&mut self, now: Now) -> Result<Vec<Effect>, Fault> {
        self.stop_then(AfterStop::Rest, now)
    }

    fn stop_then(&mut self, after: AfterStop, now: Now) -> Result<Vec<Effect>, Fault> {
        match &mut self.state {
            // STARTING/RUNNING -> STOPPING
            ProcState::Starting { pid, .. } | ProcState::Running { pid, .. } => {
                let pid = *pid;
                let sig = self.config.stopsignal;
                let entered = self.set_state(
                    ProcState::Stopping {
                        pid,
                        kill_at: Some(now.mono + self.config.stoptime),
                        then: after,
                    },
                    now,
                );
                Ok(vec![
                    Effect::Log(format!(
                        "stop requested: {} (sending {} to process group {pid})",
                        self.name,
                        sig.as_str()
                    )),
                    entered,
                    Effect::SignalGroup(pid, sig),
                ])
            }
            // BACKOFF/WAITING -> STOPPED
            ProcState::Backoff { .. } | ProcState::Waiting { .. } => {
                let line = format!("stopped: {} (was in {})", self.name, self.state_name());
                let entered = self.set_state(ProcState::Stopped, now);
                let mut effects = vec![Effect::Log(line), entered];
                if after == AfterStop::Remove {
                    effects.push(Effect::Remove);
                }
                Ok(effects)
            }
            // STOPPING: already on its way; a stop cancels a queued start, a removal stays
            ProcState::Stopping { then, .. } => {
                if after == AfterStop::Remove || *then == AfterStop::Start {
                    *then = after;
                }
                Ok(vec![])
            }
            // EXITED/FATAL with a restart pending -> STOPPED
            ProcState::Exited {
                restart_at: Some(_),
                ..
            }
            | ProcState::Fatal {
                retry_at: Some(_), ..
            } => {
                let line = format!("stopped: {} (its pending restart cancelled)", self.name);
                let entered = self.set_state(ProcState::Stopped, now);
                let mut effects = vec![Effect::Log(line), entered];
                if after == AfterStop::Remove {
                    effects.push(Effect::Remove);
                }
                Ok(effects)
            }
            ProcState::Stopped | ProcState::Exited { .. } | ProcState::Fatal { .. } => {
                if after == AfterStop::Remove {
                    return Ok(vec![Effect::Remove]);
                }
                Err(Fault::NotRunning)
            }
        }
    }

    /// Removed by a reload: stopped gracefully, then dropped (at once when at rest).
    pub fn on_retire(&mut self, now: Now) -> Vec<Effect> {
        self.stop_then(AfterStop::Remove, now).unwrap_or_default()
    }

    /// Back in the config while on its way out: it starts again (with its new settings)
    /// instead of being dropped once stopped.
    pub fn on_readded(&mut self) {
        if let ProcState::Stopping { then, .. } = &mut self.state
            && *then == AfterStop::Remove
        {
            *then = AfterStop::Start;
        }
    }

    /// The child was reaped. Whatever the leader left in its group (background children) was
    /// SIGKILLed by the reaper before this, while the zombie still held the group id
    /// (`spawn::reaper`). `shutting_down` suppresses restarts.
    pub fn on_exit(&mut self, kind: ExitKind, now: Now, shutting_down: bool) -> Vec<Effect> {
        match self.state {
            // STOPPING -> STOPPED
            ProcState::Stopping { kill_at, then, .. } => {
                let end = match kind {
                    _ if kill_at.is_none() => StopEnd::Killed,
                    ExitKind::Code(_) => StopEnd::Graceful,
                    ExitKind::Signal(s) if s == self.config.stopsignal as i32 => StopEnd::Graceful,
                    ExitKind::Signal(_) | ExitKind::Unknown => StopEnd::Other,
                };
                let exit = self.record_exit(kind, ExitCause::Stopped(end), now);
                let mut effects = vec![
                    Effect::Log(format!("stopped: {} ({})", self.name, exit.describe())),
                    self.set_state(ProcState::Stopped, now),
                ];
                match then {
                    AfterStop::Start if !shutting_down => effects.push(Effect::StartAgain),
                    AfterStop::Remove => effects.push(Effect::Remove),
                    AfterStop::Start | AfterStop::Rest => {}
                }
                effects
            }
            // STARTING -> BACKOFF (or FATAL)
            ProcState::Starting { since, .. } if now.mono < since + self.config.starttime => {
                let exit = self.record_exit(kind, ExitCause::DiedStarting, now);
                let mut effects = vec![Effect::Log(format!(
                    "exited: {} ({})",
                    self.name,
                    exit.describe()
                ))];
                if shutting_down {
                    let exited = ProcState::Exited {
                        exit,
                        restart_at: None,
                    };
                    effects.push(self.set_state(exited, now));
                } else {
                    effects.extend(self.backoff_or_give_up(Failure::TooQuickly, now));
                }
                effects
            }
            // RUNNING -> EXITED (-> STARTING by autorestart)
            ProcState::Starting { since, .. } | ProcState::Running { since, .. } => {
                let run = now.mono.saturating_duration_since(since);
                self.on_died(kind, run, now, shutting_down)
            }
            ProcState::Stopped
            | ProcState::Waiting { .. }
            | ProcState::Backoff { .. }
            | ProcState::Exited { .. }
            | ProcState::Fatal { .. } => {
                log::debug!("exit of {} ignored in state {:?}", self.name, self.state);
                vec![]
            }
        }
    }

    /// RUNNING -> EXITED, then the autorestart policy, after the restart delay if any.
    fn on_died(
        &mut self,
        kind: ExitKind,
        run: Duration,
        now: Now,
        shutting_down: bool,
    ) -> Vec<Effect> {
        // An unknown status cannot be shown to be a code from `exitcodes`: not expected.
        let expected = matches!(kind, ExitKind::Code(c) if self.config.exitcodes.contains(&c));
        let exit = self.record_exit(kind, ExitCause::Died { expected }, now);
        let line = Effect::Log(format!("exited: {} ({})", self.name, exit.describe()));
        let restart = match self.config.autorestart {
            AutoRestart::Always => true,
            AutoRestart::Unexpected => !expected,
            AutoRestart::Never => false,
        };
        if !restart || shutting_down {
            let exited = ProcState::Exited {
                exit,
                restart_at: None,
            };
            return vec![line, self.set_state(exited, now)];
        }
        self.restarts += 1;
        self.retries = 0;
        let (wait, series) = delay::next(&self.config.backoff, self.delay, run);
        self.delay = series;
        let policy = autorestart_word(self.config.autorestart);
        if wait.is_zero() {
            let exited = ProcState::Exited {
                exit,
                restart_at: None,
            };
            return vec![
                line,
                self.set_state(exited, now),
                Effect::Log(format!("restarting: {} (autorestart {policy})", self.name)),
                Effect::Spawn,
            ];
        }
        // EXITED (restart pending)
        let exited = ProcState::Exited {
            exit,
            restart_at: Some(now.mono + wait),
        };
        vec![
            line,
            self.set_state(exited, now),
            Effect::Log(format!(
                "restarting: {} in {} (autorestart {policy}; it ran {})",
                self.name,
                format_delay(wait),
                format_delay(run)
            )),
        ]
    }

    fn record_exit(&mut self, kind: ExitKind, cause: ExitCause, now: Now) -> ExitInfo {
        let exit = ExitInfo {
            kind,
            cause,
            at: now.wall,
        };
        self.last_exit = Some(exit);
        exit
    }

    /// The outcome a waiting `start` gets in this state; `None` while it is still undecided.
    pub fn start_outcome(&self) -> Option<Result<String, Fault>> {
        match &self.state {
            ProcState::Running { .. } => Some(Ok("started".to_string())),
            ProcState::Backoff {
                why: Failure::Spawn(e),
                ..
            }
            | ProcState::Fatal {
                why: Failure::Spawn(e),
                ..
            } => Some(Err(Fault::Spawn(e.to_string()))),
            ProcState::Backoff { .. } | ProcState::Fatal { .. } | ProcState::Exited { .. } => {
                Some(Err(Fault::AbnormalTermination))
            }
            ProcState::Stopped => Some(Err(Fault::StoppedBeforeRunning)),
            ProcState::Waiting {
                on,
                blocked: Some(why),
            } => Some(Err(Fault::Blocked(format!("waiting for {on}: {why}")))),
            ProcState::Waiting { blocked: None, .. }
            | ProcState::Starting { .. }
            | ProcState::Stopping { .. } => None,
        }
    }

    pub fn info(&self, now: Now) -> ProcessInfo {
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
            depends_on: self
                .config
                .depends_on
                .iter()
                .map(|(d, c)| (d.clone(), *c))
                .collect(),
            health: match &self.state {
                ProcState::Running {
                    health: Some(h), ..
                } => Some(h.status.clone()),
                _ => None,
            },
            retry_at: self
                .retry_at()
                .map(|at| now.wall + at.saturating_duration_since(now.mono)),
            reason: match &self.state {
                ProcState::Backoff { why, .. } | ProcState::Fatal { why, .. } => why.to_string(),
                ProcState::Waiting { on, blocked: None } => format!("waiting for {on}"),
                ProcState::Waiting {
                    on,
                    blocked: Some(why),
                } => format!("waiting for {on}: {why}"),
                ProcState::Stopped
                | ProcState::Starting { .. }
                | ProcState::Running { .. }
                | ProcState::Stopping { .. }
                | ProcState::Exited { .. } => String::new(),
            },
            pty: self.config.pty.then_some(crate::spawn::TtySize::DEFAULT),
            stopped_by: self.stopped_by(),
        }
    }
}

/// `0.4 s` below a second, else whole seconds rounded up: `4 s`.
pub fn format_delay(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{} s", d.as_secs_f64().ceil() as u64)
    }
}

pub fn autorestart_word(a: AutoRestart) -> &'static str {
    match a {
        AutoRestart::Always => "always",
        AutoRestart::Never => "never",
        AutoRestart::Unexpected => "unexpected",
    }
}
