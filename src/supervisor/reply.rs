//! What the supervisor answers: an [`Answer`] is a typed [`Reply`] or a [`Fault`] for the
//! whole request. Everything here is data; text is rendered at the edge
//! (`crate::command::render`), so the socket can carry it as JSON (`kind` + `data`) and a
//! client renders the same text as the local shell.

use crossbeam_channel::Receiver;
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::snapshot::{Snapshot, StateName};
use crate::output::{Chunk, Stream};

/// The answer to one [`super::Command`].
pub type Answer = Result<Reply, Fault>;

/// A successful reply; `Command`'s docs say which variant answers which command.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum Reply {
    /// One entry per process, in config order; unknown names as [`StatusEntry::Unknown`].
    Status(Vec<StatusEntry>),
    /// One result per process, in the order the names were given.
    Actions(Vec<ActionResult>),
    /// The stop results, then the start results (supervisorctl prints both).
    Restart(Vec<ActionResult>),
    Reload(ReloadReport),
    /// What a reload would do; nothing was changed.
    Reread(ReloadReport),
    Avail(Vec<ProgramSummary>),
    /// taskmaster's own pid.
    Pid(u32),
    /// The pids of the named processes (`None`: not running).
    Pids(Vec<PidEntry>),
    /// Captured output (`tail`), as bytes.
    Output(#[serde(with = "crate::protocol::base64")] Vec<u8>),
    /// Help and version texts.
    Text(String),
    /// The kept events, oldest first (`events`).
    Events(Vec<super::events::Event>),
    Done,
    /// Everything stopped; taskmaster is ending.
    Shutdown,
    /// The start of a live stream (`tail -f`, `attach`); never sent over the socket as is.
    #[serde(skip)]
    Follow(Follow),
    /// The whole state, for in-process front ends; never sent over the socket.
    #[serde(skip)]
    Snapshot(Arc<Snapshot>),
}

impl Reply {
    /// Whether the reply carries structured data for `ctl --json` (help and version texts, and
    /// a bare "done", do not).
    pub fn has_data(&self) -> bool {
        !matches!(self, Reply::Text(_) | Reply::Done | Reply::Shutdown)
    }
}

/// Why a request, or one process's part of it, failed. `Display` gives the reason as
/// supervisorctl prints it inside `NAME: ERROR (reason)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "fault", content = "detail", rename_all = "snake_case")]
pub enum Fault {
    /// This name is neither a process nor a program.
    NoSuchProcess(String),
    /// `PROGRAM:*` of a program that does not exist.
    NoSuchGroup(String),
    AlreadyStarted,
    NotRunning,
    /// The command could not be spawned (or exec failed in the child): why.
    Spawn(String),
    /// It died before reaching RUNNING, and is retrying or gave up.
    AbnormalTermination,
    /// A stop came before it reached RUNNING.
    StoppedBeforeRunning,
    RemovedByReload,
    /// WAITING for a dependency that will not come by itself: `waiting for db (running):
    /// db is FATAL`.
    Blocked(String),
    BadSignal(String),
    /// kill(2) refused: the errno text.
    Signal(String),
    /// `tail`/`attach` need one process; this name is a group.
    Ambiguous(String),
    /// Writing to an attached process's stdin failed: why.
    Stdin(String),
    /// The new config did not load: the error.
    ReloadRefused(String),
    ShuttingDown,
    Timeout,
    /// Not a command: the line as typed.
    UnknownSyntax(String),
    /// A command with bad arguments: the message.
    Usage(String),
    Other(String),
}

