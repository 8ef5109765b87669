//! The messages front ends exchange with the supervisor thread, and [`Handle`], the cloneable
//! way to reach it from any thread.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use nix::sys::signal::Signal;

use super::events::{Event, EventCounts};
use super::snapshot::Snapshot;
use crate::alerts::AlertStats;
use crate::output::OutputReader;

/// What a user wants, the same from every front end. Names are process names, `PROGRAM`,
/// `PROGRAM:*` or `all`; the supervisor resolves them against its current processes.
#[derive(Debug, Clone)]
pub enum Command {
    /// Reply: `Reply::Status` (every process, or the named ones).
    Status(Vec<String>),
    /// Reply: `Reply::Actions` once each process is RUNNING or has definitely failed.
    Start(Vec<String>),
    /// Reply: `Reply::Actions` once each process is STOPPED.
    Stop(Vec<String>),
    /// Stop (when running) then start; reply like `Start`.
    Restart(Vec<String>),
    /// Reply: `Reply::Actions`.
    Signal(Signal, Vec<String>),
    /// Re-read the config file and apply the difference. Reply: `Reply::Reload`.
    Reload,
    /// Stop everything, then the supervisor thread ends. Reply: `Reply::Done` when all stopped.
    Shutdown,
    /// Bytes for a process's stdin (attach). Reply: `Reply::Done` or `Reply::Error`.
    WriteStdin(String, Vec<u8>),
    /// End of input: closes a pipe program's stdin (it reads EOF); for a pty program, the
    /// terminal's EOF character (Ctrl-D). Reply: `Reply::Done` or `Reply::Error`.
    CloseStdin(String),
    /// Sets a pty program's terminal size (it gets SIGWINCH); kept for its next spawns.
    /// Reply: `Reply::Done`, or `Reply::Error` for an unknown or non-pty process.
    Resize(String, crate::spawn::TtySize),
    /// Empty the captured output of these processes. Reply: `Reply::Actions`.
    Clear(Vec<String>),
    /// Programs of the loaded config. Reply: `Reply::Avail`.
    Avail,
    /// The recent events (section 9), and with `follow` a stream of the next ones.
    /// Reply: `Reply::Events`.
    Events { follow: bool },
    /// Sends a `test` event through one alert. Reply: `Reply::Done` once queued.
    AlertTest(String),
}

/// The outcome for one process of a start/stop/restart/signal/clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionResult {
    pub name: String,
    /// `Ok("started")`, `Ok("stopped")`, ...; `Err(reason)` as in `ERROR (reason)`.
    pub outcome: Result<String, String>,
}

impl ActionResult {
    /// `web: started` / `web: ERROR (already started)`.
    pub fn render(&self) -> String {
        match &self.outcome {
            Ok(word) => format!("{}: {word}", self.name),
            Err(why) => format!("{}: ERROR ({why})", self.name),
        }
    }
}

/// What a reload did (program names, sorted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadReport {
    pub added: Vec<String>,
    /// Launch settings changed: processes restarted.
    pub changed: Vec<String>,
    /// Monitoring settings or numprocs changed: applied in place.
    pub updated: Vec<String>,
    pub removed: Vec<String>,
}

impl ReloadReport {
    /// supervisorctl `update`-like lines: `web: added process group`, ...; `No config updates`
    /// when nothing changed.
    pub fn render(&self) -> String {
        let mut lines = Vec::new();
        for n in &self.added {
            lines.push(format!("{n}: added process group"));
        }
        for n in &self.changed {
            lines.push(format!("{n}: changed, restarted"));
        }
        for n in &self.updated {
            lines.push(format!("{n}: updated in place"));
        }
        for n in &self.removed {
            lines.push(format!("{n}: removed process group"));
        }
        if lines.is_empty() {
            "No config updates to processes".to_string()
        } else {
            lines.join("\n")
        }
    }
}

/// One program of the loaded config, for `avail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramSummary {
    pub name: String,
    pub numprocs: u32,
    pub autostart: bool,
    /// `always` / `never` / `unexpected`.
    pub autorestart: String,
    pub cmd: String,
}

#[derive(Debug, Clone)]
pub enum Reply {
    Status(Arc<Snapshot>),
    Actions(Vec<ActionResult>),
    Reload(ReloadReport),
    Avail(Vec<ProgramSummary>),
    /// The kept events, oldest first, and the live stream when following (it ends when
    /// taskmaster does; a follower that lags loses events rather than slowing anyone).
    Events(Vec<Arc<Event>>, Option<Receiver<Arc<Event>>>),
    Done,
    /// The whole request failed (unknown name, bad config on reload, shutting down...).
    Error(String),
}

pub struct Request {
    pub cmd: Command,
    pub reply: Sender<Reply>,
}

/// Something a front end may want to show as it happens.
#[derive(Debug, Clone)]
pub enum Update {
    /// A new snapshot is available from [`Handle::snapshot`].
    Snapshot,
    /// An event (section 9); its `text` is the event-log line, e.g. `exited: web (exit
    /// status 1; not expected)`.
    Event(Arc<Event>),
    /// The supervisor thread has ended.
    Gone,
}

/// The front ends' way to the supervisor thread. Cheap to clone; usable from any thread.
#[derive(Clone)]
pub struct Handle {
    pub(super) req_tx: Sender<Request>,
    pub(super) latest: Arc<Mutex<Arc<Snapshot>>>,
    pub(super) subscribe_tx: Sender<Sender<Update>>,
    pub(super) output: OutputReader,
    pub(super) counts: Arc<EventCounts>,
    pub(super) alert_stats: AlertStats,
}

impl Handle {
    /// Sends a command without waiting: the reply arrives on the returned receiver once the
    /// effect happened. If the supervisor is gone, the receiver yields `Disconnected`.
    pub fn send(&self, cmd: Command) -> Receiver<Reply> {
        let (reply, rx) = crossbeam_channel::bounded(1);
        let _ = self.req_tx.send(Request { cmd, reply });
        rx
    }

    /// Sends a command and waits for its reply.
    pub fn call(&self, cmd: Command) -> Reply {
        self.send(cmd)
            .recv()
            .unwrap_or_else(|_| Reply::Error("taskmaster is shutting down".to_string()))
    }

    /// Like [`Handle::call`] with a deadline.
    pub fn call_timeout(&self, cmd: Command, timeout: Duration) -> Reply {
        match self.send(cmd).recv_timeout(timeout) {
            Ok(r) => r,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                Reply::Error("timed out waiting for taskmaster".to_string())
            }
            Err(_) => Reply::Error("taskmaster is shutting down".to_string()),
        }
    }

    /// The latest published snapshot (at most a few milliseconds old).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        match self.latest.lock() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// A stream of updates; bounded, and lossy for a subscriber that stops reading (it then
    /// misses events, never the latest snapshot, which [`Handle::snapshot`] always has).
    pub fn subscribe(&self) -> Receiver<Update> {
        let (tx, rx) = crossbeam_channel::bounded(256);
        let _ = self.subscribe_tx.send(tx);
        rx
    }

    pub fn output(&self) -> &OutputReader {
        &self.output
    }

    /// Events emitted so far, per kind.
    pub fn event_counts(&self) -> &EventCounts {
        &self.counts
    }

    /// Per alert ever configured: sent, failed, dropped.
    pub fn alert_counters(&self) -> Vec<(String, (u64, u64, u64))> {
        let stats = self.alert_stats.lock().unwrap_or_else(|e| e.into_inner());
        stats.iter().map(|(n, c)| (n.clone(), c.get())).collect()
    }
}
