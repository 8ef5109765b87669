//! Writing the translated config as TOML text: tables in the order they were translated,
//! keys in a fixed order, a comment naming where each program came from.

use std::fmt::Write as _;

/// A TOML value, already checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Str(String),
    Int(i64),
    Bool(bool),
    Ints(Vec<i64>),
}

impl Val {
    fn write(&self, out: &mut String) {
        match self {
            Val::Str(s) => out.push_str(&quote(s)),
            Val::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Val::Bool(b) => {
                let _ = write!(out, "{b}");
            }
            Val::Ints(list) => {
                let items: Vec<String> = list.iter().map(i64::to_string).collect();
                let _ = write!(out, "[{}]", items.join(", "));
            }
        }
    }
}

/// One `[table]` with its keys, and an optional comment after the header.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub header: String,
    pub comment: Option<String>,
    pub keys: Vec<(String, Val)>,
}

impl Table {
    pub fn new(path: &[&str]) -> Table {
        Table {
            header: path.iter().map(|p| key(p)).collect::<Vec<_>>().join("."),
            ..Table::default()
        }
    }

    pub fn set(&mut self, k: &str, v: Val) {
        match self.keys.iter_mut().find(|(name, _)| name == k) {
            Some(slot) => slot.1 = v,
            None => self.keys.push((k.to_owned(), v)),
        }
    }

    pub fn write(&self, out: &mut String) {
        if !out.is_empty() {
            out.push('\n');
        }
        let _ = write!(out, "[{}]", self.header);
        if let Some(c) = &self.comment {
            let _ = write!(out, "  # {}", c.replace('\n', " "));
        }
        out.push('\n');
        for (k, v) in &self.keys {
            let _ = write!(out, "{} = ", key(k));
            v.write(out);
            out.push('\n');
        }
    }
}

/// A bare key where TOML allows one, else a quoted one.
fn key(k: &str) -> String {
    if !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        k.to_owned()
    } else {
        quote(k)
    }
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_valid_toml() {
        let mut t = Table::new(&["programs", "my app"]);
        t.comment = Some("from a.conf:3".into());
        t.set("cmd", Val::Str("sh -c \"echo \\\\ hi\"\n\u{1}".into()));
        t.set("exitcodes", Val::Ints(vec![0, 2]));
        t.set("autostart", Val::Bool(false));
        let mut env = Table::new(&["programs", "my app", "env"]);
        env.set("A.B", Val::Str("x".into()));
        let mut out = String::new();
        t.write(&mut out);
        env.write(&mut out);
        let parsed: toml::Table = toml::from_str(&out).expect("valid TOML");
        let app = &parsed["programs"]["my app"];
        assert_eq!(app["cmd"].as_str(), Some("sh -c \"echo \\\\ hi\"\n\u{1}"));
        assert_eq!(app["env"]["A.B"].as_str(), Some("x"));
        assert!(
            out.starts_with("[programs.\"my app\"]  # from a.conf:3\n"),
            "{out}"
        );
    }
}
