//! The attach view's state: one process's output, live, and a line editor whose lines go to the
//! child's stdin. The follow receiver itself lives in the loop (`mod.rs`), which feeds chunks
//! here. Owned by the dashboard thread.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::{Modifier, Style};
use tui_textarea::TextArea;

use super::tail::TailLines;
use crate::output::Stream;

pub struct Attach {
    pub name: String,
    pub lines: TailLines,
    /// Lines scrolled back from the newest; 0 follows.
    pub scroll: usize,
    pub input: TextArea<'static>,
}

/// What a key did in the attach view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachKey {
    Nothing,
    /// A line for the child's stdin, newline included.
    Stdin(Vec<u8>),
    /// Ctrl-D at the start of a line: end of input (the child's stdin is closed).
    Eof,
    Detach,
}

impl Attach {
    pub fn new(name: String, lines: TailLines) -> Attach {
        Attach {
            name,
            lines,
            scroll: 0,
            input: new_input(),
        }
    }

    pub fn push(&mut self, stream: Stream, data: &[u8]) {
        let before = self.lines.pushed();
        self.lines.push(stream, data);
        if self.scroll > 0 {
            self.scroll += (self.lines.pushed() - before) as usize;
        }
    }

    pub fn on_key(&mut self, key: KeyEvent, page: usize) -> AttachKey {
        if is_detach(&key) {
            return AttachKey::Detach;
        }
        match key.code {
            KeyCode::Enter => {
                let line = self.input.lines().first().cloned().unwrap_or_default();
                self.input = new_input();
                self.scroll = 0;
                let mut bytes = line.into_bytes();
                bytes.push(b'\n');
                AttachKey::Stdin(bytes)
            }
            KeyCode::PageUp => {
                self.scroll = (self.scroll + page).min(self.lines.len().saturating_sub(1));
                AttachKey::Nothing
            }
            KeyCode::PageDown => {
                self.scroll = self.scroll.saturating_sub(page);
                AttachKey::Nothing
            }
            KeyCode::Char('d') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                // As in a terminal: EOF at the start of a line, nothing in the middle of one.
                if self.input.is_empty() {
                    AttachKey::Eof
                } else {
                    AttachKey::Nothing
                }
            }
            _ => {
                self.input.input(key);
                AttachKey::Nothing
            }
        }
    }
}

/// Ctrl-]: terminals send 0x1d, which crossterm reports as Ctrl-] or Ctrl-5.
pub fn is_detach(key: &KeyEvent) -> bool {
    key.modifiers.contains(KeyModifiers::CONTROL)
        && matches!(key.code, KeyCode::Char(']') | KeyCode::Char('5'))
}

fn new_input() -> TextArea<'static> {
    let mut t = TextArea::default();
    t.set_cursor_line_style(Style::default());
    t.set_cursor_style(Style::default().add_modifier(Modifier::REVERSED));
    t
}
