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

/// Something not translated, where it was written; listed as `file:line: text`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Note {
    file: PathBuf,
    line: Option<usize>,
    text: String,
}

impl Note {
    fn at(file: &Path, line: usize, text: String) -> Note {
        Note {
            file: file.to_path_buf(),
            line: Some(line),
            text,
        }
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file.display(), self.text),
            None => write!(f, "{}: {}", self.file.display(), self.text),
        }
    }
}

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
    // In the order the files were read, then by line: as the user reads them.
    let rank = |n: &Note| ini.files.iter().position(|f| *f == n.file);
    notes.sort_by_key(|n| (rank(n), n.line));
    let mut unsupported: Vec<String> = notes.iter().map(Note::to_string).collect();
    unsupported.extend(loader_problems(&path, &toml));
    Ok(Translation { toml, unsupported })
}

/// What taskmaster's own loader finds wrong with the translation (a value supervisor takes
/// and taskmaster does not, like numprocs above 10000), so nobody learns it at start-up.
fn loader_problems(main: &Path, toml: &str) -> Vec<String> {
    let as_file = main.with_file_name("taskmaster.toml");
    match crate::config::check_text(&as_file, toml) {
        Ok(_) => Vec::new(),
        Err(errors) => errors
            .into_iter()
            .map(|mut e| {
                e.file = PathBuf::from("(translated TOML)");
                format!("{e} (taskmaster would refuse this; fix it in the output)")
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "[supervisord]\nlogfile=%(here)s/sd.log\nenvironment=A=\"1\",B=x\n\n\
        [program:w]\ncommand=/bin/w --n %(process_num)02d\nprocess_name=%(program_name)s_%(process_num)02d\n\
        numprocs=3\nautorestart=unexpected\nexitcodes=0,2\nstdout_logfile=/l/%(program_name)s.log\n\
        stdout_logfile_maxbytes=1MB\nredirect_stderr=true\numask=022\nenvironment=\n  C=\"%(ENV_A)s\",\n  D=2\n\
        [include]\nfiles=*.ini\n";

    /// Mangled files give an error or a translation, never a panic.
    #[test]
    fn mangled_files_never_panic() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("s.conf");
        let bytes = SAMPLE.as_bytes();
        let pieces: &[&[u8]] = &[
            b"%",
            b"%(",
            b")s",
            b"[",
            b"]",
            b"=",
            b"\n  ",
            b"\"",
            b"\\",
            b"\xc3\xa9",
            b";",
            b"*",
            b"\n",
            b":",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..1000 {
            let mut text = bytes.to_vec();
            for _ in 0..(next() % 4 + 1) {
                let at = (next() as usize) % (text.len() + 1);
                match next() % 3 {
                    0 => {
                        let piece = pieces[(next() as usize) % pieces.len()];
                        text.splice(at..at, piece.iter().copied());
                    }
                    1 if at < text.len() => {
                        text.remove(at);
                    }
                    _ => text.truncate(at),
                }
            }
            std::fs::write(&path, &text).expect("write");
            let _ = translate_with_env(&path, &[]);
        }
    }
}
