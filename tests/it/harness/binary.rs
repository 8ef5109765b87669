//! The real binary: [`Daemon`] is `taskmaster` on a config in a temp dir (the `[taskmaster]`
//! table names a socket and an event log there), killed on drop with every process group its
//! children led. [`Daemon::start`] covers most tests; [`Daemon::launch`] is the builder for
//! the rest (other flags, more `[taskmaster]` keys, variables, a hook before the spawn, no
//! waiting for the socket, a tmux terminal instead of pipes — see `terminal.rs` for what a
//! test does with the screen). Also one-off `taskmaster ctl` runs and raw socket requests.

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use super::launch::{Launch, config_text, fill};
use super::procfs::{alive, children_of};
use super::terminal::Terminal;
use super::{LONG, wait_until};

pub const BIN: &str = env!("CARGO_BIN_EXE_taskmaster");

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

/// A taskmaster process with its temp dir; see the module doc.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub socket: PathBuf,
    pub log: PathBuf,
    /// Taskmaster itself, unless it runs on a terminal (then a grandchild: see `pid`).
    pub child: Option<Child>,
    pub(super) pid: u32,
    /// The tmux terminal it runs on ([`Launch::in_terminal`]).
    pub term: Option<Terminal>,
    pub(super) extra: String,
    /// Process groups its children led, seen so far: killed at drop even when taskmaster is
    /// gone by then and they are no longer its children.
    pub(super) groups: RefCell<Vec<u32>>,
}

impl Daemon {
    /// `taskmaster --headless` on `programs` (`{dir}` is the temp dir), once its socket
    /// accepts connections.
    pub fn start(programs: &str) -> Daemon {
        Daemon::launch(programs).start()
    }

    /// The builder: [`Launch::start`] or [`Launch::spawn`] it.
    pub fn launch(programs: &str) -> Launch {
        Launch::new(programs)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn ctl(&self, args: &[&str]) -> Ctl {
        ctl_at(&self.socket, args)
    }

    /// `taskmaster ctl -s SOCKET args` to spawn: a client that streams (`tail -f`, `attach`)
    /// or is fed on its stdin.
    pub fn ctl_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.arg("ctl").arg("-s").arg(&self.socket).args(args);
        cmd
    }

    /// Waits until `status NAME` shows `state`; returns that status line.
    pub fn wait_state(&self, name: &str, state: &str) -> String {
        let mut line = String::new();
        wait_until(LONG, &format!("{name} to be {state}"), || {
            line = self.ctl(&["status", name]).out.trim_end().to_string();
            line.split_whitespace().nth(1) == Some(state)
        });
        line
    }

    /// `status` as (name, state, pid) rows.
    pub fn status_rows(&self) -> Vec<(String, String, Option<u32>)> {
        status_rows(&self.socket)
    }

    /// The pid of `name` if it is RUNNING.
    pub fn pid_of(&self, name: &str) -> Option<u32> {
        self.status_rows()
            .into_iter()
            .find(|(n, state, _)| n == name && state == "RUNNING")
            .and_then(|(_, _, pid)| pid)
    }

    /// The pid of `name` once it is RUNNING.
    pub fn running_pid(&self, name: &str) -> u32 {
        let mut pid = None;
        wait_until(LONG, &format!("{name} RUNNING"), || {
            pid = self.pid_of(name);
            pid.is_some()
        });
        pid.unwrap_or_default()
    }

    pub fn log_text(&self) -> String {
        super::read(&self.log)
    }

    pub fn stdout_text(&self) -> String {
        super::read(&self.path("stdout"))
    }

    /// Replaces the programs of the config (same `{dir}` substitution), atomically (write +
    /// rename): a SIGHUP that lands mid-write must not read a truncated file, which an empty
    /// file would make a valid "no programs" config.
    pub fn rewrite(&self, programs: &str) {
        let text = config_text(
            &self.socket,
            &self.log,
            &self.extra,
            &fill(programs, self.dir.path()),
        );
        let tmp = self.path(".taskmaster.toml.new");
        std::fs::write(&tmp, text).expect("write config");
        std::fs::rename(&tmp, &self.config).expect("replace config");
    }

