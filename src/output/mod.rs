//! Child output: one I/O thread multiplexes every child pipe with epoll, appends to the
//! configured log files and keeps a bounded tail ring per process. Bytes never pass through
//! the supervisor thread; front ends read tails through the cheap, cloneable [`OutputReader`].
//!
//! Thread: the `taskmaster-io` thread ([`io`]) owns the pipes and files; there is one for
//! any number of processes. The supervisor registers a child's pipes with
//! [`OutputHub::register`] right after spawning it (pipes made by [`pipe`], files opened by
//! [`open_log`]). Rings, followers and watchers live in shared state behind short-held
//! mutexes, so readers on other threads never message the I/O thread.

pub mod decode;
mod files;
mod io;
pub mod logfile;
mod ring;
mod stamp;
#[cfg(test)]
mod tests;
mod watch;

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::eventfd::{EfdFlags, EventFd};

use crate::config::Rotation;
use logfile::Notice;
use ring::Ring;

/// Bytes of output kept in memory per process (stdout and stderr together).
pub const RING_CAP: usize = 128 * 1024;
/// Chunks a follower may fall behind before it starts missing some.
const FOLLOW_QUEUE: usize = 16;
/// Largest chunk sent to a follower: bounds a slow follower's queue to 1 MiB.
const FOLLOW_CHUNK: usize = 64 * 1024;
/// Kernel buffer asked for each child pipe, so a fast child rarely waits for the I/O thread.
const PIPE_SIZE: i32 = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// `stdout` / `stderr`.
pub fn stream_word(stream: Stream) -> &'static str {
    match stream {
        Stream::Stdout => "stdout",
        Stream::Stderr => "stderr",
    }
}

/// A piece of a process's output, as read in one go.
#[derive(Debug, Clone)]
pub struct Chunk {
    pub stream: Stream,
    pub data: Arc<[u8]>,
}

/// New bytes of one process, from [`OutputReader::since`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Since {
    pub data: Vec<u8>,
    /// The output counter after `data`: where the next read starts.
    pub end: u64,
    /// Bytes between the counter asked for and `data` that were not given (no longer held,
    /// or over the budget): the reader fell behind by that much.
    pub skipped: u64,
}

/// One stream of a freshly spawned child, handed to the I/O thread.
pub struct Pipe {
    /// Read end of the child's stdout or stderr pipe.
    pub fd: OwnedFd,
    /// Where the bytes also go (appended), when the config names a file.
    pub file: Option<LogSink>,
}

/// A log file for one stream, opened at spawn time (so a file that cannot be opened is a
/// spawn error, as in supervisor). Processes naming the same path share one file in the I/O
/// thread: it rotates once, and their lines stay whole.
pub struct LogSink {
    pub path: PathBuf,
    pub file: File,
    pub rotation: Rotation,
    pub timestamps: bool,
}

impl LogSink {
    /// Opens `path` for appending.
    pub fn open(path: &Path, rotation: Rotation, timestamps: bool) -> std::io::Result<LogSink> {
        Ok(LogSink {
            path: path.to_path_buf(),
            file: open_log(path)?,
            rotation,
            timestamps,
        })
    }

    /// A file without rotation or timestamps.
    pub fn plain(path: &Path) -> std::io::Result<LogSink> {
        LogSink::open(
            path,
            Rotation {
                maxbytes: 0,
                backups: 0,
            },
            false,
        )
    }
}

/// What to do to log files (`rotate`, `clear`, `reopen`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileOp {
    Rotate,
    Truncate,
    Reopen,
}

/// One file a [`FileOp`] is for: the process it belongs to (for the reply), its path and
/// rotation settings (used when the file is not open, the process being stopped).
#[derive(Debug, Clone)]
pub struct FileTarget {
    pub process: String,
    pub path: PathBuf,
    pub rotation: Rotation,
}

