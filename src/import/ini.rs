//! The INI dialect supervisor reads (Python's `RawConfigParser` as supervisor sets it up):
//! `[section]` headers, `key = value` or `key: value` with keys lowercased, values continued
//! on more-indented lines, `;` and `#` comments on their own line or after whitespace, a
//! section seen twice merged with the later value of a key winning.

use std::path::{Path, PathBuf};

use super::ImportError;

/// One `key = value`, with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    /// Continuation lines joined with `\n`, as Python joins them.
    pub value: String,
    pub file: PathBuf,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    /// Where the section was first opened.
    pub file: PathBuf,
    pub line: usize,
    pub entries: Vec<Entry>,
}

impl Section {
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }
}

/// Sections in the order they first appear, across every file read into it.
#[derive(Debug, Clone, Default)]
pub struct Ini {
    pub sections: Vec<Section>,
    /// Every file read into it, in order.
    pub files: Vec<PathBuf>,
}

impl Ini {
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// Parses `text` (from `file`) into this INI; a section already present is extended.
    pub fn read(&mut self, file: &Path, text: &str) -> Result<(), ImportError> {
        self.files.push(file.to_path_buf());
        let mut current: Option<usize> = None;
        // The key being read and the indentation of its line, for continuation lines.
        let mut open: Option<(usize, usize)> = None;
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let err = |message: String| ImportError::at(file, line_no, message);
            let value = strip_comment(raw).trim();
            if value.is_empty() {
                continue;
            }
            let indent = raw.len() - raw.trim_start().len();
            if let (Some(s), Some((entry, key_indent))) = (current, open)
                && indent > key_indent
            {
                let e = &mut self.sections[s].entries[entry];
                e.value.push('\n');
                e.value.push_str(value);
                continue;
            }
            open = None;
            if let Some(header) = value.strip_prefix('[') {
                let Some(end) = header.rfind(']') else {
                    return Err(err(format!(
                        "section header {value:?} lacks its closing ']'"
                    )));
                };
                let name = header[..end].trim();
                if name.is_empty() {
                    return Err(err("empty section name '[]'".to_owned()));
                }
                current = Some(self.open_section(name, file, line_no));
                continue;
            }
            let Some(s) = current else {
                return Err(err(format!("{value:?} comes before any [section] header")));
            };
            let Some(cut) = value.find(['=', ':']) else {
                return Err(err(format!(
                    "{value:?} is neither a [section] header nor a key = value line"
                )));
            };
            let key = value[..cut].trim().to_lowercase();
            if key.is_empty() {
                return Err(err(format!(
                    "{value:?} has no key before '{}'",
                    &value[cut..=cut]
                )));
            }
            let entry = Entry {
                key,
                value: value[cut + 1..].trim().to_owned(),
                file: file.to_path_buf(),
                line: line_no,
            };
            let entries = &mut self.sections[s].entries;
            let at = match entries.iter().position(|e| e.key == entry.key) {
                Some(at) => {
                    entries[at] = entry;
                    at
                }
                None => {
                    entries.push(entry);
                    entries.len() - 1
                }
            };
            open = Some((at, indent));
        }
        Ok(())
    }

    fn open_section(&mut self, name: &str, file: &Path, line: usize) -> usize {
        if let Some(at) = self.sections.iter().position(|s| s.name == name) {
            return at;
        }
        self.sections.push(Section {
            name: name.to_owned(),
            file: file.to_path_buf(),
            line,
            entries: Vec::new(),
        });
        self.sections.len() - 1
    }
}

/// A line without its comment: one starting with `;` or `#`, or a `;`/`#` after whitespace
/// (inside quotes too: Python's parser knows no quotes).
fn strip_comment(line: &str) -> &str {
    let t = line.trim_start();
    if t.starts_with(';') || t.starts_with('#') {
        return "";
    }
    let bytes = line.as_bytes();
    let cut = (1..bytes.len())
        .find(|&i| (bytes[i] == b';' || bytes[i] == b'#') && bytes[i - 1].is_ascii_whitespace());
    match cut {
        Some(i) => &line[..i],
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Ini, ImportError> {
        let mut ini = Ini::default();
        ini.read(Path::new("/s/supervisord.conf"), text)?;
        Ok(ini)
    }

    #[test]
    fn keys_values_comments_and_continuations_read_as_python_reads_them() {
        let ini = parse(
            "; a comment\n[program:web]\nCommand = /bin/web --port 80 ; trailing\n\
             autostart: true\nenvironment =\n    A=\"1\",\n    B=\"2\"\n# done\n\
             url=http://x/#frag\n",
        )
        .expect("parses");
        let s = ini.section("program:web").expect("section");
        assert_eq!(s.line, 2);
        let get = |k: &str| s.get(k).map(|e| (e.value.as_str(), e.line));
        assert_eq!(
            get("command"),
            Some(("/bin/web --port 80", 3)),
            "key lowercased"
        );
        assert_eq!(get("autostart"), Some(("true", 4)), "':' separates too");
        assert_eq!(get("environment"), Some(("\nA=\"1\",\nB=\"2\"", 5)));
        assert_eq!(
            get("url"),
            Some(("http://x/#frag", 9)),
            "'#' after no space stays"
        );
    }

    #[test]
    fn a_section_read_twice_is_merged_and_the_later_key_wins() {
        let mut ini = parse("[program:a]\ncommand=one\nnumprocs=2\n").expect("parses");
        ini.read(Path::new("/s/b.conf"), "[program:a]\ncommand=two\n")
            .expect("parses");
        let s = ini.section("program:a").expect("section");
        let cmd = s.get("command").expect("command");
        assert_eq!(
            (cmd.value.as_str(), cmd.file.as_path()),
            ("two", Path::new("/s/b.conf"))
        );
        assert_eq!(s.get("numprocs").map(|e| e.value.as_str()), Some("2"));
    }

    #[test]
    fn malformed_lines_are_errors_with_their_line() {
        for (text, line) in [
            ("command=x\n", 1),
            ("[program:a]\ncommand=x\njust words\n", 3),
            ("[program:a\ncommand=x\n", 1),
            ("[program:a]\n= x\n", 2),
            ("\n[]\n", 2),
        ] {
            let err = parse(text).expect_err(text);
            assert_eq!(err.line, Some(line), "{text:?}: {err}");
            assert!(err.to_string().starts_with("/s/supervisord.conf:"), "{err}");
        }
    }
}
