//! Helpers for the tests that run the real binary: a headless taskmaster on a temp config and
//! socket, killed (with every child's process group) on drop, and `taskmaster ctl` runs.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

pub const BIN: &str = env!("CARGO_BIN_EXE_taskmaster");
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Polls `cond` every 20 ms until it holds; panics naming `what` after `DEADLINE`.
pub fn poll(what: &str, cond: impl FnMut() -> bool) {
    crate::harness::wait_until(DEADLINE, what, cond);
}

/// The result of one `taskmaster ctl` run.
#[derive(Debug)]
pub struct Ctl {
    pub out: String,
    pub err: String,
    pub code: i32,
}

impl From<Output> for Ctl {
    fn from(o: Output) -> Ctl {
        Ctl {
            out: String::from_utf8_lossy(&o.stdout).into_owned(),
            err: String::from_utf8_lossy(&o.stderr).into_owned(),
            code: o.status.code().unwrap_or(-1),
        }
    }
}

/// A taskmaster process with its temp dir; see [`Daemon::start`].
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub socket: PathBuf,
    pub log: PathBuf,
    pub child: Child,
    /// More `[taskmaster]` lines (with `{dir}` filled in), kept by `rewrite`.
    pub extra: String,
}

pub use crate::harness::procfs::children_of;

impl Daemon {
    /// Writes a config (`[taskmaster]` with a socket and log in the temp dir, then `programs`,
    /// where `{dir}` is the temp dir) and starts `taskmaster --headless` on it.
    pub fn start(programs: &str) -> Daemon {
        Daemon::start_with(programs, &["--headless"])
    }

    /// Like [`Daemon::start`] with other front-end flags; stdin is a pipe kept open.
    pub fn start_with(programs: &str, flags: &[&str]) -> Daemon {
        Daemon::start_full("", programs, flags, None)
    }

    /// Headless, with the event log at `log` instead of the temp dir.
    pub fn start_with_log(programs: &str, log: &Path) -> Daemon {
        Daemon::start_full("", programs, &["--headless"], Some(log.to_path_buf()))
    }

    /// Headless, with `extra` lines in `[taskmaster]` (`{dir}` is the temp dir).
    pub fn start_extra(extra: &str, programs: &str) -> Daemon {
        Daemon::start_full(extra, programs, &["--headless"], None)
    }

    fn start_full(extra: &str, programs: &str, flags: &[&str], log: Option<PathBuf>) -> Daemon {
        let dir = tempfile::tempdir().expect("temp dir");
        let socket = dir.path().join("tm.sock");
        let log = log.unwrap_or_else(|| dir.path().join("tm.log"));
        let config = dir.path().join("taskmaster.toml");
        let extra = extra.replace("{dir}", &dir.path().display().to_string());
        let text = format!(
            "[taskmaster]\nsocket = \"{}\"\nlogfile = \"{}\"\n{extra}\n{}",
            socket.display(),
            log.display(),
            programs.replace("{dir}", &dir.path().display().to_string())
        );
        std::fs::write(&config, text).expect("write config");
        let child = Command::new(BIN)
            .arg("-c")
            .arg(&config)
            .args(flags)
            .env("HOME", dir.path())
            .env("XDG_STATE_HOME", dir.path().join("state"))
            .stdin(Stdio::piped())
            .stdout(std::fs::File::create(dir.path().join("stdout")).expect("stdout file"))
            .stderr(std::fs::File::create(dir.path().join("stderr")).expect("stderr file"))
            .process_group(0)
            .spawn()
            .expect("taskmaster starts");
        let daemon = Daemon {
            dir,
            config,
            socket,
            log,
            child,
            extra,
        };
        poll("the control socket to answer", || {
            daemon.ctl(&["version"]).code == 0
        });
        daemon
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn ctl(&self, args: &[&str]) -> Ctl {
        ctl_at(&self.socket, args)
    }

    /// Waits until `status NAME` shows `state`; returns that status line.
    pub fn wait_state(&self, name: &str, state: &str) -> String {
        let mut line = String::new();
        poll(&format!("{name} to be {state}"), || {
            line = self.ctl(&["status", name]).out.trim_end().to_string();
            line.split_whitespace().nth(1) == Some(state)
        });
        line
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Replaces the programs of the config (same `{dir}` substitution).
    pub fn rewrite(&self, programs: &str) {
        let text = format!(
            "[taskmaster]\nsocket = \"{}\"\nlogfile = \"{}\"\n{}\n{}",
            self.socket.display(),
            self.log.display(),
            self.extra,
            programs.replace("{dir}", &self.dir.path().display().to_string())
        );
        std::fs::write(&self.config, text).expect("rewrite config");
    }

    /// Writes to taskmaster's stdin (for the line shell on a pipe).
    pub fn send_line(&mut self, line: &str) {
        if let Some(stdin) = self.child.stdin.as_mut() {
            let _ = writeln!(stdin, "{line}");
            let _ = stdin.flush();
        }
    }

    /// Waits for taskmaster to exit by itself; its exit code.
    pub fn wait_exit(&mut self) -> i32 {
        let mut code = None;
        poll("taskmaster to exit", || {
            code = self
                .child
                .try_wait()
                .ok()
                .flatten()
                .map(|s| s.code().unwrap_or(-1));
            code.is_some()
        });
        code.unwrap_or(-1)
    }

    pub fn stdout_text(&self) -> String {
        std::fs::read_to_string(self.path("stdout")).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Children lead their own process groups: kill each group, then taskmaster's.
        for pid in children_of(self.child.id()) {
            let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
        let _ = killpg(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

pub fn ctl_at(socket: &Path, args: &[&str]) -> Ctl {
    Command::new(BIN)
        .arg("ctl")
        .arg("-s")
        .arg(socket)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("ctl runs")
        .into()
}
