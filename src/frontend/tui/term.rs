//! The emulated terminal of a pty program: [`TermPane`] feeds the program's captured output
//! into a `vt100` screen model, and [`render_screen`] copies that screen into ratatui cells
//! (colours, attributes, wide characters, the alternate screen, scrollback).
//!
//! Parsing happens before a frame is drawn, never inside the draw, and in bounded slices:
//! each sync takes at most [`SLICE`] new bytes from the process's ring; when the program
//! wrote more since the last frame, the older bytes are skipped and the newest ones parsed,
//! which lands on (nearly) the newest screen. The ring and the log file still get every byte:
//! only what the pane shows is sampled. Owned by the dashboard thread.

use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Span;

use crate::output::OutputReader;
use crate::spawn::TtySize;

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

/// Draws `screen` from row `top` on into `area` of `buf`; returns where the cursor is, when
/// it is visible and inside the area.
pub fn render_screen(
    screen: &vt100::Screen,
    top: u16,
    area: Rect,
    buf: &mut Buffer,
    color: bool,
) -> Option<Position> {
    let (rows, cols) = screen.size();
    for y in 0..area.height.min(rows.saturating_sub(top)) {
        let row = top + y;
        let mut x = 0;
        while x < area.width.min(cols) {
            let Some(cell) = screen.cell(row, x) else {
                break;
            };
            let at = Position::new(area.x + x, area.y + y);
            let wide = cell.is_wide();
            let fits = !wide || x + 1 < area.width.min(cols);
            let text = cell.contents();
            let symbol = cell_symbol(&text, if wide && fits { 2 } else { 1 });
            if let Some(c) = buf.cell_mut(at) {
                c.set_symbol(symbol);
                c.set_style(cell_style(cell, color));
            }
            if wide && fits {
                // The next cell is covered by this one: blank it as ratatui does.
                if let Some(c) = buf.cell_mut(Position::new(at.x + 1, at.y)) {
                    c.reset();
                }
                x += 2;
            } else {
                x += 1;
            }
        }
    }
    if screen.hide_cursor() || screen.scrollback() > 0 {
        return None;
    }
    let (crow, ccol) = screen.cursor_position();
    let y = crow.checked_sub(top)?;
    (y < area.height && ccol < area.width).then(|| Position::new(area.x + ccol, area.y + y))
}

/// What a cell shows: its character when it takes exactly `width` columns as ratatui (and so
/// the diff it sends to the real terminal) measures it and is one a terminal draws that wide
/// (see `tail::shown`), else a blank — a character the emulator, ratatui and the terminal
/// disagree on must not shift the rest of the row.
fn cell_symbol(text: &str, width: usize) -> &str {
    if text.is_empty() || !text.chars().all(super::tail::shown) {
        return " ";
    }
    if Span::raw(text).width() == width {
        text
    } else {
        " "
    }
}

fn cell_style(cell: &vt100::Cell, color: bool) -> Style {
    let mut style = Style::default();
    if color {
        style = style
            .fg(convert(cell.fgcolor()))
            .bg(convert(cell.bgcolor()));
    }
    let mut mods = Modifier::empty();
    if cell.bold() {
        mods |= Modifier::BOLD;
    }
    if cell.italic() {
        mods |= Modifier::ITALIC;
    }
    if cell.underline() {
        mods |= Modifier::UNDERLINED;
    }
    if cell.inverse() {
        mods |= Modifier::REVERSED;
    }
    style.add_modifier(mods)
}

