//! The command language shared by the dashboard's command bar, the line shell, the socket
//! server and `ctl`: parse a line, execute it against a [`Handle`], render the reply as
//! supervisorctl would. Runs on whichever front-end thread calls it (blocking calls).
//!
//! API for front ends:
//! - [`execute`]`(handle, line) -> Outcome` runs one line to completion (text, exit code, quit);
//! - [`parse`]`(line) -> Result<Request, CommandError>` first, when a front end must treat some
//!   requests itself: [`Request::is_streaming`] (`tail -f`, `attach`) and [`Request::Quit`];
//!   then [`execute_request`] for the rest;
//! - streaming: [`open_follow`] gives the backlog and a live [`Chunk`] receiver for a process,
//!   [`write_stdin`] sends an attached user's line (Ctrl-] to detach is the front end's key);
//! - [`History`] (persistent, shared file) and [`complete`] (Tab completion) are independent of
//!   any terminal; [`completion_names`] builds the name list from a [`Snapshot`].

mod complete;
mod history;
mod parse;
mod render;

use std::time::SystemTime;

use crossbeam_channel::Receiver;

pub use complete::{Completion, complete};
pub use history::History;
pub use parse::{COMMANDS, CommandError, Request, TAIL_BYTES, parse, parse_words, signal_names};
pub use render::{help, version};

use crate::output::{Chunk, Stream};
use crate::supervisor::{Command, Handle, ProcessInfo, Reply, Snapshot};

/// The result of one command line, ready to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Text as the shell prints it (may be several lines; may be empty; no final newline).
    pub text: String,
    /// `ctl`'s exit code: 0 success, 1 error, 3 `status` with a process not RUNNING.
    pub code: i32,
    /// The user asked to leave (`quit`/`exit`) or taskmaster is shutting down.
    pub quit: bool,
}

impl Outcome {
    pub fn ok(text: impl Into<String>) -> Outcome {
        Outcome {
            text: text.into(),
            code: 0,
            quit: false,
        }
    }

    pub fn error(text: impl Into<String>) -> Outcome {
        Outcome {
            text: text.into(),
            code: 1,
            quit: false,
        }
    }
}

/// Runs one command line to completion (blocking; front ends that must not block run it on a
/// worker thread). `tail -f` and `attach` are streaming and handled by each front end: here
/// they only yield an error.
pub fn execute(handle: &Handle, line: &str) -> Outcome {
    match parse(line) {
        Ok(req) => execute_request(handle, &req),
        Err(e) => Outcome::error(e.to_string()),
    }
}

/// Runs one parsed request (see [`execute`]).
pub fn execute_request(handle: &Handle, req: &Request) -> Outcome {
    match req {
        Request::Empty => Outcome::ok(""),
        Request::Status(names) => match handle.call(Command::Status(names.clone())) {
            Reply::Status(snap) => {
                let (text, code) = render::status(&snap, SystemTime::now());
                Outcome {
                    text,
                    code,
                    quit: false,
                }
            }
            other => unexpected(other),
        },
        Request::Start(names) => actions(handle, Command::Start(names.clone())),
        Request::Stop(names) => actions(handle, Command::Stop(names.clone())),
        Request::Restart(names) => actions(handle, Command::Restart(names.clone())),
        Request::Signal(sig, names) => actions(handle, Command::Signal(*sig, names.clone())),
        Request::Clear(names) => actions(handle, Command::Clear(names.clone())),
        Request::Reload => match handle.call(Command::Reload) {
            Reply::Reload(report) => Outcome::ok(report.render()),
            other => unexpected(other),
        },
        Request::Shutdown => match handle.call(Command::Shutdown) {
            Reply::Done => Outcome {
                text: "Shut down".to_string(),
                code: 0,
                quit: true,
            },
            other => unexpected(other),
        },
        Request::Avail => match handle.call(Command::Avail) {
            Reply::Avail(programs) => Outcome::ok(render::avail(&programs)),
            other => unexpected(other),
        },
        Request::Tail {
            name,
            stream,
            follow: false,
            bytes,
        } => tail(handle, name, *stream, *bytes),
        Request::Pid(name) => pid(&fresh_snapshot(handle), name.as_deref()),
        Request::Help(topic) => match help(topic.as_deref()) {
            Some(text) => Outcome::ok(text),
            None => Outcome::error(format!("*** No help on {}", topic.as_deref().unwrap_or(""))),
        },
        Request::Version => Outcome::ok(version()),
        Request::Quit => Outcome {
            text: String::new(),
            code: 0,
            quit: true,
        },
        Request::Tail { follow: true, .. } | Request::Attach(_) => {
            Outcome::error("Error: this command streams; run it from the shell or ctl")
        }
    }
}

