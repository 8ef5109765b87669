//! What a scenario asks of a supervisor under test, whichever it is: the programs to run
//! (one neutral description, written out as each daemon's own config), and the few commands
//! a user would send it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::Res;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Taskmaster,
    Supervisord,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Taskmaster => "taskmaster",
            Kind::Supervisord => "supervisord",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Key omitted: the daemon's default capture.
    Capture,
    Discard,
    File(PathBuf),
}

#[derive(Clone, Debug)]
pub struct Program {
    pub name: String,
    pub cmd: String,
    pub numprocs: u32,
    pub autostart: bool,
    /// always | never | unexpected
    pub autorestart: &'static str,
    pub startretries: u32,
    pub starttime: f64,
    pub stoptime: f64,
    pub stdout: Output,
    pub stderr: Output,
    /// More TOML lines for taskmaster's program table (supervisord ignores them).
    pub tm_extra: String,
}

impl Program {
    pub fn new(name: &str, cmd: &str) -> Self {
        Self {
            name: name.to_string(),
            cmd: cmd.to_string(),
            numprocs: 1,
            autostart: true,
            autorestart: "unexpected",
            startretries: 3,
            starttime: 1.0,
            stoptime: 10.0,
            stdout: Output::Capture,
            stderr: Output::Capture,
            tm_extra: String::new(),
        }
    }
}

/// One line of `status`.
#[derive(Clone, Debug)]
pub struct ProcStatus {
    pub name: String,
    pub state: String,
    pub pid: Option<i32>,
}

impl ProcStatus {
    pub fn running_pid(&self) -> Option<i32> {
        if self.state == "RUNNING" {
            self.pid
        } else {
            None
        }
    }
}

pub trait Daemon {
    fn pid(&self) -> i32;
    fn status(&mut self) -> Res<Vec<ProcStatus>>;
    /// `start NAME`, returning when the daemon replies.
    fn start(&mut self, name: &str) -> Res<()>;
    /// `stop all`, returning when the daemon replies.
    fn stop_all(&mut self) -> Res<()>;
    /// Rewrites the config file with `programs` and has the daemon apply it (taskmaster:
    /// `reload`; supervisord: `supervisorctl update`), returning when it replies.
    fn reload(&mut self, programs: &[Program]) -> Res<()>;
    /// The daemon's event log, where spawns and FATAL are recorded with milliseconds.
    fn log_path(&self) -> &Path;
    /// Stops the daemon gracefully (its children with it).
    fn shutdown(&mut self) -> Res<()>;
}

/// Polls `probe` every `every` until it yields a value or `limit` passes.
pub fn wait_for<T>(
    limit: Duration,
    every: Duration,
    what: &str,
    mut probe: impl FnMut() -> Res<Option<T>>,
) -> Res<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = probe()? {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            return Err(format!("timed out after {limit:?} waiting for {what}").into());
        }
        std::thread::sleep(every);
    }
}

/// Waits until `count` processes are RUNNING; returns the statuses. Polls no faster than
/// ten times a status call's own duration, so the polling costs the daemon at most ~10 % of
/// its time whatever the process count (a 1,000-line status is not free for every daemon).
pub fn wait_running(d: &mut dyn Daemon, count: usize, limit: Duration) -> Res<Vec<ProcStatus>> {
    let deadline = Instant::now() + limit;
    loop {
        let t = Instant::now();
        let st = d.status()?;
        let cost = t.elapsed();
        if st.iter().filter(|p| p.running_pid().is_some()).count() >= count {
            return Ok(st);
        }
        if Instant::now() >= deadline {
            return Err(format!("timed out after {limit:?} waiting for {count} RUNNING").into());
        }
        std::thread::sleep((cost * 10).max(Duration::from_millis(5)));
    }
}

/// `2026-11-26 06:20:01.123` (taskmaster) or `2026-11-26 06:20:01,123` (supervisord) at the
/// start of a line: milliseconds since midnight.
pub fn log_line_ms(line: &str) -> Option<f64> {
    let time = line.split_whitespace().nth(1)?;
    let (hms, frac) = time.split_once(['.', ','])?;
    let mut parts = hms.split(':').map(|x| x.parse::<f64>().ok());
    let (h, m, s) = (parts.next()??, parts.next()??, parts.next()??);
    Some(((h * 60.0 + m) * 60.0 + s) * 1000.0 + frac.get(..3)?.parse::<f64>().ok()?)
}

pub fn digits(n: u32) -> usize {
    n.to_string().len()
}
