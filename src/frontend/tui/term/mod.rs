//! The emulated terminal of a pty program: [`TermPane`] feeds the program's captured output
//! into a `vt100` screen model, keeps its size and scrollback, and chooses which rows an area
//! shows ([`row_window`]); [`render`] copies that screen into ratatui cells (colours,
//! attributes, wide characters).
//!
//! Parsing happens before a frame is drawn, never inside the draw, and in bounded slices:
//! each sync takes at most [`SLICE`] new bytes from the process's ring; when the program
//! wrote more since the last frame, the older bytes are skipped and the newest ones parsed,
//! which lands on (nearly) the newest screen. The ring and the log file still get every byte:
//! only what the pane shows is sampled. Owned by the dashboard thread.

use crate::output::OutputReader;
use crate::spawn::TtySize;

pub mod render;

/// Bytes parsed per sync at most: a flooding program costs the dashboard a few ms a frame.
pub const SLICE: usize = 64 * 1024;
/// Bytes of backlog parsed when a pane opens on a program: enough to rebuild most screens.
pub const BACKLOG: usize = 128 * 1024;
/// Lines a non-alternate-screen program keeps above its screen.
const SCROLLBACK: usize = 2000;
/// The farthest a pane may be scrolled back (its emulator clamps it to what it holds).
pub const MAX_SCROLLBACK: usize = SCROLLBACK;

pub struct TermPane {
    pub name: String,
    parser: vt100::Parser,
    /// The output counter of the last byte parsed.
    seq: u64,
    /// Bytes left out so far because the pane fell behind (shown nowhere but in tests).
    pub skipped: u64,
    /// Rows scrolled back into the scrollback, as the parser clamped it.
    scroll: usize,
    /// Whether anything scrolled off the top yet (see [`TermPane::first_row`]).
    scrolled_off: bool,
}

impl TermPane {
    /// A pane on `name`'s output, parsing the newest [`BACKLOG`] bytes captured so far.
    pub fn open(name: &str, size: TtySize, reader: &OutputReader) -> TermPane {
        let mut pane = TermPane {
            name: name.to_string(),
            parser: vt100::Parser::new(size.rows.max(1), size.cols.max(1), SCROLLBACK),
            seq: 0,
            skipped: 0,
            scroll: 0,
            scrolled_off: false,
        };
        pane.feed(reader, BACKLOG);
        pane
    }

    /// Parses what the program wrote since the last sync, at most [`SLICE`] bytes (the
    /// newest). True when the screen may have changed.
    pub fn sync(&mut self, reader: &OutputReader) -> bool {
        let seq = reader.seq(&self.name);
        if seq == self.seq {
            return false;
        }
        if seq < self.seq {
            // The ring was dropped and made anew (a reload removed and re-added the
            // program): start over like a fresh terminal.
            let (rows, cols) = self.parser.screen().size();
            self.parser = vt100::Parser::new(rows, cols, SCROLLBACK);
            self.seq = 0;
            return self.feed(reader, BACKLOG);
        }
        self.feed(reader, SLICE)
    }

    fn feed(&mut self, reader: &OutputReader, budget: usize) -> bool {
        let Some(new) = reader.since(&self.name, self.seq, budget) else {
            return false;
        };
        self.skipped += new.skipped;
        self.seq = new.end;
        self.parser.process(&new.data);
        if !self.scrolled_off {
            // vt100 tells the scrollback's length only through a clamped scroll.
            self.parser.set_scrollback(1);
            self.scrolled_off = self.parser.screen().scrollback() > 0;
            self.parser.set_scrollback(self.scroll);
        }
        !new.data.is_empty()
    }

    /// Whether bytes were captured that this pane has not parsed yet.
    pub fn behind(&self, reader: &OutputReader) -> bool {
        reader.seq(&self.name) != self.seq
    }

    pub fn size(&self) -> TtySize {
        let (rows, cols) = self.parser.screen().size();
        TtySize { rows, cols }
    }

    /// Follows the program's terminal size (the screen is cut or padded, as a terminal
    /// does when resized).
    pub fn resize(&mut self, size: TtySize) {
        if size != self.size() {
            self.parser.set_size(size.rows.max(1), size.cols.max(1));
        }
    }

