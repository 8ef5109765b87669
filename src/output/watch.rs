//! Watching a process's output for a text (the `log` health check): fed by the I/O thread
//! with what it captures, so the pipe is read once. A match across two reads is found: the
//! end of each read is kept, as long as the text minus one byte.

use crossbeam_channel::Sender;

pub(crate) struct TextWatch {
    needle: Vec<u8>,
    /// The end of the previous read, for a match that spans reads.
    carry: Vec<u8>,
    /// Told the process's name once, at the first match.
    hit: Sender<String>,
    name: String,
}

impl TextWatch {
    pub fn new(name: &str, needle: &str, hit: Sender<String>) -> TextWatch {
        TextWatch {
            needle: needle.as_bytes().to_vec(),
            carry: Vec::new(),
            hit,
            name: name.to_string(),
        }
    }

    /// True when the text was seen (the watch is then done and can be dropped).
    pub fn feed(&mut self, data: &[u8]) -> bool {
        let n = self.needle.len();
        if n == 0 {
            return false;
        }
        self.carry.extend_from_slice(data);
        if self.carry.windows(n).any(|w| w == self.needle.as_slice()) {
            let _ = self.hit.try_send(self.name.clone());
            return true;
        }
        let keep = (n - 1).min(self.carry.len());
        self.carry.drain(..self.carry.len() - keep);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_split_across_reads_is_found_once() {
        let (tx, rx) = crossbeam_channel::unbounded();
        let mut w = TextWatch::new("db", "ready to accept", tx);
        assert!(!w.feed(b"starting...\nready to"));
        assert!(w.feed(b" accept connections\n"));
        assert_eq!(rx.try_recv().ok().as_deref(), Some("db"));
    }

    #[test]
    fn the_carry_stays_small() {
        let (tx, _rx) = crossbeam_channel::unbounded();
        let mut w = TextWatch::new("db", "abc", tx);
        for _ in 0..100 {
            w.feed(&[b'x'; 4096]);
        }
        assert!(w.carry.len() <= 2);
    }
}
