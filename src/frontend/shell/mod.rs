//! The line shell (`taskmaster --no-tui`, and `taskmaster ctl` without a command): reads
//! commands, runs them on a [`Backend`] — the local supervisor ([`LocalBackend`]) or a remote
//! taskmaster over the socket (`crate::frontend::ctl::RemoteBackend`) — and prints the same
//! supervisorctl-style text in both cases.
//!
//! On a terminal it edits lines in raw mode ([`editor`]) with history and Tab completion; on
//! a pipe it reads one command per line and prints plain text (EOF ends it; for the local
//! shell EOF means shutdown). Runs on the calling thread (main), plus one stdin reader thread
//! in pipe mode.

mod editor;
mod local;
mod stream;

use std::io::{self, BufRead, IsTerminal, Write};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};

pub use local::LocalBackend;
pub use stream::{LiveStream, StreamEvent};

use crate::command::{self, History, Outcome, Request};
use editor::{Editor, ReadResult};

/// What the shell runs commands on.
pub trait Backend {
    /// Runs one non-streaming command line.
    fn run(&mut self, line: &str) -> Outcome;
    /// Starts `tail -f` / `attach`; `Err` carries the error to print.
    fn open_stream(&mut self, req: &Request, line: &str) -> Result<Box<dyn LiveStream>, Outcome>;
    /// Names Tab completes (see [`command::completion_names`]).
    fn names(&mut self) -> Vec<String>;
    /// True for the local supervisor: `quit`, Ctrl-D and EOF then mean shutdown.
    fn is_local(&self) -> bool;
    /// True once the supervisor is gone (the shell then ends).
    fn is_gone(&mut self) -> bool;
}

/// Runs the shell until quit, EOF or the supervisor ends: the terminal editor when stdin and
/// stdout are terminals, plain lines otherwise.
pub fn run(backend: &mut dyn Backend) -> io::Result<()> {
    if io::stdin().is_terminal() && io::stdout().is_terminal() {
        run_terminal(backend)
    } else {
        run_pipe(backend)
    }
}

fn print_outcome(outcome: &Outcome) {
    if !outcome.text.is_empty() {
        emit(&outcome.text);
    }
}

/// Prints a line; in raw mode (the terminal shell) newlines need a carriage return too.
fn emit(text: &str) {
    let raw = crossterm::terminal::is_raw_mode_enabled().unwrap_or(false);
    let mut out = io::stdout().lock();
    let _ = if raw {
        write!(out, "{}\r\n", text.replace('\n', "\r\n"))
    } else {
        writeln!(out, "{text}")
    };
    let _ = out.flush();
}

/// What the loop does after a line.
enum Next {
    Continue,
    Leave,
}

/// Runs a parsed, non-streaming line; `quit` has already been dealt with.
fn run_line(backend: &mut dyn Backend, line: &str) -> Next {
    let outcome = backend.run(line);
    print_outcome(&outcome);
    if outcome.quit {
        Next::Leave
    } else {
        Next::Continue
    }
}

fn shutdown(backend: &mut dyn Backend) -> Next {
    print_outcome(&backend.run("shutdown"));
    Next::Leave
}

fn run_pipe(backend: &mut dyn Backend) -> io::Result<()> {
    let lines = stdin_lines();
    loop {
        let line = match lines.recv_timeout(Duration::from_millis(200)) {
            Ok(l) => l,
            Err(RecvTimeoutError::Timeout) => {
                if backend.is_gone() {
                    return Ok(());
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => {
                if backend.is_local() && !backend.is_gone() {
                    shutdown(backend);
                }
                return Ok(());
            }
        };
        let next = match command::parse(&line) {
            Err(e) => {
                print_outcome(&Outcome::error(e.to_string()));
                Next::Continue
            }
            Ok(Request::Empty) => Next::Continue,
            Ok(Request::Quit) if backend.is_local() => shutdown(backend),
            Ok(Request::Quit) => Next::Leave,
            Ok(req) if req.is_streaming() => {
                stream::pump_pipe(backend, &req, &line, &lines);
                Next::Continue
            }
            Ok(_) => run_line(backend, &line),
        };
        if let Next::Leave = next {
            return Ok(());
        }
    }
}

/// Lines of stdin from a reader thread; the channel closes at EOF.
fn stdin_lines() -> Receiver<String> {
    let (tx, rx) = crossbeam_channel::unbounded();
    let _ = std::thread::Builder::new()
        .name("taskmaster-stdin".into())
        .spawn(move || {
            for line in io::stdin().lock().lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
    rx
}

fn run_terminal(backend: &mut dyn Backend) -> io::Result<()> {
    // Raw mode for the whole session: Ctrl-C while a command runs must not become a SIGINT,
    // which would shut the local taskmaster down.
    let _raw = editor::RawGuard::enable()?;
    let mut history = History::load_default();
    let mut editor = Editor::new("taskmaster> ");
    loop {
        let line = match editor.read_line(&mut history, backend)? {
            ReadResult::Line(l) => l,
            ReadResult::Interrupted => continue,
            ReadResult::Gone => return Ok(()),
            ReadResult::Eof => {
                if !backend.is_local() {
                    return Ok(());
                }
                if confirm(backend)? {
                    shutdown(backend);
                    return Ok(());
                }
                continue;
            }
        };
        history.push(&line);
        let next = match command::parse(&line) {
            Err(e) => {
                print_outcome(&Outcome::error(e.to_string()));
                Next::Continue
            }
            Ok(Request::Empty) => Next::Continue,
            Ok(Request::Quit) if !backend.is_local() => Next::Leave,
            Ok(Request::Quit) => {
                if confirm(backend)? {
                    shutdown(backend)
                } else {
                    Next::Continue
                }
            }
            Ok(req) if req.is_streaming() => {
                stream::pump_terminal(backend, &req, &line)?;
                Next::Continue
            }
            Ok(_) => run_line(backend, &line),
        };
        if let Next::Leave = next {
            return Ok(());
        }
    }
}

/// "Really shut down? [y/N]" on the terminal.
fn confirm(backend: &mut dyn Backend) -> io::Result<bool> {
    let mut scratch = History::load(None);
    let mut ask = Editor::new("Really shut down? [y/N] ");
    let answer = match ask.read_line(&mut scratch, backend)? {
        ReadResult::Line(l) => l,
        _ => String::new(),
    };
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}
