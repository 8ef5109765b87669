//! Health checks (interface.md section 10), run off the supervisor thread by a small pool of
//! checker threads.
//!
//! Design: the supervisor thread decides *when* a process is checked (a deadline in its
//! RUNNING state, so at most one check per process is ever in flight) and sends a [`Job`];
//! a checker thread runs it with plain blocking std I/O, every step bounded by the job's
//! timeout (connect, write and read timeouts on sockets; a pidfd polled with the timeout for
//! commands, then SIGKILL to the command's group), and sends the [`Outcome`] back. Blocking
//! calls with timeouts on a few threads were chosen over timers plus non-blocking sockets on
//! the supervisor thread: that thread must never wait on anything, and a non-blocking HTTP
//! client, connect state machine and child waiting would be far more code to get right than
//! `connect_timeout` and `set_read_timeout`. A check that hangs holds one checker for at most
//! its timeout; with [`CHECKERS`] threads, checks queue (never pile up threads) when many
//! hang at once. `tcp` checks to an address (no name to resolve), the common case and the one
//! run by the thousand, skip the pool: one poller thread starts each batch's non-blocking
//! connects together and waits for them in one `poll` (`poller.rs`); outcomes go back in
//! batches. To a local address, the kernel's listening table answers first, without a
//! connect (`local.rs`, `diag.rs`; what it can and cannot see is said there). `log` checks need no thread: the I/O thread matches the text as it captures
//! the output (`output::OutputReader::watch_text`).

mod cmd;
mod diag;
mod local;
mod net;
mod poller;

use std::collections::HashSet;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use nix::unistd::Pid;

use crate::config::Probe;

/// Checker threads: checks are short; this many may hang at once before others queue.
pub const CHECKERS: usize = 4;

/// One check to run.
#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    /// The child the check is about: an outcome for an older child is dropped.
    pub pid: Pid,
    pub probe: Probe,
    pub timeout: Duration,
}

/// How a check went: `Err` says why it failed, in a few words.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub name: String,
    pub pid: Pid,
    pub result: Result<(), String>,
}

/// Pids of the check commands now running: children of taskmaster that are not the
/// supervisor's to reap (the checker that started one waits for it).
pub type Helpers = Arc<Mutex<HashSet<Pid>>>;

/// The supervisor's side of the checkers.
pub struct Checkers {
    /// `cmd`, `http` and `tcp` to a name: one job at a time per pool thread.
    jobs: Sender<Job>,
    /// `tcp` to an address: the poller, a batch at a time.
    tcp: Sender<Vec<Job>>,
    /// Written after each batch sent to the poller, which may be in `poll`.
    wake: UnixStream,
    pub helpers: Helpers,
}

impl Checkers {
    /// Starts the pool and the poller; outcomes arrive on the returned receiver, in batches.
    pub fn start() -> std::io::Result<(Checkers, Receiver<Vec<Outcome>>)> {
        let (jobs, job_rx) = crossbeam_channel::unbounded::<Job>();
        let (out_tx, out_rx) = crossbeam_channel::unbounded();
        let helpers: Helpers = Arc::default();
        for i in 0..CHECKERS {
            let job_rx = job_rx.clone();
            let out_tx = out_tx.clone();
            let helpers = helpers.clone();
            std::thread::Builder::new()
                .name(format!("taskmaster-health-{i}"))
                .spawn(move || {
                    // Ends when the supervisor drops its sender.
                    for job in job_rx {
                        let result = run(&job, &helpers);
                        let outcome = Outcome {
                            name: job.name,
                            pid: job.pid,
                            result,
                        };
                        if out_tx.send(vec![outcome]).is_err() {
                            return;
                        }
                    }
                })?;
        }
        let (tcp, tcp_rx) = crossbeam_channel::unbounded();
        let (wake, wake_rx) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        wake_rx.set_nonblocking(true)?;
        let poller = poller::Poller {
            jobs: tcp_rx,
            wake: wake_rx,
            outcomes: out_tx,
            reuse: local::REUSE,
        };
        std::thread::Builder::new()
            .name("taskmaster-health-tcp".to_string())
            .spawn(move || poller.run())?;
        Ok((
            Checkers {
                jobs,
                tcp,
                wake,
                helpers,
            },
            out_rx,
        ))
    }

    /// Hands out a batch of due checks: `tcp` ones to an address to the poller in one
    /// message, the others to the pool.
    pub fn send(&self, batch: Vec<Job>) {
        let (tcp, others): (Vec<Job>, Vec<Job>) =
            batch.into_iter().partition(|j| poller::takes(j).is_some());
        for job in others {
            let _ = self.jobs.send(job);
        }
        if !tcp.is_empty() && self.tcp.send(tcp).is_ok() {
            // A full socket already has a wake-up in it.
            let _ = (&self.wake).write(&[1]);
        }
    }
}

fn run(job: &Job, helpers: &Helpers) -> Result<(), String> {
    match &job.probe {
        Probe::Cmd { argv, .. } => cmd::check(argv, job.timeout, helpers),
        Probe::Tcp(addr) => net::tcp(addr, job.timeout),
        Probe::Http(target) => net::http(target, job.timeout),
        // Matched by the I/O thread, never sent here.
        Probe::Log(_) => Ok(()),
    }
}

/// `tcp 127.0.0.1:5432`, `http http://...`, `cmd pg_isready`, `log "ready"`: what is checked.
pub fn describe(probe: &Probe) -> String {
    match probe {
        Probe::Cmd { line, .. } => format!("cmd {line}"),
        Probe::Tcp(addr) => format!("tcp {addr}"),
        Probe::Http(t) => format!("http {}", t.url),
        Probe::Log(text) => format!("log {text:?}"),
    }
}
