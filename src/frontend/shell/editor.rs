//! The shell's line editor on a terminal: crossterm raw mode and its key decoder; cursor keys,
//! Home/End, Ctrl-A/E/B/F/K/U/W/L, history (Up/Down, Ctrl-R reverse search) and Tab
//! completion that lists candidates when ambiguous. One line, no wrapping support: commands
//! are short. Key handling ([`Editor::on_key`]) is separate from drawing so it can be tested.

use std::io::{self, Write};
use std::time::Duration;

use crate::frontend::tty;
use crossterm::cursor::MoveToColumn;
use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crossterm::style::Print;
use crossterm::terminal::{self, Clear, ClearType};

use super::Backend;
use crate::command::{History, complete};

/// Raw mode for as long as it lives; nested guards leave it to the outermost one.
pub(super) struct RawGuard {
    owner: bool,
}

impl RawGuard {
    pub(super) fn enable() -> io::Result<RawGuard> {
        if terminal::is_raw_mode_enabled()? {
            return Ok(RawGuard { owner: false });
        }
        terminal::enable_raw_mode()?;
        Ok(RawGuard { owner: true })
    }
}

impl Drop for RawGuard {
    fn drop(&mut self) {
        if self.owner {
            let _ = terminal::disable_raw_mode();
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum ReadResult {
    Line(String),
    /// Ctrl-C: the line was dropped.
    Interrupted,
    /// Ctrl-D on an empty line.
    Eof,
    /// The supervisor ended while waiting for input.
    Gone,
}

/// What a key asks of the loop.
#[derive(Debug, PartialEq, Eq)]
enum KeyAction {
    Redraw,
    Done(ReadResult),
    Complete,
    ClearScreen,
    Nothing,
}

struct Search {
    query: String,
    found: Option<usize>,
    saved: (Vec<char>, usize),
}

pub(super) struct Editor {
    prompt: String,
    buf: Vec<char>,
    /// Cursor, in chars.
    pos: usize,
    search: Option<Search>,
}

fn ctrl(key: &KeyEvent) -> Option<char> {
    match key.code {
        KeyCode::Char(c) if key.modifiers.contains(KeyModifiers::CONTROL) => Some(c),
        _ => None,
    }
}

impl Editor {
    pub(super) fn new(prompt: &str) -> Editor {
        Editor {
            prompt: prompt.to_string(),
            buf: Vec::new(),
            pos: 0,
            search: None,
        }
    }

    fn line(&self) -> String {
        self.buf.iter().collect()
    }

    fn set_line(&mut self, line: &str) {
        self.buf = line.chars().collect();
        self.pos = self.buf.len();
    }

    /// Reads one line in raw mode; restores the terminal mode before returning.
    pub(super) fn read_line(
        &mut self,
        history: &mut History,
        backend: &mut dyn Backend,
    ) -> io::Result<ReadResult> {
        self.buf.clear();
        self.pos = 0;
        self.search = None;
        history.reset();
        let _raw = RawGuard::enable()?;
        let mut out = io::stdout();
        self.draw(&mut out)?;
        loop {
            // A hung-up terminal is an error: nobody can drive this shell any more.
            if !tty::poll_event(Duration::from_millis(200))? {
                if backend.is_gone() {
                    out.write_all(b"\r\n")?;
                    out.flush()?;
                    return Ok(ReadResult::Gone);
                }
                continue;
            }
            let action = match event::read()? {
                Event::Key(key) if key.kind != KeyEventKind::Release => self.on_key(key, history),
                Event::Paste(text) => {
                    for c in text.chars().filter(|c| !c.is_control()) {
                        self.buf.insert(self.pos, c);
                        self.pos += 1;
                    }
                    KeyAction::Redraw
                }
                Event::Resize(..) => KeyAction::Redraw,
                _ => KeyAction::Nothing,
            };
            match action {
                KeyAction::Done(result) => {
                    let echo = if result == ReadResult::Interrupted {
                        "^C\r\n"
                    } else {
                        "\r\n"
                    };
                    out.write_all(echo.as_bytes())?;
                    out.flush()?;
                    return Ok(result);
                }
                KeyAction::Complete => self.complete(&mut out, backend)?,
                KeyAction::ClearScreen => {
                    crossterm::queue!(out, Clear(ClearType::All), crossterm::cursor::MoveTo(0, 0))?;
                }
                KeyAction::Redraw | KeyAction::Nothing => {}
            }
            self.draw(&mut out)?;
        }
    }

    fn draw(&self, out: &mut impl Write) -> io::Result<()> {
        let (text, col) = match &self.search {
            Some(s) => {
                let text = format!("(reverse-i-search)`{}': {}", s.query, self.line());
                let col = text.chars().count();
                (text, col)
            }
            None => (
                format!("{}{}", self.prompt, self.line()),
                self.prompt.chars().count() + self.pos,
            ),
        };
        crossterm::queue!(
            out,
            MoveToColumn(0),
            Print(text),
            Clear(ClearType::UntilNewLine),
            MoveToColumn(u16::try_from(col).unwrap_or(u16::MAX))
        )?;
        out.flush()
    }

    fn complete(&mut self, out: &mut impl Write, backend: &mut dyn Backend) -> io::Result<()> {
        let line = self.line();
        let cursor: usize = self.buf[..self.pos].iter().map(|c| c.len_utf8()).sum();
        let completion = complete(&line, cursor, &backend.names());
        let (new_line, new_cursor) = completion.apply(&line, cursor);
        if completion.candidates.len() > 1 && new_line == line {
            let list = completion.candidates.join("  ");
            crossterm::queue!(out, Print("\r\n"), Print(list), Print("\r\n"))?;
        }
        self.buf = new_line.chars().collect();
        self.pos = new_line[..new_cursor].chars().count();
        Ok(())
    }

    fn on_key(&mut self, key: KeyEvent, history: &mut History) -> KeyAction {
        if self.search.is_some() {
            return self.on_search_key(key, history);
        }
        if let Some(c) = ctrl(&key) {
            return self.on_ctrl(c, history);
        }
        match key.code {
            KeyCode::Enter => KeyAction::Done(ReadResult::Line(self.line())),
            KeyCode::Tab => KeyAction::Complete,
            KeyCode::Char(c) => {
                self.buf.insert(self.pos, c);
                self.pos += 1;
                KeyAction::Redraw
            }
            KeyCode::Backspace if self.pos > 0 => {
                self.pos -= 1;
                self.buf.remove(self.pos);
                KeyAction::Redraw
            }
            KeyCode::Delete if self.pos < self.buf.len() => {
                self.buf.remove(self.pos);
                KeyAction::Redraw
            }
            KeyCode::Left => self.move_to(self.pos.saturating_sub(1)),
            KeyCode::Right => self.move_to((self.pos + 1).min(self.buf.len())),
            KeyCode::Home => self.move_to(0),
            KeyCode::End => self.move_to(self.buf.len()),
            KeyCode::Up => self.history_older(history),
            KeyCode::Down => self.history_newer(history),
            _ => KeyAction::Nothing,
        }
    }

    fn on_ctrl(&mut self, c: char, history: &mut History) -> KeyAction {
        match c {
            'c' => KeyAction::Done(ReadResult::Interrupted),
            'd' if self.buf.is_empty() => KeyAction::Done(ReadResult::Eof),
            'd' if self.pos < self.buf.len() => {
                self.buf.remove(self.pos);
                KeyAction::Redraw
            }
            'a' => self.move_to(0),
            'e' => self.move_to(self.buf.len()),
            'b' => self.move_to(self.pos.saturating_sub(1)),
            'f' => self.move_to((self.pos + 1).min(self.buf.len())),
            'k' => {
                self.buf.truncate(self.pos);
                KeyAction::Redraw
            }
            'u' => {
                self.buf.drain(..self.pos);
                self.pos = 0;
                KeyAction::Redraw
            }
            'w' => {
                let mut start = self.pos;
                while start > 0 && self.buf[start - 1] == ' ' {
                    start -= 1;
                }
                while start > 0 && self.buf[start - 1] != ' ' {
                    start -= 1;
                }
                self.buf.drain(start..self.pos);
                self.pos = start;
                KeyAction::Redraw
            }
            'p' => self.history_older(history),
            'n' => self.history_newer(history),
            'l' => KeyAction::ClearScreen,
            'r' => {
                self.search = Some(Search {
                    query: String::new(),
                    found: None,
                    saved: (self.buf.clone(), self.pos),
                });
                KeyAction::Redraw
            }
            _ => KeyAction::Nothing,
        }
    }

    fn move_to(&mut self, pos: usize) -> KeyAction {
        self.pos = pos;
        KeyAction::Redraw
    }

    fn history_older(&mut self, history: &mut History) -> KeyAction {
        if let Some(entry) = history.older(&self.line()).map(str::to_string) {
            self.set_line(&entry);
        }
        KeyAction::Redraw
    }

    fn history_newer(&mut self, history: &mut History) -> KeyAction {
        if let Some(entry) = history.newer() {
            self.set_line(&entry);
        }
        KeyAction::Redraw
    }

    fn on_search_key(&mut self, key: KeyEvent, history: &mut History) -> KeyAction {
        let Some(search) = self.search.as_mut() else {
            return KeyAction::Nothing;
        };
        match (ctrl(&key), key.code) {
            (Some('r'), _) => {
                if let Some((i, _)) = history.search(&search.query, search.found) {
                    search.found = Some(i);
                }
            }
            (Some('c' | 'g'), _) | (None, KeyCode::Esc) => {
                let (buf, pos) = std::mem::take(&mut search.saved);
                self.buf = buf;
                self.pos = pos;
                self.search = None;
                return KeyAction::Redraw;
            }
            (None, KeyCode::Char(c)) => {
                search.query.push(c);
                search.found = history.search(&search.query, None).map(|(i, _)| i);
            }
            (None, KeyCode::Backspace) => {
                search.query.pop();
                search.found = history.search(&search.query, None).map(|(i, _)| i);
            }
            (_, KeyCode::Enter) => {
                self.search = None;
                return KeyAction::Done(ReadResult::Line(self.line()));
            }
            _ => {
                self.search = None;
                return KeyAction::Redraw;
            }
        }
        let shown = search
            .found
            .and_then(|i| history.entries().get(i))
            .cloned()
            .unwrap_or_default();
        self.set_line(&shown);
        KeyAction::Redraw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn ctl(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
    }

    fn typed(ed: &mut Editor, h: &mut History, text: &str) {
        for c in text.chars() {
            ed.on_key(key(KeyCode::Char(c)), h);
        }
    }

    #[test]
    fn editing_keys_change_the_line() {
        let mut h = History::load(None);
        let mut ed = Editor::new("> ");
        typed(&mut ed, &mut h, "stop web");
        ed.on_key(ctl('a'), &mut h);
        ed.on_key(key(KeyCode::Delete), &mut h);
        typed(&mut ed, &mut h, "S");
        assert_eq!(ed.line(), "Stop web", "Ctrl-A then Delete edits the start");
        ed.on_key(key(KeyCode::End), &mut h);
        ed.on_key(ctl('w'), &mut h);
        assert_eq!(ed.line(), "Stop ", "Ctrl-W deletes the last word");
        ed.on_key(key(KeyCode::Left), &mut h);
        ed.on_key(ctl('k'), &mut h);
        assert_eq!(ed.line(), "Stop", "Ctrl-K kills to the end");
        ed.on_key(ctl('u'), &mut h);
        assert_eq!(ed.line(), "", "Ctrl-U kills to the start");
    }

    #[test]
    fn enter_ctrl_c_and_ctrl_d_end_the_read() {
        let mut h = History::load(None);
        let mut ed = Editor::new("> ");
        assert_eq!(
            ed.on_key(ctl('d'), &mut h),
            KeyAction::Done(ReadResult::Eof)
        );
        typed(&mut ed, &mut h, "status");
        assert_eq!(
            ed.on_key(ctl('d'), &mut h),
            KeyAction::Nothing,
            "Ctrl-D at end of text"
        );
        assert_eq!(
            ed.on_key(key(KeyCode::Enter), &mut h),
            KeyAction::Done(ReadResult::Line("status".into()))
        );
        assert_eq!(
            ed.on_key(ctl('c'), &mut h),
            KeyAction::Done(ReadResult::Interrupted)
        );
    }

    #[test]
    fn up_recalls_history_and_down_restores_the_draft() {
        let mut h = History::load(None);
        h.push("status");
        let mut ed = Editor::new("> ");
        typed(&mut ed, &mut h, "sto");
        ed.on_key(key(KeyCode::Up), &mut h);
        assert_eq!(ed.line(), "status", "Up recalls");
        ed.on_key(key(KeyCode::Down), &mut h);
        assert_eq!(ed.line(), "sto", "Down restores the draft");
    }

    #[test]
    fn ctrl_r_finds_older_matches() {
        let mut h = History::load(None);
        for l in ["start web", "status", "stop web"] {
            h.push(l);
        }
        let mut ed = Editor::new("> ");
        ed.on_key(ctl('r'), &mut h);
        typed(&mut ed, &mut h, "web");
        assert_eq!(ed.line(), "stop web", "newest match first");
        ed.on_key(ctl('r'), &mut h);
        assert_eq!(ed.line(), "start web", "Ctrl-R again goes older");
        assert_eq!(
            ed.on_key(key(KeyCode::Enter), &mut h),
            KeyAction::Done(ReadResult::Line("start web".into()))
        );
    }
}