impl Fault {
    /// The name the fault is about, for `NAME: ERROR (reason)`.
    pub fn subject(&self) -> Option<&str> {
        match self {
            Fault::NoSuchProcess(n) | Fault::NoSuchGroup(n) => Some(n),
            _ => None,
        }
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::NoSuchProcess(_) => f.write_str("no such process"),
            Fault::NoSuchGroup(_) => f.write_str("no such group"),
            Fault::AlreadyStarted => f.write_str("already started"),
            Fault::NotRunning => f.write_str("not running"),
            Fault::Spawn(why) => write!(f, "spawn error: {why}"),
            Fault::AbnormalTermination => f.write_str("abnormal termination"),
            Fault::StoppedBeforeRunning => f.write_str("stopped before it was running"),
            Fault::RemovedByReload => f.write_str("removed by reload"),
            Fault::Blocked(why) => f.write_str(why),
            Fault::BadSignal(s) => write!(f, "bad signal name '{s}'"),
            Fault::Signal(why) => write!(f, "cannot signal: {why}"),
            Fault::Ambiguous(n) => write!(f, "{n} names several processes; pick one"),
            Fault::Stdin(why) => f.write_str(why),
            Fault::ReloadRefused(why) => write!(f, "reload refused, nothing changed: {why}"),
            Fault::ShuttingDown => f.write_str("taskmaster is shutting down"),
            Fault::Timeout => f.write_str("timed out waiting for taskmaster"),
            Fault::UnknownSyntax(line) => write!(f, "*** Unknown syntax: {line}"),
            Fault::Usage(msg) | Fault::Other(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for Fault {}

/// The outcome for one process of a start/stop/restart/signal/clear. On the wire:
/// `{"name": "web", "ok": true, "message": "started"}` (plus `fault` when not ok).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "WireAction", from = "WireAction")]
pub struct ActionResult {
    pub name: String,
    /// `Ok("started")`, `Ok("stopped")`, ...; `Err(fault)` as in `ERROR (fault)`.
    pub outcome: Result<String, Fault>,
}

#[derive(Serialize, Deserialize)]
struct WireAction {
    name: String,
    ok: bool,
    message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fault: Option<Fault>,
}

impl From<ActionResult> for WireAction {
    fn from(a: ActionResult) -> WireAction {
        match a.outcome {
            Ok(message) => WireAction {
                name: a.name,
                ok: true,
                message,
                fault: None,
            },
            Err(fault) => WireAction {
                name: a.name,
                ok: false,
                message: fault.to_string(),
                fault: Some(fault),
            },
        }
    }
}

impl From<WireAction> for ActionResult {
    fn from(w: WireAction) -> ActionResult {
        let outcome = match (w.ok, w.fault) {
            (true, _) => Ok(w.message),
            (false, Some(fault)) => Err(fault),
            (false, None) => Err(Fault::Other(w.message)),
        };
        ActionResult {
            name: w.name,
            outcome,
        }
    }
}

impl ActionResult {
    pub fn new(name: &str, outcome: Result<String, Fault>) -> ActionResult {
        ActionResult {
            name: name.to_string(),
            outcome,
        }
    }

    /// `web: started` / `web: ERROR (already started)`.
    pub fn render(&self) -> String {
        match &self.outcome {
            Ok(word) => format!("{}: {word}", self.name),
            Err(why) => format!("{}: ERROR ({why})", self.name),
        }
    }
}

/// What a reload did, or would do (program names, sorted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadReport {
    pub added: Vec<String>,
    /// Launch settings changed: processes restarted.
    pub changed: Vec<String>,
    /// Monitoring settings or numprocs changed: applied in place.
    pub updated: Vec<String>,
    pub removed: Vec<String>,
}

/// One program of the loaded config, for `avail`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramSummary {
    pub name: String,
    pub numprocs: u32,
    pub autostart: bool,
    /// `always` / `never` / `unexpected`.
    pub autorestart: String,
    pub cmd: String,
    /// `cgroup = true`: its limits as written to each process's cgroup (`memory.max=512M
    /// cpu.max=50000 100000`, or `no limits`); absent without a cgroup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
}

/// One process in a `status` reply (`ctl --json status` prints an array of these).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessStatus {
    pub name: String,
    pub program: String,
    pub state: StateName,
    pub pid: Option<u32>,
    /// When the current (or last) child was spawned: seconds since the Unix epoch.
    pub start_time: Option<f64>,
    /// Seconds since the spawn, while it has a pid.
    pub uptime_s: Option<u64>,
    /// How it last ended: an exit code, or a signal name (`SIGKILL`); and whether expected.
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    pub expected: Option<bool>,
    pub restarts: u32,
    /// The description column of `status`, as of the reply.
    pub description: String,
    /// `healthy` / `unhealthy` once health checks exist; null until then.
    pub health: Option<String>,
    /// Runs on a pseudo-terminal (`pty = true`): `ctl attach` is then raw. Only present
    /// (true) for pty programs, so the documented field list of other processes is unchanged.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pty: bool,
}

/// An entry of a `status` reply: a process, or a name that matched nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StatusEntry {
    Process(ProcessStatus),
    Unknown { name: String, error: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PidEntry {
    pub name: String,
    pub pid: Option<u32>,
}

/// A live view of a process's output for `tail -f` / `attach`.
#[derive(Debug, Clone)]
pub struct Follow {
    /// The process name (resolved from what the user typed).
    pub name: String,
    /// Only chunks of this stream are wanted; `None`: both.
    pub stream: Option<Stream>,
    /// What was captured before, oldest first.
    pub backlog: Vec<Chunk>,
    /// New output; disconnects when the process is removed.
    pub rx: Receiver<Chunk>,
}

impl Follow {
    pub fn wants(&self, chunk: &Chunk) -> bool {
        self.stream.is_none_or(|s| s == chunk.stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_results_have_the_documented_shape() {
        let ok = ActionResult::new("web", Ok("started".into()));
        let json = serde_json::to_string(&ok).expect("serializable");
        assert_eq!(json, r#"{"name":"web","ok":true,"message":"started"}"#);
        let bad = ActionResult::new("web", Err(Fault::AlreadyStarted));
        let json = serde_json::to_string(&bad).expect("serializable");
        assert_eq!(
            json,
            r#"{"name":"web","ok":false,"message":"already started","fault":{"fault":"already_started"}}"#
        );
        let back: ActionResult = serde_json::from_str(&json).expect("round trip");
        assert_eq!(back, bad, "the fault survives the wire");
    }

    #[test]
    fn replies_are_kind_and_data() {
        let json = serde_json::to_string(&Reply::Pid(42)).expect("serializable");
        assert_eq!(json, r#"{"kind":"pid","data":42}"#);
        let json = serde_json::to_string(&Reply::Output(b"hi\xff".to_vec())).expect("ser");
        assert_eq!(
            json, r#"{"kind":"output","data":"aGn/"}"#,
            "bytes as base64"
        );
        let back: Reply = serde_json::from_str(&json).expect("round trip");
        assert!(
            matches!(back, Reply::Output(b) if b == b"hi\xff"),
            "bytes survive"
        );
        let json = serde_json::to_string(&Reply::Done).expect("serializable");
        assert_eq!(json, r#"{"kind":"done"}"#);
    }
}
