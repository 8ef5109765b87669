//! The bounded tail of one process's output: the newest `cap` bytes of stdout and stderr,
//! interleaved as they arrived, with the stream of every run of bytes.
//!
//! Bytes live in one circular buffer that grows lazily up to `cap` (a quiet process costs
//! almost nothing) and never beyond; appending copies at most `cap` bytes and allocates
//! nothing once the buffer is full. Readers build [`Chunk`]s on demand.

use std::collections::VecDeque;
use std::sync::Arc;

use super::{Chunk, Stream};

/// Most stream switches remembered, so that a process alternating one-byte writes on
/// stdout and stderr cannot make the run list outgrow the byte buffer.
const MAX_RUNS: usize = 4096;

/// A run of bytes of one stream, from `start` (an absolute byte index) to the next run.
#[derive(Debug, Clone, Copy)]
struct Run {
    stream: Stream,
    start: u64,
}

#[derive(Debug)]
pub(crate) struct Ring {
    cap: usize,
    /// Byte with absolute index `i` sits at `buf[i % cap]`; `buf.len() == min(cap, end)`
    /// except after a jump over a huge write, when it is `cap`.
    buf: Vec<u8>,
    /// Absolute index one past the newest byte: every byte ever appended, never reset.
    end: u64,
    runs: VecDeque<Run>,
}

impl Ring {
    pub(crate) fn new(cap: usize) -> Ring {
        Ring {
            cap: cap.max(1),
            buf: Vec::new(),
            end: 0,
            runs: VecDeque::new(),
        }
    }

    /// Every byte ever appended (not reset by [`Ring::clear`]).
    pub(crate) fn total(&self) -> u64 {
        self.end
    }

    /// Bytes held now (at most `cap`).
    pub(crate) fn len(&self) -> usize {
        match self.runs.front() {
            Some(first) => (self.end - self.oldest(first)) as usize,
            None => 0,
        }
    }

    /// Memory held by the byte buffer; never above `cap`.
    #[cfg(test)]
    pub(crate) fn allocated(&self) -> usize {
        self.buf.capacity()
    }

    pub(crate) fn clear(&mut self) {
        self.runs.clear();
    }

    /// Appends bytes read from `stream`; only the last `cap` bytes of `data` are copied.
    pub(crate) fn push(&mut self, stream: Stream, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let kept = &data[data.len().saturating_sub(self.cap)..];
        self.end += (data.len() - kept.len()) as u64;
        if self.runs.back().is_none_or(|r| r.stream != stream) {
            self.runs.push_back(Run {
                stream,
                start: self.end,
            });
        }
        self.grow_for(kept.len());
        let at = (self.end % self.cap as u64) as usize;
        let first = kept.len().min(self.cap - at);
        self.buf[at..at + first].copy_from_slice(&kept[..first]);
        self.buf[..kept.len() - first].copy_from_slice(&kept[first..]);
        self.end += kept.len() as u64;
        self.trim();
    }

    /// Makes `buf` long enough for `n` more bytes at `end`, growing geometrically (not past
    /// `cap`) so that a ring filled by small writes is not reallocated on every one.
    fn grow_for(&mut self, n: usize) {
        let needed = if self.end + n as u64 >= self.cap as u64 {
            self.cap
        } else {
            (self.end as usize + n).max(self.buf.len())
        };
        if needed <= self.buf.len() {
            return;
        }
        if needed > self.buf.capacity() {
            let target = needed.max(self.buf.capacity() * 2).max(4096).min(self.cap);
            self.buf.reserve_exact(target - self.buf.len());
        }
        self.buf.resize(needed, 0);
    }

    fn trim(&mut self) {
        let low = self.end.saturating_sub(self.cap as u64);
        while self.runs.len() > MAX_RUNS || (self.runs.len() >= 2 && self.runs[1].start <= low) {
            self.runs.pop_front();
        }
    }

    /// Absolute index of the oldest byte still held, given the first run.
    fn oldest(&self, first: &Run) -> u64 {
        first.start.max(self.end.saturating_sub(self.cap as u64))
    }

    /// The newest bytes, at most `max_bytes` of them (counting only `stream`'s when given),
    /// oldest first.
    pub(crate) fn tail(&self, stream: Option<Stream>, max_bytes: usize) -> Vec<Chunk> {
        let Some(first) = self.runs.front() else {
            return Vec::new();
        };
        let oldest = self.oldest(first);
        let mut out = Vec::new();
        let mut budget = max_bytes as u64;
        let mut run_end = self.end;
        for run in self.runs.iter().rev() {
            if budget == 0 {
                break;
            }
            let start = run.start.max(oldest);
            if stream.is_none_or(|s| s == run.stream) && start < run_end {
                let from = start.max(run_end - budget.min(run_end - start));
                budget -= run_end - from;
                out.push(Chunk {
                    stream: run.stream,
                    data: self.copy(from, run_end),
                });
            }
            run_end = run.start;
            if run_end <= oldest {
                break;
            }
        }
        out.reverse();
        out
    }

