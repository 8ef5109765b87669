//! The typed requests front ends send to the supervisor thread ([`Command`] naming processes
//! with [`Target`]s), and [`Handle`], the cloneable way to reach it from any thread. The same
//! `Command` travels over the control socket as JSON (`{"cmd": "start", "targets": [...]}`);
//! its replies are in `reply.rs`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use serde::{Deserialize, Serialize};

use super::events::{Event, EventCounts};
use super::reply::{Answer, Fault};
use super::snapshot::Snapshot;
use crate::alerts::AlertStats;
use crate::output::{OutputReader, Stream};

/// Which processes a command is about, as a user names them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// `all`: every process.
    All,
    /// `PROGRAM:*`: every process of a program.
    Program(String),
    /// `NAME`: a process (`web`, `worker:worker_03`), or for convenience a program's name,
    /// which then means all its processes (supervisorctl accepts a group name the same way).
    Process(String),
}

impl Target {
    /// Reads a word as typed: `all`, `PROGRAM:*`, else a process name.
    pub fn parse(word: &str) -> Target {
        if word == "all" {
            Target::All
        } else if let Some(program) = word.strip_suffix(":*") {
            Target::Program(program.to_string())
        } else {
            Target::Process(word.to_string())
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::All => f.write_str("all"),
            Target::Program(p) => write!(f, "{p}:*"),
            Target::Process(n) => f.write_str(n),
        }
    }
}

/// What a user wants, the same from every front end and over the socket. Each command is
/// answered with one [`Answer`] (see `reply.rs` for which [`super::Reply`] variant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// `Reply::Status`: every process, or the named ones (unknown names listed as such).
    Status {
        #[serde(default)]
        targets: Vec<Target>,
    },
    /// `Reply::Actions` once each process is RUNNING or has definitely failed.
    Start { targets: Vec<Target> },
    /// `Reply::Actions` once each process is STOPPED.
    Stop { targets: Vec<Target> },
    /// Stop (when running) then start: `Reply::Restart`, the stop results then the start's.
    Restart { targets: Vec<Target> },
    /// `Reply::Actions`. The signal by name, with or without `SIG`.
    Signal {
        signal: String,
        targets: Vec<Target>,
    },
    /// Empty captured output and truncate log files: `Reply::Actions`.
    Clear { targets: Vec<Target> },
    /// Rotate these processes' log files now; no target: every log file and the event log
    /// (listed as `event log`). `Reply::Actions`.
    Rotate {
        #[serde(default)]
        targets: Vec<Target>,
    },
    /// Close and reopen every log file, as SIGUSR2 does: `Reply::Text`.
    Reopen,
    /// The last `bytes` of the event log: `Reply::Output`.
    Maintail { bytes: usize },
    /// Streaming (`maintail -f`): `Reply::Follow` with the last `bytes` of the event log and
    /// its new lines.
    MaintailFollow { bytes: usize },
    /// Re-read the config file and apply the difference: `Reply::Reload`.
    Reload,
    /// Re-read the config file and tell what `Reload` would do, changing nothing:
    /// `Reply::Reread`.
    Reread,
    /// Stop everything, then the supervisor thread ends: `Reply::Shutdown` when all stopped.
    Shutdown,
    /// A front end's terminal hung up: `Shutdown`, with one event-log line saying so unless
    /// a shutdown (the hang-up's own SIGHUP) already began. Only from the local front ends,
    /// never over the socket.
    #[serde(skip)]
    HangUp,
    /// Programs of the loaded config: `Reply::Avail`.
    Avail,
    /// `Reply::Pid` (taskmaster's, without a target) or `Reply::Pids`.
    Pid {
        #[serde(default)]
        target: Option<Target>,
    },
    /// The last `bytes` of one process's output: `Reply::Output`. `stream` `None`: both.
    Tail {
        target: Target,
        #[serde(default)]
        stream: Option<Stream>,
        bytes: usize,
    },
    /// Streaming (`tail -f`): `Reply::Follow` with the backlog and the live output.
    Follow {
        target: Target,
        #[serde(default)]
        stream: Option<Stream>,
        bytes: usize,
    },
    /// Streaming: like `Follow` on both streams; typed lines then go to the process's stdin
    /// with `WriteStdin`.
    Attach { target: Target },
    /// Bytes for a process's stdin (attach): `Reply::Done`.
    WriteStdin { name: String, data: Vec<u8> },
    /// End of input: closes a pipe program's stdin (it reads EOF); for a pty program, the
    /// terminal's EOF character (Ctrl-D). `Reply::Done`.
    CloseStdin { name: String },
    /// Sets a pty program's terminal size (it gets SIGWINCH); kept for its next spawns.
    /// `Reply::Done`; a fault for an unknown or non-pty process.
    Resize {
        name: String,
        size: crate::spawn::TtySize,
    },
    /// `Reply::Text`: the command list, or one command's help.
    Help {
        #[serde(default)]
        topic: Option<String>,
    },
    /// `Reply::Text`: taskmaster's version.
    Version,
    /// The recent events (section 9): `Reply::Events`; with `follow`, streaming:
    /// `Reply::Follow` with one JSON line per event as its chunks.
    Events {
        #[serde(default)]
        follow: bool,
    },
    /// Sends a `test` event through one alert, whatever its filters: `Reply::Text`.
    AlertTest { name: String },
    /// In-process only (tests, the dashboard): `Reply::Snapshot`, fresher than the published
    /// one, which may lag a few milliseconds behind a start.
    #[serde(skip)]
    Snapshot,
}

