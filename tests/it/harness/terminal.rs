//! A real terminal: a tmux server of the test's own (`-L NAME`), one session running a
//! command. Tests read the screen (`capture-pane`) and type (`send-keys`). Dropping it kills
//! the taskmaster it was told about (its children's groups first) and the tmux server.

use std::cell::RefCell;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use super::{LONG, procfs, wait_until_showing};

pub struct Terminal {
    server: String,
    /// The session (and window) keys go to and the screen is read from.
    pub target: String,
    /// A taskmaster inside, found by `pid` over this socket at drop.
    pub socket: Option<PathBuf>,
}

/// True when tmux can be run; otherwise says the test skips (the caller returns).
pub fn available() -> bool {
    let ok = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        println!("skipped: tmux is not installed");
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
            socket: None,
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

    pub fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", &self.target])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// Keys in tmux's names (`Enter`, `C-c`, `Up`) or words typed as they are.
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.target];
        args.extend_from_slice(keys);
        let _ = self.tmux(&args).status();
    }

    /// Text typed literally (no key names).
    pub fn text(&self, text: &str) {
        let _ = self
            .tmux(&["send-keys", "-t", &self.target, "-l", text])
            .status();
    }

    /// Waits until the screen satisfies `cond`, on two captures in a row that are the same:
    /// a capture can land mid-redraw (a new title over old contents), which is no screen
    /// the program meant to show. A timeout shows the last screen.
    pub fn wait_screen(&self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        let last = RefCell::new(String::new());
        wait_until_showing(
            LONG,
            what,
            || {
                let s = self.screen();
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
        let pid = self.socket.as_ref().and_then(|s| {
            super::binary::ctl_at(s, &["pid"])
                .out
                .trim()
                .parse::<u32>()
                .ok()
        });
        if let Some(pid) = pid {
            for child in procfs::children_of(pid) {
                let _ = killpg(Pid::from_raw(child as i32), Signal::SIGKILL);
            }
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
        let _ = self.tmux(&["kill-server"]).status();
    }
}
