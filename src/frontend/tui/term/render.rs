//! Drawing an emulated screen (the `vt100` model a [`TermPane`](super::TermPane) keeps) into
//! ratatui cells: colours, attributes, wide characters, the cursor. A character the emulator,
//! ratatui and the real terminal measure differently is drawn blank, so a row never shifts.
//! Pure: called from the dashboard's view, on the dashboard thread.

use ratatui::buffer::Buffer;
use ratatui::layout::{Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Span;

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
    if text.is_empty() || !text.chars().all(crate::frontend::tui::tail::shown) {
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
    use crate::frontend::tui::term::tests::{row_text, screen_of};

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
}
