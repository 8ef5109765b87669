//! The settings that make a config a stack (interface.md section 10): restart backoff,
//! `depends_on` and `health`, their deserializers, and the checks across programs (unknown
//! names, cycles) that can only run once every program is read.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{Deserializer, Error, MapAccess, SeqAccess, Visitor};

use super::values::{Seconds, no_nul};
use super::{AutoRestart, ProgramConfig};

/// Restart backoff after RUNNING, and the retry of FATAL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// First delay before an autorestart; 0: at once (supervisor), short runs excepted.
    pub delay: Duration,
    pub max: Duration,
    /// A run at least this long resets the doubling.
    pub reset: Duration,
    /// > 0: a FATAL process is started again after that long.
    pub fatal_retry: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            delay: Duration::ZERO,
            max: Duration::from_secs(300),
            reset: Duration::from_secs(60),
            fatal_retry: Duration::ZERO,
        }
    }
}

/// What a dependency must have reached before its dependent starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Condition {
    /// Spawned (STARTING or later).
    Started,
    /// RUNNING (past starttime).
    Running,
    /// RUNNING and its health check passes.
    Healthy,
    /// EXITED with an expected exit code (a one-shot program).
    Completed,
}

impl Condition {
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::Started => "started",
            Condition::Running => "running",
            Condition::Healthy => "healthy",
            Condition::Completed => "completed",
        }
    }
}

/// How health is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// A command (split like `cmd`, no shell) that must exit 0.
    Cmd { line: String, argv: Vec<String> },
    /// `host:port` that must accept a TCP connection.
    Tcp(String),
    /// An `http://` URL whose GET must answer 2xx (redirects are not followed).
    Http(HttpTarget),
    /// A line of the process's output containing this text.
    Log(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTarget {
    pub url: String,
    /// `host:port` to connect to (port 80 when the URL has none).
    pub addr: String,
    /// The `Host` header.
    pub host: String,
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub probe: Probe,
    pub interval: Duration,
    pub timeout: Duration,
    /// Consecutive failures before unhealthy.
    pub retries: u32,
    /// Restart the process when it becomes unhealthy.
    pub restart: bool,
}

pub(super) const STACK_KEYS: &[&str] = &[
    "depends_on",
    "health",
    "health_interval",
    "health_timeout",
    "health_retries",
    "health_restart",
    "restart_delay",
    "restart_delay_max",
    "restart_delay_reset",
    "fatal_retry",
];

/// The stack keys as read; `None` where the file leaves them out.
#[derive(Default)]
pub(super) struct GivenStack {
    depends_on: Option<BTreeMap<String, Condition>>,
    probe: Option<Probe>,
    interval: Option<Duration>,
    timeout: Option<Duration>,
    retries: Option<u32>,
    restart: Option<bool>,
    delay: Option<Duration>,
    max: Option<Duration>,
    reset: Option<Duration>,
    fatal_retry: Option<Duration>,
}

pub(super) fn read_stack_value<'de, A: MapAccess<'de>>(
    map: &mut A,
    key: &str,
    g: &mut GivenStack,
) -> Result<(), A::Error> {
    match key {
        "depends_on" => g.depends_on = Some(map.next_value::<DependsOn>()?.0),
        "health" => g.probe = Some(map.next_value::<ProbeValue>()?.0),
        "health_interval" => g.interval = Some(positive(map.next_value::<Seconds>()?.0)?),
        "health_timeout" => g.timeout = Some(positive(map.next_value::<Seconds>()?.0)?),
        "health_retries" => g.retries = Some(map.next_value::<HealthRetries>()?.0),
        "health_restart" => g.restart = Some(map.next_value()?),
        "restart_delay" => g.delay = Some(map.next_value::<Seconds>()?.0),
        "restart_delay_max" => g.max = Some(map.next_value::<Seconds>()?.0),
        "restart_delay_reset" => g.reset = Some(map.next_value::<Seconds>()?.0),
        "fatal_retry" => g.fatal_retry = Some(map.next_value::<Seconds>()?.0),
        _ => return Err(A::Error::custom(format!("unknown key '{key}'"))),
    }
    Ok(())
}

/// Health checks every few milliseconds would be a busy loop by another name.
const MIN_HEALTH_SECONDS: Duration = Duration::from_millis(10);

fn positive<E: Error>(d: Duration) -> Result<Duration, E> {
    if d < MIN_HEALTH_SECONDS {
        return Err(E::custom("must be at least 0.01 seconds"));
    }
    Ok(d)
}

impl GivenStack {
    /// Fills the program's stack settings; the error names the key at fault.
    pub(super) fn apply(self, p: &mut ProgramConfig) -> Result<(), (&'static str, String)> {
        let d = Backoff::default();
        p.backoff = Backoff {
            delay: self.delay.unwrap_or(d.delay),
            max: self.max.unwrap_or(d.max),
            reset: self.reset.unwrap_or(d.reset),
            fatal_retry: self.fatal_retry.unwrap_or(d.fatal_retry),
        };
        if p.backoff.delay > p.backoff.max {
            return Err((
                "restart_delay",
                format!(
                    "restart_delay ({} s) is longer than restart_delay_max ({} s)",
                    p.backoff.delay.as_secs_f64(),
                    p.backoff.max.as_secs_f64()
                ),
            ));
        }
        p.depends_on = self.depends_on.unwrap_or_default();
        let Some(probe) = self.probe else {
            let stray = [
                ("health_interval", self.interval.is_some()),
                ("health_timeout", self.timeout.is_some()),
                ("health_retries", self.retries.is_some()),
                ("health_restart", self.restart.is_some()),
            ];
            if let Some((key, _)) = stray.iter().find(|(_, given)| *given) {
                return Err((
                    key,
                    format!(
                        "{key} needs a health check (add health = {{ tcp = \"host:port\" }} or cmd, http, log)"
                    ),
                ));
            }
            p.health = None;
            return Ok(());
        };
        let health = Health {
            probe,
            interval: self.interval.unwrap_or(Duration::from_secs(2)),
            timeout: self.timeout.unwrap_or(Duration::from_secs(1)),
            retries: self.retries.unwrap_or(3),
            restart: self.restart.unwrap_or(false),
        };
        p.health = Some(health);
        Ok(())
    }
}

/// `depends_on`: `{ db = "healthy", ... }`, or a list of names meaning `started`.
struct DependsOn(BTreeMap<String, Condition>);
struct DependsOnVisitor;

impl<'de> Deserialize<'de> for DependsOn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DependsOnVisitor)
    }
}

