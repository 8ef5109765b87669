//! Configuration: serde structs for TOML/YAML, supervisor's defaults, validation into typed
//! [`Config`]/[`ProgramConfig`], [`ConfigError`] naming file, line, program and key, and
//! [`diff`] which classifies what a reload must do. Pure data; no thread owns it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;

// First: its macros serve the modules below.
#[macro_use]
mod values;
mod alerts;
mod check;
mod de;
mod env;
pub mod expand;
mod locate;
mod lookup;
mod paths;
mod program;
mod stack;
mod umask;

#[cfg(test)]
mod alert_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_stack;

pub use check::{check, check_text};
pub use lookup::{NotFound, find};

pub use stack::{Backoff, Condition, Health, HttpTarget, Probe};

/// Where the socket lives when neither the config nor `--socket` says.
pub const DEFAULT_SOCKET: &str = "/tmp/taskmaster.sock";

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file this was read from (absolute).
    pub path: PathBuf,
    /// Event log; relative paths already resolved against the config file's folder.
    pub logfile: Option<PathBuf>,
    /// Control socket; `None` when the config says `socket = false`.
    pub socket: Option<PathBuf>,
    /// Size rotation of the event log (`logfile_maxbytes`, `logfile_backups`).
    pub logfile_rotation: Rotation,
    /// Where taskmaster writes its pid (supervisord's `pidfile`), for logrotate and scripts.
    pub pidfile: Option<PathBuf>,
    pub programs: BTreeMap<String, ProgramConfig>,
    /// `[alerts.NAME]` sections (section 9).
    pub alerts: BTreeMap<String, AlertConfig>,
    /// `[taskmaster] metrics`: where `/metrics` is served; `None`: off.
    pub metrics: Option<std::net::SocketAddr>,
}

pub use alerts::{DEV_LOG, check_url};

/// One `[alerts.NAME]`: which events, for which programs, to which sink.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertConfig {
    pub name: String,
    /// Event kinds listened to (`exited` also matches unexpected exits).
    pub on: Vec<crate::supervisor::events::EventKind>,
    /// Program names; `None`: every program, and taskmaster's own events.
    pub programs: Option<Vec<String>>,
    pub sink: Sink,
    /// Events within this long after the first go out as one batch; zero: each at once.
    pub digest: Duration,
    /// Per delivery (per attempt for webhooks).
    pub timeout: Duration,
}

/// Where an alert goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// The command line as written, and its words.
    Exec(String, Vec<String>),
    /// An http or https URL; `ca`: a PEM file of roots to trust instead of the public ones.
    Webhook { url: String, ca: Option<PathBuf> },
    /// A datagram socket speaking syslog (`/dev/log`).
    Syslog(PathBuf),
}

/// When a log file rotates and how many old files it keeps (supervisor's `*_maxbytes`,
/// `*_backups`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate when the file reaches this many bytes; 0: never.
    pub maxbytes: u64,
    /// Old files kept (`f.1` newest ... `f.N`); 0 truncates instead.
    pub backups: u32,
}

