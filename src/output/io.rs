//! The `taskmaster-io` thread: one epoll loop over every child pipe, however many processes.
//!
//! Each ready pipe is read into one buffer of at most [`BUDGET`] bytes per wake-up
//! (level-triggered epoll brings it back if more is waiting, so one flooding child cannot
//! starve the others); what was read is appended to the pipe's file with one `write_all`,
//! then to the process's ring (its last `cap` bytes only) and followers. Nothing is allocated per read unless someone
//! follows the process.
//! Commands arrive on a channel, with an eventfd to wake the loop. "Output arrived" notices
//! go to watchers at most every [`NOTICE_INTERVAL`], timed by the epoll timeout.
//!
//! Log files live in one table keyed by path ([`Files`]): processes naming the same file
//! share it, so it rotates once, and their lines never mix.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::eventfd::EventFd;

use super::files::{Files, Writer};
use super::logfile::{self, Notice};
use super::stamp::Stamper;
use super::{Cmd, FileOp, FileResults, FileTarget, Pipe, Proc, Shared, Stream};
use crate::config::Rotation;

/// Bytes read from one pipe per wake-up at most, so one flooding child cannot starve the
/// others (the pipe buffer is as large).
const BUDGET: usize = 1024 * 1024;
/// At most ~30 "output arrived" notices a second.
const NOTICE_INTERVAL: Duration = Duration::from_millis(33);
/// The epoll token of the wake-up eventfd; pipes use their slot index.
const WAKE: u64 = u64::MAX;

pub(super) fn spawn(
    shared: Arc<Shared>,
    wake: Arc<EventFd>,
    cmds: Receiver<Cmd>,
    notices: Option<Sender<Notice>>,
) -> std::io::Result<JoinHandle<()>> {
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
    epoll.add(wake.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, WAKE))?;
    let mut io = IoThread {
        shared,
        wake,
        cmds,
        epoll,
        sources: Vec::new(),
        files: Files::default(),
        next_writer: 0,
        notices,
        free: Vec::new(),
        live: 0,
        buf: vec![0; BUDGET].into_boxed_slice(),
        finish: None,
        arrived: false,
        last_notice: None,
    };
    std::thread::Builder::new()
        .name("taskmaster-io".into())
        .spawn(move || io.run())
}

/// One registered pipe.
struct Source {
    name: String,
    proc: Arc<Proc>,
    stream: Stream,
    fd: OwnedFd,
    /// Its log file: a key of `IoThread::files`.
    file: Option<PathBuf>,
    /// Set when `timestamps = true`.
    stamper: Option<Stamper>,
    /// Who this stream is to its file.
    writer: Writer,
}

struct IoThread {
    shared: Arc<Shared>,
    wake: Arc<EventFd>,
    cmds: Receiver<Cmd>,
    epoll: Epoll,
    /// Slot `i` is the pipe with epoll token `i`.
    sources: Vec<Option<Source>>,
    /// Every open log file, by path.
    files: Files,
    next_writer: Writer,
    /// Where notices about log files go (the supervisor's event log).
    notices: Option<Sender<Notice>>,
    free: Vec<usize>,
    /// Pipes not yet at EOF.
    live: usize,
    buf: Box<[u8]>,
    /// Set by `Finish`: stop when every pipe is closed or at this instant.
    finish: Option<Instant>,
    /// Output arrived since the last notice.
    arrived: bool,
    last_notice: Option<Instant>,
}

impl IoThread {
    fn run(&mut self) {
        let mut events = vec![EpollEvent::empty(); 256];
        loop {
            let n = match self.epoll.wait(&mut events, self.timeout(Instant::now())) {
                Ok(n) => n,
                Err(Errno::EINTR) => 0,
                Err(e) => {
                    log::warn!("output: epoll_wait failed: {e}; stopping capture");
                    break;
                }
            };
            for ev in &events[..n] {
                if ev.data() == WAKE {
                    self.commands();
                } else {
                    self.drain(ev.data() as usize);
                }
            }
            let now = Instant::now();
            self.notice(now);
            if self.finish.is_some_and(|d| self.live == 0 || now >= d) {
                break;
            }
        }
        // At the deadline some pipe is still held open (by a grandchild, say): keep what its
        // writers already wrote.
        for token in 0..self.sources.len() {
            self.drain(token);
        }
        if self.arrived {
            self.shared.notify_watchers();
        }
        let mut notes = Vec::new();
        self.files.flush_all(Instant::now(), &mut notes);
        self.notify(notes);
    }

