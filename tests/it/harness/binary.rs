//! The real binary: `taskmaster --headless` on a config in a temp dir, killed (with every
//! process group its children lead) on drop — [`Daemon`] writes the `[taskmaster]` table
//! (socket, event log) and talks through `taskmaster ctl`; [`Bin`] takes the whole config and
//! talks JSON to the socket — and one-off `taskmaster ctl` runs.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use super::procfs::children_of;
use super::wait_until;

pub const BIN: &str = env!("CARGO_BIN_EXE_taskmaster");
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Polls `cond` every 20 ms until it holds; panics naming `what` after `DEADLINE`.
pub fn poll(what: &str, cond: impl FnMut() -> bool) {
    super::wait_until(DEADLINE, what, cond);
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

impl Daemon {
    /// Writes a config (`[taskmaster]` with a socket and log in the temp dir, then `programs`,
    /// where `{dir}` is the temp dir) and starts `taskmaster --headless` on it.
    pub fn start(programs: &str) -> Daemon {
        Daemon::start_with(programs, &["--headless"])
    }

    /// Like [`Daemon::start`] with other front-end flags; stdin is a pipe kept open.
    pub fn start_with(programs: &str, flags: &[&str]) -> Daemon {
        Daemon::start_full("", programs, flags, None, &[])
    }

    /// Headless, with `env` added to taskmaster's environment.
    pub fn start_env(programs: &str, env: &[(&str, &str)]) -> Daemon {
        Daemon::start_full("", programs, &["--headless"], None, env)
    }

    /// Headless, with the event log at `log` instead of the temp dir.
    pub fn start_with_log(programs: &str, log: &Path) -> Daemon {
        Daemon::start_full("", programs, &["--headless"], Some(log.to_path_buf()), &[])
    }

    /// Headless, with `extra` lines in `[taskmaster]` (`{dir}` is the temp dir).
    pub fn start_extra(extra: &str, programs: &str) -> Daemon {
        Daemon::start_full(extra, programs, &["--headless"], None, &[])
    }

    fn start_full(
        extra: &str,
        programs: &str,
        flags: &[&str],
        log: Option<PathBuf>,
        env: &[(&str, &str)],
    ) -> Daemon {
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
            .envs(env.iter().copied())
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

/// A `taskmaster --headless` process on a config in a temp dir. Dropping it SIGKILLs the
/// binary and every process group its children lead, so no test leaves anything behind.
pub struct Bin {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub child: Option<Child>,
    pub pid: u32,
    /// Process groups seen so far (children lead their own group).
    groups: Vec<u32>,
}

impl Bin {
    /// Writes `toml` (`{dir}` replaced) and starts the binary on it.
    pub fn start(toml: &str) -> Bin {
        Self::start_with(toml, |bin, cfg| {
            let mut c = Command::new(bin);
            c.arg("--headless").arg("-c").arg(cfg);
            c
        })
    }

    /// Like `start`, with the command built by `make(binary, config)`.
    pub fn start_with(toml: &str, make: impl FnOnce(&str, &Path) -> Command) -> Bin {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("taskmaster.toml");
        Bin::write(&config, dir.path(), toml);
        let mut cmd = make(env!("CARGO_BIN_EXE_taskmaster"), &config);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().expect("taskmaster starts");
        let pid = child.id();
        Bin {
            dir,
            config,
            child: Some(child),
            pid,
            groups: Vec::new(),
        }
    }

    fn write(config: &Path, dir: &Path, toml: &str) {
        let text = toml.replace("{dir}", &dir.display().to_string());
        std::fs::write(config, text).expect("write config");
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Replaces the config atomically (write + rename): a SIGHUP that lands mid-write must
    /// not read a truncated file, which an empty file would make a valid "no programs" config.
    pub fn rewrite(&self, toml: &str) {
        let tmp = self.dir.path().join(".taskmaster.toml.new");
        Bin::write(&tmp, self.dir.path(), toml);
        std::fs::rename(&tmp, &self.config).expect("replace config");
    }

    /// The binary's live children, remembered for the cleanup.
    pub fn children(&mut self) -> Vec<u32> {
        let kids = children_of(self.pid);
        for k in &kids {
            if !self.groups.contains(k) {
                self.groups.push(*k);
            }
        }
        kids
    }

    pub fn signal(&self, sig: Signal) {
        let _ = kill(Pid::from_raw(self.pid as i32), sig);
    }

    /// True while the binary has not exited (reaps it when it has).
    pub fn running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Waits for the binary to exit; its exit status code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let mut code = None;
        wait_until(timeout, "taskmaster exits", || {
            match self.child.as_mut().map(|c| c.try_wait()) {
                Some(Ok(Some(status))) => {
                    code = status.code();
                    true
                }
                _ => false,
            }
        });
        code
    }

    /// Waits for the socket to accept connections.
    pub fn wait_socket(&self, socket: &Path) {
        wait_until(Duration::from_secs(20), "control socket accepts", || {
            UnixStream::connect(socket).is_ok()
        });
    }
}

impl Drop for Bin {
    fn drop(&mut self) {
        self.children();
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for g in &self.groups {
            let _ = killpg(Pid::from_raw(*g as i32), Signal::SIGKILL);
        }
    }
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