impl Default for Rotation {
    /// supervisor's defaults: 50MB, 10 backups.
    fn default() -> Self {
        Rotation {
            maxbytes: 50 * 1024 * 1024,
            backups: 10,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoRestart {
    Always,
    Never,
    Unexpected,
}

/// What happens to the orphans of a program's processes (descendants that left its process
/// group and lost their parent: double-forked daemons, `setsid` children), which taskmaster
/// adopts as the child subreaper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orphans {
    /// Stopped with the process (stopsignal, then SIGKILL after stoptime) on stop, restart
    /// and its death.
    Kill,
    /// Left running (reaped when they end): for programs that hand work to a daemon.
    Leave,
}

/// Resource limits of a `cgroup = true` program, in cgroup v2 syntax, checked at load
/// (written to `memory.max` and `cpu.max` of each process's cgroup).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupLimits {
    pub memory_max: Option<String>,
    pub cpu_max: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputTarget {
    /// Key omitted: captured for tail/dashboard only.
    Capture,
    /// `false`: the child gets /dev/null.
    Discard,
    /// A file, appended to (and captured too). The path may still hold `%(process_num)d`
    /// expansions: see [`OutputTarget::path_for`].
    File(PathBuf),
}

impl OutputTarget {
    /// The file of process number `process_num` (0 for a single process), if any.
    pub fn path_for(&self, process_num: u32) -> Option<PathBuf> {
        match self {
            OutputTarget::File(t) => match t.to_str() {
                Some(text) => Some(PathBuf::from(expand::for_process(text, process_num))),
                None => Some(t.clone()),
            },
            OutputTarget::Capture | OutputTarget::Discard => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProgramConfig {
    pub name: String,
    /// The command line as written.
    pub cmd: String,
    /// `cmd` split like a POSIX shell splits words; never empty.
    pub argv: Vec<String>,
    pub numprocs: u32,
    pub umask: Option<u32>,
    pub workingdir: Option<PathBuf>,
    pub autostart: bool,
    pub autorestart: AutoRestart,
    pub exitcodes: Vec<i32>,
    pub startretries: u32,
    pub starttime: Duration,
    pub stopsignal: Signal,
    pub stoptime: Duration,
    pub stdout: OutputTarget,
    pub stderr: OutputTarget,
    pub env: BTreeMap<String, String>,
    pub user: Option<String>,
    pub stdout_rotation: Rotation,
    pub stderr_rotation: Rotation,
    /// Each line written to the log files starts with a local RFC 3339 time.
    pub timestamps: bool,
    /// Run on a pseudo-terminal: one output stream (`stdout`), a terminal for the program.
    pub pty: bool,
    pub orphans: Orphans,
    /// `cgroup = true`: each process runs in a cgroup (v2) of its own, with these limits,
    /// and a stop kills the whole cgroup. `None`: no cgroup.
    pub cgroup: Option<CgroupLimits>,
    /// Restart backoff after RUNNING and the retry of FATAL (section 10).
    pub backoff: Backoff,
    /// Programs that must reach a condition before this one starts.
    pub depends_on: BTreeMap<String, Condition>,
    pub health: Option<Health>,
}

impl ProgramConfig {
    /// Names of this program's processes: `name` alone for one, `name:name_00`.. for a group.
    pub fn process_names(&self) -> Vec<String> {
        (0..self.numprocs).map(|i| self.process_name(i)).collect()
    }

    /// The process number of one of this program's process names (0 for a single process):
    /// what `%(process_num)d` expands to.
    pub fn process_num(&self, process_name: &str) -> u32 {
        process_name
            .rsplit_once('_')
            .and_then(|(_, n)| n.parse().ok())
            .filter(|_| self.numprocs > 1)
            .unwrap_or(0)
    }

    pub fn process_name(&self, index: u32) -> String {
        if self.numprocs <= 1 {
            return self.name.clone();
        }
        let width = if self.numprocs > 100 {
            (self.numprocs - 1).to_string().len()
        } else {
            2
        };
        format!("{0}:{0}_{1:02$}", self.name, index, width)
    }

    /// True when a running process would have to be restarted to pick up `other`.
    pub fn launch_differs(&self, other: &ProgramConfig) -> bool {
        self.cmd != other.cmd
            || self.env != other.env
            || self.workingdir != other.workingdir
            || self.umask != other.umask
            || self.user != other.user
            || self.stdout != other.stdout
            || self.stderr != other.stderr
            || self.pty != other.pty
            || self.cgroup != other.cgroup
    }

    /// True when only monitoring settings differ (applied in place).
    pub fn monitor_differs(&self, other: &ProgramConfig) -> bool {
        self.autostart != other.autostart
            || self.autorestart != other.autorestart
            || self.exitcodes != other.exitcodes
            || self.startretries != other.startretries
            || self.starttime != other.starttime
            || self.stopsignal != other.stopsignal
            || self.stoptime != other.stoptime
            || self.orphans != other.orphans
            || self.backoff != other.backoff
            || self.depends_on != other.depends_on
            || self.health != other.health
    }

    /// True when only log settings that apply in place differ (rotation, timestamps).
    pub fn log_differs(&self, other: &ProgramConfig) -> bool {
        self.stdout_rotation != other.stdout_rotation
            || self.stderr_rotation != other.stderr_rotation
            || self.timestamps != other.timestamps
    }
}

/// What a reload has to do, program by program (names sorted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Launch settings changed: every process restarts.
    pub changed: Vec<String>,
    /// Only monitoring settings and/or numprocs changed: applied in place.
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
}

impl ConfigDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && self.updated.is_empty()
    }
}

pub fn diff(old: &Config, new: &Config) -> ConfigDiff {
    let mut d = ConfigDiff::default();
    for (name, new_prog) in &new.programs {
        match old.programs.get(name) {
            None => d.added.push(name.clone()),
            Some(old_prog) if old_prog.launch_differs(new_prog) => d.changed.push(name.clone()),
            Some(old_prog)
                if old_prog.monitor_differs(new_prog)
                    || old_prog.log_differs(new_prog)
                    || old_prog.numprocs != new_prog.numprocs =>
            {
                d.updated.push(name.clone())
            }
            Some(_) => d.unchanged.push(name.clone()),
        }
    }
    d.removed = old
        .programs
        .keys()
        .filter(|name| !new.programs.contains_key(*name))
        .cloned()
        .collect();
    d
}

/// A config that cannot be used, with enough context to find the mistake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based line and column, where known.
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub program: Option<String>,
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ":")?;
        if let Some(p) = &self.program {
            write!(f, " program '{p}':")?;
        }
        if let Some(k) = &self.key {
            write!(f, " key '{k}':")?;
        }
        write!(f, " {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    /// An error about the file as a whole (unreadable, ...), with no position.
    pub fn whole_file(file: &Path, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_path_buf(),
            line: None,
            column: None,
            program: None,
            key: None,
            message: message.into(),
        }
    }
}

