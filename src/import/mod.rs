//! `taskmaster import supervisord.conf`: a supervisord configuration (with its `[include]`d
//! files) translated into this project's TOML. Whatever has no equivalent is listed, with its
//! file and line, for the user to settle by hand. Pure: reads files, starts nothing.
//!
//! [`ini`] reads supervisor's INI dialect, [`include`] follows `[include] files` globs,
//! [`expand`] does the `%(name)s` expansions, [`environment`] and [`datatypes`] read values
//! as supervisor does, [`translate`] maps sections and keys, [`emit`] writes the TOML.

mod datatypes;
mod emit;
mod environment;
mod expand;
mod include;
mod ini;
mod program;
mod translate;

use std::fmt;
use std::path::{Path, PathBuf};

/// The translated config and what could not be translated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translation {
    /// The TOML text of the new config.
    pub toml: String,
    /// One line per key or section with no equivalent: `file:line: [section] key: why`.
    pub unsupported: Vec<String>,
}

/// A supervisord.conf that cannot be translated, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl ImportError {
    fn at(file: &Path, line: usize, message: impl Into<String>) -> Self {
        ImportError {
            file: file.to_path_buf(),
            line: Some(line),
            message: message.into(),
        }
    }

    fn whole(file: &Path, message: impl Into<String>) -> Self {
        ImportError {
            file: file.to_path_buf(),
            line: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for ImportError {}

/// Translates the supervisord.conf at `path`; `%(ENV_X)s` reads this process's environment.
pub fn translate(path: &Path) -> Result<Translation, ImportError> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    translate_with_env(path, &env)
}

/// [`translate`] with the environment given (`%(ENV_X)s` expands from it).
pub fn translate_with_env(
    path: &Path,
    env: &[(String, String)],
) -> Result<Translation, ImportError> {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".to_owned());
    let (ini, mut notes) = include::read_all(&path, env, &host)?;
    let mut t = translate::Translator::new(&ini, env, &host, &path);
    let toml = t.run()?;
    notes.append(&mut t.notes);
    Ok(Translation {
        toml,
        unsupported: notes,
    })
}