/// The outcome per target (or per open file for a `Reopen` of everything).
pub type FileResults = Vec<(String, Result<(), String>)>;

/// Called by the I/O thread with the results, once the operation is done.
pub type FilesDone = Box<dyn FnOnce(FileResults) + Send>;

/// A pipe for a child's stdout or stderr: `(read end, write end)`, both close-on-exec, with
/// a 1 MiB kernel buffer when the kernel allows it (silently the default otherwise). The
/// write end goes to the child (dup2 clears close-on-exec), the read end to
/// [`OutputHub::register`].
pub fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    // Only root may exceed the per-user pipe budget (pipe-user-pages-soft, 64 MiB): for anyone
    // else, big pipes would use it up after ~64 children and shrink every later pipe to one
    // page, so they keep the default size.
    if nix::unistd::geteuid().is_root() {
        let _ = fcntl(write.as_raw_fd(), FcntlArg::F_SETPIPE_SZ(PIPE_SIZE));
    }
    Ok((read, write))
}

/// Opens a log file for appending, creating it with mode 0666 less the umask; close-on-exec.
pub fn open_log(path: &Path) -> std::io::Result<File> {
    logfile::open_append(path)
}

/// What every thread may see of one process's output.
pub(crate) struct Proc {
    /// Bytes captured so far; a copy of `ring.total()` readable without the lock.
    seq: AtomicU64,
    /// Bytes read from stdout and stderr since taskmaster started (for `/metrics`).
    read: [AtomicU64; 2],
    state: Mutex<ProcState>,
}

struct ProcState {
    ring: Ring,
    followers: Vec<Sender<Chunk>>,
    /// Pipes registered and not yet at EOF (counted by `register`, uncounted by the I/O thread).
    open: usize,
    /// `forget` was asked while pipes were open: drop the entry at their last EOF.
    forgotten: bool,
    /// A `log` health check waiting for its text (see `watch.rs`).
    text_watch: Option<watch::TextWatch>,
}

