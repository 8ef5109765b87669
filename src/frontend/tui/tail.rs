//! Captured output turned into display lines: [`TailLines`] keeps the newest lines of one
//! process, remembers which stream each came from, and strips what would corrupt the screen
//! (escape sequences, control characters, characters that take no column). A `\r` goes back
//! to column 0 (progress bars overwrite their line, as in a terminal). Every character kept
//! is one terminals draw as wide as ratatui measures it, or a wide one (after which ratatui
//! places the next cell itself), so binary garbage cannot shift a row (see [`shown`]).
//! Each stream is decoded on its own, so a character or an escape sequence cut between two
//! chunks comes out whole (see [`StreamDecoders`]). Owned by the dashboard thread.

use std::collections::VecDeque;

use crate::output::decode::StreamDecoders;
use crate::output::{Chunk, Stream};

/// How many lines a tail keeps; older ones are dropped.
pub const MAX_LINES: usize = 5000;
/// Characters kept of one line: far wider than any screen, and a line without a newline
/// (binary output) cannot grow without bound.
const MAX_CHARS: usize = 2000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailLine {
    pub stream: Stream,
    pub text: String,
    /// False while the child has not yet written the newline (a prompt, a progress bar).
    complete: bool,
    /// Where the next character goes, in characters, after a `\r` (`None`: at the end).
    col: Option<usize>,
}

impl TailLine {
    fn new(stream: Stream) -> TailLine {
        TailLine {
            stream,
            text: String::new(),
            complete: false,
            col: None,
        }
    }

