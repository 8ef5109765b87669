//! supervisor's expansions in log paths: `%(program_name)s`, `%(process_num)d` (with a width,
//! `%(process_num)02d`), `%(here)s` (the config file's folder) and `%%` for a literal `%`.
//! Program name and folder are filled in when the config is read; the process number when a
//! process is spawned, so one `stdout` setting gives each process of a group its own file.

/// What a name expands to at one stage.
enum Value {
    Text(String),
    Number(u64),
    /// Not known yet: the expansion stays in the text for a later stage.
    Later,
}

/// One `%(name)FLAGSWIDTHconv` as written.
struct Spec<'a> {
    name: &'a str,
    zero: bool,
    left: bool,
    width: usize,
    conv: char,
    raw: &'a str,
}

/// Expands every `%(...)` of `text` with `lookup`; `%%` stays `%%` while an expansion is left
/// for later and becomes `%` otherwise. The error names what is wrong.
fn expand(text: &str, lookup: &dyn Fn(&str) -> Option<Value>) -> Result<String, String> {
    // `None` marks a literal percent, written once we know whether anything is left.
    let mut parts: Vec<Option<String>> = Vec::new();
    let mut later = false;
    let mut rest = text;
    while let Some(at) = rest.find('%') {
        parts.push(Some(rest[..at].to_string()));
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("%%") {
            parts.push(None);
            rest = after;
            continue;
        }
        let (spec, after) = parse_spec(tail)?;
        match lookup(spec.name) {
            None => {
                return Err(format!(
                    "unknown expansion '{}' (known: %(program_name)s, %(process_num)d, \
                     %(process_num)02d, %(here)s; write %% for a literal %)",
                    spec.raw
                ));
            }
            Some(Value::Later) => {
                later = true;
                parts.push(Some(spec.raw.to_string()));
            }
            Some(v) => parts.push(Some(format_value(&spec, v)?)),
        }
        rest = after;
    }
    parts.push(Some(rest.to_string()));
    let percent = if later { "%%" } else { "%" };
    Ok(parts
        .iter()
        .map(|p| p.as_deref().unwrap_or(percent))
        .collect())
}

fn parse_spec(tail: &str) -> Result<(Spec<'_>, &str), String> {
    let bad = || {
        format!(
            "a '%' must start an expansion like %(program_name)s or be written %% (in '{}')",
            tail.chars().take(24).collect::<String>()
        )
    };
    let inner = tail.strip_prefix("%(").ok_or_else(bad)?;
    let close = inner.find(')').ok_or_else(bad)?;
    let name = &inner[..close];
    let mut chars = inner[close + 1..].char_indices();
    let (mut zero, mut left, mut width) = (false, false, 0usize);
    let conv_at = loop {
        match chars.next() {
            Some((_, '0')) if width == 0 => zero = true,
            Some((_, '-')) if width == 0 => left = true,
            Some((_, c @ '1'..='9')) | Some((_, c @ '0')) => {
                width = width
                    .saturating_mul(10)
                    .saturating_add(c as usize - '0' as usize)
                    .min(64);
            }
            Some((i, c @ ('s' | 'd'))) => break (i, c),
            _ => return Err(bad()),
        }
    };
    let (i, conv) = conv_at;
    let end = 2 + close + 1 + i + 1;
    Ok((
        Spec {
            name,
            zero,
            left,
            width,
            conv,
            raw: &tail[..end],
        },
        &tail[end..],
    ))
}

fn format_value(spec: &Spec, v: Value) -> Result<String, String> {
    let text = match (v, spec.conv) {
        (Value::Number(n), _) => n.to_string(),
        (Value::Text(t), 's') => t,
        (Value::Text(_), _) => {
            return Err(format!("'{}' is text: write %({})s", spec.raw, spec.name));
        }
        (Value::Later, _) => return Ok(spec.raw.to_string()),
    };
    let pad = spec.width.saturating_sub(text.chars().count());
    Ok(if spec.left {
        format!("{text}{}", " ".repeat(pad))
    } else if spec.zero {
        format!("{}{text}", "0".repeat(pad))
    } else {
        format!("{}{text}", " ".repeat(pad))
    })
}

/// `%` doubled, so a value put into a template is never read as an expansion.
fn escaped(s: &str) -> String {
    s.replace('%', "%%")
}

/// A program's `stdout`/`stderr` when read: program name and folder filled in, the process
/// number left for [`for_process`].
pub(super) fn program_path(text: &str, program: &str, here: &str) -> Result<String, String> {
    expand(text, &|name| match name {
        "program_name" => Some(Value::Text(escaped(program))),
        "here" => Some(Value::Text(escaped(here))),
        "process_num" => Some(Value::Later),
        _ => None,
    })
}

/// `[taskmaster] logfile` and `pidfile`: only `%(here)s`.
pub(super) fn taskmaster_path(text: &str, here: &str) -> Result<String, String> {
    expand(text, &|name| match name {
        "here" => Some(Value::Text(here.to_string())),
        _ => None,
    })
}

/// The path of one process's file: the process number filled in, `%%` made `%`.
pub fn for_process(template: &str, process_num: u32) -> String {
    expand(template, &|name| match name {
        "process_num" => Some(Value::Number(u64::from(process_num))),
        _ => None,
    })
    .unwrap_or_else(|_| template.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_paths_expand_in_two_stages() {
        let t = program_path(
            "%(here)s/%(program_name)s.%(process_num)02d.log",
            "web",
            "/etc",
        )
        .expect("valid");
        assert_eq!(t, "/etc/web.%(process_num)02d.log");
        assert_eq!(for_process(&t, 3), "/etc/web.03.log");
        assert_eq!(for_process(&t, 123), "/etc/web.123.log");
        let t = program_path("/x/%(process_num)d-%(program_name)s", "a%b", "/").expect("ok");
        assert_eq!(for_process(&t, 7), "/x/7-a%b");
    }

    #[test]
    fn literal_percent_is_doubled() {
        assert_eq!(
            program_path("/x/100%%.log", "w", "/").as_deref(),
            Ok("/x/100%.log")
        );
        let t = program_path("/x/%%%(process_num)d", "w", "/").expect("ok");
        assert_eq!(for_process(&t, 1), "/x/%1");
    }

    #[test]
    fn unknown_or_malformed_expansions_are_errors() {
        for bad in [
            "/x/%(host)s",
            "/x/%(program_name)",
            "/x/%d",
            "/x/%(program_name)d",
            "/x/%",
        ] {
            assert!(program_path(bad, "w", "/").is_err(), "{bad}");
        }
        assert!(taskmaster_path("/x/%(program_name)s", "/").is_err());
        assert_eq!(
            taskmaster_path("%(here)s/t.log", "/etc").as_deref(),
            Ok("/etc/t.log")
        );
    }
}
