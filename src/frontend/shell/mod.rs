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

use crate::command::{self, Exit, History, Line, Outcome};
use crate::frontend::tty;
use crate::supervisor::Command;
use editor::{Editor, ReadResult};

/// What the shell runs commands on: steps 2 and 3 of the command path (the shell parses).
pub trait Backend {
    /// Runs one non-streaming command and renders its answer.
    fn run(&mut self, cmd: Command) -> Outcome;
    /// Starts `tail -f` / `attach`; `Err` carries the error to print.
    fn open_stream(&mut self, cmd: Command) -> Result<Box<dyn LiveStream>, Outcome>;
    /// Names Tab completes (see [`command::completion_names`]).
    fn names(&mut self) -> Vec<String>;
    /// True for the local supervisor: `quit`, Ctrl-D and EOF then mean shutdown.
    fn is_local(&self) -> bool;
    /// True once the supervisor is gone (the shell then ends).
    fn is_gone(&mut self) -> bool;
}

/// Runs the shell until quit, EOF or the supervisor ends: the terminal editor when stdin and
/// stdout are terminals, plain lines otherwise. On a pipe the result is the exit code of the
/// last command that failed (so a script sees failures), else success.
pub fn run(backend: &mut dyn Backend) -> io::Result<Exit> {
    if io::stdin().is_terminal() && io::stdout().is_terminal() {
        match run_terminal(backend) {
            Ok(()) => Ok(Exit::Ok),
            // The terminal hung up under the shell: nobody can drive it any more, so a local
            // taskmaster shuts down, as the dashboard does; the failed read or write is no
            // error to print on a terminal nobody reads.
            Err(_) if tty::let_go_if_dead() => {
                if backend.is_local() && !backend.is_gone() {
                    backend.run(Command::HangUp);
                }
                Ok(Exit::Ok)
            }
            Err(e) => Err(e),
        }
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

/// Runs a parsed, non-streaming command and prints its outcome.
fn run_command(backend: &mut dyn Backend, cmd: Command) -> (Next, Exit) {
    let outcome = backend.run(cmd);
    print_outcome(&outcome);
    let next = if outcome.quit {
        Next::Leave
    } else {
        Next::Continue
    };
    (next, outcome.exit())
}

fn shutdown(backend: &mut dyn Backend) -> Next {
    print_outcome(&backend.run(Command::Shutdown));
    Next::Leave
}

fn run_pipe(backend: &mut dyn Backend) -> io::Result<Exit> {
    let lines = stdin_lines();
    let mut last_failure = Exit::Ok;
    loop {
        let line = match lines.recv_timeout(Duration::from_millis(200)) {
            Ok(l) => l,
            Err(RecvTimeoutError::Timeout) => {
                if backend.is_gone() {
                    return Ok(last_failure);
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => {
                if backend.is_local() && !backend.is_gone() {
                    shutdown(backend);
                }
                return Ok(last_failure);
            }
        };
        let (next, exit) = match command::parse(&line) {
            Err(fault) => {
                print_outcome(&command::render(&Err(fault)));
                (Next::Continue, Exit::Error)
            }
            Ok(Line::Empty) => (Next::Continue, Exit::Ok),
            Ok(Line::Quit) if backend.is_local() => (shutdown(backend), Exit::Ok),
            Ok(Line::Quit) => (Next::Leave, Exit::Ok),
            Ok(Line::Command(cmd)) if cmd.is_streaming() => {
                stream::pump_pipe(backend, cmd, &lines);
                (Next::Continue, Exit::Ok)
            }
            Ok(Line::Command(cmd)) => run_command(backend, cmd),
        };
        if exit.is_failure() {
            last_failure = exit;
        }
        if let Next::Leave = next {
            return Ok(last_failure);
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
            Err(fault) => {
                print_outcome(&command::render(&Err(fault)));
                Next::Continue
            }
            Ok(Line::Empty) => Next::Continue,
            Ok(Line::Quit) if !backend.is_local() => Next::Leave,
            Ok(Line::Quit) => {
                if confirm(backend)? {
                    shutdown(backend)
                } else {
                    Next::Continue
                }
            }
            Ok(Line::Command(cmd)) if cmd.is_streaming() => {
                stream::pump_terminal(backend, cmd)?;
                Next::Continue
            }
            Ok(Line::Command(cmd)) => run_command(backend, cmd).0,
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