/// Shorthands for in-process callers (tests): names as typed, read by [`Target::parse`].
impl Command {
    pub fn status(names: Vec<String>) -> Command {
        Command::Status {
            targets: targets(&names),
        }
    }

    pub fn start(names: Vec<String>) -> Command {
        Command::Start {
            targets: targets(&names),
        }
    }

    pub fn stop(names: Vec<String>) -> Command {
        Command::Stop {
            targets: targets(&names),
        }
    }

    pub fn restart(names: Vec<String>) -> Command {
        Command::Restart {
            targets: targets(&names),
        }
    }

    pub fn signal(signal: &str, names: Vec<String>) -> Command {
        Command::Signal {
            signal: signal.to_string(),
            targets: targets(&names),
        }
    }
}

fn targets(names: &[String]) -> Vec<Target> {
    names.iter().map(|n| Target::parse(n)).collect()
}

impl Command {
    /// True for the commands whose reply is a live stream (`tail -f`, `attach`).
    pub fn is_streaming(&self) -> bool {
        matches!(
            self,
            Command::Follow { .. }
                | Command::Attach { .. }
                | Command::MaintailFollow { .. }
                | Command::Events { follow: true }
        )
    }
}

/// A command with the channel its answer goes back on.
pub struct Request {
    pub cmd: Command,
    pub reply: Sender<Answer>,
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
    /// Sends a command without waiting: the answer arrives on the returned receiver once the
    /// effect happened (a front end with a `select!` adds it there). If the supervisor is
    /// gone, the receiver yields `Disconnected`.
    pub fn send(&self, cmd: Command) -> Receiver<Answer> {
        let (reply, rx) = crossbeam_channel::bounded(1);
        let _ = self.req_tx.send(Request { cmd, reply });
        rx
    }

    /// Sends a command and waits for its answer.
    pub fn call(&self, cmd: Command) -> Answer {
        self.send(cmd).recv().unwrap_or(Err(Fault::ShuttingDown))
    }

    /// Like [`Handle::call`] with a deadline.
    pub fn call_timeout(&self, cmd: Command, timeout: Duration) -> Answer {
        match self.send(cmd).recv_timeout(timeout) {
            Ok(r) => r,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => Err(Fault::Timeout),
            Err(_) => Err(Fault::ShuttingDown),
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
