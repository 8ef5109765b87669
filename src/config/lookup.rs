//! Where the config file is when `-c` is absent (interface.md section 1):
//! `$TASKMASTER_CONFIG`, `./taskmaster.toml`, `./configs/taskmaster.toml`,
//! `$XDG_CONFIG_HOME/taskmaster/taskmaster.toml` (`~/.config/...`), then
//! `/etc/taskmaster/taskmaster.toml`.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

/// No config file in any of the places looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotFound {
    /// Every file looked for, in order.
    pub tried: Vec<PathBuf>,
}

impl fmt::Display for NotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tried: Vec<String> = self.tried.iter().map(|p| p.display().to_string()).collect();
        write!(
            f,
            "no config file: tried -c, $TASKMASTER_CONFIG, {} (pass -c FILE)",
            tried.join(", ")
        )
    }
}

impl std::error::Error for NotFound {}

/// `explicit` (from `-c`) as given, else `$TASKMASTER_CONFIG` as given (a wrong one is an
/// error when it is read, not a reason to look elsewhere), else the first file that exists.
pub fn find(explicit: Option<&Path>) -> Result<PathBuf, NotFound> {
    find_with(explicit, |name| std::env::var_os(name), Path::is_file)
}

fn find_with(
    explicit: Option<&Path>,
    env: impl Fn(&str) -> Option<OsString>,
    exists: impl Fn(&Path) -> bool,
) -> Result<PathBuf, NotFound> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = env("TASKMASTER_CONFIG").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let tried = places(&env);
    match tried.iter().find(|p| exists(p)) {
        Some(p) => Ok(p.clone()),
        None => Err(NotFound { tried }),
    }
}

/// The files looked for after `$TASKMASTER_CONFIG`, in order.
fn places(env: &impl Fn(&str) -> Option<OsString>) -> Vec<PathBuf> {
    let mut places = vec![
        PathBuf::from("./taskmaster.toml"),
        PathBuf::from("./configs/taskmaster.toml"),
    ];
    // The XDG spec: an unset, empty or relative $XDG_CONFIG_HOME means ~/.config.
    let xdg = env("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            env("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| PathBuf::from(h).join(".config"))
        });
    if let Some(dir) = xdg {
        places.push(dir.join("taskmaster/taskmaster.toml"));
    }
    places.push(PathBuf::from("/etc/taskmaster/taskmaster.toml"));
    places
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn explicit_then_env_var_win_without_looking() {
        let env = env_of(&[("TASKMASTER_CONFIG", "/x/env.toml")]);
        assert_eq!(
            find_with(Some(Path::new("a.toml")), &env, |_| false),
            Ok(PathBuf::from("a.toml")),
            "-c comes first"
        );
        assert_eq!(
            find_with(None, &env, |_| false),
            Ok(PathBuf::from("/x/env.toml")),
            "$TASKMASTER_CONFIG is taken even when missing"
        );
    }

    #[test]
    fn xdg_config_home_then_etc_come_after_the_working_directory() {
        let env = env_of(&[("XDG_CONFIG_HOME", "/cfg"), ("HOME", "/home/u")]);
        let err = find_with(None, &env, |_| false).expect_err("nothing exists");
        let tried: Vec<&str> = err.tried.iter().filter_map(|p| p.to_str()).collect();
        assert_eq!(
            tried,
            [
                "./taskmaster.toml",
                "./configs/taskmaster.toml",
                "/cfg/taskmaster/taskmaster.toml",
                "/etc/taskmaster/taskmaster.toml"
            ],
            "every place, in order"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("$TASKMASTER_CONFIG") && msg.contains("/cfg/taskmaster/taskmaster.toml"),
            "the message names the places: {msg}"
        );
        let found = find_with(None, &env, |p| p.starts_with("/etc"));
        assert_eq!(found, Ok(PathBuf::from("/etc/taskmaster/taskmaster.toml")));
        let found = find_with(None, &env, |p| {
            p.starts_with("/cfg") || p.starts_with("/etc")
        });
        assert_eq!(
            found,
            Ok(PathBuf::from("/cfg/taskmaster/taskmaster.toml")),
            "XDG before /etc"
        );
    }

    #[test]
    fn empty_or_relative_xdg_config_home_falls_back_to_home() {
        for xdg in ["", "rel/dir"] {
            let vars = [("XDG_CONFIG_HOME", xdg), ("HOME", "/home/u")];
            let err = find_with(None, env_of(&vars), |_| false).expect_err("nothing exists");
            assert!(
                err.tried
                    .contains(&PathBuf::from("/home/u/.config/taskmaster/taskmaster.toml")),
                "XDG_CONFIG_HOME={xdg:?} means ~/.config: {err}"
            );
        }
        let err = find_with(None, env_of(&[]), |_| false).expect_err("nothing exists");
        assert_eq!(err.tried.len(), 3, "no HOME: no user place: {err}");
    }
}
