//! The signal thread: signal-hook turns signals into messages for the supervisor thread.
//! Handlers do nothing else.
//!
//! Every process gets SIGCHLD. The taskmaster binary (`control`) also takes HUP (reload),
//! TERM, INT and QUIT (shut down), USR2 (reopen the logs), and every other signal whose
//! default action would end or stop taskmaster ([`STRAY`] and the real-time signals): those
//! are only written to the event log, so a stray `kill -USR1` or a logrotate script written
//! for another daemon never takes the supervisor down. SIGPIPE is the exception that is
//! ignored without a line: taskmaster's own writes to a closed socket or pipe raise it too
//! (Rust's runtime already sets it to SIG_IGN; [`start`] makes sure), and those writes
//! fail with EPIPE, which is handled where it happens.

use std::thread::JoinHandle;

use crossbeam_channel::Sender;
use nix::libc;
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR2};
use signal_hook::iterator::Signals;

/// Signals whose default would end (or stop) taskmaster and that mean nothing to it. Fault
/// signals (SEGV, BUS, ILL, FPE) are left alone: returning from their handler would fault
/// again.
pub const STRAY: &[i32] = &[
    libc::SIGUSR1,
    libc::SIGALRM,
    libc::SIGVTALRM,
    libc::SIGPROF,
    libc::SIGPOLL,
    libc::SIGTSTP,
    libc::SIGTTIN,
    libc::SIGTTOU,
    libc::SIGXCPU,
    libc::SIGXFSZ,
    libc::SIGSTKFLT,
    libc::SIGPWR,
    libc::SIGTRAP,
    libc::SIGSYS,
    libc::SIGABRT,
];

/// What the binary handles itself: reload, shut down, reopen.
pub const CONTROL: &[i32] = &[SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGUSR2];

/// The real-time signals (default: terminate).
pub fn realtime() -> impl Iterator<Item = i32> {
    libc::SIGRTMIN()..=libc::SIGRTMAX()
}

pub struct SignalThread {
    handle: signal_hook::iterator::Handle,
    thread: Option<JoinHandle<()>>,
}

/// Starts forwarding signals as their numbers. `control` adds the binary's signals (a test
/// process keeps its own handling of those).
pub fn start(tx: Sender<i32>, control: bool) -> std::io::Result<SignalThread> {
    let mut wanted = vec![SIGCHLD];
    if control {
        wanted.extend(CONTROL);
        wanted.extend(STRAY);
        wanted.extend(realtime());
    }
    if control {
        crate::os::ignore_sigpipe();
    }
    let mut signals = Signals::new(&wanted)?;
    let handle = signals.handle();
    let thread = std::thread::Builder::new()
        .name("taskmaster-signals".to_string())
        .spawn(move || {
            for sig in signals.forever() {
                if tx.send(sig).is_err() {
                    break;
                }
            }
        })?;
    Ok(SignalThread {
        handle,
        thread: Some(thread),
    })
}

/// `SIGUSR1` for a signal number (`signal 42` when it has no name).
pub fn name(sig: i32) -> String {
    match nix::sys::signal::Signal::try_from(sig) {
        Ok(s) => s.as_str().to_string(),
        Err(_) if (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&sig) => {
            format!("SIGRTMIN+{}", sig - libc::SIGRTMIN())
        }
        Err(_) => format!("signal {sig}"),
    }
}

impl Drop for SignalThread {
    fn drop(&mut self) {
        self.handle.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
