//! Turning a TOML or YAML error into a [`ConfigError`]: line and column from the format's
//! position (or the walk's own note of where it was), program and key from the walk, and,
//! for syntax errors found before the walk began, from the text around the position.

use std::path::Path;

use super::ConfigError;
use super::de::{At, Ctx};

pub(super) fn toml_error(err: &toml::de::Error, ctx: &Ctx, file: &Path) -> ConfigError {
    let at = ctx.at();
    let offset = at.span.clone().or_else(|| err.span()).map(|s| s.start);
    let position = offset.map(|o| line_col(ctx.text, o));
    let guess = offset
        .map(|o| toml_context(ctx.text, o))
        .unwrap_or_default();
    let message = match err.message() {
        "" => toml_blank_message(ctx.text, offset),
        m => m.to_owned(),
    };
    build(file, position, at, guess, &message)
}

/// toml has no words for some characters it refuses; say what is there.
fn toml_blank_message(text: &str, offset: Option<usize>) -> String {
    let found = offset
        .and_then(|o| text.get(o..))
        .and_then(|rest| rest.chars().next());
    match found {
        Some(c) if c.is_control() => format!(
            "invalid character U+{:04X} (TOML allows no control characters but tab here)",
            u32::from(c)
        ),
        Some(c) => format!("invalid TOML syntax at {c:?}"),
        None => "invalid TOML syntax".to_owned(),
    }
}

pub(super) fn yaml_error(err: &serde_yaml_ng::Error, ctx: &Ctx, file: &Path) -> ConfigError {
    let at = ctx.at();
    let mut message = err.to_string();
    let mut position = None;
    if let Some(loc) = err.location() {
        let mark = format!(" at line {} column {}", loc.line(), loc.column());
        message = message.replacen(&mark, "", 1);
        position = Some((loc.line(), loc.column()));
    }
    if at.key_error {
        // The walk was between a key and its value: serde_yaml_ng points at the enclosing
        // mapping, the key itself is more useful.
        let mut path = Vec::new();
        path.extend(
            at.program
                .as_deref()
                .map(|p| vec!["programs", p])
                .unwrap_or_default(),
        );
        // Alert keys are written whole (`alerts.oncall.on`): one step per part.
        path.extend(at.key.as_deref().into_iter().flat_map(|k| k.split('.')));
        // A missing key is not in the text: point at its table instead.
        let found = (1..=path.len())
            .rev()
            .find_map(|n| yaml_find(ctx.text, &path[..n]));
        // Outside a program, a key not at the top level is one of `taskmaster:`'s.
        let in_taskmaster = || {
            let key = at.key.as_deref()?;
            at.program.is_none().then_some(())?;
            yaml_find(ctx.text, &["taskmaster", key])
        };
        position = found.or_else(in_taskmaster).or(position);
    }
    let guess = position
        .map(|(line, _)| yaml_context(ctx.text, line))
        .unwrap_or_default();
    build(file, position, at, guess, strip_yaml_path(&message))
}

fn build(
    file: &Path,
    position: Option<(usize, usize)>,
    at: At,
    guess: Guess,
    message: &str,
) -> ConfigError {
    let walked = at.program.is_some() || at.key.is_some();
    let (program, key) = if walked {
        (at.program, at.key)
    } else {
        (guess.program, guess.key)
    };
    let mut message = message
        .trim()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    if !walked && key.as_deref() == Some("umask") {
        // TOML forbids leading zeros, so `umask = 022` is a syntax error.
        message.push_str(" (write the umask as a string, like umask = \"022\")");
    }
    ConfigError {
        file: file.to_path_buf(),
        line: position.map(|p| p.0),
        column: position.map(|p| p.1),
        program,
        key,
        message,
    }
}

