//! The read-only view of every process that the supervisor publishes to front ends, and the
//! supervisorctl-style rendering of one status line.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use unicode_width::UnicodeWidthStr;

use super::reply::ProcessStatus;

/// States with supervisor's names and meaning (`"RUNNING"` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum StateName {
    Stopped,
    /// Its dependencies are not met yet (section 10).
    Waiting,
    Starting,
    Running,
    Backoff,
    Stopping,
    Exited,
    Fatal,
    Unknown,
}

impl StateName {
    pub const ALL: [StateName; 9] = [
        StateName::Stopped,
        StateName::Waiting,
        StateName::Starting,
        StateName::Running,
        StateName::Backoff,
        StateName::Stopping,
        StateName::Exited,
        StateName::Fatal,
        StateName::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StateName::Stopped => "STOPPED",
            StateName::Waiting => "WAITING",
            StateName::Starting => "STARTING",
            StateName::Running => "RUNNING",
            StateName::Backoff => "BACKOFF",
            StateName::Stopping => "STOPPING",
            StateName::Exited => "EXITED",
            StateName::Fatal => "FATAL",
            StateName::Unknown => "UNKNOWN",
        }
    }
}

impl std::fmt::Display for StateName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a process last ended, as the kernel reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    Code(i32),
    /// Killed by this signal number.
    Signal(i32),
    /// Dead, but its wait status could not be read (someone else reaped it).
    Unknown,
}

impl ExitKind {
    /// `exit status 1`, `terminated by SIGTERM`, `exit status unknown`.
    pub fn describe(self) -> String {
        match self {
            ExitKind::Code(c) => format!("exit status {c}"),
            ExitKind::Signal(s) => format!("terminated by {}", signal_name(s)),
            ExitKind::Unknown => "exit status unknown".to_string(),
        }
    }
}

/// The health of a RUNNING process with a health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthStatus {
    /// No check has passed yet, and not enough have failed to say unhealthy.
    Checking,
    Healthy,
    /// `health_retries` checks in a row failed; the last one's reason.
    Unhealthy(String),
}

impl HealthStatus {
    /// `healthy`, `unhealthy (reason)`, `checking health`: as status and the dashboard say it.
    pub fn describe(&self) -> String {
        match self {
            HealthStatus::Checking => "checking health".to_string(),
            HealthStatus::Healthy => "healthy".to_string(),
            HealthStatus::Unhealthy(why) => format!("unhealthy ({why})"),
        }
    }

    /// The word for `ctl --json` and metrics.
    pub fn word(&self) -> &'static str {
        match self {
            HealthStatus::Checking => "checking",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy(_) => "unhealthy",
        }
    }
}

/// What taskmaster was doing when the process ended: decides how the end is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCause {
    /// It ended on its own after starttime; `expected` when the code is in `exitcodes`.
    Died { expected: bool },
    /// It ended before starttime: a failed start, never expected.
    DiedStarting,
    /// It ended while taskmaster was stopping it.
    Stopped(StopEnd),
}

/// How a stop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopEnd {
    /// It exited, or died of the stop signal, before stoptime.
    Graceful,
    /// Taskmaster sent SIGKILL after stoptime.
    Killed,
    /// It died of another signal (someone else's) before stoptime.
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitInfo {
    pub kind: ExitKind,
    pub cause: ExitCause,
    pub at: SystemTime,
}

impl ExitInfo {
    /// Expected in supervisor's sense: ended on its own with a code from `exitcodes`, or was
    /// stopped by taskmaster (a stop is not a failure).
    pub fn expected(&self) -> bool {
        match self.cause {
            ExitCause::Died { expected } => expected,
            ExitCause::DiedStarting => false,
            ExitCause::Stopped(_) => true,
        }
    }