    /// Every stream's bytes from absolute index `from` on, at most the newest `max_bytes` of
    /// them; with the index one past the newest byte, and how many bytes from `from` on are
    /// no longer held or were left out (a reader that fell behind skips them).
    pub(crate) fn since(&self, from: u64, max_bytes: usize) -> (Vec<u8>, u64, u64) {
        let oldest = self
            .runs
            .front()
            .map_or(self.end, |first| self.oldest(first));
        let start = from
            .max(oldest)
            .max(self.end.saturating_sub(max_bytes as u64));
        let start = start.min(self.end);
        let skipped = start.saturating_sub(from);
        (self.copy(start, self.end).to_vec(), self.end, skipped)
    }

    /// The held bytes with absolute indexes `from..to`.
    fn copy(&self, from: u64, to: u64) -> Arc<[u8]> {
        let cap = self.cap as u64;
        let mut v = Vec::with_capacity((to - from) as usize);
        let mut i = from;
        while i < to {
            let at = (i % cap) as usize;
            let n = ((to - i) as usize).min(self.cap - at);
            v.extend_from_slice(&self.buf[at..at + n]);
            i += n as u64;
        }
        v.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_gives_new_bytes_and_counts_what_was_skipped() {
        let mut r = Ring::new(10);
        r.push(Stream::Stdout, b"abcdef");
        assert_eq!(r.since(0, 100), (b"abcdef".to_vec(), 6, 0));
        assert_eq!(r.since(4, 100), (b"ef".to_vec(), 6, 0), "only what is new");
        assert_eq!(r.since(6, 100), (Vec::new(), 6, 0), "nothing new");
        r.push(Stream::Stdout, b"ghijklmn");
        assert_eq!(
            r.since(0, 100),
            (b"efghijklmn".to_vec(), 14, 4),
            "bytes no longer held are skipped"
        );
        assert_eq!(
            r.since(6, 3),
            (b"lmn".to_vec(), 14, 5),
            "a budget keeps the newest bytes"
        );
    }

    fn text(chunks: &[Chunk]) -> Vec<(Stream, String)> {
        chunks
            .iter()
            .map(|c| (c.stream, String::from_utf8_lossy(&c.data).into_owned()))
            .collect()
    }

    #[test]
    fn interleaves_and_merges_runs() {
        let mut r = Ring::new(100);
        r.push(Stream::Stdout, b"a1");
        r.push(Stream::Stdout, b"a2");
        r.push(Stream::Stderr, b"e1");
        r.push(Stream::Stdout, b"a3");
        let all = r.tail(None, usize::MAX);
        assert_eq!(
            text(&all),
            vec![
                (Stream::Stdout, "a1a2".into()),
                (Stream::Stderr, "e1".into()),
                (Stream::Stdout, "a3".into())
            ]
        );
        assert_eq!(
            text(&r.tail(Some(Stream::Stdout), usize::MAX)),
            vec![
                (Stream::Stdout, "a1a2".into()),
                (Stream::Stdout, "a3".into())
            ]
        );
        assert_eq!(
            text(&r.tail(Some(Stream::Stderr), 1)),
            vec![(Stream::Stderr, "1".into())]
        );
        assert_eq!(
            text(&r.tail(None, 5)),
            vec![
                (Stream::Stdout, "2".into()),
                (Stream::Stderr, "e1".into()),
                (Stream::Stdout, "a3".into())
            ]
        );
        assert_eq!(r.len(), 8);
        assert_eq!(r.total(), 8);
    }

    #[test]
    fn wraps_and_trims_oldest() {
        let mut r = Ring::new(10);
        r.push(Stream::Stdout, b"0123456");
        r.push(Stream::Stderr, b"abcdef");
        assert_eq!(r.len(), 10);
        assert_eq!(
            text(&r.tail(None, 100)),
            vec![
                (Stream::Stdout, "3456".into()),
                (Stream::Stderr, "abcdef".into())
            ]
        );
        r.push(Stream::Stdout, b"XYZWVUTSRQPONM");
        assert_eq!(
            text(&r.tail(None, 100)),
            vec![(Stream::Stdout, "VUTSRQPONM".into())]
        );
        assert_eq!(r.total(), 27);
        assert!(r.allocated() <= 10);
    }

    #[test]
    fn clear_keeps_total() {
        let mut r = Ring::new(16);
        r.push(Stream::Stdout, b"hello");
        r.clear();
        assert_eq!(r.len(), 0);
        assert!(r.tail(None, 100).is_empty());
        r.push(Stream::Stderr, b"x");
        assert_eq!(text(&r.tail(None, 100)), vec![(Stream::Stderr, "x".into())]);
        assert_eq!(r.total(), 6);
    }

    #[test]
    fn many_small_writes_stay_bounded() {
        let mut r = Ring::new(1000);
        for i in 0..100_000u32 {
            let s = if i % 2 == 0 {
                Stream::Stdout
            } else {
                Stream::Stderr
            };
            r.push(s, &[b'a' + (i % 26) as u8]);
        }
        assert!(r.len() <= 1000);
        assert!(r.allocated() <= 1000);
        assert!(r.runs.len() <= MAX_RUNS);
        let n: usize = r.tail(None, usize::MAX).iter().map(|c| c.data.len()).sum();
        assert_eq!(n, r.len());
    }
}