fn convert(c: vt100::Color) -> Color {
    match c {
        vt100::Color::Default => Color::Reset,
        vt100::Color::Idx(i) => Color::Indexed(i),
        vt100::Color::Rgb(r, g, b) => Color::Rgb(r, g, b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn screen_of(rows: u16, cols: u16, bytes: &[u8]) -> vt100::Parser {
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

    fn row_text(buf: &Buffer, y: u16) -> String {
        (0..buf.area.width)
            .map(|x| buf[(x, y)].symbol().to_string())
            .collect()
    }

    #[test]
    fn colours_attributes_and_cursor_motion_reach_the_cells() {
        let p = screen_of(
            5,
            20,
            b"\x1b[31mred\x1b[0m \x1b[1mbold\x1b[0m\x1b[3;5Hthere",
        );
        let mut buf = Buffer::empty(Rect::new(0, 0, 20, 5));
        let cursor = render_screen(p.screen(), 0, buf.area, &mut buf, true);
        assert_eq!(row_text(&buf, 0), "red bold            ");
        assert_eq!(buf[(0, 0)].fg, Color::Indexed(1), "red is colour 1");
        assert!(buf[(4, 0)].modifier.contains(Modifier::BOLD));
        assert_eq!(
            row_text(&buf, 2),
            "    there           ",
            "CUP moved the cursor"
        );
        assert_eq!(
            cursor,
            Some(Position::new(9, 2)),
            "the cursor after 'there'"
        );
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
    fn the_alternate_screen_shows_from_its_top_and_leaves_the_old_screen_behind() {
        let mut p = screen_of(10, 20, b"shell$ top\r\n");
        p.process(b"\x1b[?1049h\x1b[H\x1b[2Jtop - 10:00:00 up\x1b[10;1Hbottom");
        let mut buf = Buffer::empty(Rect::new(0, 0, 20, 4));
        render_screen(p.screen(), 0, buf.area, &mut buf, true);
        assert_eq!(row_text(&buf, 0), "top - 10:00:00 up   ");
        p.process(b"\x1b[?1049l");
        let mut buf = Buffer::empty(Rect::new(0, 0, 20, 4));
        render_screen(p.screen(), 0, buf.area, &mut buf, true);
        assert_eq!(
            row_text(&buf, 0),
            "shell$ top          ",
            "back to the old screen"
        );
    }

    #[test]
    fn wide_characters_take_two_cells_and_garbage_never_shifts_a_row() {
        let p = screen_of(2, 10, "中|".as_bytes());
        let mut buf = Buffer::empty(Rect::new(0, 0, 10, 2));
        render_screen(p.screen(), 0, buf.area, &mut buf, true);
        assert_eq!(Span::raw(buf[(0, 0)].symbol()).width(), 2, "中 is wide");
        assert_eq!(buf[(2, 0)].symbol(), "|", "the next character after it");
        let mut bytes = "中|".as_bytes().to_vec();
        // Binary garbage, broken and unknown escape sequences.
        bytes.extend((0..4000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8));
        bytes.extend_from_slice(b"\x1b[999;999;999m\x1b]0;\x1b[?9999h\x1bP\x1b[");
        let p = screen_of(12, 30, &bytes);
        let mut buf = Buffer::empty(Rect::new(0, 0, 30, 12));
        render_screen(p.screen(), 0, buf.area, &mut buf, true);
        for y in 0..12 {
            // What a terminal does with the row: each cell advances by its width, and the
            // cell after a wide one is skipped (ratatui never draws it).
            let mut x = 0;
            while x < 30 {
                let w = Span::raw(buf[(x, y)].symbol()).width();
                assert!((1..=2).contains(&w), "row {y} col {x}: width {w}");
                x += w as u16;
            }
            assert_eq!(x, 30, "row {y} ends at the border");
        }
    }

    #[test]
    fn wide_characters_outside_the_common_blocks_are_drawn_not_blanked() {
        // CJK extension B, Yi, Hangul jamo, a Unicode 13 emoji, fullwidth won.
        let wide = ["\u{20000}", "\u{a000}", "\u{1100}", "\u{1fa90}", "\u{ffe6}"];
        let p = screen_of(2, 20, format!("{}|", wide.concat()).as_bytes());
        let mut buf = Buffer::empty(Rect::new(0, 0, 20, 2));
        render_screen(p.screen(), 0, buf.area, &mut buf, true);
        for (i, c) in wide.iter().enumerate() {
            assert_eq!(buf[(2 * i as u16, 0)].symbol(), *c, "cell {}", 2 * i);
        }
        assert_eq!(buf[(10, 0)].symbol(), "|", "the next character after them");
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