/// The two file formats; the extension decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Toml,
    Yaml,
}

impl Format {
    fn of(path: &Path) -> Format {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext.eq_ignore_ascii_case("yaml") || ext.eq_ignore_ascii_case("yml") {
            Format::Yaml
        } else {
            Format::Toml
        }
    }
}

/// Read, parse and validate a config file (TOML, or YAML for `.yaml`/`.yml`).
// The error is the product here, built once on a cold path, and its fields are the API.
#[allow(clippy::result_large_err)]
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::whole_file(path, format!("cannot read the config file: {e}")))?;
    parse(path, &text)
}

/// Parse and validate config text; `path` decides the format and anchors relative paths.
#[allow(clippy::result_large_err)]
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    parse_skipping(path, text, de::Skip::default())
}

/// [`parse`], passing over what `skip` names (see [`check`]).
#[allow(clippy::result_large_err)]
fn parse_skipping(path: &Path, text: &str, skip: de::Skip) -> Result<Config, ConfigError> {
    // `absolute` does not touch the file system, so `parse` works on text alone.
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let base = path.parent().unwrap_or(Path::new("/")).to_path_buf();
    let mut ctx = de::Ctx::new(Format::of(&path), text, &base);
    ctx.skip = skip;
    let top = match ctx.format {
        Format::Toml => de::from_toml(&ctx).map_err(|e| locate::toml_error(&e, &ctx, &path))?,
        Format::Yaml => de::from_yaml(&ctx).map_err(|e| locate::yaml_error(&e, &ctx, &path))?,
    };
    alerts::check_programs(&top.alerts, &top.programs, &ctx, &path)?;
    if let Err(e) = stack::check(&top.programs) {
        return Err(ConfigError {
            line: locate::key_line(text, &e.program, e.key),
            column: None,
            file: path,
            program: Some(e.program),
            key: Some(e.key.to_string()),
            message: e.message,
        });
    }
    Ok(Config {
        path,
        logfile: top.logfile,
        socket: top.socket,
        logfile_rotation: top.logfile_rotation,
        pidfile: top.pidfile,
        programs: top.programs,
        alerts: top.alerts.alerts,
        metrics: top.metrics,
    })
}

/// A signal by name, with or without `SIG`, any case (`TERM`, `sigusr1`), or by number.
pub fn parse_signal(name: &str) -> Option<Signal> {
    let name = name.trim();
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
        return name
            .parse::<i32>()
            .ok()
            .and_then(|n| Signal::try_from(n).ok());
    }
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    full.parse::<Signal>().ok()
}