    /// Writes `c` at the cursor: over the character there after a `\r`, else at the end.
    fn put(&mut self, c: char) {
        if let Some(col) = self.col {
            match self.text.char_indices().nth(col) {
                Some((at, old)) => {
                    self.text
                        .replace_range(at..at + old.len_utf8(), c.encode_utf8(&mut [0; 4]));
                    self.col = Some(col + 1);
                    return;
                }
                None => self.col = None,
            }
        }
        if self.text.len() < MAX_CHARS * 4 && self.text.chars().count() < MAX_CHARS {
            self.text.push(c);
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct TailLines {
    lines: VecDeque<TailLine>,
    /// Total lines ever pushed (complete or started): lets a scrolled-back view stay anchored.
    pushed: u64,
    /// Holds a character or escape sequence cut at a chunk's end, per stream.
    decoders: StreamDecoders,
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
        let text = self.decoders.feed(stream, data);
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\n' => {
                    let line = self.open_line(stream);
                    line.complete = true;
                }
                '\r' => self.open_line(stream).col = Some(0),
                '\t' => {
                    let line = self.open_line(stream);
                    for _ in 0..4 {
                        line.put(' ');
                    }
                }
                '\u{1b}' => skip_escape(&mut chars),
                c if shown(c) => self.open_line(stream).put(c),
                _ => {}
            }
        }
        while self.lines.len() > MAX_LINES {
            self.lines.pop_front();
        }
    }

    /// The line being written on `stream`: the last one while it is incomplete and of the
    /// same stream (a partial line continues only with its own stream), else a new one.
    fn open_line(&mut self, stream: Stream) -> &mut TailLine {
        let reuse = self
            .lines
            .back()
            .is_some_and(|l| !l.complete && l.stream == stream);
        if !reuse {
            self.lines.push_back(TailLine::new(stream));
            self.pushed += 1;
        }
        self.lines.back_mut().expect("a line was just ensured")
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

/// Whether a character is drawn as itself. Two columns wide as ratatui measures it: always
/// (but for the two kinds terminals fuse with the character before: flag halves and skin
/// tones), whatever its block — after a wide cell ratatui moves the cursor to the next cell
/// it draws, so a terminal that draws the character one column wide leaves the cell after it
/// stale but never shifts the row. One column wide: only from the scripts and symbol blocks
/// whose width terminals (tmux, xterm, VTE) and ratatui agree on — Latin, Greek, Cyrillic,
/// punctuation, arrows, maths, box drawing, the replacement character. Anything else
/// (unassigned or private code points, zero-width and bidirectional format characters,
/// combining marks, symbols of ambiguous width) could take two columns on the real terminal
/// where ratatui counted one and push the pane's right border; it is dropped from a tail
/// line, and shown as a blank cell in an emulated screen.
pub(super) fn shown(c: char) -> bool {
    match unicode_width::UnicodeWidthChar::width(c) {
        Some(2) => !matches!(c, '\u{1f1e6}'..='\u{1f1ff}' | '\u{1f3fb}'..='\u{1f3ff}'),
        Some(1) => matches!(c,
            ' '..='~'
            | '\u{a0}'..='\u{ac}' | '\u{ae}'..='\u{2ff}'     // Latin-1, Latin Extended, IPA
            | '\u{370}'..='\u{52f}'                           // Greek, Cyrillic
            | '\u{1e00}'..='\u{1fff}'                         // Latin and Greek extended
            | '\u{2010}'..='\u{2027}' | '\u{2030}'..='\u{205e}' // punctuation
            | '\u{2070}'..='\u{20cf}'                         // super/subscripts, currency
            | '\u{2100}'..='\u{23ff}'                         // letterlike, arrows, maths
            | '\u{2500}'..='\u{25ff}'                         // box drawing, blocks, shapes
            | '\u{fffd}'                                       // the replacement character
        ),
        _ => false,
    }
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
    fn carriage_return_goes_back_to_column_zero() {
        let mut t = TailLines::default();
        t.push(Stream::Stdout, b"progress 10%\rprogress 50%");
        t.push(Stream::Stdout, b"\rdone\nnext\r\n");
        assert_eq!(
            texts(&t),
            vec![
                (Stream::Stdout, "doneress 50%".to_string()),
                (Stream::Stdout, "next".to_string()),
            ],
            "\\r overwrites from column 0 as a terminal does; \\r\\n is a plain newline"
        );
    }

    #[test]
    fn binary_garbage_keeps_every_character_one_or_two_columns_wide() {
        let mut t = TailLines::default();
        let garbage: Vec<u8> = (0..20_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
            .collect();
        t.push(Stream::Stdout, &garbage);
        t.push(
            Stream::Stdout,
            "e\u{301}\u{200b}\u{202e}x\u{ad}中\n".as_bytes(),
        );
        for line in t.window(MAX_LINES, 0) {
            for c in line.text.chars() {
                let w = unicode_width::UnicodeWidthChar::width(c);
                assert!(matches!(w, Some(1 | 2)), "{c:?} has width {w:?}");
            }
            assert!(line.text.chars().count() <= MAX_CHARS);
        }
        let last = t.window(1, 0).next().map(|l| l.text.clone());
        assert!(
            last.is_some_and(|l| l.ends_with("ex中")),
            "combining, zero-width, bidi and soft hyphen dropped"
        );
    }

    #[test]
    fn wide_characters_from_any_block_are_kept_but_fusing_ones_are_not() {
        let mut t = TailLines::default();
        // CJK extension B, Yi, Hangul jamo, a Unicode 13 emoji, fullwidth won; then a flag
        // (two regional indicators) and a skin tone, which terminals fuse with what precedes.
        t.push(
            Stream::Stdout,
            "\u{20000}\u{a000}\u{1100}\u{1fa90}\u{ffe6}|\u{1f1eb}\u{1f1f7}\u{1f44d}\u{1f3fd}|\n"
                .as_bytes(),
        );
        assert_eq!(
            texts(&t),
            vec![(
                Stream::Stdout,
                "\u{20000}\u{a000}\u{1100}\u{1fa90}\u{ffe6}|\u{1f44d}|".to_string()
            )]
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
        let mut data = vec![b'a'; 1_535];
        data.extend_from_slice("é\n".as_bytes());
        let mut t = TailLines::default();
        for chunk in data.chunks(1024) {
            t.push(Stream::Stdout, chunk);
        }
        let lines = texts(&t);
        assert_eq!(lines.len(), 1);
        assert!(lines[0].1.ends_with("aé"), "{:?}", &lines[0].1[1500..]);
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
