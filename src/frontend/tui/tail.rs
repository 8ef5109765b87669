//! Captured output turned into display lines: [`TailLines`] keeps the newest lines of one
//! process, remembers which stream each came from, and strips what would corrupt the screen
//! (escape sequences, control characters). Each stream is decoded on its own, so a character
//! or an escape sequence cut between two chunks comes out whole (see [`Decoder`]). Owned by
//! the dashboard thread.

use std::collections::VecDeque;

use crate::output::decode::Decoder;
use crate::output::{Chunk, Stream};

/// How many lines a tail keeps; older ones are dropped.
pub const MAX_LINES: usize = 5000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailLine {
    pub stream: Stream,
    pub text: String,
    /// False while the child has not yet written the newline (a prompt, a progress bar).
    complete: bool,
}

#[derive(Debug, Clone, Default)]
pub struct TailLines {
    lines: VecDeque<TailLine>,
    /// Total lines ever pushed (complete or started): lets a scrolled-back view stay anchored.
    pushed: u64,
    /// stdout's and stderr's decoders.
    decoders: [Decoder; 2],
}

impl TailLines {
    pub fn from_chunks<'a>(chunks: impl IntoIterator<Item = &'a Chunk>) -> TailLines {
        let mut t = TailLines::default();
        for c in chunks {
            t.push(c.stream, &c.data);
        }
        t
    }

    pub fn push(&mut self, stream: Stream, data: &[u8]) {
        let decoder = &mut self.decoders[usize::from(stream == Stream::Stderr)];
        let text = sanitize(&decoder.feed(data));
        let mut parts = text.split('\n').peekable();
        while let Some(part) = parts.next() {
            let ends_line = parts.peek().is_some();
            if part.is_empty() && !ends_line {
                break;
            }
            match self.lines.back_mut() {
                Some(last) if !last.complete && last.stream == stream => {
                    last.text.push_str(part);
                    last.complete = ends_line;
                }
                _ => {
                    self.lines.push_back(TailLine {
                        stream,
                        text: part.to_string(),
                        complete: ends_line,
                    });
                    self.pushed += 1;
                }
            }
        }
        while self.lines.len() > MAX_LINES {
            self.lines.pop_front();
        }
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub fn pushed(&self) -> u64 {
        self.pushed
    }

    /// The lines of a window `height` tall that ends `back` lines before the newest.
    pub fn window(&self, height: usize, back: usize) -> impl Iterator<Item = &TailLine> {
        let end = self.lines.len().saturating_sub(back);
        let start = end.saturating_sub(height);
        self.lines.range(start..end)
    }
}

/// Drops escape sequences and control characters, expands tabs; keeps `\n`.
fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => out.push('\n'),
            '\t' => out.push_str("    "),
            '\u{1b}' => skip_escape(&mut chars),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn skip_escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match chars.next() {
        // CSI: parameters then one final byte in @..~
        Some('[') => {
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        }
        // OSC: up to BEL or ST (ESC \)
        Some(']') => {
            while let Some(c) = chars.next() {
                if c == '\u{7}' {
                    break;
                }
                if c == '\u{1b}' {
                    chars.next();
                    break;
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(t: &TailLines) -> Vec<(Stream, String)> {
        t.window(100, 0)
            .map(|l| (l.stream, l.text.clone()))
            .collect()
    }

    #[test]
    fn partial_lines_join_across_chunks_of_the_same_stream() {
        let mut t = TailLines::default();
        t.push(Stream::Stdout, b"hel");
        t.push(Stream::Stdout, b"lo\nwor");
        t.push(Stream::Stderr, b"oops\n");
        t.push(Stream::Stdout, b"ld\n");
        assert_eq!(
            texts(&t),
            vec![
                (Stream::Stdout, "hello".to_string()),
                (Stream::Stdout, "wor".to_string()),
                (Stream::Stderr, "oops".to_string()),
                (Stream::Stdout, "ld".to_string()),
            ],
            "a partial line continues only with the same stream"
        );
    }

    #[test]
    fn escape_sequences_and_controls_are_dropped() {
        let mut t = TailLines::default();
        t.push(
            Stream::Stdout,
            b"\x1b[31mred\x1b[0m\tx\r\n\x1b]0;title\x07ok\n",
        );
        assert_eq!(
            texts(&t),
            vec![
                (Stream::Stdout, "red    x".to_string()),
                (Stream::Stdout, "ok".to_string())
            ],
            "colours, titles and CR never reach the screen"
        );
    }

    #[test]
    fn window_counts_back_from_the_newest_line() {
        let mut t = TailLines::default();
        for i in 0..10 {
            t.push(Stream::Stdout, format!("{i}\n").as_bytes());
        }
        let w: Vec<_> = t.window(3, 2).map(|l| l.text.as_str()).collect();
        assert_eq!(
            w,
            vec!["5", "6", "7"],
            "window ends 2 lines before the newest"
        );
    }

    /// Regression: one write of 65,535 x `a` + `é` reached the follow channel as two chunks
    /// (64 KiB apiece) and the pane showed `aa��`.
    #[test]
    fn a_character_cut_between_chunks_shows_whole() {
        let mut data = vec![b'a'; 65_535];
        data.extend_from_slice("é\n".as_bytes());
        let mut t = TailLines::default();
        for chunk in data.chunks(64 * 1024) {
            t.push(Stream::Stdout, chunk);
        }
        let lines = texts(&t);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].1.len(), 65_537, "one line, é whole");
        assert!(lines[0].1.ends_with("aé"));
        // Interleaved stderr does not disturb stdout's half character.
        let mut t = TailLines::default();
        t.push(Stream::Stdout, b"x\xc3");
        t.push(Stream::Stderr, b"\xe6\x97");
        t.push(Stream::Stdout, b"\xa9\n");
        t.push(Stream::Stderr, b"\xa5\n");
        let lines = texts(&t);
        assert_eq!(lines[0].1, "xé");
        assert_eq!(lines[1].1, "日");
    }

    #[test]
    fn an_escape_sequence_cut_between_chunks_is_still_dropped() {
        let mut t = TailLines::default();
        t.push(Stream::Stdout, b"a\x1b[3");
        t.push(Stream::Stdout, b"1mred\n");
        assert_eq!(texts(&t), vec![(Stream::Stdout, "ared".to_string())]);
    }
}