fn actions(handle: &Handle, cmd: Command) -> Outcome {
    match handle.call(cmd) {
        Reply::Actions(results) => {
            let (text, code) = render::actions(&results);
            Outcome {
                text,
                code,
                quit: false,
            }
        }
        other => unexpected(other),
    }
}

fn unexpected(reply: Reply) -> Outcome {
    match reply {
        Reply::Error(e) => Outcome::error(format!("Error: {e}")),
        other => Outcome::error(format!(
            "Error: unexpected reply from taskmaster: {other:?}"
        )),
    }
}

/// The state as of now (the published snapshot may lag a few milliseconds behind a start).
fn fresh_snapshot(handle: &Handle) -> std::sync::Arc<Snapshot> {
    match handle.call(Command::Status(Vec::new())) {
        Reply::Status(snap) => snap,
        _ => handle.snapshot(),
    }
}

/// The processes `name` designates: a process name, `PROGRAM`, `PROGRAM:*` or `all`.
pub fn resolve<'a>(snapshot: &'a Snapshot, name: &str) -> Vec<&'a ProcessInfo> {
    if name == "all" {
        return snapshot.processes.iter().collect();
    }
    if let Some(p) = snapshot.get(name) {
        return vec![p];
    }
    let program = name.strip_suffix(":*").unwrap_or(name);
    snapshot
        .processes
        .iter()
        .filter(|p| p.program == program)
        .collect()
}

/// The one process `name` designates (tail and attach need exactly one).
fn resolve_one(snapshot: &Snapshot, name: &str) -> Result<String, Outcome> {
    match resolve(snapshot, name).as_slice() {
        [one] => Ok(one.name.clone()),
        [] => Err(Outcome::error(format!("Error: no such process: {name}"))),
        _ => Err(Outcome::error(format!(
            "Error: {name} names several processes; pick one"
        ))),
    }
}

fn pid(snapshot: &Snapshot, name: Option<&str>) -> Outcome {
    let Some(name) = name else {
        return Outcome::ok(snapshot.taskmaster_pid.to_string());
    };
    let procs = resolve(snapshot, name);
    if procs.is_empty() {
        return Outcome::error(format!("Error: no such process: {name}"));
    }
    let text = procs
        .iter()
        .map(|p| p.pid.unwrap_or(0).to_string())
        .collect::<Vec<_>>()
        .join("\n");
    Outcome::ok(text)
}

fn tail(handle: &Handle, name: &str, stream: Option<Stream>, bytes: usize) -> Outcome {
    let name = match resolve_one(&fresh_snapshot(handle), name) {
        Ok(n) => n,
        Err(o) => return o,
    };
    let chunks = handle
        .output()
        .tail(&name, stream, bytes)
        .unwrap_or_default();
    let mut text = chunks_text(&chunks);
    if text.ends_with('\n') {
        text.pop();
    }
    Outcome::ok(text)
}

fn chunks_text(chunks: &[Chunk]) -> String {
    let bytes: Vec<u8> = chunks.iter().flat_map(|c| c.data.iter().copied()).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A live view of a process's output for `tail -f` / `attach`.
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

/// Starts following a process: `bytes` of backlog, then everything new.
pub fn open_follow(
    handle: &Handle,
    name: &str,
    stream: Option<Stream>,
    bytes: usize,
) -> Result<Follow, Outcome> {
    let name = resolve_one(&fresh_snapshot(handle), name)?;
    let (backlog, rx) = handle.output().tail_and_follow(&name, stream, bytes);
    Ok(Follow {
        name,
        stream,
        backlog,
        rx,
    })
}

/// Sends a line typed by an attached user to the process's stdin.
pub fn write_stdin(handle: &Handle, name: &str, data: &[u8]) -> Result<(), String> {
    match handle.call(Command::WriteStdin(name.to_string(), data.to_vec())) {
        Reply::Error(e) => Err(e),
        _ => Ok(()),
    }
}

/// Process names plus `PROGRAM` and `PROGRAM:*` for groups, and `all`: what completion offers.
pub fn completion_names(snapshot: &Snapshot) -> Vec<String> {
    let mut names = vec!["all".to_string()];
    for p in &snapshot.processes {
        if p.name != p.program {
            let group = format!("{}:*", p.program);
            if !names.contains(&group) {
                names.push(p.program.clone());
                names.push(group);
            }
        }
        names.push(p.name.clone());
    }
    names
}

/// `stdout`/`stderr` for a chunk, as the socket protocol names them.
pub fn stream_name(stream: Stream) -> &'static str {
    match stream {
        Stream::Stdout => "stdout",
        Stream::Stderr => "stderr",
    }
}
