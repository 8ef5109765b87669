//! The command bar at the bottom of the dashboard: a one-line tui-textarea editor with
//! history (Up/Down, kept in the line shell's history file) and Tab completion of command and
//! process names. Owned by the dashboard thread.

use std::io::Write;
use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::{Modifier, Style};
use tui_textarea::{CursorMove, TextArea};

/// Commands of the language (interface section 3), for completion.
pub const COMMANDS: &[&str] = &[
    "attach", "avail", "clear", "exit", "help", "pid", "quit", "reload", "restart", "shutdown",
    "signal", "start", "status", "stop", "tail", "version",
];

const MAX_HISTORY: usize = 1000;

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
    history: Vec<String>,
    /// Index into `history` while browsing it with Up/Down.
    browsing: Option<usize>,
    /// The line being typed before browsing started.
    draft: String,
    history_file: Option<PathBuf>,
}

impl CommandBar {
    /// A bar with the history of `history_file` (missing or unreadable: empty history).
    pub fn new(history_file: Option<PathBuf>) -> CommandBar {
        let history = history_file
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .map(|s| {
                s.lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let mut bar = CommandBar {
            textarea: TextArea::default(),
            history,
            browsing: None,
            draft: String::new(),
            history_file,
        };
        bar.reset();
        bar
    }

    /// The history file shared with the line shell: `$XDG_STATE_HOME/taskmaster/history`,
    /// falling back to `~/.taskmaster_history`.
    pub fn default_history_file() -> Option<PathBuf> {
        if let Some(state) = std::env::var_os("XDG_STATE_HOME").filter(|s| !s.is_empty()) {
            return Some(PathBuf::from(state).join("taskmaster").join("history"));
        }
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".taskmaster_history"))
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
                self.browsing = None;
                if line.is_empty() {
                    return BarOutcome::Leave;
                }
                self.remember(&line);
                BarOutcome::Submit(line)
            }
            KeyCode::Esc => {
                self.reset();
                self.browsing = None;
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
            _ => {
                self.textarea.input(key);
                BarOutcome::Edited
            }
        }
    }

    fn browse_back(&mut self) {
        let next = match self.browsing {
            None if self.history.is_empty() => return,
            None => {
                self.draft = self.line().to_string();
                self.history.len() - 1
            }
            Some(0) => 0,
            Some(i) => i - 1,
        };
        self.browsing = Some(next);
        let line = self.history[next].clone();
        self.set_line(&line);
    }

    fn browse_forward(&mut self) {
        match self.browsing {
            None => {}
            Some(i) if i + 1 < self.history.len() => {
                self.browsing = Some(i + 1);
                let line = self.history[i + 1].clone();
                self.set_line(&line);
            }
            Some(_) => {
                self.browsing = None;
                let draft = std::mem::take(&mut self.draft);
                self.set_line(&draft);
            }
        }
    }

    fn remember(&mut self, line: &str) {
        if self.history.last().map(String::as_str) == Some(line) {
            return;
        }
        self.history.push(line.to_string());
        if self.history.len() > MAX_HISTORY {
            self.history.remove(0);
        }
        // Best effort: a read-only home must not break the dashboard.
        if let Some(path) = &self.history_file {
            if let Some(dir) = path.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                let _ = writeln!(f, "{line}");
            }
        }
    }

    fn complete(&mut self, names: &[String]) -> BarOutcome {
        let line = self.line().to_string();
        let c = complete(&line, names);
        match c.candidates.len() {
            0 => BarOutcome::Edited,
            1 => {
                let new = format!("{}{} ", &line[..c.start], c.candidates[0]);
                self.set_line(&new);
                BarOutcome::Edited
            }
            _ => {
                let prefix = common_prefix(&c.candidates);
                if prefix.len() > line.len() - c.start {
                    let new = format!("{}{}", &line[..c.start], prefix);
                    self.set_line(&new);
                }
                BarOutcome::Candidates(c.candidates)
            }
        }
    }
}

/// Candidates for the word at the end of `line`, which starts at byte `start`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub start: usize,
    pub candidates: Vec<String>,
}

/// Completes the last word of `line`: a command name as the first word, then process names
/// (and `all`, `PROGRAM:*`) for the commands that take them.
pub fn complete(line: &str, names: &[String]) -> Completion {
    let start = line.rfind(char::is_whitespace).map(|i| i + 1).unwrap_or(0);
    let word = &line[start..];
    let first = line.split_whitespace().next().unwrap_or("");
    let pool: Vec<String> = if start == 0 {
        COMMANDS.iter().map(|s| s.to_string()).collect()
    } else {
        match first {
            "start" | "stop" | "restart" | "status" | "clear" | "signal" => {
                let mut p = vec!["all".to_string()];
                p.extend(names.iter().cloned());
                p
            }
            "tail" | "attach" | "pid" => names.to_vec(),
            "help" => COMMANDS.iter().map(|s| s.to_string()).collect(),
            _ => Vec::new(),
        }
    };
    let mut candidates: Vec<String> = pool.into_iter().filter(|c| c.starts_with(word)).collect();
    candidates.dedup();
    Completion { start, candidates }
}

fn common_prefix(words: &[String]) -> String {
    let Some(first) = words.first() else {
        return String::new();
    };
    let mut len = first.len();
    for w in &words[1..] {
        len = first
            .char_indices()
            .zip(w.chars())
            .take_while(|((_, a), b)| a == b)
            .map(|((i, a), _)| i + a.len_utf8())
            .last()
            .unwrap_or(0)
            .min(len);
    }
    first[..len].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["web", "worker:worker_00", "worker:worker_01", "worker:*"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn completion_cases() {
        let cases: &[(&str, &[&str])] = &[
            ("st", &["start", "status", "stop"]),
            ("resta", &["restart"]),
            (
                "stop w",
                &["web", "worker:worker_00", "worker:worker_01", "worker:*"],
            ),
            ("stop a", &["all"]),
            (
                "tail worker:worker_0",
                &["worker:worker_00", "worker:worker_01"],
            ),
            ("version x", &[]),
        ];
        for (line, want) in cases {
            let got = complete(line, &names()).candidates;
            assert_eq!(&got, want, "completions of {line:?}");
        }
    }

    #[test]
    fn tab_completes_a_unique_word_and_extends_a_common_prefix() {
        let mut bar = CommandBar::new(None);
        bar.set_line("resta");
        let tab = KeyEvent::from(KeyCode::Tab);
        assert_eq!(bar.on_key(tab, &names()), BarOutcome::Edited);
        assert_eq!(bar.line(), "restart ", "a unique candidate is completed");
        bar.set_line("restart wor");
        let out = bar.on_key(tab, &names());
        assert!(
            matches!(out, BarOutcome::Candidates(_)),
            "several candidates"
        );
        assert_eq!(
            bar.line(),
            "restart worker:",
            "the common prefix is inserted"
        );
    }

    #[test]
    fn history_browses_back_and_returns_to_the_draft() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("state").join("history");
        let mut bar = CommandBar::new(Some(file.clone()));
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
            "history is appended to the file"
        );
        let again = CommandBar::new(Some(file));
        assert_eq!(again.history.len(), 2, "history is read back");
    }
}