    fn child(&mut self) -> &mut Child {
        self.child
            .as_mut()
            .expect("taskmaster on pipes (on a terminal, read the screen)")
    }

    /// Writes to taskmaster's stdin (for the line shell on a pipe).
    pub fn send_line(&mut self, line: &str) {
        if let Some(stdin) = self.child().stdin.as_mut() {
            let _ = writeln!(stdin, "{line}");
            let _ = stdin.flush();
        }
    }

    /// Closes taskmaster's stdin (end of input for the line shell on a pipe).
    pub fn close_stdin(&mut self) {
        drop(self.child().stdin.take());
    }

    pub fn signal(&self, sig: Signal) {
        let _ = kill(Pid::from_raw(self.pid() as i32), sig);
    }

    /// True while taskmaster has not exited (reaps it when it has).
    pub fn running(&mut self) -> bool {
        matches!(self.child().try_wait(), Ok(None))
    }

    /// Waits for taskmaster to exit; its exit code (-1 when a signal ended it).
    pub fn wait_exit(&mut self) -> i32 {
        let mut code = None;
        wait_until(LONG, "taskmaster to exit", || {
            code = self
                .child()
                .try_wait()
                .ok()
                .flatten()
                .map(|s| s.code().unwrap_or(-1));
            code.is_some()
        });
        code.unwrap_or(-1)
    }

    /// Taskmaster's live children, remembered for the cleanup.
    pub fn children(&self) -> Vec<u32> {
        if self.pid == 0 {
            // Not known (a terminal's taskmaster that never answered): pid 0's children are
            // init and kthreadd.
            return Vec::new();
        }
        let kids = children_of(self.pid);
        let mut groups = self.groups.borrow_mut();
        for k in &kids {
            if !groups.contains(k) {
                groups.push(*k);
            }
        }
        kids
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // Children lead their own process groups: kill each group, then taskmaster's.
        self.children();
        for g in self.groups.borrow().iter() {
            let _ = killpg(Pid::from_raw(*g as i32), Signal::SIGKILL);
        }
        match self.child.as_mut() {
            Some(child) => {
                let _ = killpg(Pid::from_raw(self.pid as i32), Signal::SIGKILL);
                let _ = child.kill();
                let _ = child.wait();
            }
            // Not our child: gone by now when a test made it exit (then its pid is not
            // signalled, it could be another process's already). Killed before the terminal
            // (dropped next), whose hang-up taskmaster would otherwise have to handle.
            None if alive(self.pid) => {
                let _ = kill(Pid::from_raw(self.pid as i32), Signal::SIGKILL);
            }
            None => {}
        }
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

/// Sends one request line over a fresh connection and reads one reply line.
pub fn ctl(socket: &Path, cmd: &str, args: &[&str]) -> serde_json::Value {
    let req = serde_json::json!({ "cmd": cmd, "args": args });
    raw_request(socket, format!("{req}\n").as_bytes())
        .and_then(|line| serde_json::from_str(&line).ok())
        .unwrap_or_else(|| panic!("{cmd} should get a JSON reply"))
}

/// Writes `bytes` and reads one line back (None when the server closed without replying).
pub fn raw_request(socket: &Path, bytes: &[u8]) -> Option<String> {
    let mut s = UnixStream::connect(socket).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    s.write_all(bytes).ok()?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).ok()?;
    (!line.is_empty()).then_some(line)
}

/// The text of a `status` reply, as (name, state, pid) rows.
pub fn status_rows(socket: &Path) -> Vec<(String, String, Option<u32>)> {
    let reply = ctl(socket, "status", &[]);
    let text = reply["output"].as_str().unwrap_or_default().to_string();
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let name = w.next()?.to_string();
            let state = w.next()?.to_string();
            let pid = l
                .split("pid ")
                .nth(1)
                .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|p| p.parse().ok());
            Some((name, state, pid))
        })
        .collect()
}
