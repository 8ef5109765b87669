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
    /// screen): the top for a full-screen program (the alternate screen, or one that never
    /// scrolled: `top` draws by cursor motion on the main screen), and for a shell-like
    /// one that scrolls, the part that ends at its cursor, where it writes.
    pub fn first_row(&self, height: u16) -> u16 {
        let screen = self.parser.screen();
        let (rows, _) = screen.size();
        if rows <= height || screen.alternate_screen() || !self.scrolled_off {
            return 0;
        }
        let (cursor_row, _) = screen.cursor_position();
        (cursor_row + 1).saturating_sub(height).min(rows - height)
    }
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
