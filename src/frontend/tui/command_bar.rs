//! The command bar at the bottom of the dashboard: a one-line tui-textarea editor with
//! history (Up/Down; [`command::History`], the line shell's file) and Tab completion of command
//! and process names ([`command::complete`]). Owned by the dashboard thread.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::{Modifier, Style};
use tui_textarea::{CursorMove, TextArea};

use crate::command::{self, History};

/// What a key did to the bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BarOutcome {
    /// The key was consumed; nothing else to do.
    Edited,
    /// Enter on a line: run it.
    Submit(String),
    /// Esc: give focus back.
    Leave,
    /// Tab found several candidates: show them.
    Candidates(Vec<String>),
}

pub struct CommandBar {
    pub textarea: TextArea<'static>,
    history: History,
}

impl CommandBar {
    pub fn new(history: History) -> CommandBar {
        let mut bar = CommandBar {
            textarea: TextArea::default(),
            history,
        };
        bar.reset();
        bar
    }

    pub fn line(&self) -> &str {
        self.textarea
            .lines()
            .first()
            .map(String::as_str)
            .unwrap_or("")
    }

    pub fn set_line(&mut self, line: &str) {
        self.textarea = TextArea::new(vec![line.to_string()]);
        self.style();
        self.textarea.move_cursor(CursorMove::End);
    }

    fn reset(&mut self) {
        self.textarea = TextArea::default();
        self.style();
    }

    fn style(&mut self) {
        self.textarea.set_cursor_line_style(Style::default());
        self.textarea
            .set_cursor_style(Style::default().add_modifier(Modifier::REVERSED));
    }

    /// Hides the cursor block while the bar does not have focus.
    pub fn set_focused(&mut self, focused: bool) {
        let style = if focused {
            Style::default().add_modifier(Modifier::REVERSED)
        } else {
            Style::default()
        };
        self.textarea.set_cursor_style(style);
    }

    /// Handles one key press; `names` are the process and program names for completion.
    pub fn on_key(&mut self, key: KeyEvent, names: &[String]) -> BarOutcome {
        match key.code {
            KeyCode::Enter => {
                let line = self.line().trim().to_string();
                self.reset();
                if line.is_empty() {
                    self.history.reset();
                    return BarOutcome::Leave;
                }
                // Saved at once (errors ignored inside): the shell shares the file.
                self.history.push(&line);
                BarOutcome::Submit(line)
            }
            KeyCode::Esc => {
                self.reset();
                self.history.reset();
                BarOutcome::Leave
            }
            KeyCode::Up => {
                self.browse_back();
                BarOutcome::Edited
            }
            KeyCode::Down => {
                self.browse_forward();
                BarOutcome::Edited
            }
            KeyCode::Tab => self.complete(names),
            KeyCode::Char('m') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                BarOutcome::Edited
            }
            // tui-textarea binds Ctrl-U to undo; in a shell it erases to the line's start
            // (undo after a completion gave `status trio_0status`).
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                self.textarea.delete_line_by_head();
                BarOutcome::Edited
            }
            // Ctrl-R is redo there; nothing here.
            KeyCode::Char('r') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                BarOutcome::Edited
            }
            _ => {
                self.textarea.input(key);
                BarOutcome::Edited
            }
        }
    }

    fn browse_back(&mut self) {
        let current = self.line().to_string();
        if let Some(line) = self.history.older(&current).map(str::to_string) {
            self.set_line(&line);
        }
    }

    fn browse_forward(&mut self) {
        if let Some(line) = self.history.newer() {
            self.set_line(&line);
        }
    }

    fn complete(&mut self, names: &[String]) -> BarOutcome {
        let line = self.line().to_string();
        let col = self.textarea.cursor().1;
        let cursor = line.char_indices().nth(col).map_or(line.len(), |(i, _)| i);
        let c = command::complete(&line, cursor, names);
        if c.candidates.is_empty() {
            return BarOutcome::Edited;
        }
        let (new_line, new_cursor) = c.apply(&line, cursor);
        self.set_line(&new_line);
        let chars = new_line[..new_cursor].chars().count();
        self.textarea.move_cursor(CursorMove::Jump(0, chars as u16));
        if c.candidates.len() == 1 {
            BarOutcome::Edited
        } else {
            BarOutcome::Candidates(c.candidates)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        [
            "all",
            "web",
            "worker",
            "worker:*",
            "worker:worker_00",
            "worker:worker_01",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    #[test]
    fn tab_completes_a_unique_word_and_extends_a_common_prefix() {
        let mut bar = CommandBar::new(History::load(None));
        bar.set_line("resta");
        let tab = KeyEvent::from(KeyCode::Tab);
        assert_eq!(bar.on_key(tab, &names()), BarOutcome::Edited);
        assert_eq!(bar.line(), "restart ", "a unique candidate is completed");
        bar.set_line("restart worker:w");
        let out = bar.on_key(tab, &names());
        assert!(
            matches!(out, BarOutcome::Candidates(_)),
            "several candidates"
        );
        assert_eq!(
            bar.line(),
            "restart worker:worker_0",
            "the common prefix is inserted"
        );
    }

    /// Regression: Ctrl-U was tui-textarea's undo; after a completion, Ctrl-U then typing
    /// gave `status trio_0status`.
    #[test]
    fn ctrl_u_erases_to_the_start_of_the_line() {
        let mut bar = CommandBar::new(History::load(None));
        for c in "status worker_0".chars() {
            bar.on_key(KeyEvent::from(KeyCode::Char(c)), &names());
        }
        bar.on_key(KeyEvent::from(KeyCode::Tab), &names());
        let ctrl_u = KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL);
        assert_eq!(bar.on_key(ctrl_u, &names()), BarOutcome::Edited);
        assert_eq!(bar.line(), "", "Ctrl-U at the end erases the whole line");
        for c in "stop".chars() {
            bar.on_key(KeyEvent::from(KeyCode::Char(c)), &names());
        }
        assert_eq!(bar.line(), "stop", "typing after Ctrl-U starts afresh");
    }

    #[test]
    fn history_browses_back_and_returns_to_the_draft() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("state").join("history");
        let mut bar = CommandBar::new(History::load(Some(file.clone())));
        for line in ["status", "stop web"] {
            bar.set_line(line);
            assert_eq!(
                bar.on_key(KeyEvent::from(KeyCode::Enter), &[]),
                BarOutcome::Submit(line.to_string())
            );
        }
        bar.set_line("dra");
        bar.on_key(KeyEvent::from(KeyCode::Up), &[]);
        assert_eq!(bar.line(), "stop web", "Up shows the newest entry");
        bar.on_key(KeyEvent::from(KeyCode::Up), &[]);
        assert_eq!(bar.line(), "status", "Up again goes further back");
        bar.on_key(KeyEvent::from(KeyCode::Down), &[]);
        bar.on_key(KeyEvent::from(KeyCode::Down), &[]);
        assert_eq!(bar.line(), "dra", "Down past the newest restores the draft");
        let saved = std::fs::read_to_string(&file).expect("history file written");
        assert_eq!(
            saved, "status\nstop web\n",
            "history is saved to the shared file"
        );
    }
}
