//! supervisor's `%(name)s` expansions: Python's `%` formatting against a dictionary, the
//! subset supervisor configs use (`%(name)s`, `%(name)d`, `%(name)02d`, `%%`).

use std::collections::BTreeMap;

/// A value an expansion can take: supervisor's names are strings, except `process_num` and
/// `numprocs`, which are integers (so `%(process_num)02d` works and `%(program_name)d` not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Str(String),
    Int(i64),
}

/// The names known at one point of a translation.
#[derive(Debug, Clone, Default)]
pub struct Names {
    map: BTreeMap<String, Value>,
    /// Left as written: expansions taskmaster's own config does (`%(process_num)02d` in log
    /// paths).
    kept: Vec<String>,
}

impl Names {
    pub fn set(&mut self, name: &str, value: Value) {
        self.map.insert(name.to_owned(), value);
    }

    pub fn set_str(&mut self, name: &str, value: &str) {
        self.set(name, Value::Str(value.to_owned()));
    }

    /// Leaves `%(name)...` as written instead of expanding it. The result is then a template
    /// again (taskmaster's log paths), so a literal `%` in it is written `%%`.
    pub fn keep(&mut self, name: &str) {
        self.kept.push(name.to_owned());
    }

    /// Why `name` cannot be expanded: an unset variable, or a name supervisor does not have.
    fn unknown(&self, name: &str, text: &str) -> String {
        if let Some(var) = name.strip_prefix("ENV_") {
            return format!(
                "'%({name})' in {text:?}: the environment variable {var} is not set \
                 (nor in an environment = setting)"
            );
        }
        let names: Vec<&str> = self
            .map
            .keys()
            .map(String::as_str)
            .filter(|k| !k.starts_with("ENV_"))
            .collect();
        format!(
            "unknown expansion '%({name})' in {text:?} (known: {}, ENV_<variable>)",
            names.join(", ")
        )
    }
}

/// Expands every `%(name)spec` of `text`; an unknown name or a stray `%` is an error worded
/// like supervisor's.
pub fn expand(text: &str, names: &Names) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let template = !names.kept.is_empty();
        if let Some(r) = after.strip_prefix('%') {
            out.push_str(if template { "%%" } else { "%" });
            rest = r;
            continue;
        }
        let Some(inner) = after.strip_prefix('(') else {
            return Err(format!(
                "'%' must be followed by (name) or doubled as '%%' in {text:?}"
            ));
        };
        let Some(close) = inner.find(')') else {
            return Err(format!("unclosed '%(' in {text:?}"));
        };
        let name = &inner[..close];
        let (spec, conversion, tail) = split_spec(&inner[close + 1..])
            .ok_or_else(|| format!("'%({name})' lacks a conversion such as s or d in {text:?}"))?;
        if names.kept.iter().any(|k| k == name) {
            out.push_str(&rest[at..rest.len() - tail.len()]);
        } else {
            let value = names
                .map
                .get(name)
                .ok_or_else(|| names.unknown(name, text))?;
            let text = format_one(name, value, spec, conversion)?;
            out.push_str(&if template {
                text.replace('%', "%%")
            } else {
                text
            });
        }
        rest = tail;
    }
    out.push_str(rest);
    Ok(out)
}

/// `02d` → (`02`, 'd', rest). Flags and width only; no precision.
fn split_spec(s: &str) -> Option<(&str, char, &str)> {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || "-+ #".contains(c)))
        .unwrap_or(s.len());
    let conversion = s[end..].chars().next()?;
    "sdir".contains(conversion).then(|| {
        let tail = &s[end + conversion.len_utf8()..];
        (&s[..end], conversion, tail)
    })
}

fn format_one(name: &str, value: &Value, spec: &str, conversion: char) -> Result<String, String> {
    let left = spec.contains('-');
    let zero = !left
        && spec
            .trim_start_matches(['-', '+', ' ', '#'])
            .starts_with('0');
    let width: usize = spec
        .trim_start_matches(['-', '+', ' ', '#', '0'])
        .parse()
        .unwrap_or(0);
    let text = match (conversion, value) {
        ('s' | 'r', Value::Str(s)) => s.clone(),
        (_, Value::Int(n)) => n.to_string(),
        (_, Value::Str(_)) => {
            return Err(format!(
                "'%({name}){spec}{conversion}' needs a number, but {name} is text"
            ));
        }
    };
    let pad = width.saturating_sub(text.chars().count());
    Ok(match (left, zero, value) {
        (true, _, _) => format!("{text}{}", " ".repeat(pad)),
        (false, true, Value::Int(n)) if *n < 0 => {
            format!("-{}{}", "0".repeat(pad), &text[1..])
        }
        (false, true, Value::Int(_)) => format!("{}{text}", "0".repeat(pad)),
        _ => format!("{}{text}", " ".repeat(pad)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        let mut n = Names::default();
        n.set_str("program_name", "worker");
        n.set_str("here", "/etc/supervisor");
        n.set_str("ENV_HOME", "/home/u");
        n.set("process_num", Value::Int(3));
        n
    }

    #[test]
    fn names_expand_as_python_formats_them() {
        let n = names();
        for (text, want) in [
            ("%(program_name)s_%(process_num)02d", "worker_03"),
            (
                "%(here)s/../log/%(program_name)s.log",
                "/etc/supervisor/../log/worker.log",
            ),
            ("%(ENV_HOME)s/bin", "/home/u/bin"),
            ("50%% of %(process_num)d", "50% of 3"),
            ("[%(process_num)3d] [%(process_num)-3d]", "[  3] [3  ]"),
            ("no expansion", "no expansion"),
        ] {
            assert_eq!(expand(text, &n).as_deref(), Ok(want), "{text}");
        }
    }

    #[test]
    fn kept_names_stay_as_written() {
        let mut n = names();
        n.keep("process_num");
        assert_eq!(
            expand("/var/log/%(program_name)s-%(process_num)02d.log", &n).as_deref(),
            Ok("/var/log/worker-%(process_num)02d.log")
        );
        n.set_str("ENV_P", "a%b");
        assert_eq!(
            expand("/x/100%%/%(ENV_P)s.%(process_num)d", &n).as_deref(),
            Ok("/x/100%%/a%%b.%(process_num)d"),
            "a literal % stays literal in the template"
        );
    }

    #[test]
    fn unknown_names_and_stray_percent_signs_are_errors() {
        let n = names();
        let err = expand("%(ENV_NOPE)s", &n).expect_err("unset");
        assert!(err.contains("NOPE is not set"), "{err}");
        let err = expand("%(nope)s", &n).expect_err("unknown");
        assert!(
            err.contains("'%(nope)'") && err.contains("program_name") && !err.contains("ENV_HOME"),
            "names the unknown and the known: {err}"
        );
        for bad in [
            "50%",
            "%s",
            "%(here",
            "%(here)",
            "%(here)q",
            "%(program_name)d",
        ] {
            assert!(expand(bad, &n).is_err(), "{bad:?} is refused");
        }
    }
}