    /// Scrolls back `rows` rows into the scrollback (0: the live screen); returns how far it
    /// really went (the scrollback may hold fewer rows).
    pub fn scroll_to(&mut self, rows: usize) -> usize {
        self.parser.set_scrollback(rows);
        self.scroll = self.parser.screen().scrollback();
        self.scroll
    }

    pub fn scrolled(&self) -> usize {
        self.scroll
    }

    pub fn screen(&self) -> &vt100::Screen {
        self.parser.screen()
    }

    /// Which row of the screen to show first in an area `height` tall (smaller than the
    /// screen), see [`row_window`].
    pub fn first_row(&self, height: u16) -> u16 {
        let screen = self.parser.screen();
        let (rows, cols) = screen.size();
        let (cursor_row, _) = screen.cursor_position();
        // Only looked for when it can matter: a screen that never scrolled, its cursor
        // below what the area shows.
        let last_used = if rows > height && !self.scrolled_off && cursor_row >= height {
            (cursor_row..rows)
                .rev()
                .find(|&r| (0..cols).any(|c| screen.cell(r, c).is_some_and(|x| x.has_contents())))
                .unwrap_or(cursor_row)
        } else {
            cursor_row
        };
        row_window(Window {
            rows,
            height,
            cursor_row,
            last_used,
            scrolled_off: self.scrolled_off,
            alternate: screen.alternate_screen(),
        })
    }
}

/// What [`row_window`] chooses from.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// The emulated screen's height.
    pub rows: u16,
    /// The area's height.
    pub height: u16,
    pub cursor_row: u16,
    /// The lowest row with something on it (at least the cursor's).
    pub last_used: u16,
    /// Whether anything scrolled off the top yet.
    pub scrolled_off: bool,
    /// Whether the program is on the alternate screen.
    pub alternate: bool,
}

/// The first row to show of a screen taller than the area, as a terminal would keep it in
/// sight: the top for a full-screen program (the alternate screen) and for any screen whose
/// cursor is on the rows the top shows (`top` draws by cursor motion on the main screen, a
/// shell that printed a few lines has its prompt there); for one that scrolls, the part that
/// ends at its cursor, where it writes; for one that never scrolled with its cursor below the
/// area (a 40-row screen in a 20-row pane, 30 lines printed), the bottom of the used screen,
/// always with the cursor's row in it.
pub fn row_window(w: Window) -> u16 {
    if w.rows <= w.height || w.alternate || w.height == 0 {
        return 0;
    }
    let most = w.rows - w.height;
    let cursor = w.cursor_row.min(w.rows - 1);
    if w.scrolled_off {
        return (cursor + 1).saturating_sub(w.height).min(most);
    }
    if cursor < w.height {
        return 0;
    }
    let bottom = w.last_used.clamp(cursor, w.rows - 1);
    (bottom + 1).saturating_sub(w.height).min(cursor).min(most)
}

#[cfg(test)]
mod tests {
    use super::render::render_screen;
    use super::*;
    use ratatui::buffer::Buffer;
    use ratatui::layout::{Position, Rect};

    pub(super) fn screen_of(rows: u16, cols: u16, bytes: &[u8]) -> vt100::Parser {
        let mut p = vt100::Parser::new(rows, cols, SCROLLBACK);
        p.process(bytes);
        p
    }

    fn pane_of(parser: vt100::Parser) -> TermPane {
        let mut pane = TermPane {
            name: "x".into(),
            parser,
            seq: 0,
            skipped: 0,
            scroll: 0,
            scrolled_off: false,
        };
        pane.parser.set_scrollback(1);
        pane.scrolled_off = pane.parser.screen().scrollback() > 0;
        pane.parser.set_scrollback(0);
        pane
    }

    pub(super) fn row_text(buf: &Buffer, y: u16) -> String {
        (0..buf.area.width)
            .map(|x| buf[(x, y)].symbol().to_string())
            .collect()
    }

