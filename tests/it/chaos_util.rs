//! Helpers for the chaos tests: a seeded PRNG and a guard around a real
//! `taskmaster --headless` process that kills it and every process group it started on drop.
//! (The /proc readers live in the harness: tests/it/harness/procfs.rs.)

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use crate::util::wait_until;

/// xorshift64*: repeatable chaos without a dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

pub use crate::harness::procfs::{children_of, cmdline, fd_count, fds, rss_kib, stat};

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
            let mut c = std::process::Command::new(bin);
            c.arg("--headless").arg("-c").arg(cfg);
            c
        })
    }

    /// Like `start`, with the command built by `make(binary, config)`.
    pub fn start_with(toml: &str, make: impl FnOnce(&str, &Path) -> std::process::Command) -> Bin {
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
