//! `taskmaster check`: every problem of a config file, not only the first. The walk stops at
//! the first error (serde cannot go on inside a broken YAML value), so the file is read again
//! with each reported program or key passed over until it reads through; a syntax error,
//! which hides everything after it, is reported alone.

use std::path::Path;

use super::de::Skip;
use super::{Config, ConfigError, parse_skipping};

/// Enough for any real file; a bound so a pathological one cannot take forever.
const MAX_ERRORS: usize = 100;

/// Reads and validates a config file, collecting every problem found (in file order).
pub fn check(path: &Path) -> Result<Config, Vec<ConfigError>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![ConfigError::whole_file(
            path,
            format!("cannot read the config file: {e}"),
        )]
    })?;
    check_text(path, &text)
}

/// [`check`] on text already read; `path` decides the format, as for [`super::parse`].
pub fn check_text(path: &Path, text: &str) -> Result<Config, Vec<ConfigError>> {
    let mut skip = Skip::default();
    let mut errors: Vec<ConfigError> = Vec::new();
    loop {
        match parse_skipping(path, text, skip.clone()) {
            Ok(config) if errors.is_empty() => return Ok(config),
            Ok(_) => break,
            Err(e) => {
                let new = !errors.contains(&e);
                let passable = skip.add(e.program.as_deref(), e.key.as_deref());
                if new {
                    errors.push(e);
                }
                if !new || !passable || errors.len() >= MAX_ERRORS {
                    break;
                }
            }
        }
    }
    // Stable: errors without a line (the file as a whole) stay first.
    errors.sort_by_key(|e| (e.line, e.column));
    Err(errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn places(errors: &[ConfigError]) -> Vec<(Option<usize>, Option<&str>, Option<&str>)> {
        errors
            .iter()
            .map(|e| (e.line, e.program.as_deref(), e.key.as_deref()))
            .collect()
    }

    #[test]
    fn every_bad_key_of_every_program_is_reported_in_file_order() {
        let text = "\
[taskmaster]
logfile = 3

[programs.a]
cmd = \"true\"
stopsignl = \"TERM\"
numprocs = -1

[programs.b]
numprocs = 2

[programs.ok]
cmd = \"true\"

[programs.\"bad name\"]
cmd = \"true\"
";
        let errors = check_text(Path::new("/t/c.toml"), text).expect_err("four problems");
        assert_eq!(
            places(&errors),
            [
                (Some(2), None, Some("logfile")),
                (Some(6), Some("a"), Some("stopsignl")),
                (Some(7), Some("a"), Some("numprocs")),
                (Some(9), Some("b"), Some("cmd")),
                (Some(15), Some("bad name"), None),
            ],
            "each problem once, with its line, program and key: {errors:#?}"
        );
        assert!(
            errors[3].message.contains("missing the command"),
            "{errors:#?}"
        );
    }

    #[test]
    fn yaml_problems_are_all_reported_too() {
        let text = "\
programs:
  a:
    cmd: true
    autorestart: sometimes
  b:
    cmd: true
    umask: 999
    nope: 1
";
        let errors = check_text(Path::new("/t/c.yaml"), text).expect_err("three problems");
        assert_eq!(
            places(&errors),
            [
                (Some(4), Some("a"), Some("autorestart")),
                (Some(7), Some("b"), Some("umask")),
                (Some(8), Some("b"), Some("nope")),
            ],
            "{errors:#?}"
        );
    }

    #[test]
    fn dependency_problems_are_reported_with_the_rest() {
        let text = "\
[programs.a]
cmd = \"true\"
depends_on = [\"b\"]
[programs.b]
cmd = \"true\"
depends_on = [\"a\"]
numprocs = 0
[programs.c]
cmd = \"true\"
depends_on = [\"zz\"]
";
        let errors = check_text(Path::new("/t/c.toml"), text).expect_err("three problems");
        assert_eq!(
            places(&errors),
            [
                (Some(3), Some("a"), Some("depends_on")),
                (Some(7), Some("b"), Some("numprocs")),
                (Some(10), Some("c"), Some("depends_on")),
            ],
            "{errors:#?}"
        );
        assert!(errors[0].message.contains("cycle"), "{errors:#?}");
    }

    #[test]
    fn a_syntax_error_is_reported_alone() {
        let text = "[programs.a]\ncmd = \"true\nnumprocs = x\n";
        let errors = check_text(Path::new("/t/c.toml"), text).expect_err("syntax error");
        assert_eq!(errors.len(), 1, "one error for a syntax error: {errors:#?}");
        assert_eq!(errors[0].line, Some(2), "{errors:#?}");
    }

    #[test]
    fn a_good_file_gives_the_config() {
        let text = "[programs.a]\ncmd = \"true\"\n[programs.b]\ncmd = \"sleep 1\"\n";
        let config = check_text(Path::new("/t/c.toml"), text).expect("valid");
        assert_eq!(config.programs.len(), 2);
        let missing = check(Path::new("/nonexistent/t.toml")).expect_err("unreadable");
        assert!(
            missing[0].to_string().contains("/nonexistent/t.toml"),
            "{missing:?}"
        );
    }
}