    #[test]
    fn carriage_return_overwrites_and_a_bigger_screen_shows_where_the_cursor_is() {
        let mut text = Vec::new();
        for i in 0..30 {
            text.extend_from_slice(format!("line {i}\r\n").as_bytes());
        }
        text.extend_from_slice(b"50%\r100%");
        let pane = pane_of(screen_of(24, 20, &text));
        let mut buf = Buffer::empty(Rect::new(0, 0, 20, 5));
        let top = pane.first_row(5);
        render_screen(pane.screen(), top, buf.area, &mut buf, true);
        assert_eq!(
            row_text(&buf, 4),
            "100%                ",
            "\\r went back to column 0"
        );
        assert_eq!(
            row_text(&buf, 3),
            "line 29             ",
            "rows above the cursor"
        );
    }

    #[test]
    fn a_screen_that_never_scrolled_shows_its_cursor_row_in_a_smaller_pane() {
        // A 40-row screen, 29 lines and a prompt on row 30: nothing scrolled off the top.
        let mut text = Vec::new();
        for i in 1..30 {
            text.extend_from_slice(format!("line {i}\r\n").as_bytes());
        }
        text.extend_from_slice(b"sh$ ");
        let pane = pane_of(screen_of(40, 20, &text));
        assert!(!pane.scrolled_off);
        let mut buf = Buffer::empty(Rect::new(0, 0, 20, 20));
        let top = pane.first_row(20);
        assert_eq!(top, 10, "the 20 rows that end on the cursor's");
        let cursor = render_screen(pane.screen(), top, buf.area, &mut buf, true);
        assert_eq!(row_text(&buf, 19), "sh$                 ", "the prompt");
        assert_eq!(row_text(&buf, 18), "line 29             ");
        assert_eq!(cursor, Some(Position::new(4, 19)), "the cursor after it");
        // The same screen in a pane tall enough for the cursor: from the top, as before.
        assert_eq!(pane.first_row(30), 0);
    }

    #[test]
    fn the_row_window_keeps_the_cursor_in_sight() {
        let w = |cursor_row, last_used, scrolled_off, alternate| Window {
            rows: 40,
            height: 20,
            cursor_row,
            last_used,
            scrolled_off,
            alternate,
        };
        // (cursor row, lowest used row, scrolled off, alternate screen) -> first row.
        let cases = [
            ((5, 5, false, false), 0, "a few lines: from the top"),
            (
                (19, 19, false, false),
                0,
                "the cursor on the last row the top shows",
            ),
            (
                (20, 20, false, false),
                1,
                "one row lower: the window ends on it",
            ),
            (
                (29, 29, false, false),
                10,
                "30 lines printed, prompt on row 30",
            ),
            (
                (25, 39, false, false),
                20,
                "text below the cursor: the used screen's bottom",
            ),
            ((39, 39, false, false), 20, "the last row"),
            ((30, 39, false, true), 0, "full screen (alternate): its top"),
            ((39, 39, true, false), 20, "scrolling: ends at the cursor"),
            (
                (10, 39, true, false),
                0,
                "scrolled, cursor moved up: ends at it",
            ),
            ((25, 39, true, false), 6, "scrolled, cursor mid-screen"),
        ];
        for ((cursor, last, scrolled, alt), want, why) in cases {
            let first = row_window(w(cursor, last, scrolled, alt));
            assert_eq!(first, want, "{why}");
            if !alt {
                assert!(
                    (first..first + 20).contains(&cursor),
                    "{why}: cursor in sight"
                );
            }
        }
        let fits = Window {
            rows: 24,
            height: 30,
            ..w(23, 23, false, false)
        };
        assert_eq!(row_window(fits), 0, "a screen that fits the area");
        let empty = Window {
            height: 0,
            ..w(23, 23, false, false)
        };
        assert_eq!(row_window(empty), 0, "no area");
    }

    #[test]
    fn scrollback_shows_rows_that_went_off_the_top() {
        let mut text = Vec::new();
        for i in 0..10 {
            text.extend_from_slice(format!("row {i}\r\n").as_bytes());
        }
        let mut pane = pane_of(screen_of(4, 10, &text));
        assert_eq!(pane.scroll_to(3), 3);
        let mut buf = Buffer::empty(Rect::new(0, 0, 10, 4));
        render_screen(pane.screen(), 0, buf.area, &mut buf, true);
        assert_eq!(row_text(&buf, 0), "row 4     ");
        assert_eq!(
            pane.scroll_to(10_000),
            7,
            "clamped to what the scrollback holds"
        );
    }
}