fn dependency_name<E: Error>(name: &str) -> Result<String, E> {
    no_nul("program name", name)?;
    if name.is_empty() {
        return Err(E::custom("a dependency's name is empty"));
    }
    Ok(name.to_string())
}

impl<'de> Visitor<'de> for DependsOnVisitor {
    type Value = DependsOn;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(
            "a table of program = condition (started, running, healthy, completed), \
             or a list of program names",
        )
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DependsOn, A::Error> {
        let mut out = BTreeMap::new();
        while let Some(name) = map.next_key::<String>()? {
            let name = dependency_name(&name)?;
            let cond = map.next_value::<ConditionValue>()?.0;
            if out.insert(name.clone(), cond).is_some() {
                return Err(A::Error::custom(format!("'{name}' is listed twice")));
            }
        }
        Ok(DependsOn(out))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<DependsOn, A::Error> {
        let mut out = BTreeMap::new();
        while let Some(name) = seq.next_element::<String>()? {
            out.insert(dependency_name(&name)?, Condition::Started);
        }
        Ok(DependsOn(out))
    }
}

struct ConditionValue(Condition);
struct ConditionVisitor;

impl<'de> Deserialize<'de> for ConditionValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(ConditionVisitor)
    }
}

impl Visitor<'_> for ConditionVisitor {
    type Value = ConditionValue;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("started, running, healthy or completed")
    }
    fn visit_str<E: Error>(self, v: &str) -> Result<ConditionValue, E> {
        let cond = match v.to_ascii_lowercase().as_str() {
            "started" => Condition::Started,
            "running" => Condition::Running,
            "healthy" => Condition::Healthy,
            "completed" => Condition::Completed,
            _ => {
                return Err(E::custom(format!(
                    "unknown condition '{v}' (expected started, running, healthy or completed)"
                )));
            }
        };
        Ok(ConditionValue(cond))
    }
}

