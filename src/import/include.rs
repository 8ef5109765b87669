//! `[include] files = a.conf conf.d/*.conf`: each space-separated pattern, relative to the
//! including file's folder, matched like Python's `glob.glob` (`*`, `?`, `[...]`, no hidden
//! files unless the pattern says `.`), matches read in sorted order.

use std::path::{Component, Path, PathBuf};

use super::expand::{Names, expand};
use super::ini::Ini;
use super::{ImportError, Note};

/// Reads `main` and the files its `[include]` names, in supervisord's order. Notes (patterns
/// matching nothing, nested includes) come back beside the INI.
pub fn read_all(
    main: &Path,
    env: &[(String, String)],
    host: &str,
) -> Result<(Ini, Vec<Note>), ImportError> {
    let mut ini = Ini::default();
    ini.read(main, &read_text(main)?)?;
    let mut notes = Vec::new();
    let Some(section) = ini.section("include").cloned() else {
        return Ok((ini, notes));
    };
    let Some(files) = section.get("files").cloned() else {
        return Err(ImportError::at(
            main,
            section.line,
            "[include] has no files = ... setting",
        ));
    };
    let base = main.parent().unwrap_or(Path::new("/"));
    let mut names = Names::default();
    for (k, v) in env {
        names.set_str(&format!("ENV_{k}"), v);
    }
    names.set_str("here", &base.display().to_string());
    names.set_str("host_node_name", host);
    let at = |message: String| ImportError::at(main, files.line, message);
    let patterns = expand(&files.value, &names).map_err(|m| at(format!("[include] files: {m}")))?;
    for pattern in patterns.split_whitespace() {
        let matched = if has_magic(pattern) {
            glob(base, pattern)
        } else {
            let file = base.join(pattern);
            if !file.is_file() {
                return Err(at(format!(
                    "[include] files: {} does not exist",
                    file.display()
                )));
            }
            vec![file]
        };
        if matched.is_empty() {
            notes.push(Note::at(
                main,
                files.line,
                format!(
                    "[include] files: no file matches {}",
                    base.join(pattern).display()
                ),
            ));
        }
        for file in matched {
            ini.read(&file, &read_text(&file)?)?;
        }
    }
    if let Some(last) = ini.section("include").and_then(|s| s.get("files"))
        && last.file != main
    {
        notes.push(Note::at(
            &last.file,
            last.line,
            "[include] in an included file is not followed (supervisord does not follow it \
             either)"
                .to_owned(),
        ));
    }
    Ok((ini, notes))
}

fn read_text(file: &Path) -> Result<String, ImportError> {
    std::fs::read_to_string(file)
        .map_err(|e| ImportError::whole(file, format!("cannot read the file: {e}")))
}

/// Files matching `pattern` (absolute, or relative to `base`), sorted.
pub fn glob(base: &Path, pattern: &str) -> Vec<PathBuf> {
    let full = base.join(pattern);
    let mut found = vec![PathBuf::new()];
    for part in full.components() {
        let name = match part {
            Component::Normal(n) => n.to_string_lossy().into_owned(),
            other => {
                for f in &mut found {
                    f.push(other.as_os_str());
                }
                continue;
            }
        };
        if !has_magic(&name) {
            found = found
                .into_iter()
                .map(|f| f.join(&name))
                .filter(|f| f.symlink_metadata().is_ok())
                .collect();
            continue;
        }
        let mut next = Vec::new();
        for dir in &found {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let entry_name = entry.file_name().to_string_lossy().into_owned();
                if entry_name.starts_with('.') && !name.starts_with('.') {
                    continue;
                }
                if matches(&name, &entry_name) {
                    next.push(dir.join(&entry_name));
                }
            }
        }
        found = next;
    }
    found.retain(|f| f.is_file());
    found.sort();
    found
}

pub fn has_magic(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// fnmatch: `*` any run, `?` one character, `[abc]`/`[a-z]`/`[!a]` one of a set.
fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    match_from(&p, &n)
}

fn match_from(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => (0..=n.len()).any(|skip| match_from(&p[1..], &n[skip..])),
        Some('?') => !n.is_empty() && match_from(&p[1..], &n[1..]),
        Some('[') => match (set_end(p), n.first()) {
            (Some(end), Some(c)) => in_set(&p[1..end], *c) && match_from(&p[end + 1..], &n[1..]),
            // An unclosed `[` is a plain character, as in Python.
            (None, Some('[')) => match_from(&p[1..], &n[1..]),
            _ => false,
        },
        Some(c) => n.first() == Some(c) && match_from(&p[1..], &n[1..]),
    }
}

/// Index of the `]` closing the set opened at `p[0]`; a `]` first in the set is a member.
fn set_end(p: &[char]) -> Option<usize> {
    let mut i = 1;
    if p.get(i) == Some(&'!') {
        i += 1;
    }
    if p.get(i) == Some(&']') {
        i += 1;
    }
    p[i..].iter().position(|&c| c == ']').map(|at| at + i)
}

fn in_set(set: &[char], c: char) -> bool {
    let (negate, set) = match set.first() {
        Some('!') => (true, &set[1..]),
        _ => (false, set),
    };
    let mut i = 0;
    let mut hit = false;
    while i < set.len() {
        if i + 2 < set.len() && set[i + 1] == '-' {
            hit |= set[i] <= c && c <= set[i + 2];
            i += 3;
        } else {
            hit |= set[i] == c;
            i += 1;
        }
    }
    hit != negate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnmatch_patterns() {
        for (p, n, want) in [
            ("*.conf", "web.conf", true),
            ("*.conf", "web.ini", false),
            ("w?b.conf", "web.conf", true),
            ("[a-m]*.conf", "db.conf", true),
            ("[!a-m]*.conf", "db.conf", false),
            ("*", "", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
        ] {
            assert_eq!(matches(p, n), want, "{p} vs {n}");
        }
    }

    #[test]
    fn glob_finds_sorted_files_and_skips_hidden_ones() {
        let dir = tempfile::tempdir().expect("temp dir");
        let conf = dir.path().join("conf.d");
        std::fs::create_dir(&conf).expect("mkdir");
        for f in ["b.conf", "a.conf", ".hidden.conf", "c.ini"] {
            std::fs::write(conf.join(f), "").expect("write");
        }
        std::fs::create_dir(conf.join("d.conf")).expect("a directory is not a file");
        let names = |v: Vec<PathBuf>| -> Vec<String> {
            v.iter()
                .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
                .collect()
        };
        assert_eq!(
            names(glob(dir.path(), "conf.d/*.conf")),
            ["a.conf", "b.conf"]
        );
        assert_eq!(names(glob(dir.path(), "*/c.ini")), ["c.ini"]);
        let abs = format!("{}/conf.d/*.ini", dir.path().display());
        assert_eq!(names(glob(Path::new("/elsewhere"), &abs)), ["c.ini"]);
        assert!(glob(dir.path(), "nope/*.conf").is_empty());
    }
}