impl Proc {
    fn new(cap: usize) -> Proc {
        Proc {
            seq: AtomicU64::new(0),
            read: [AtomicU64::new(0), AtomicU64::new(0)],
            state: Mutex::new(ProcState {
                ring: Ring::new(cap),
                followers: Vec::new(),
                open: 0,
                forgotten: false,
                text_watch: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ProcState> {
        // A panic elsewhere while holding the lock leaves a ring that is still consistent
        // enough to read; never let it take the I/O thread down.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends what was just read: to the ring (last `cap` bytes only) and to followers.
    fn append(&self, stream: Stream, data: &[u8]) {
        self.read[stream as usize].fetch_add(data.len() as u64, Ordering::Relaxed);
        let mut st = self.lock();
        if st.text_watch.as_mut().is_some_and(|w| w.feed(data)) {
            st.text_watch = None;
        }
        st.ring.push(stream, data);
        self.seq.store(st.ring.total(), Ordering::Release);
        if st.followers.is_empty() {
            return;
        }
        for piece in data.chunks(FOLLOW_CHUNK) {
            let chunk = Chunk {
                stream,
                data: piece.into(),
            };
            // A full follower misses this chunk; a gone one is dropped.
            st.followers.retain(|f| {
                !matches!(
                    f.try_send(chunk.clone()),
                    Err(crossbeam_channel::TrySendError::Disconnected(_))
                )
            });
        }
    }
}

/// State shared by the hub, the readers and the I/O thread.
pub(crate) struct Shared {
    cap: usize,
    procs: Mutex<HashMap<String, Arc<Proc>>>,
    watchers: Mutex<Vec<Sender<()>>>,
}

impl Shared {
    fn procs(&self) -> MutexGuard<'_, HashMap<String, Arc<Proc>>> {
        self.procs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self, name: &str) -> Option<Arc<Proc>> {
        self.procs().get(name).cloned()
    }

    /// `name`'s entry, made now when it has none: a follower or a text watch may come before
    /// the process's first spawn.
    fn get_or_add(&self, name: &str) -> Arc<Proc> {
        self.procs()
            .entry(name.to_owned())
            .or_insert_with(|| Arc::new(Proc::new(self.cap)))
            .clone()
    }

    /// Called by the I/O thread at a pipe's EOF: uncounts it, and drops the process's entry
    /// (closing its followers) when it was forgotten and this was its last open pipe.
    fn pipe_closed(&self, name: &str, proc: &Arc<Proc>) {
        let mut procs = self.procs();
        let mut st = proc.lock();
        st.open = st.open.saturating_sub(1);
        if st.open == 0 && st.forgotten {
            st.followers.clear();
            if procs.get(name).is_some_and(|p| Arc::ptr_eq(p, proc)) {
                procs.remove(name);
            } else {
                // Renamed since its pipes were registered.
                procs.retain(|_, p| !Arc::ptr_eq(p, proc));
            }
        }
    }

    /// Tells every watcher that output arrived (called by the I/O thread, rate-limited).
    fn notify_watchers(&self) {
        let mut watchers = self.watchers.lock().unwrap_or_else(|e| e.into_inner());
        watchers.retain(|w| {
            !matches!(
                w.try_send(()),
                Err(crossbeam_channel::TrySendError::Disconnected(_))
            )
        });
    }
}

/// Messages from the hub to the I/O thread.
pub(crate) enum Cmd {
    Register {
        name: String,
        proc: Arc<Proc>,
        pipes: Vec<(Stream, Pipe)>,
    },
    /// New rotation and timestamps settings for a process's stream (reload, in place).
    Configure {
        proc: Arc<Proc>,
        stream: Stream,
        rotation: Rotation,
        timestamps: bool,
    },
    /// Rotate, truncate or reopen files; `None`: every open file.
    Files {
        op: FileOp,
        targets: Option<Vec<FileTarget>>,
        done: FilesDone,
    },
    /// Stop once every pipe reached EOF or at the deadline.
    Finish(Instant),
}

/// The supervisor's side: registers pipes. Dropping the last hub stops the I/O thread.
pub struct OutputHub {
    shared: Arc<Shared>,
    cmds: Sender<Cmd>,
    wake: Arc<EventFd>,
    thread: Option<JoinHandle<()>>,
}

impl OutputHub {
    /// Starts the I/O thread.
    pub fn start() -> std::io::Result<(OutputHub, OutputReader)> {
        Self::start_with_cap(RING_CAP)
    }

    /// Starts the I/O thread, keeping `ring_cap` bytes of output per process.
    pub fn start_with_cap(ring_cap: usize) -> std::io::Result<(OutputHub, OutputReader)> {
        Self::start_with(ring_cap, None)
    }

    /// Starts the I/O thread; problems with log files (a full disk, a deleted directory, and
    /// when writing resumes) are sent to `notices` as event-log lines.
    pub fn start_with(
        ring_cap: usize,
        notices: Option<Sender<Notice>>,
    ) -> std::io::Result<(OutputHub, OutputReader)> {
        let shared = Arc::new(Shared {
            cap: ring_cap,
            procs: Mutex::new(HashMap::new()),
            watchers: Mutex::new(Vec::new()),
        });
        let wake = Arc::new(EventFd::from_flags(
            EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK,
        )?);
        let (cmds, cmd_rx) = crossbeam_channel::unbounded();
        let thread = io::spawn(shared.clone(), wake.clone(), cmd_rx, notices)?;
        let reader = OutputReader {
            shared: shared.clone(),
        };
        let hub = OutputHub {
            shared,
            cmds,
            wake,
            thread: Some(thread),
        };
        Ok((hub, reader))
    }

    fn send(&self, cmd: Cmd) {
        if self.cmds.send(cmd).is_err() {
            log::warn!("output: the I/O thread has stopped; child output is not captured");
            return;
        }
        if let Err(e) = self.wake.write(1) {
            // EAGAIN means the counter is already non-zero: the thread will wake anyway.
            if e != nix::errno::Errno::EAGAIN {
                log::warn!("output: cannot wake the I/O thread: {e}");
            }
        }
    }

    /// Hands a process's pipes to the I/O thread. `name` is the process name; output of a
    /// new generation is appended to the same tail ring (like supervisor's capture).
    pub fn register(&self, name: &str, stdout: Option<Pipe>, stderr: Option<Pipe>) {
        let pipes: Vec<(Stream, Pipe)> = [(Stream::Stdout, stdout), (Stream::Stderr, stderr)]
            .into_iter()
            .filter_map(|(s, p)| p.map(|p| (s, p)))
            .collect();
        let proc = {
            let mut procs = self.shared.procs();
            let proc = procs
                .entry(name.to_owned())
                .or_insert_with(|| Arc::new(Proc::new(self.shared.cap)))
                .clone();
            let mut st = proc.lock();
            st.open += pipes.len();
            st.forgotten = false;
            drop(st);
            proc
        };
        if !pipes.is_empty() {
            self.send(Cmd::Register {
                name: name.to_owned(),
                proc,
                pipes,
            });
        }
    }

    /// New log settings for a running process's stream, applied in place (reload).
    pub fn configure(&self, name: &str, stream: Stream, rotation: Rotation, timestamps: bool) {
        // By ring, not by name: a reload may have renamed the process.
        let Some(proc) = self.shared.get(name) else {
            return;
        };
        self.send(Cmd::Configure {
            proc,
            stream,
            rotation,
            timestamps,
        });
    }

    /// Rotates, truncates or reopens log files on the I/O thread (`None`: every open file);
    /// `done` gets the outcome once it is done. A file not open there (its process is
    /// stopped) is rotated or truncated on disk all the same.
    pub fn files(&self, op: FileOp, targets: Option<Vec<FileTarget>>, done: FilesDone) {
        // If the I/O thread is gone, `done` is dropped unsent: the requester sees the
        // disconnection.
        self.send(Cmd::Files { op, targets, done });
    }

    /// A process now goes by another name (a reload changed numprocs): its ring, followers and
    /// open pipes move with it.
    pub fn rename(&self, from: &str, to: &str) {
        let mut procs = self.shared.procs();
        if let Some(proc) = procs.remove(from) {
            procs.insert(to.to_owned(), proc);
        }
    }

    /// Forgets a process's ring (after a reload removed it). Open pipes drain to EOF first
    /// (into their files and to followers); the ring goes and followers end at the last EOF.
    /// A `register` of the same name before then keeps the ring after all.
    pub fn forget(&self, name: &str) {
        let mut procs = self.shared.procs();
        let Some(proc) = procs.get(name).cloned() else {
            return;
        };
        let mut st = proc.lock();
        if st.open == 0 {
            st.followers.clear();
            drop(st);
            procs.remove(name);
        } else {
            st.forgotten = true;
        }
    }

    /// Stops the I/O thread once every registered pipe reached EOF (or `timeout` passed, as a
    /// grandchild may hold a pipe open), with every file flushed; joins it.
    pub fn finish(mut self, timeout: Duration) {
        self.send(Cmd::Finish(Instant::now() + timeout));
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            log::warn!("output: the I/O thread panicked");
        }
    }
}

impl Drop for OutputHub {
    fn drop(&mut self) {
        if self.thread.is_some() {
            // Not joined: a drop must not wait on a child's pipe. The thread stops at once.
            self.send(Cmd::Finish(Instant::now()));
        }
    }
}

/// Read access to captured output, for front ends. Cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct OutputReader {
    shared: Arc<Shared>,
}

impl OutputReader {
    /// The newest output of a process, at most `max_bytes`, oldest first; `stream` `None`
    /// means both interleaved as they arrived. `None` when the process has no ring.
    pub fn tail(&self, name: &str, stream: Option<Stream>, max_bytes: usize) -> Option<Vec<Chunk>> {
        let proc = self.shared.get(name)?;
        let st = proc.lock();
        Some(st.ring.tail(stream, max_bytes))
    }

    /// Follows a process's new output from now on (tail -f, attach). The receiver ends when
    /// the process is forgotten; a follower that falls far behind misses chunks rather than
    /// making taskmaster's memory grow. Following a name not registered yet makes its
    /// (empty) ring, so a follower set up before the first spawn sees its output.
    pub fn follow(&self, name: &str) -> Receiver<Chunk> {
        self.tail_and_follow(name, None, 0).1
    }

    /// [`tail`](Self::tail) and [`follow`](Self::follow) in one step, under the ring's lock:
    /// no chunk falls between the backlog and the stream, and none shows in both.
    pub fn tail_and_follow(
        &self,
        name: &str,
        stream: Option<Stream>,
        max_bytes: usize,
    ) -> (Vec<Chunk>, Receiver<Chunk>) {
        let (tx, rx) = crossbeam_channel::bounded(FOLLOW_QUEUE);
        let proc = self.shared.get_or_add(name);
        let mut st = proc.lock();
        let backlog = if max_bytes == 0 {
            Vec::new()
        } else {
            st.ring.tail(stream, max_bytes)
        };
        st.followers.push(tx);
        (backlog, rx)
    }

    /// The bytes captured for `name` from output counter `from` on (as [`seq`](Self::seq)
    /// counts), at most the newest `max_bytes`: lets a terminal emulator feed on exactly what
    /// is new. `None` when the process has no ring; see [`Since`].
    pub fn since(&self, name: &str, from: u64, max_bytes: usize) -> Option<Since> {
        let proc = self.shared.get(name)?;
        let st = proc.lock();
        let (data, end, skipped) = st.ring.since(from, max_bytes);
        Some(Since { data, end, skipped })
    }

    /// Empties a process's ring.
    pub fn clear(&self, name: &str) {
        if let Some(proc) = self.shared.get(name) {
            proc.lock().ring.clear();
        }
    }

    /// A counter that grows with every byte captured for `name` (0 when unknown): lets a front
    /// end tell cheaply whether a tail changed.
    pub fn seq(&self, name: &str) -> u64 {
        self.shared
            .get(name)
            .map_or(0, |p| p.seq.load(Ordering::Acquire))
    }

    /// A notice that some output arrived, sent at most ~30 times a second (bounded(1)).
    pub fn watch(&self) -> Receiver<()> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.shared
            .watchers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(tx);
        rx
    }

    /// Bytes read from a process's stdout and stderr since taskmaster started.
    pub fn bytes_read(&self, name: &str) -> (u64, u64) {
        self.shared.get(name).map_or((0, 0), |p| {
            (
                p.read[0].load(Ordering::Relaxed),
                p.read[1].load(Ordering::Relaxed),
            )
        })
    }

    /// Watches `name`'s output from now on for `text`; `hit` is told the name once, at the
    /// first match (the `log` health check). Replaces an earlier watch of the process.
    pub fn watch_text(&self, name: &str, text: &str, hit: Sender<String>) {
        let proc = self.shared.get_or_add(name);
        proc.lock().text_watch = Some(watch::TextWatch::new(name, text, hit));
    }

    /// Ends a watch set by [`watch_text`](Self::watch_text), if any.
    pub fn unwatch_text(&self, name: &str) {
        if let Some(proc) = self.shared.get(name) {
            proc.lock().text_watch = None;
        }
    }

    /// Bytes held in a process's ring now (at most the ring's cap).
    pub fn held(&self, name: &str) -> usize {
        self.shared.get(name).map_or(0, |p| p.lock().ring.len())
    }
}
