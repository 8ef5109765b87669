//! `tcp` checks to a literal address (`127.0.0.1:5432`, `[::1]:80`), the common case, all on
//! one thread: each batch of checks starts its non-blocking connects at once and one `poll`
//! waits for all of them, so a thousand checks a second cost a few wake-ups, not a thread
//! hand-off each. A connection that is accepted is closed with a reset (`SO_LINGER` 0, as
//! HAProxy's checks do): no FIN exchange, no TIME_WAIT left behind by a check a second.

use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{
    AddressFamily, SockFlag, SockType, SockaddrStorage, connect, getsockopt, setsockopt, socket,
    sockopt,
};

use super::{Job, Outcome};

/// One connect under way.
struct Pending {
    job: Job,
    addr: SocketAddr,
    fd: OwnedFd,
    deadline: Instant,
}

/// The poller's side: jobs in, outcomes out, `wake` readable when jobs were sent.
pub struct Poller {
    pub jobs: Receiver<Vec<Job>>,
    pub wake: UnixStream,
    pub outcomes: Sender<Vec<Outcome>>,
}

/// The checks the poller can take: `tcp` to an address needing no name resolution (which
/// has no timeout of its own and would hold every other check).
pub fn takes(job: &Job) -> Option<SocketAddr> {
    match &job.probe {
        crate::config::Probe::Tcp(addr) => addr.parse().ok(),
        _ => None,
    }
}

impl Poller {
    /// Runs until the supervisor drops its sender.
    pub fn run(self) {
        let mut pending: Vec<Pending> = Vec::new();
        loop {
            let mut done = Vec::new();
            if pending.is_empty() {
                match self.jobs.recv() {
                    Ok(batch) => start(batch, &mut pending, &mut done),
                    Err(_) => return,
                }
            }
            while let Ok(batch) = self.jobs.try_recv() {
                start(batch, &mut pending, &mut done);
            }
            drain(&self.wake);
            if !pending.is_empty() {
                wait(&self.wake, &mut pending, &mut done);
            }
            if !done.is_empty() && self.outcomes.send(done).is_err() {
                return;
            }
        }
    }
}

/// Starts each job's connect; the ones that end at once go to `done`.
fn start(batch: Vec<Job>, pending: &mut Vec<Pending>, done: &mut Vec<Outcome>) {
    for job in batch {
        let Some(addr) = takes(&job) else {
            continue;
        };
        let deadline = Instant::now() + job.timeout;
        match begin(addr) {
            Ok(Some(fd)) => pending.push(Pending {
                job,
                addr,
                fd,
                deadline,
            }),
            Ok(None) => done.push(outcome(job, Ok(()))),
            Err(e) => {
                let why = format!("{addr}: {}", std::io::Error::from(e));
                done.push(outcome(job, Err(why)));
            }
        }
    }
}

/// A non-blocking connect: `None` when it is already made (and closed), the socket while it
/// is under way.
fn begin(addr: SocketAddr) -> Result<Option<OwnedFd>, Errno> {
    let family = match addr {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let fd = socket(
        family,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    match connect(fd.as_raw_fd(), &SockaddrStorage::from(addr)) {
        Ok(()) => {
            close_with_reset(fd);
            Ok(None)
        }
        Err(Errno::EINPROGRESS | Errno::EINTR) => Ok(Some(fd)),
        Err(e) => Err(e),
    }
}

fn close_with_reset(fd: OwnedFd) {
    let _ = setsockopt(
        &fd,
        sockopt::Linger,
        &nix::libc::linger {
            l_onoff: 1,
            l_linger: 0,
        },
    );
    drop(fd);
}

/// One `poll` over every pending connect (and the wake-up socket), until the first ends or
/// its deadline; finished and timed-out connects go to `done`.
fn wait(wake: &UnixStream, pending: &mut Vec<Pending>, done: &mut Vec<Outcome>) {
    let now = Instant::now();
    let first = pending.iter().map(|p| p.deadline).min().unwrap_or(now);
    let ms = first
        .saturating_duration_since(now)
        .as_millis()
        // Rounded up: waking a hair early would spin until the deadline.
        .saturating_add(1)
        .min(i32::MAX as u128) as i32;
    let mut fds = Vec::with_capacity(pending.len() + 1);
    fds.push(PollFd::new(wake.as_fd(), PollFlags::POLLIN));
    fds.extend(
        pending
            .iter()
            .map(|p| PollFd::new(p.fd.as_fd(), PollFlags::POLLOUT)),
    );
    let ready: Vec<bool> = match poll(
        &mut fds,
        PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
    ) {
        Ok(_) => fds
            .iter()
            .skip(1)
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect(),
        Err(_) => vec![false; pending.len()],
    };
    drop(fds);
    let now = Instant::now();
    let mut still = Vec::with_capacity(pending.len());
    for (i, p) in pending.drain(..).enumerate() {
        if ready.get(i).copied().unwrap_or(false) {
            let result = match getsockopt(&p.fd, sockopt::SocketError) {
                Ok(0) => Ok(()),
                Ok(code) => Err(format!(
                    "{}: {}",
                    p.addr,
                    std::io::Error::from_raw_os_error(code)
                )),
                Err(e) => Err(format!("{}: {}", p.addr, std::io::Error::from(e))),
            };
            if result.is_ok() {
                close_with_reset(p.fd);
            }
            done.push(outcome(p.job, result));
        } else if now >= p.deadline {
            done.push(outcome(
                p.job,
                Err("no connection within the timeout".to_string()),
            ));
        } else {
            still.push(p);
        }
    }
    *pending = still;
}

fn outcome(job: Job, result: Result<(), String>) -> Outcome {
    Outcome {
        name: job.name,
        pid: job.pid,
        result,
    }
}

/// Empties the wake-up socket (non-blocking): its bytes only say "look at the channel".
fn drain(wake: &UnixStream) {
    use std::io::Read;
    let mut buf = [0u8; 256];
    while matches!((&*wake).read(&mut buf), Ok(n) if n > 0) {}
}