    fn notify(&self, notices: impl IntoIterator<Item = Notice>) {
        if let Some(tx) = &self.notices {
            for line in notices {
                let _ = tx.send(line);
            }
        }
    }

    /// Appends bytes just read to the source's file (stamped when asked), then to the ring
    /// and followers.
    fn store(&mut self, token: usize, len: usize) {
        let Some(Some(src)) = self.sources.get_mut(token) else {
            return;
        };
        let data = &self.buf[..len];
        let mut notes = Vec::new();
        if let Some(path) = &src.file {
            let bytes = match src.stamper.as_mut() {
                Some(st) => st.stamp(data, SystemTime::now()),
                None => data,
            };
            self.files
                .write(path, src.writer, bytes, Instant::now(), &mut notes);
        }
        src.proc.append(src.stream, data);
        self.notify(notes);
    }

    /// How long epoll may sleep: until the next notice is due or the finish deadline.
    fn timeout(&self, now: Instant) -> EpollTimeout {
        let notice = match (self.arrived, self.last_notice) {
            (true, Some(last)) => Some(last + NOTICE_INTERVAL),
            (true, None) => Some(now),
            _ => None,
        };
        let until = match (notice, self.finish) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match until {
            None => EpollTimeout::NONE,
            Some(t) => {
                // Rounded up, so that a wake-up never comes a little early and spins.
                let ms = t.saturating_duration_since(now).as_micros().div_ceil(1000);
                EpollTimeout::from(u16::try_from(ms).unwrap_or(u16::MAX))
            }
        }
    }

    fn notice(&mut self, now: Instant) {
        if self.arrived && self.last_notice.is_none_or(|t| now >= t + NOTICE_INTERVAL) {
            self.shared.notify_watchers();
            self.arrived = false;
            self.last_notice = Some(now);
        }
    }

    fn commands(&mut self) {
        // EAGAIN: nothing to reset (a spurious or already consumed wake-up).
        let _ = self.wake.read();
        loop {
            match self.cmds.try_recv() {
                Ok(Cmd::Register { name, proc, pipes }) => {
                    for (stream, pipe) in pipes {
                        self.add(&name, &proc, stream, pipe);
                    }
                }
                Ok(Cmd::Configure {
                    proc,
                    stream,
                    rotation,
                    timestamps,
                }) => self.configure(&proc, stream, rotation, timestamps),
                Ok(Cmd::Files { op, targets, done }) => done(self.files_op(op, targets)),
                Ok(Cmd::Finish(deadline)) => {
                    self.finish = Some(self.finish.map_or(deadline, |d| d.min(deadline)));
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    self.finish = Some(Instant::now());
                    break;
                }
            }
        }
    }

    fn add(&mut self, name: &str, proc: &Arc<Proc>, stream: Stream, pipe: Pipe) {
        let token = self.free.pop().unwrap_or(self.sources.len());
        let added = set_nonblocking(&pipe.fd).and_then(|()| {
            let ev = EpollEvent::new(EpollFlags::EPOLLIN, token as u64);
            self.epoll.add(pipe.fd.as_fd(), ev)
        });
        if let Err(e) = added {
            log::warn!("output: cannot watch {name}'s {stream:?} pipe: {e}");
            self.free.push(token);
            self.shared.pipe_closed(name, proc);
            return;
        }
        let (file, stamper) = match pipe.file {
            Some(sink) => {
                let label = format!("{name}'s {} log", super::stream_word(stream));
                let stamper = sink.timestamps.then(Stamper::default);
                (Some(self.files.add(sink, label)), stamper)
            }
            None => (None, None),
        };
        self.next_writer += 1;
        let src = Source {
            name: name.to_owned(),
            proc: proc.clone(),
            stream,
            fd: pipe.fd,
            file,
            stamper,
            writer: self.next_writer,
        };
        if token == self.sources.len() {
            self.sources.push(Some(src));
        } else {
            self.sources[token] = Some(src);
        }
        self.live += 1;
    }