/// serde_yaml_ng prefixes messages with the path it was at (`programs.web.umask: ...`); the
/// error names program and key already.
fn strip_yaml_path(message: &str) -> &str {
    match message.split_once(": ") {
        Some((path, rest)) if !path.is_empty() && !path.contains(char::is_whitespace) => rest,
        _ => message,
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Guess {
    pub program: Option<String>,
    pub key: Option<String>,
}

fn guess_from_path(path: &[String]) -> Guess {
    match path {
        [top, program, rest @ ..] if top == "programs" => Guess {
            program: Some(program.clone()),
            key: rest.first().cloned(),
        },
        [top, alert, rest @ ..] if top == "alerts" => Guess {
            program: None,
            key: Some(match rest.first() {
                Some(key) => format!("alerts.{alert}.{key}"),
                None => format!("alerts.{alert}"),
            }),
        },
        [top, key, ..] if top == "taskmaster" => Guess {
            program: None,
            key: Some(key.clone()),
        },
        [key] if key != "programs" && key != "taskmaster" && key != "alerts" => Guess {
            program: None,
            key: Some(key.clone()),
        },
        _ => Guess::default(),
    }
}

/// The program and key at `offset`: the last `[table]` header above it plus the key
/// on its line.
pub(super) fn toml_context(text: &str, offset: usize) -> Guess {
    let (line_no, _) = line_col(text, offset);
    let mut header: Vec<String> = Vec::new();
    let mut path = Vec::new();
    for (i, line) in text.lines().take(line_no).enumerate() {
        let t = line.trim_start();
        if let Some(h) = t.strip_prefix('[') {
            header = toml_key_parts(h.strip_prefix('[').unwrap_or(h)).0;
            path = header.clone();
        } else if i + 1 == line_no {
            let (parts, rest) = toml_key_parts(t);
            path = header.clone();
            if rest.trim_start().starts_with('=') {
                path.extend(parts);
            }
        }
    }
    guess_from_path(&path)
}

/// Splits a dotted TOML key (`programs."my web".cmd`) and returns the text after it.
fn toml_key_parts(s: &str) -> (Vec<String>, &str) {
    let mut parts = Vec::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start();
        let (part, after) = if let Some(r) = rest.strip_prefix('"') {
            match quoted_end(r, '"') {
                Some(end) => (r[..end].replace("\\\"", "\""), &r[end + 1..]),
                None => break,
            }
        } else if let Some(r) = rest.strip_prefix('\'') {
            match quoted_end(r, '\'') {
                Some(end) => (r[..end].to_owned(), &r[end + 1..]),
                None => break,
            }
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .unwrap_or(rest.len());
            if end == 0 {
                break;
            }
            (rest[..end].to_owned(), &rest[end..])
        };
        parts.push(part);
        rest = after.trim_start();
        match rest.strip_prefix('.') {
            Some(r) => rest = r,
            None => break,
        }
    }
    (parts, rest)
}

fn quoted_end(s: &str, quote: char) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quote == '"' => escaped = true,
            _ if c == quote => return Some(i),
            _ => {}
        }
    }
    None
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_blank_yaml(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// The key of a `key: value` or `key:` line, unquoted.
fn yaml_key(line: &str) -> Option<String> {
    let t = line.trim();
    let end = t.find(": ").or_else(|| t.strip_suffix(':').map(str::len))?;
    let key = t[..end].trim();
    let key = key
        .strip_prefix('"')
        .and_then(|k| k.strip_suffix('"'))
        .or_else(|| key.strip_prefix('\'').and_then(|k| k.strip_suffix('\'')))
        .unwrap_or(key);
    Some(key.to_owned())
}

/// The keys enclosing (and on) a 1-based line of a block-style YAML file.
pub(super) fn yaml_context(text: &str, line: usize) -> Guess {
    let lines: Vec<&str> = text.lines().collect();
    let last = line.saturating_sub(1).min(lines.len().saturating_sub(1));
    let mut chain = Vec::new();
    let mut limit = usize::MAX;
    for l in lines.iter().take(last + 1).rev() {
        if is_blank_yaml(l) || indent(l) >= limit {
            continue;
        }
        if let Some(k) = yaml_key(l) {
            chain.push(k);
        }
        limit = indent(l);
        if limit == 0 {
            break;
        }
    }
    chain.reverse();
    guess_from_path(&chain)
}

/// 1-based line and column of the key at `path` (`programs`, `web`, `umask`) in block YAML;
/// the last such key where it repeats.
pub(super) fn yaml_find(text: &str, path: &[&str]) -> Option<(usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut start = 0;
    let mut parent_indent: Option<usize> = None;
    let mut found = None;
    for (depth, want) in path.iter().enumerate() {
        let last_part = depth + 1 == path.len();
        let mut hit = None;
        for (i, l) in lines.iter().enumerate().skip(start) {
            if is_blank_yaml(l) {
                continue;
            }
            match parent_indent {
                Some(p) if indent(l) <= p => break,
                None if indent(l) > 0 => continue,
                _ => {}
            }
            if yaml_key(l).as_deref() == Some(*want) {
                hit = Some(i);
                if !last_part {
                    break;
                }
            }
        }
        let i = hit?;
        parent_indent = Some(indent(lines[i]));
        start = i + 1;
        found = Some((i + 1, indent(lines[i]) + 1));
    }
    found
}

/// Best-effort 1-based line of `key` in program `program`, for errors found after parsing
/// (across programs): in TOML the first `key` line after `[programs.NAME]`, in YAML through
/// the block structure.
pub(super) fn key_line(text: &str, program: &str, key: &str) -> Option<usize> {
    if let Some((line, _)) = yaml_find(text, &["programs", program, key]) {
        return Some(line);
    }
    let header = format!("[programs.{program}]");
    let mut inside = false;
    for (i, l) in text.lines().enumerate() {
        let l = l.trim();
        if l.starts_with('[') {
            inside = l == header;
        } else if inside && l.starts_with(key) && l[key.len()..].trim_start().starts_with('=') {
            return Some(i + 1);
        }
    }
    None
}
