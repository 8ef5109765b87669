//! The I/O thread's table of open log files, keyed by path. Processes naming the same file
//! share one [`LogFile`], so it rotates once; and their lines never mix: while one stream's
//! line is open in a file (its last write did not end with a newline), what other streams
//! write to that file waits, and goes in as soon as that line is finished (or that stream
//! closes). A stream alone in its file writes at once, partial lines included. Waiting is
//! bounded: past [`HOLD_MAX`] bytes the waiting stream writes anyway.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::LogSink;
use super::logfile::{LogFile, Notice};

/// Bytes a stream may wait with before it writes in the middle of another's line.
pub const HOLD_MAX: usize = 64 * 1024;

/// A stream writing to a file, unique for the life of the I/O thread.
pub type Writer = u64;

struct OpenFile {
    log: LogFile,
    users: usize,
    /// The stream whose line is open in the file.
    owner: Option<Writer>,
    /// Streams waiting for that line to end, with what they wrote meanwhile, in order.
    waiting: Vec<(Writer, Vec<u8>)>,
}

impl OpenFile {
    fn write(&mut self, who: Writer, data: &[u8], now: Instant, notes: &mut Vec<Notice>) {
        if data.is_empty() {
            return;
        }
        if self.owner.is_some_and(|o| o != who) {
            let held = match self.waiting.iter().position(|(w, _)| *w == who) {
                Some(i) => &mut self.waiting[i].1,
                None => {
                    self.waiting.push((who, Vec::new()));
                    &mut self.waiting.last_mut().expect("just pushed").1
                }
            };
            held.extend_from_slice(data);
            if held.len() >= HOLD_MAX {
                // The open line never ends: stop waiting for it.
                self.owner = None;
                self.drain(now, notes);
            }
            return;
        }
        self.put(who, data, now, notes);
        self.drain(now, notes);
    }

    fn put(&mut self, who: Writer, data: &[u8], now: Instant, notes: &mut Vec<Notice>) {
        if data.is_empty() {
            return;
        }
        notes.extend(self.log.write(data, now));
        self.owner = (data.last() != Some(&b'\n')).then_some(who);
    }

    /// Writes what waited, in order, while no line is open.
    fn drain(&mut self, now: Instant, notes: &mut Vec<Notice>) {
        while self.owner.is_none() && !self.waiting.is_empty() {
            let (who, data) = self.waiting.remove(0);
            self.put(who, &data, now, notes);
        }
    }

    /// `who` writes no more: its open line (if any) is over and what it left waiting goes in.
    fn release(&mut self, who: Writer, now: Instant, notes: &mut Vec<Notice>) {
        if self.owner == Some(who) {
            self.owner = None;
        }
        self.drain(now, notes);
    }

    /// Everything that waits, now, whatever lines are open (shutdown, last writer gone).
    fn flush_all(&mut self, now: Instant, notes: &mut Vec<Notice>) {
        while !self.waiting.is_empty() {
            self.owner = None;
            self.drain(now, notes);
        }
        self.log.flush();
    }
}

#[derive(Default)]
pub struct Files {
    open: HashMap<PathBuf, OpenFile>,
}

impl Files {
    /// A new stream writes to `sink.path`: the file already open there is shared (and takes
    /// the new rotation settings), else the freshly opened one is adopted.
    pub fn add(&mut self, sink: LogSink, label: String) -> PathBuf {
        let entry = self
            .open
            .entry(sink.path.clone())
            .or_insert_with(|| OpenFile {
                log: LogFile::adopt(sink.path.clone(), label, sink.file, sink.rotation),
                users: 0,
                owner: None,
                waiting: Vec::new(),
            });
        entry.log.set_rotation(sink.rotation);
        entry.users += 1;
        sink.path
    }

    /// Appends one stream's bytes; notices for the event log are added to `notes`.
    pub fn write(
        &mut self,
        path: &Path,
        who: Writer,
        data: &[u8],
        now: Instant,
        notes: &mut Vec<Notice>,
    ) {
        if let Some(f) = self.open.get_mut(path) {
            f.write(who, data, now, notes);
        }
    }

    /// A stream reached EOF: what it left goes in; the file closes with its last stream.
    pub fn remove(&mut self, path: &Path, who: Writer, now: Instant, notes: &mut Vec<Notice>) {
        let Some(f) = self.open.get_mut(path) else {
            return;
        };
        f.release(who, now, notes);
        f.users -= 1;
        if f.users == 0 {
            f.flush_all(now, notes);
            self.open.remove(path);
        }
    }

    pub fn get_mut(&mut self, path: &Path) -> Option<&mut LogFile> {
        self.open.get_mut(path).map(|f| &mut f.log)
    }

    pub fn paths(&self) -> Vec<PathBuf> {
        self.open.keys().cloned().collect()
    }

    pub fn flush_all(&mut self, now: Instant, notes: &mut Vec<Notice>) {
        for f in self.open.values_mut() {
            f.flush_all(now, notes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Rotation;

    fn sink(path: &Path) -> LogSink {
        LogSink::open(path, Rotation::default(), false).expect("open")
    }

    #[test]
    fn lines_of_two_writers_never_mix_and_a_lone_writer_writes_at_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f.log");
        let mut files = Files::default();
        let now = Instant::now();
        let mut notes = Vec::new();
        files.add(sink(&path), "a".into());
        files.write(&path, 1, b"a1-", now, &mut notes);
        assert_eq!(
            std::fs::read(&path).expect("read"),
            b"a1-",
            "alone: at once"
        );
        files.add(sink(&path), "b".into());
        files.write(&path, 2, b"b1\nb2-", now, &mut notes);
        files.write(&path, 1, b"end\na2-", now, &mut notes);
        files.write(&path, 2, b"end\n", now, &mut notes);
        files.write(&path, 1, b"end\n", now, &mut notes);
        files.remove(&path, 2, now, &mut notes);
        files.remove(&path, 1, now, &mut notes);
        let text = std::fs::read_to_string(&path).expect("read");
        let mut lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        lines.sort();
        assert_eq!(lines, ["a1-end", "a2-end", "b1", "b2-end"], "{text}");
        assert!(notes.is_empty());
    }

    #[test]
    fn a_writer_that_closes_mid_line_lets_the_others_in() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f.log");
        let mut files = Files::default();
        let now = Instant::now();
        let mut notes = Vec::new();
        files.add(sink(&path), "a".into());
        files.add(sink(&path), "b".into());
        files.write(&path, 1, b"prompt> ", now, &mut notes);
        files.write(&path, 2, b"b1\n", now, &mut notes);
        assert_eq!(std::fs::read(&path).expect("read"), b"prompt> ");
        files.remove(&path, 1, now, &mut notes);
        assert_eq!(std::fs::read(&path).expect("read"), b"prompt> b1\n");
    }
}