    /// The one wording of how it ended, used alike by the event log, status and dashboard:
    /// `exit status 1; not expected`, `terminated by SIGTERM; graceful`,
    /// `terminated by SIGKILL; killed after stoptime`, `terminated by SIGKILL while stopping`.
    pub fn describe(&self) -> String {
        let how = self.kind.describe();
        match self.cause {
            ExitCause::Died { expected: true } => format!("{how}; expected"),
            ExitCause::Died { expected: false } | ExitCause::DiedStarting => {
                format!("{how}; not expected")
            }
            ExitCause::Stopped(StopEnd::Graceful) => format!("{how}; graceful"),
            ExitCause::Stopped(StopEnd::Killed) => format!("{how}; killed after stoptime"),
            ExitCause::Stopped(StopEnd::Other) => format!("{how} while stopping"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProcessInfo {
    /// `nginx`, or `worker:worker_03` in a group.
    pub name: String,
    pub program: String,
    pub state: StateName,
    /// Present exactly in STARTING, RUNNING and STOPPING.
    pub pid: Option<u32>,
    /// When the current state was entered.
    pub since: SystemTime,
    /// When the current (or last) child was spawned.
    pub started_at: Option<SystemTime>,
    /// Restarts by `autorestart` after an exit since taskmaster loaded the program; an
    /// operator's restart or a reload restart is not counted.
    pub restarts: u32,
    /// Failed start attempts in the current series (reset by a manual start).
    pub retries: u32,
    pub last_exit: Option<ExitInfo>,
    /// What it waits for before starting: program and condition (`depends_on`).
    pub depends_on: Vec<(String, crate::config::Condition)>,
    /// RUNNING with a health check: how it is.
    pub health: Option<HealthStatus>,
    /// When it starts again by itself (BACKOFF retry, delayed autorestart, FATAL retry).
    pub retry_at: Option<SystemTime>,
    /// Why it is in BACKOFF/FATAL (spawn error or "Exited too quickly ...") or WAITING
    /// (`waiting for db (healthy)`, `...: db is FATAL`), else empty.
    pub reason: String,
    /// The size of its pseudo-terminal when it runs on one (`pty = true`): attach is then
    /// raw and the output pane a terminal emulator of this size.
    pub pty: Option<crate::spawn::TtySize>,
    /// The signal its child is stopped by (SIGSTOP, SIGTSTP...), while it is.
    pub stopped_by: Option<i32>,
}

/// Every process, in config order (programs sorted by name, then index).
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub config_path: PathBuf,
    pub taskmaster_pid: u32,
    pub taskmaster_started: SystemTime,
    pub taken: SystemTime,
    pub processes: Vec<ProcessInfo>,
}

pub type SharedSnapshot = Arc<Snapshot>;

impl Snapshot {
    pub fn get(&self, name: &str) -> Option<&ProcessInfo> {
        self.processes.iter().find(|p| p.name == name)
    }

    pub fn count(&self, state: StateName) -> usize {
        self.processes.iter().filter(|p| p.state == state).count()
    }
}

impl ProcessInfo {
    /// The description column of supervisorctl's status, as of `now`.
    pub fn description(&self, now: SystemTime) -> String {
        match self.state {
            StateName::Running | StateName::Stopping | StateName::Starting => {
                let pid = self.pid.unwrap_or(0);
                // Reads `RUNNING (stopped by SIGSTOP) pid 42, ...` in a status line.
                let stopped = self
                    .stopped_by
                    .map(|s| format!("(stopped by {}) ", signal_name(s)))
                    .unwrap_or_default();
                if self.state == StateName::Running {
                    let up = self
                        .started_at
                        .and_then(|s| now.duration_since(s).ok())
                        .unwrap_or_default();
                    match &self.health {
                        Some(h) => format!(
                            "{stopped}pid {pid}, uptime {}, {}",
                            format_uptime(up),
                            h.describe()
                        ),
                        None => format!("{stopped}pid {pid}, uptime {}", format_uptime(up)),
                    }
                } else {
                    format!("{stopped}pid {pid}")
                }
            }
            StateName::Backoff | StateName::Waiting => self.reason.clone(),
            StateName::Fatal => format!("{}{}", self.reason, self.pending(now, "retrying")),
            StateName::Stopped | StateName::Exited => match &self.last_exit {
                None => "Not started".to_string(),
                Some(exit) if self.state == StateName::Exited => format!(
                    "{} ({}){}",
                    format_clock(exit.at),
                    exit.describe(),
                    self.pending(now, "restarting")
                ),
                Some(exit) => format_clock(exit.at),
            },
            StateName::Unknown => String::new(),
        }
    }

    /// `, restarting in 4 s` when a start of its own is pending, else empty.
    fn pending(&self, now: SystemTime, what: &str) -> String {
        match self.retry_at {
            Some(at) => format!(
                ", {what} in {}",
                crate::supervisor::process::format_delay(
                    at.duration_since(now).unwrap_or_default()
                )
            ),
            None => String::new(),
        }
    }

    /// One line of `status`, as supervisorctl prints it.
    pub fn status_line(&self, now: SystemTime) -> String {
        status_line(&self.name, self.state, &self.description(now))
    }

    /// The process as a `status` reply carries it, as of `now`.
    pub fn status(&self, now: SystemTime) -> ProcessStatus {
        let unix = |t: SystemTime| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| (d.as_millis() as f64) / 1000.0)
                .ok()
        };
        let uptime_s = self.pid.and(self.started_at).map(|s| {
            now.duration_since(s)
                .map(|d| d.as_secs())
                .unwrap_or_default()
        });
        let exit = self.last_exit.as_ref();
        ProcessStatus {
            name: self.name.clone(),
            program: self.program.clone(),
            state: self.state,
            pid: self.pid,
            start_time: self.started_at.and_then(unix),
            uptime_s,
            exit_code: exit.and_then(|e| match e.kind {
                ExitKind::Code(c) => Some(c),
                ExitKind::Signal(_) | ExitKind::Unknown => None,
            }),
            signal: exit.and_then(|e| match e.kind {
                ExitKind::Signal(s) => Some(signal_name(s)),
                ExitKind::Code(_) | ExitKind::Unknown => None,
            }),
            expected: exit.map(|e| e.expected()),
            restarts: self.restarts,
            description: self.description(now),
            health: self.health.as_ref().map(|h| h.word().to_string()),
        }
    }
}

/// `NAME  STATE  description`, padded as supervisorctl pads: the name to 32 columns of
/// display width (a wide character takes two), the state to 9.
pub fn status_line(name: &str, state: StateName, description: &str) -> String {
    let pad = 32usize.saturating_sub(name.width());
    let line = format!("{name}{:pad$} {:<9} {description}", "", state.as_str());
    line.trim_end().to_string()
}

/// `H:MM:SS`, or `N days, H:MM:SS` past a day, like supervisorctl.
pub fn format_uptime(d: Duration) -> String {
    let secs = d.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let hms = format!("{}:{:02}:{:02}", rest / 3600, (rest % 3600) / 60, rest % 60);
    match days {
        0 => hms,
        1 => format!("1 day, {hms}"),
        n => format!("{n} days, {hms}"),
    }
}

/// `Nov 26 03:12 PM` in local time, like supervisorctl.
pub fn format_clock(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let tm = local_tm(secs);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.get(tm.tm_mon as usize).copied().unwrap_or("???");
    let (h12, ampm) = match tm.tm_hour {
        0 => (12, "AM"),
        h @ 1..=11 => (h, "AM"),
        12 => (12, "PM"),
        h => (h - 12, "PM"),
    };
    format!("{month} {:02} {h12:02}:{:02} {ampm}", tm.tm_mday, tm.tm_min)
}

fn local_tm(secs: i64) -> nix::libc::tm {
    crate::os::local_tm(secs)
}

/// `SIGTERM` for 15; the number when unknown.
pub fn signal_name(signo: i32) -> String {
    nix::sys::signal::Signal::try_from(signo)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| format!("signal {signo}"))
}
