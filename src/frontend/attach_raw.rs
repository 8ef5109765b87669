//! `taskmaster ctl attach NAME` on a pty program, like `tmux attach`: the local terminal in raw
//! mode, every byte typed goes to the program (Ctrl-C included), every byte it writes comes
//! back to the terminal; the window size is sent on attach and on each SIGWINCH; Ctrl-]
//! detaches. The terminal is restored on every way out: a detach, the stream ending, SIGTERM,
//! SIGHUP, SIGINT/SIGQUIT sent from elsewhere, a panic (drop during unwinding).
//!
//! Runs on ctl's main thread with three feeders: a thread reading the terminal, the stream's
//! reader thread, and a signal-hook thread; the loop waits on all three in one `select!`.
//! The wire (how bytes and sizes travel) is the caller's, behind [`Wire`].

use std::io::{self, Read, Write};
use std::os::fd::AsFd;

use crossbeam_channel::{Receiver, Select};
use nix::sys::termios::{SetArg, Termios, cfmakeraw, tcgetattr, tcsetattr};
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGWINCH};

use crate::spawn::TtySize;

/// Ctrl-]: the detach key, as telnet, tmux-less screen users and our dashboard know it.
pub const DETACH: u8 = 0x1d;

/// How the attach talks to taskmaster.
pub trait Wire {
    /// Bytes for the program, exactly as typed.
    fn send_input(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// The local terminal's size: the program's terminal takes it.
    fn send_resize(&mut self, size: TtySize) -> io::Result<()>;
}

/// What the stream from taskmaster brings.
pub enum Incoming {
    /// Output of the program, raw.
    Bytes(Vec<u8>),
    /// A line to show (an error for the input, say) without ending the attach.
    Notice(String),
    /// The stream ended, with why.
    End(String),
}

/// How an attach ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// Ctrl-], or the terminal's input ended.
    Detached,
    /// taskmaster ended the stream (the process was removed, taskmaster is stopping).
    Stream(String),
    /// A signal told ctl to stop.
    Signal(i32),
}

/// The local terminal in raw mode; restored when dropped.
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    pub fn enter() -> io::Result<RawMode> {
        let stdin = io::stdin();
        let saved = tcgetattr(stdin.as_fd())?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw)?;
        Ok(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = tcsetattr(io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
        // Whatever the program left on: the alternate screen, a hidden cursor, application
        // cursor keys, mouse reporting, bracketed paste, colours.
        let mut out = io::stdout();
        let _ = out.write_all(
            b"\x1b[?1049l\x1b[?25h\x1b[?1l\x1b>\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?2004l\x1b[0m",
        );
        let _ = out.flush();
    }
}

/// The local terminal's size, if stdout is one.
pub fn local_size() -> Option<TtySize> {
    let size = crate::spawn::pty::size(io::stdout().as_fd()).ok()?;
    (size.rows > 0 && size.cols > 0).then_some(size)
}

/// Runs an attach until it ends. The terminal must already be raw ([`RawMode`]), so that the
/// caller restores it after printing nothing else on the way.
pub fn run(wire: &mut dyn Wire, stream: &Receiver<Incoming>) -> io::Result<Ended> {
    let signals = signal_channel()?;
    let input = input_channel()?;
    if let Some(size) = local_size() {
        wire.send_resize(size)?;
    }
    let mut out = io::stdout().lock();
    loop {
        let mut sel = Select::new();
        let i_in = sel.recv(&input);
        let i_stream = sel.recv(stream);
        sel.recv(&signals);
        let op = sel.select();
        match op.index() {
            i if i == i_in => match op.recv(&input) {
                Ok(bytes) => {
                    if let Some(at) = bytes.iter().position(|b| *b == DETACH) {
                        if at > 0 {
                            wire.send_input(&bytes[..at])?;
                        }
                        return Ok(Ended::Detached);
                    }
                    wire.send_input(&bytes)?;
                }
                // The terminal's input ended (hang-up, or not a terminal at all).
                Err(_) => return Ok(Ended::Detached),
            },
            i if i == i_stream => match op.recv(stream) {
                Ok(Incoming::Bytes(b)) => {
                    out.write_all(&b)?;
                    out.flush()?;
                }
                Ok(Incoming::Notice(text)) => {
                    out.write_all(format!("\r\n[taskmaster: {text}]\r\n").as_bytes())?;
                    out.flush()?;
                }
                Ok(Incoming::End(why)) => return Ok(Ended::Stream(why)),
                Err(_) => return Ok(Ended::Stream("connection to taskmaster lost".into())),
            },
            // The third source: the signals.
            _ => match op.recv(&signals) {
                Ok(SIGWINCH) => {
                    if let Some(size) = local_size() {
                        wire.send_resize(size)?;
                    }
                }
                Ok(sig) => return Ok(Ended::Signal(sig)),
                Err(_) => return Ok(Ended::Signal(SIGTERM)),
            },
        }
    }
}

/// Reads the terminal on a thread of its own; the channel ends at EOF or an error.
fn input_channel() -> io::Result<Receiver<Vec<u8>>> {
    let (tx, rx) = crossbeam_channel::bounded(64);
    std::thread::Builder::new()
        .name("taskmaster-ctl-input".into())
        .spawn(move || {
            let mut buf = [0u8; 4096];
            let mut stdin = io::stdin().lock();
            loop {
                match stdin.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if tx.send(buf[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        })?;
    Ok(rx)
}

/// SIGWINCH, and the signals that must end the attach with the terminal restored.
fn signal_channel() -> io::Result<Receiver<i32>> {
    let mut signals =
        signal_hook::iterator::Signals::new([SIGWINCH, SIGTERM, SIGHUP, SIGINT, SIGQUIT])?;
    let (tx, rx) = crossbeam_channel::bounded(16);
    std::thread::Builder::new()
        .name("taskmaster-ctl-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if tx.send(sig).is_err() {
                    break;
                }
            }
        })?;
    Ok(rx)
}
