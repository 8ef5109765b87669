//! A real terminal: a tmux server of the test's own (`-L NAME`), one session running a
//! command. Tests read the screen (`capture-pane`) and type (`send-keys`), in the session's
//! window or in another one they opened (`_of`/`_to` take a tmux target). Dropping it kills
//! the tmux server. Taskmaster on a terminal is a [`Daemon`] launched `in_terminal`: the
//! screen methods below are on it too.

use std::cell::RefCell;
use std::process::{Command, Stdio};

use super::binary::Daemon;
use super::{LONG, wait_until_showing};

pub struct Terminal {
    server: String,
    /// The session (and window) keys go to and the screen is read from.
    pub target: String,
}

/// True when tmux can be run; otherwise says the test skips (the caller returns).
pub fn available() -> bool {
    installed("tmux")
}

/// True when `tool -V` runs; otherwise says the test skips (the caller returns).
pub fn installed(tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        println!("skipped: {tool} is not installed");
    }
    ok
}

impl Terminal {
    /// A new tmux server `server` (make it unique: the pid and a tag) with session `target`
    /// of `width`x`height` running `cmd` (a shell command line).
    pub fn start(server: String, target: &str, width: u16, height: u16, cmd: &str) -> Terminal {
        let term = Terminal {
            server,
            target: target.to_string(),
        };
        let ok = term
            .tmux(&["-f", "/dev/null", "new-session", "-d", "-s", target])
            .args(["-x", &width.to_string(), "-y", &height.to_string(), cmd])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "tmux new-session starts");
        let _ = term
            .tmux(&["set-option", "-sg", "escape-time", "0"])
            .status();
        term
    }

    /// A tmux command on this server.
    pub fn tmux(&self, args: &[&str]) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.server]).args(args);
        c.stdin(Stdio::null()).stderr(Stdio::null());
        c
    }

    pub fn screen_of(&self, target: &str) -> String {
        self.tmux(&["capture-pane", "-p", "-t", target])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// Keys in tmux's names (`Enter`, `C-c`, `Up`) or words typed as they are.
    pub fn keys(&self, keys: &[&str]) {
        self.keys_to(&self.target, keys);
    }

    pub fn keys_to(&self, target: &str, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", target];
        args.extend_from_slice(keys);
        let _ = self.tmux(&args).status();
    }

    /// Text typed literally (no key names).
    pub fn text(&self, text: &str) {
        self.text_to(&self.target, text);
    }

    pub fn text_to(&self, target: &str, text: &str) {
        let _ = self.tmux(&["send-keys", "-t", target, "-l", text]).status();
    }

    /// Waits until the screen satisfies `cond`, on two captures in a row that are the same:
    /// a capture can land mid-redraw (a new title over old contents), which is no screen
    /// the program meant to show. A timeout shows the last screen.
    pub fn wait_screen(&self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        self.wait_screen_of(&self.target, what, cond)
    }

    pub fn wait_screen_of(&self, target: &str, what: &str, cond: impl Fn(&str) -> bool) -> String {
        let last = RefCell::new(String::new());
        wait_until_showing(
            LONG,
            &format!("{target} to show {what}"),
            || {
                let s = self.screen_of(target);
                let settled = s == *last.borrow();
                let ok = settled && cond(&s);
                *last.borrow_mut() = s;
                ok
            },
            || format!("last screen:\n{}", last.borrow()),
        );
        last.into_inner()
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]).status();
    }
}

/// The screen of a taskmaster launched `in_terminal`.
impl Daemon {
    pub fn term(&self) -> &Terminal {
        self.term
            .as_ref()
            .expect("a taskmaster launched in_terminal")
    }

    pub fn tmux(&self, args: &[&str]) -> Command {
        self.term().tmux(args)
    }

    pub fn keys(&self, keys: &[&str]) {
        self.term().keys(keys);
    }

    pub fn text(&self, text: &str) {
        self.term().text(text);
    }

    pub fn wait_screen(&self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        self.term().wait_screen(what, cond)
    }

    pub fn keys_to(&self, target: &str, keys: &[&str]) {
        self.term().keys_to(target, keys);
    }

    pub fn text_to(&self, target: &str, text: &str) {
        self.term().text_to(target, text);
    }

    pub fn wait_screen_of(&self, target: &str, what: &str, cond: impl Fn(&str) -> bool) -> String {
        self.term().wait_screen_of(target, what, cond)
    }
}
