//! Streaming commands in the shell: `tail -f` (until Ctrl-C) and `attach` (typed lines go to
//! the process's stdin; Ctrl-] detaches), on a terminal or a pipe.

use crate::frontend::tty;
use std::io::{self, Write};
use std::time::Duration;

use crossbeam_channel::{Receiver, TryRecvError};
use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crossterm::terminal::{Clear, ClearType};

use super::editor::RawGuard;
use super::{Backend, emit, print_outcome};
use crate::command::Outcome;
use crate::supervisor::Command;

/// One step of a live stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// Output to print as is (bytes, whatever they hold).
    Data(Vec<u8>),
    /// Nothing within the timeout.
    Idle,
    /// The stream is over (the process was removed, taskmaster is gone); maybe a last word.
    End(Option<String>),
}

/// A running `tail -f` or `attach`, local or remote. Dropping it stops the stream.
pub trait LiveStream {
    fn next(&mut self, timeout: Duration) -> StreamEvent;
    /// Bytes for the attached process's stdin.
    fn send_stdin(&mut self, text: &str) -> Result<(), String>;
}

const TICK: Duration = Duration::from_millis(50);

/// On a pipe: `tail -f` runs until stdin ends; `attach` sends each further line to the
/// process until a line holding only Ctrl-] or the end of stdin.
pub(super) fn pump_pipe(backend: &mut dyn Backend, cmd: Command, lines: &Receiver<String>) {
    let attach = matches!(cmd, Command::Attach { .. });
    let mut stream = match backend.open_stream(cmd) {
        Ok(s) => s,
        Err(o) => return print_outcome(&o),
    };
    let mut out = io::stdout();
    loop {
        match stream.next(TICK) {
            StreamEvent::Data(d) => {
                let _ = out.write_all(&d);
                let _ = out.flush();
            }
            StreamEvent::Idle => {}
            StreamEvent::End(last) => {
                return print_outcome(&Outcome::ok(last.unwrap_or_default()));
            }
        }
        loop {
            match lines.try_recv() {
                Ok(l) if attach && l != "\x1d" => {
                    if let Err(e) = stream.send_stdin(&format!("{l}\n")) {
                        print_outcome(&Outcome::error(format!("Error: {e}")));
                    }
                }
                Ok(_) if attach => return,
                Ok(_) => {}
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return,
            }
        }
        if backend.is_gone() {
            return;
        }
    }
}

fn is_ctrl(key: &KeyEvent, c: char) -> bool {
    key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char(c)
}

/// On a terminal, in raw mode so Ctrl-C and Ctrl-] arrive as keys.
pub(super) fn pump_terminal(backend: &mut dyn Backend, cmd: Command) -> io::Result<()> {
    let attach = matches!(cmd, Command::Attach { .. });
    let mut stream = match backend.open_stream(cmd) {
        Ok(s) => s,
        Err(o) => {
            print_outcome(&o);
            return Ok(());
        }
    };
    let hint = if attach {
        "==> attached; typed lines go to the process, Ctrl-] detaches <=="
    } else {
        "==> Press Ctrl-C to exit <=="
    };
    emit(hint);
    let raw = RawGuard::enable()?;
    let mut out = io::stdout();
    let mut input = String::new();
    let mut at_line_start = true;
    'stream: loop {
        match stream.next(TICK) {
            StreamEvent::Data(d) => {
                crossterm::queue!(
                    out,
                    crossterm::cursor::MoveToColumn(0),
                    Clear(ClearType::CurrentLine)
                )?;
                out.write_all(&crlf(&d))?;
                at_line_start = d.ends_with(b"\n");
                if attach && !input.is_empty() {
                    if !at_line_start {
                        out.write_all(b"\r\n")?;
                        at_line_start = true;
                    }
                    out.write_all(input.as_bytes())?;
                }
                out.flush()?;
            }
            StreamEvent::Idle => {}
            StreamEvent::End(last) => {
                drop(raw);
                if !at_line_start {
                    emit("");
                }
                print_outcome(&Outcome::ok(last.unwrap_or_default()));
                return Ok(());
            }
        }
        while tty::poll_event(Duration::ZERO)? {
            let Event::Key(key) = event::read()? else {
                continue;
            };
            if key.kind == KeyEventKind::Release {
                continue;
            }
            if is_ctrl(&key, 'c') || (attach && (is_ctrl(&key, ']') || is_ctrl(&key, '5'))) {
                break 'stream;
            }
            if !attach {
                continue;
            }
            match key.code {
                KeyCode::Enter => {
                    out.write_all(b"\r\n")?;
                    at_line_start = true;
                    if let Err(e) = stream.send_stdin(&format!("{input}\n")) {
                        write!(out, "Error: {e}\r\n")?;
                    }
                    input.clear();
                }
                KeyCode::Backspace => {
                    input.pop();
                    crossterm::queue!(
                        out,
                        crossterm::cursor::MoveToColumn(0),
                        Clear(ClearType::CurrentLine)
                    )?;
                    out.write_all(input.as_bytes())?;
                }
                KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                    input.push(c);
                    write!(out, "{c}")?;
                    at_line_start = false;
                }
                _ => {}
            }
            out.flush()?;
        }
        if backend.is_gone() {
            break;
        }
    }
    drop(raw);
    if !at_line_start {
        emit("");
    }
    Ok(())
}

/// Raw mode needs a carriage return before each newline.
fn crlf(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 16);
    for &b in data {
        if b == b'\n' {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}
