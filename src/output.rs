//! Child output: one I/O thread multiplexes every child pipe with epoll, appends to the
//! configured log files and keeps a bounded tail ring per process. Bytes never pass through
//! the supervisor thread; front ends read tails through the cheap, cloneable [`OutputReader`].
//!
//! Thread: the `taskmaster-io` thread owns the pipes and files. The supervisor registers a
//! child's pipes with [`OutputHub::register`] right after spawning it.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::sync::Arc;

use crossbeam_channel::Receiver;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// A piece of a process's output, as read in one go.
#[derive(Debug, Clone)]
pub struct Chunk {
    pub stream: Stream,
    pub data: Arc<[u8]>,
}

/// One stream of a freshly spawned child, handed to the I/O thread.
pub struct Pipe {
    /// Read end of the child's stdout or stderr pipe.
    pub fd: OwnedFd,
    /// Where the bytes also go (appended), when the config names a file.
    pub file: Option<File>,
}

/// The supervisor's side: registers pipes. Dropping the last hub stops the I/O thread.
pub struct OutputHub {}

impl OutputHub {
    /// Starts the I/O thread.
    pub fn start() -> std::io::Result<(OutputHub, OutputReader)> {
        todo!()
    }

    /// Hands a process's pipes to the I/O thread. `name` is the process name; output of a
    /// new generation is appended to the same tail ring (like supervisor's capture).
    pub fn register(&self, name: &str, stdout: Option<Pipe>, stderr: Option<Pipe>) {
        let _ = (name, stdout, stderr);
        todo!()
    }

    /// Forgets a process's ring (after a reload removed it). Open pipes drain to EOF first.
    pub fn forget(&self, name: &str) {
        let _ = name;
        todo!()
    }

    /// Stops the I/O thread once every registered pipe reached EOF (or `timeout` passed, as a
    /// grandchild may hold a pipe open), with every file flushed; joins it.
    pub fn finish(self, timeout: std::time::Duration) {
        let _ = timeout;
        todo!()
    }
}

/// Read access to captured output, for front ends. Cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct OutputReader {}

impl OutputReader {
    /// The newest output of a process, at most `max_bytes`, oldest first; `stream` `None`
    /// means both interleaved as they arrived. `None` when the process has no ring.
    pub fn tail(&self, name: &str, stream: Option<Stream>, max_bytes: usize) -> Option<Vec<Chunk>> {
        let _ = (name, stream, max_bytes);
        todo!()
    }

    /// Follows a process's new output from now on (tail -f, attach). The receiver ends when
    /// the process is forgotten; a follower that falls far behind misses chunks rather than
    /// making taskmaster's memory grow.
    pub fn follow(&self, name: &str) -> Receiver<Chunk> {
        let _ = name;
        todo!()
    }

    /// Empties a process's ring.
    pub fn clear(&self, name: &str) {
        let _ = name;
        todo!()
    }

    /// A counter that grows with every byte captured for `name` (0 when unknown): lets a front
    /// end tell cheaply whether a tail changed.
    pub fn seq(&self, name: &str) -> u64 {
        let _ = name;
        todo!()
    }

    /// A notice that some output arrived, sent at most ~30 times a second (bounded(1)).
    pub fn watch(&self) -> Receiver<()> {
        todo!()
    }
}
