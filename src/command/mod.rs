//! The command language shared by the dashboard's command bar, the line shell, the socket
//! server and `ctl`: one path for every front end, in three plain functions.
//!
//! 1. [`parse`]`(line) -> Result<Line, Fault>`: a line as typed becomes a typed
//!    [`Command`] (or [`Line::Empty`] / [`Line::Quit`], which each front end treats itself).
//!    [`parse_words`] does the same for words already split (the socket's `{"cmd", "args"}`).
//! 2. execute: [`Handle::send`] (a front end with a `select!` adds the receiver there) or
//!    [`Handle::call`] (blocking) gives an [`Answer`], computed by the supervisor thread, which
//!    alone resolves names. Over the socket the same `Command` travels as JSON and the answer
//!    comes back typed (`crate::protocol`).
//! 3. [`render`]`(&answer) -> Outcome`: the text supervisorctl would print and the exit code.
//!    Streaming answers ([`Reply::Follow`]) are the front end's to pump.
//!
//! Adding a command:
//! - a variant of [`Command`] (`src/supervisor/api.rs`) saying which [`Reply`] answers it
//!   (add a `Reply` variant in `src/supervisor/reply.rs` if none fits);
//! - an arm in [`parse_words`] (`parse.rs`), its name in [`COMMANDS`] and its text in
//!   `render::help`;
//! - an arm in the supervisor's `Engine::on_request` (`src/supervisor/commands.rs`);
//! - an arm in [`render`] if it has a new `Reply` variant.
//!
//! Every front end, `ctl --json` and the socket then know it; completion offers it.
//! [`History`] (persistent, shared file) and [`complete`] (Tab completion) are independent of
//! any terminal; [`completion_names`] builds the name list.

mod complete;
mod history;
mod parse;
mod render;

pub use complete::{Completion, complete};
pub use history::History;
pub use parse::{COMMANDS, Line, TAIL_BYTES, parse, parse_args, parse_words, signal_names};
pub use render::{help, render, version};

use crate::output::Stream;
use crate::supervisor::{Answer, Command, Handle, ProcessStatus, Snapshot};

/// The exit codes of `taskmaster ctl` (interface.md section 1), and of the line shell on a pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Exit {
    Ok = 0,
    /// Unknown process, bad arguments, action failed.
    Error = 1,
    /// The control socket cannot be reached (`ctl` only).
    Unreachable = 2,
    /// `status`: a listed process is not RUNNING.
    NotRunning = 3,
    /// `status`: a name is unknown.
    Unknown = 4,
}

impl Exit {
    pub fn code(self) -> i32 {
        self as i32
    }

    /// The code read back from a number (a reply's `code`); anything else is an error.
    pub fn from_code(code: i32) -> Exit {
        match code {
            0 => Exit::Ok,
            2 => Exit::Unreachable,
            3 => Exit::NotRunning,
            4 => Exit::Unknown,
            _ => Exit::Error,
        }
    }

    pub fn is_failure(self) -> bool {
        self != Exit::Ok
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> std::process::ExitCode {
        std::process::ExitCode::from(e as u8)
    }
}

/// A rendered answer, ready to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Text as the shell prints it (may be several lines; may be empty; no final newline).
    pub text: String,
    pub code: i32,
    /// taskmaster is shutting down (the answer to `shutdown`).
    pub quit: bool,
}

impl Outcome {
    pub fn new(text: impl Into<String>, exit: Exit) -> Outcome {
        Outcome {
            text: text.into(),
            code: exit.code(),
            quit: false,
        }
    }

    pub fn ok(text: impl Into<String>) -> Outcome {
        Outcome::new(text, Exit::Ok)
    }

    pub fn error(text: impl Into<String>) -> Outcome {
        Outcome::new(text, Exit::Error)
    }

    pub fn exit(&self) -> Exit {
        Exit::from_code(self.code)
    }
}

/// Runs one command to completion (blocking): steps 2 and 3 for a front end that may wait.
pub fn run(handle: &Handle, cmd: Command) -> (Answer, Outcome) {
    let answer = handle.call(cmd);
    let outcome = render(&answer);
    (answer, outcome)
}

/// Process names plus `PROGRAM` and `PROGRAM:*` for groups, and `all`: what completion offers.
pub fn completion_names(snapshot: &Snapshot) -> Vec<String> {
    names_of(
        snapshot
            .processes
            .iter()
            .map(|p| (p.name.as_str(), p.program.as_str())),
    )
}

/// [`completion_names`] from the processes of a `status` reply (remote front ends).
pub fn completion_names_of(processes: &[ProcessStatus]) -> Vec<String> {
    names_of(
        processes
            .iter()
            .map(|p| (p.name.as_str(), p.program.as_str())),
    )
}

/// [`completion_names`] from `(process, program)` pairs (a config's, when no taskmaster runs).
pub fn completion_names_of_pairs(pairs: &[(String, String)]) -> Vec<String> {
    names_of(pairs.iter().map(|(n, p)| (n.as_str(), p.as_str())))
}

fn names_of<'a>(procs: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<String> {
    let mut names = vec!["all".to_string()];
    for (name, program) in procs {
        if name != program {
            let group = format!("{program}:*");
            if !names.contains(&group) {
                names.push(program.to_string());
                names.push(group);
            }
        }
        names.push(name.to_string());
    }
    names
}

/// `text` padded with spaces to `width` columns of display width (a wide character takes two
/// columns, as on the terminal); never cut.
pub fn pad(text: &str, width: usize) -> String {
    let fill = width.saturating_sub(unicode_width::UnicodeWidthStr::width(text));
    format!("{text}{:fill$}", "")
}

/// `stdout`/`stderr` for a chunk, as the socket protocol names them.
pub fn stream_name(stream: Stream) -> &'static str {
    match stream {
        Stream::Stdout => "stdout",
        Stream::Stderr => "stderr",
    }
}
