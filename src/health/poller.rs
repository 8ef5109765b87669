//! `tcp` checks to a literal address (`127.0.0.1:5432`, `[::1]:80`), the common case, all on
//! one thread: each batch of checks starts its non-blocking connects at once and one `poll`
//! waits for all of them, so a thousand checks a second cost a few wake-ups, not a thread
//! hand-off each. A connection that is accepted is closed with a reset (`SO_LINGER` 0, as
//! HAProxy's checks do): no FIN exchange, no TIME_WAIT left behind by a check a second.
//!
//! A target on this host is first looked up in the kernel's listening table (`local.rs`,
//! `diag.rs`): a listener with room in its accept queue is a passed check without any
//! connect (a connect costs ~30 µs of kernel time, the table a few µs per batch). Only that
//! *yes* is taken from the table; a target it does not show up is connected to as before,
//! so a failure is always a connect's, and a listener opened a moment ago is seen at once.

use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{
    AddressFamily, SockFlag, SockType, SockaddrStorage, connect, getsockopt, setsockopt, socket,
    sockopt,
};

use super::local::Local;
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
    /// How long a dump of the listening table answers checks (`local::REUSE`).
    pub reuse: Duration,
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
        let mut local = Local::new();
        local.reuse = self.reuse;
        loop {
            let mut done = Vec::new();
            if pending.is_empty() {
                match self.jobs.recv() {
                    Ok(batch) => start(batch, &mut local, &mut pending, &mut done),
                    Err(_) => return,
                }
            }
            while let Ok(batch) = self.jobs.try_recv() {
                start(batch, &mut local, &mut pending, &mut done);
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

/// Answers each job from the listening table, or starts its connect; the ones that end at
/// once go to `done`.
fn start(batch: Vec<Job>, local: &mut Local, pending: &mut Vec<Pending>, done: &mut Vec<Outcome>) {
    let now = Instant::now();
    for job in batch {
        let Some(addr) = takes(&job) else {
            continue;
        };
        if local.accepts(addr, now) {
            done.push(outcome(job, Ok(())));
            continue;
        }
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

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::os::unix::net::UnixStream;
    use std::time::Duration;

    use crossbeam_channel::{Receiver, Sender};
    use nix::sys::socket::{Backlog, listen};
    use nix::unistd::Pid;

    use super::Poller;
    use crate::config::Probe;
    use crate::health::local::tests::bound;
    use crate::health::{Job, Outcome};

    /// A poller thread whose table dumps are reused for `reuse`; ends with the sender.
    fn poller(reuse: Duration) -> (Sender<Vec<Job>>, Receiver<Vec<Outcome>>) {
        let (jobs, job_rx) = crossbeam_channel::unbounded();
        let (out_tx, outcomes) = crossbeam_channel::unbounded();
        let (_wake, wake) = UnixStream::pair().expect("pair");
        wake.set_nonblocking(true).expect("nonblocking");
        let p = Poller {
            jobs: job_rx,
            wake,
            outcomes: out_tx,
            reuse,
        };
        std::thread::spawn(move || p.run());
        (jobs, outcomes)
    }

    fn check(
        p: &(Sender<Vec<Job>>, Receiver<Vec<Outcome>>),
        addr: SocketAddr,
    ) -> Result<(), String> {
        let job = Job {
            name: "svc".to_string(),
            pid: Pid::from_raw(1),
            probe: Probe::Tcp(addr.to_string()),
            timeout: Duration::from_millis(300),
        };
        p.0.send(vec![job]).expect("poller running");
        let mut got =
            p.1.recv_timeout(Duration::from_secs(60))
                .expect("an outcome");
        assert_eq!(got.len(), 1);
        got.remove(0).result
    }

    /// The dump that said "nothing listens" is still in use (reused for an hour here), yet a
    /// listener opened since is healthy at the next check: a "no" is always confirmed by a
    /// connect.
    #[test]
    fn a_just_opened_listener_passes_the_next_check_despite_a_stale_table() {
        let p = poller(Duration::from_secs(3600));
        let (fd, port) = bound();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let refused = check(&p, addr).expect_err("nothing listens yet");
        assert!(refused.contains("Connection refused"), "{refused}");
        listen(&fd, Backlog::new(16).expect("backlog")).expect("listen");
        assert_eq!(check(&p, addr), Ok(()));
    }

    /// A full accept queue is not "up" in the table: the connect decides, and it hangs (the
    /// kernel drops the SYN) until the check's timeout.
    #[test]
    fn a_full_accept_queue_is_decided_by_the_connect() {
        let p = poller(Duration::ZERO);
        let (fd, port) = bound();
        listen(&fd, Backlog::new(0).expect("backlog")).expect("listen");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        // Connect (never accepted) until one is not completed: the queue is full.
        let mut fillers = Vec::new();
        for _ in 0..16 {
            match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
                Ok(s) => fillers.push(s),
                Err(_) => break,
            }
        }
        assert!(fillers.len() < 16, "the queue never filled");
        let mut local = crate::health::local::Local::new();
        assert!(
            !local.accepts(addr, std::time::Instant::now()),
            "the table says not up"
        );
        assert_eq!(
            check(&p, addr),
            Err("no connection within the timeout".to_string())
        );
        drop(fd);
    }

    /// A wildcard listener here does not make the same port on another host healthy: a
    /// remote address always connects (TEST-NET-3, RFC 5737, goes nowhere).
    #[test]
    fn a_remote_address_goes_through_the_connect() {
        let p = poller(Duration::ZERO);
        let any = std::net::TcpListener::bind("0.0.0.0:0").expect("bind");
        let port = any.local_addr().expect("addr").port();
        assert_eq!(check(&p, SocketAddr::from(([127, 0, 0, 1], port))), Ok(()));
        let remote = check(&p, SocketAddr::from(([203, 0, 113, 1], port)));
        assert!(remote.is_err(), "{remote:?}");
        drop(any);
    }
}