struct HealthRetries(u32);
struct HealthRetriesVisitor;

impl<'de> Deserialize<'de> for HealthRetries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(HealthRetriesVisitor)
    }
}

impl HealthRetriesVisitor {
    fn int<E: Error>(self, v: i128) -> Result<HealthRetries, E> {
        match u32::try_from(v) {
            Ok(n) if n >= 1 => Ok(HealthRetries(n)),
            _ => Err(E::custom(format!(
                "must be a count of failures from 1 to {}, not {v}",
                u32::MAX
            ))),
        }
    }
}

impl Visitor<'_> for HealthRetriesVisitor {
    type Value = HealthRetries;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a whole number of failures, 1 or more")
    }
    int_visits!();
}

/// `health = { cmd = "..." }` / `{ tcp = "host:port" }` / `{ http = "http://..." }` /
/// `{ log = "text" }`: exactly one of them.
struct ProbeValue(Probe);
struct ProbeVisitor;

impl<'de> Deserialize<'de> for ProbeValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ProbeVisitor)
    }
}

impl<'de> Visitor<'de> for ProbeVisitor {
    type Value = ProbeValue;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a table with one of cmd, tcp, http or log, like { tcp = \"127.0.0.1:5432\" }")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ProbeValue, A::Error> {
        let Some(kind) = map.next_key::<String>()? else {
            return Err(A::Error::custom(
                "the health check is empty (give one of cmd, tcp, http or log)",
            ));
        };
        let value: String = map.next_value()?;
        no_nul("health check", &value)?;
        let probe = match kind.as_str() {
            "cmd" => probe_cmd(&value)?,
            "tcp" => Probe::Tcp(tcp_addr(&value)?),
            "http" => Probe::Http(http_target(&value)?),
            "log" if value.is_empty() => {
                return Err(A::Error::custom("the log text to wait for is empty"));
            }
            "log" => Probe::Log(value),
            other => {
                return Err(A::Error::custom(format!(
                    "unknown health check '{other}' (expected cmd, tcp, http or log)"
                )));
            }
        };
        if let Some(more) = map.next_key::<String>()? {
            return Err(A::Error::custom(format!(
                "a health check has one kind; '{kind}' and '{more}' are both given"
            )));
        }
        Ok(ProbeValue(probe))
    }
}

fn probe_cmd<E: Error>(line: &str) -> Result<Probe, E> {
    let argv = shell_words::split(line).map_err(|e| {
        E::custom(format!(
            "cannot split the health command into words: {e} (check its quotes)"
        ))
    })?;
    match argv.first() {
        Some(first) if !first.is_empty() => Ok(Probe::Cmd {
            line: line.to_string(),
            argv,
        }),
        _ => Err(E::custom("the health command is empty")),
    }
}

/// `host:port` with a port from 1 to 65535 (`[::1]:80` for IPv6).
fn tcp_addr<E: Error>(v: &str) -> Result<String, E> {
    let bad = || E::custom(format!("'{v}' is not host:port (like 127.0.0.1:5432)"));
    let (host, port) = v.rsplit_once(':').ok_or_else(bad)?;
    match port.parse::<u16>() {
        Ok(p) if p > 0 && !host.is_empty() => Ok(v.to_string()),
        _ => Err(bad()),
    }
}