    /// Reads what one pipe holds (up to [`BUDGET`] bytes), stores it, and closes the pipe
    /// at EOF.
    fn drain(&mut self, token: usize) {
        let Some(Some(src)) = self.sources.get_mut(token) else {
            return;
        };
        // Fill the whole buffer before storing: one file write and one ring copy (of only the
        // newest bytes) per wake-up instead of one per read keeps the CPU per GiB near cat's.
        let buf = &mut self.buf[..];
        let mut filled = 0;
        let eof = loop {
            match nix::unistd::read(src.fd.as_raw_fd(), &mut buf[filled..]) {
                Ok(0) => break true,
                Ok(n) => {
                    filled += n;
                    if filled == buf.len() {
                        break false;
                    }
                }
                Err(Errno::EINTR) => {}
                // Emptied the pipe; epoll says when more comes.
                Err(Errno::EAGAIN) => break false,
                // A pty master once every slave descriptor is closed (the program and all
                // it started are gone): its EOF.
                Err(Errno::EIO) => break true,
                Err(e) => {
                    log::warn!("output: reading {}'s {:?}: {e}", src.name, src.stream);
                    break true;
                }
            }
        };
        if filled > 0 {
            self.store(token, filled);
            self.arrived = true;
        }
        if eof {
            self.close(token);
        }
    }

    fn close(&mut self, token: usize) {
        let Some(src) = self.sources.get_mut(token).and_then(Option::take) else {
            return;
        };
        if let Some(path) = &src.file {
            let mut notes = Vec::new();
            self.files
                .remove(path, src.writer, Instant::now(), &mut notes);
            self.notify(notes);
        }
        let _ = self.epoll.delete(src.fd.as_fd());
        self.free.push(token);
        self.live -= 1;
        self.shared.pipe_closed(&src.name, &src.proc);
    }
}

impl IoThread {
    fn configure(
        &mut self,
        proc: &Arc<Proc>,
        stream: Stream,
        rotation: Rotation,
        timestamps: bool,
    ) {
        for src in self.sources.iter_mut().flatten() {
            if !Arc::ptr_eq(&src.proc, proc) || src.stream != stream {
                continue;
            }
            match (timestamps, src.stamper.is_some()) {
                (true, false) => src.stamper = Some(Stamper::default()),
                (false, true) => src.stamper = None,
                _ => {}
            }
            if let Some(f) = src.file.as_ref().and_then(|p| self.files.get_mut(p)) {
                f.set_rotation(rotation);
            }
        }
    }

    fn files_op(&mut self, op: FileOp, targets: Option<Vec<FileTarget>>) -> FileResults {
        let now = Instant::now();
        let targets = targets.unwrap_or_else(|| {
            self.files
                .paths()
                .into_iter()
                .map(|path| FileTarget {
                    process: path.display().to_string(),
                    path,
                    // Only used for files that are not open; these are.
                    rotation: Rotation::default(),
                })
                .collect()
        });
        let mut results = Vec::new();
        let mut done: Vec<PathBuf> = Vec::new();
        for t in targets {
            // A file shared by several processes is acted on once.
            let outcome = if done.contains(&t.path) {
                Ok(())
            } else {
                done.push(t.path.clone());
                self.file_op(op, &t, now)
            };
            results.push((t.process, outcome));
        }
        results
    }

    fn file_op(&mut self, op: FileOp, t: &FileTarget, now: Instant) -> Result<(), String> {
        let shown = t.path.display();
        let Some(f) = self.files.get_mut(&t.path) else {
            return match op {
                FileOp::Rotate => logfile::rotate_closed(&t.path, t.rotation),
                FileOp::Truncate => logfile::truncate_closed(&t.path),
                FileOp::Reopen => Ok(()),
            }
            .map_err(|e| format!("{shown}: {e}"));
        };
        match op {
            FileOp::Rotate => f
                .rotate()
                .map_err(|e| format!("cannot rotate {shown}: {e}")),
            FileOp::Truncate => f
                .truncate()
                .map_err(|e| format!("cannot clear {shown}: {e}")),
            FileOp::Reopen => {
                let notice = f.reopen(now)?;
                self.notify(notice);
                Ok(())
            }
        }
    }
}

fn set_nonblocking(fd: &OwnedFd) -> nix::Result<()> {
    let flags = OFlag::from_bits_retain(fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL)?);
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}
