//! The write ends of the children's stdin pipes, owned by the supervisor thread. A write is
//! accepted whole or refused whole: what the pipe cannot take at once waits in a bounded
//! backlog, flushed in order as the child reads (a partial write reported as a failure made
//! a retry send its first bytes twice).

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::File;
use std::io::Write;
use std::time::{Duration, Instant};

/// Bytes that may wait for a child that reads slowly; beyond, a write is refused.
const BACKLOG_MAX: usize = 256 * 1024;
/// How often a backlog is offered to its pipe again.
pub(super) const RETRY: Duration = Duration::from_millis(10);

struct Stdin {
    pipe: File,
    backlog: VecDeque<u8>,
    /// Closed by a user: the pipe closes once the backlog is delivered.
    closing: bool,
}

#[derive(Default)]
pub(super) struct Stdins {
    pipes: HashMap<String, Stdin>,
    /// The names whose backlog is not empty: the loop asks for a deadline every turn, and
    /// 10,000 pipes must not be looked at for it.
    waiting: HashSet<String>,
    /// When backlogs were last offered to their pipes.
    last_flush: Option<Instant>,
}

impl Stdins {
    pub fn insert(&mut self, name: &str, pipe: File) {
        let stdin = Stdin {
            pipe,
            backlog: VecDeque::new(),
            closing: false,
        };
        self.pipes.insert(name.to_string(), stdin);
        self.waiting.remove(name);
    }

    pub fn rename(&mut self, from: &str, to: &str) {
        if let Some(stdin) = self.pipes.remove(from) {
            self.pipes.insert(to.to_string(), stdin);
        }
        if self.waiting.remove(from) {
            self.waiting.insert(to.to_string());
        }
    }

    pub fn remove(&mut self, name: &str) {
        self.pipes.remove(name);
        self.waiting.remove(name);
    }

    /// The pipe itself (a pty's master, for its size), unless it is closing.
    pub fn get(&self, name: &str) -> Option<&File> {
        self.pipes.get(name).filter(|s| !s.closing).map(|s| &s.pipe)
    }

    /// Closes `name`'s stdin once what was accepted for it is delivered; false when it had
    /// none open.
    pub fn close(&mut self, name: &str) -> bool {
        let Some(stdin) = self.pipes.get_mut(name).filter(|s| !s.closing) else {
            return false;
        };
        stdin.closing = true;
        if stdin.backlog.is_empty() {
            self.pipes.remove(name);
        }
        true
    }

    /// Queues `data` for `name`'s stdin and writes what the pipe takes now (never blocks).
    pub fn write(&mut self, name: &str, data: &[u8]) -> Result<(), String> {
        let Some(stdin) = self.pipes.get_mut(name).filter(|s| !s.closing) else {
            return Err(format!("{name} is not running"));
        };
        if stdin.backlog.len() + data.len() > BACKLOG_MAX {
            // Try to make room first: the child may have read since the last flush.
            flush(stdin).map_err(|e| format!("{name}: cannot write to stdin: {e}"))?;
            if stdin.backlog.len() + data.len() > BACKLOG_MAX {
                return Err(format!(
                    "{name}: stdin is full (the process is not reading it), nothing written"
                ));
            }
        }
        stdin.backlog.extend(data);
        self.last_flush = Some(Instant::now());
        let flushed = flush(stdin).map_err(|e| format!("{name}: cannot write to stdin: {e}"));
        if stdin.backlog.is_empty() {
            self.waiting.remove(name);
        } else {
            self.waiting.insert(name.to_string());
        }
        flushed
    }

    /// When the backlogs should be offered to their pipes again, if any waits.
    pub fn deadline(&self) -> Option<Instant> {
        let last = self.last_flush?;
        (!self.waiting.is_empty()).then_some(last + RETRY)
    }

    /// Offers every backlog to its pipe; a pipe that broke drops its backlog.
    pub fn flush_due(&mut self, now: Instant) {
        if self.deadline().is_none_or(|at| at > now) {
            return;
        }
        self.last_flush = Some(now);
        let pipes = &mut self.pipes;
        self.waiting.retain(|name| {
            let Some(stdin) = pipes.get_mut(name) else {
                return false;
            };
            if let Err(e) = flush(stdin) {
                log::warn!("{name}: stdin backlog dropped: {e}");
                stdin.backlog.clear();
            }
            if stdin.backlog.is_empty() {
                // Closed by a user: closes now that everything accepted is delivered.
                if stdin.closing {
                    pipes.remove(name);
                }
                return false;
            }
            true
        });
    }
}

/// Writes as much of the backlog as the (non-blocking) pipe takes.
fn flush(stdin: &mut Stdin) -> std::io::Result<()> {
    while !stdin.backlog.is_empty() {
        let (front, _) = stdin.backlog.as_slices();
        match stdin.pipe.write(front) {
            Ok(0) => break,
            Ok(n) => {
                stdin.backlog.drain(..n);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                stdin.backlog.clear();
                return Err(e);
            }
        }
    }
    Ok(())
}