fn http_target<E: Error>(url: &str) -> Result<HttpTarget, E> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(E::custom(format!(
            "'{url}' is not an http:// URL (https is not supported for health checks)"
        )));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(E::custom(format!("'{url}' has no host (or has user info)")));
    }
    let addr = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| !p.contains(']'))
    {
        tcp_addr(authority)?
    } else {
        format!("{authority}:80")
    };
    if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(E::custom(format!(
            "the path of '{url}' has spaces or control characters"
        )));
    }
    Ok(HttpTarget {
        url: url.to_string(),
        addr,
        host: authority.to_string(),
        path: path.to_string(),
    })
}

/// A problem across programs: the program and key it belongs to, and what is wrong.
pub(super) struct StackError {
    pub program: String,
    pub key: &'static str,
    pub message: String,
}

/// Unknown dependencies, cycles (the whole path), and `completed` on a program that
/// `autorestart = "always"` restarts.
pub(super) fn check(programs: &BTreeMap<String, ProgramConfig>) -> Result<(), StackError> {
    for (name, p) in programs {
        for (dep, cond) in &p.depends_on {
            let Some(target) = programs.get(dep) else {
                return Err(StackError {
                    program: name.clone(),
                    key: "depends_on",
                    message: format!("depends on '{dep}', which is not a program of this config"),
                });
            };
            if *cond == Condition::Completed && target.autorestart == AutoRestart::Always {
                // An error, not a warning: `always` restarts it at every completion, so
                // whether the dependent starts would depend on when it happens to look.
                return Err(StackError {
                    program: name.clone(),
                    key: "depends_on",
                    message: format!(
                        "waits for '{dep}' to be completed, but '{dep}' has autorestart = \
                         \"always\", which restarts it every time it completes; give '{dep}' \
                         autorestart = \"unexpected\" or \"never\", or wait for \"running\""
                    ),
                });
            }
            if *cond == Condition::Healthy && target.health.is_none() {
                return Err(StackError {
                    program: name.clone(),
                    key: "depends_on",
                    message: format!(
                        "waits for '{dep}' to be healthy, but '{dep}' has no health check \
                         (add health = {{ ... }} to '{dep}', or wait for \"running\")"
                    ),
                });
            }
        }
    }
    if let Some(path) = find_cycle(programs) {
        return Err(StackError {
            program: path[0].clone(),
            key: "depends_on",
            message: format!("dependency cycle: {}", path.join(" -> ")),
        });
    }
    Ok(())
}

/// The first cycle found, as a path that starts and ends with the same program.
fn find_cycle(programs: &BTreeMap<String, ProgramConfig>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut marks: BTreeMap<&str, Mark> =
        programs.keys().map(|k| (k.as_str(), Mark::New)).collect();
    for start in programs.keys() {
        if marks.get(start.as_str()) != Some(&Mark::New) {
            continue;
        }
        // Iterative depth-first walk: (program, its dependencies not yet visited).
        let mut path: Vec<&str> = vec![start];
        let mut stack: Vec<Vec<&str>> = vec![deps_of(programs, start)];
        marks.insert(start, Mark::OnPath);
        while let Some(next) = stack.last_mut() {
            match next.pop() {
                Some(dep) => match marks.get(dep).copied() {
                    Some(Mark::OnPath) => {
                        let from = path.iter().position(|p| *p == dep).unwrap_or(0);
                        let mut cycle: Vec<String> =
                            path[from..].iter().map(|s| s.to_string()).collect();
                        cycle.push(dep.to_string());
                        return Some(cycle);
                    }
                    Some(Mark::New) => {
                        marks.insert(dep, Mark::OnPath);
                        path.push(dep);
                        stack.push(deps_of(programs, dep));
                    }
                    Some(Mark::Done) | None => {}
                },
                None => {
                    stack.pop();
                    if let Some(done) = path.pop() {
                        marks.insert(done, Mark::Done);
                    }
                }
            }
        }
    }
    None
}

fn deps_of<'a>(programs: &'a BTreeMap<String, ProgramConfig>, name: &str) -> Vec<&'a str> {
    programs
        .get(name)
        .map(|p| p.depends_on.keys().rev().map(String::as_str).collect())
        .unwrap_or_default()
}
