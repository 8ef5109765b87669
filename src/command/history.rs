//! Command history shared by the line shell and the dashboard's command bar: a bounded list
//! without consecutive duplicates, persisted (mode 0600) at `$XDG_STATE_HOME/taskmaster/history`
//! or `~/.taskmaster_history`, plus Up/Down navigation and reverse search. Load and save
//! errors are never fatal: history is a convenience. Owned by one front-end thread.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default)]
pub struct History {
    entries: Vec<String>,
    path: Option<PathBuf>,
    /// Index of the entry shown while navigating with Up/Down; `None`: editing a new line.
    nav: Option<usize>,
    /// The line being typed before navigation started, given back past the newest entry.
    draft: String,
}

impl History {
    /// Entries kept, in memory and in the file.
    pub const MAX: usize = 1000;

    /// Where history lives: `$XDG_STATE_HOME/taskmaster/history`, else `~/.taskmaster_history`.
    pub fn default_path() -> Option<PathBuf> {
        let non_empty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        if let Some(state) = non_empty("XDG_STATE_HOME") {
            return Some(PathBuf::from(state).join("taskmaster").join("history"));
        }
        non_empty("HOME").map(|home| PathBuf::from(home).join(".taskmaster_history"))
    }

    /// History from the default file (empty when missing or unreadable).
    pub fn load_default() -> History {
        History::load(History::default_path())
    }

    /// History from `path` (empty when missing or unreadable); `None`: memory only.
    pub fn load(path: Option<PathBuf>) -> History {
        let mut history = History {
            path,
            ..History::default()
        };
        if let Some(text) = history.path.as_deref().and_then(|p| fs::read(p).ok()) {
            for line in String::from_utf8_lossy(&text).lines() {
                history.add(line);
            }
        }
        history
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Oldest first.
    pub fn entries(&self) -> &[String] {
        &self.entries
    }

    /// Records a line the user ran and saves the file (errors ignored); ends navigation.
    pub fn push(&mut self, line: &str) {
        self.reset();
        if self.add(line) {
            let _ = self.save();
        }
    }

    fn add(&mut self, line: &str) -> bool {
        let line = line.trim();
        if line.is_empty() || self.entries.last().is_some_and(|l| l == line) {
            return false;
        }
        self.entries.push(line.to_string());
        if self.entries.len() > Self::MAX {
            let excess = self.entries.len() - Self::MAX;
            self.entries.drain(..excess);
        }
        true
    }

    /// Writes every entry to the file, creating it (and its folder) with mode 0600.
    pub fn save(&self) -> io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)?;
        }
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        let mut text = self.entries.join("\n");
        text.push('\n');
        file.write_all(text.as_bytes())
    }

    /// Up: the previous entry; `current` is kept as the draft when navigation starts.
    pub fn older(&mut self, current: &str) -> Option<&str> {
        let next = match self.nav {
            None => {
                self.draft = current.to_string();
                self.entries.len().checked_sub(1)?
            }
            Some(i) => i.checked_sub(1)?,
        };
        self.nav = Some(next);
        self.entries.get(next).map(String::as_str)
    }

    /// Down: the next entry, or the draft past the newest; `None` when not navigating.
    pub fn newer(&mut self) -> Option<String> {
        let i = self.nav?;
        if i + 1 < self.entries.len() {
            self.nav = Some(i + 1);
            self.entries.get(i + 1).cloned()
        } else {
            self.nav = None;
            Some(std::mem::take(&mut self.draft))
        }
    }

    /// Forgets the navigation position (after Enter, Ctrl-C, an edit).
    pub fn reset(&mut self) {
        self.nav = None;
        self.draft.clear();
    }

    /// Reverse search: the newest entry containing `query` with an index below `before`
    /// (all entries when `None`).
    pub fn search(&self, query: &str, before: Option<usize>) -> Option<(usize, &str)> {
        let end = before.unwrap_or(self.entries.len()).min(self.entries.len());
        self.entries[..end]
            .iter()
            .enumerate()
            .rev()
            .find(|(_, e)| e.contains(query))
            .map(|(i, e)| (i, e.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn consecutive_duplicates_and_blanks_are_skipped() {
        let mut h = History::load(None);
        for l in ["status", "status", " ", "start web", "status"] {
            h.push(l);
        }
        assert_eq!(
            h.entries(),
            ["status", "start web", "status"],
            "entries kept"
        );
    }

    #[test]
    fn history_is_bounded() {
        let mut h = History::load(None);
        for i in 0..History::MAX + 10 {
            h.push(&format!("status {i}"));
        }
        assert_eq!(h.entries().len(), History::MAX, "bounded");
        assert_eq!(h.entries()[0], "status 10", "oldest dropped first");
    }

    #[test]
    fn up_and_down_walk_entries_and_restore_the_draft() {
        let mut h = History::load(None);
        h.push("one");
        h.push("two");
        assert_eq!(h.older("dra"), Some("two"));
        assert_eq!(h.older("ignored"), Some("one"));
        assert_eq!(h.older("ignored"), None, "stops at the oldest");
        assert_eq!(h.newer().as_deref(), Some("two"));
        assert_eq!(h.newer().as_deref(), Some("dra"), "draft comes back");
        assert_eq!(h.newer(), None, "not navigating any more");
    }

    #[test]
    fn reverse_search_finds_newest_match_first() {
        let mut h = History::load(None);
        for l in ["start web", "status", "stop web"] {
            h.push(l);
        }
        assert_eq!(h.search("web", None), Some((2, "stop web")));
        assert_eq!(h.search("web", Some(2)), Some((0, "start web")));
        assert_eq!(h.search("nope", None), None);
    }

    #[test]
    fn saved_file_is_private_and_reloads() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("sub").join("history");
        let mut h = History::load(Some(path.clone()));
        h.push("status");
        h.push("tail web");
        let mode = fs::metadata(&path)
            .expect("file written")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "history file mode");
        let again = History::load(Some(path));
        assert_eq!(again.entries(), ["status", "tail web"], "reloaded entries");
    }

    #[test]
    fn unreadable_history_is_empty_not_an_error() {
        let h = History::load(Some(PathBuf::from("/nonexistent/dir/history")));
        assert!(h.entries().is_empty(), "empty history");
    }
}
