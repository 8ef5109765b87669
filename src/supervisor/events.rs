//! The one event type of interface.md section 9. The supervisor thread builds every [`Event`]
//! (one serial counter, one clock); the event log, the dashboard, `events`, `/metrics` and the
//! alerts all read the same objects. The JSON shape is the contract's, the same on an alert
//! command's stdin, in a webhook body and on the socket.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::snapshot::StateName;

/// How many events `events` can replay.
pub const RING_CAP: usize = 1_000;

/// What happened. The first group is what `[alerts.NAME] on` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Spawned,
    Running,
    Backoff,
    Fatal,
    /// An exit that `exitcodes` expected (`on = ["exited"]` also matches unexpected exits).
    Exited,
    ExitedUnexpected,
    Stopped,
    /// RUNNING again after FATAL, BACKOFF or an unexpected exit.
    Recovered,
    Unhealthy,
    Healthy,
    Reload,
    ReloadFailed,
    /// taskmaster itself started.
    Started,
    /// taskmaster itself is stopping.
    Stopping,
    /// `alert test NAME`.
    Test,
    /// An alert could not be delivered (or dropped events); `reason` says why.
    AlertFailed,
    /// A log file (a program's or the event log) cannot be written, rotated or reopened;
    /// its recovery is a `note`.
    LogFailed,
    /// An event-log line that tells no transition (`stop requested:`, `killing:`,
    /// `restarting:`, `spawnerr:`, `taskmaster stopped`...).
    Note,
}

impl EventKind {
    /// The kinds an alert may subscribe to, with their names.
    pub const SUBSCRIBABLE: [EventKind; 14] = [
        EventKind::Spawned,
        EventKind::Running,
        EventKind::Backoff,
        EventKind::Fatal,
        EventKind::Exited,
        EventKind::ExitedUnexpected,
        EventKind::Stopped,
        EventKind::Recovered,
        EventKind::Unhealthy,
        EventKind::Healthy,
        EventKind::Reload,
        EventKind::ReloadFailed,
        EventKind::Started,
        EventKind::Stopping,
    ];

    /// Every kind, for counting: the subscribable ones and those no alert may ask for.
    pub const ALL: [EventKind; 18] = {
        let rest = [
            EventKind::Test,
            EventKind::AlertFailed,
            EventKind::LogFailed,
            EventKind::Note,
        ];
        let sub = EventKind::SUBSCRIBABLE;
        let mut all = [EventKind::Note; 18];
        let mut i = 0;
        while i < all.len() {
            all[i] = if i < sub.len() {
                sub[i]
            } else {
                rest[i - sub.len()]
            };
            i += 1;
        }
        all
    };

    /// What an alert listens to when its `on` is left out.
    pub const DEFAULT_ON: [EventKind; 3] = [
        EventKind::Fatal,
        EventKind::ExitedUnexpected,
        EventKind::Recovered,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Spawned => "spawned",
            EventKind::Running => "running",
            EventKind::Backoff => "backoff",
            EventKind::Fatal => "fatal",
            EventKind::Exited => "exited",
            EventKind::ExitedUnexpected => "exited_unexpected",
            EventKind::Stopped => "stopped",
            EventKind::Recovered => "recovered",
            EventKind::Unhealthy => "unhealthy",
            EventKind::Healthy => "healthy",
            EventKind::Reload => "reload",
            EventKind::ReloadFailed => "reload_failed",
            EventKind::Started => "started",
            EventKind::Stopping => "stopping",
            EventKind::Test => "test",
            EventKind::AlertFailed => "alert_failed",
            EventKind::LogFailed => "log_failed",
            EventKind::Note => "note",
        }
    }

    /// A kind an alert may name in `on`.
    pub fn parse_subscribable(word: &str) -> Option<EventKind> {
        EventKind::SUBSCRIBABLE
            .into_iter()
            .find(|k| k.as_str() == word)
    }

    /// True when an alert whose `on` lists `self` wants an event of kind `kind`.
    pub fn matches(self, kind: EventKind) -> bool {
        self == kind || (self == EventKind::Exited && kind == EventKind::ExitedUnexpected)
    }

    /// Severity of RFC 5424 (2 critical ... 6 informational), also used to colour the news.
    pub fn severity(self) -> u8 {
        match self {
            EventKind::Fatal => 2,
            EventKind::ExitedUnexpected
            | EventKind::AlertFailed
            | EventKind::ReloadFailed
            | EventKind::LogFailed => 3,
            EventKind::Backoff | EventKind::Unhealthy => 4,
            EventKind::Recovered
            | EventKind::Healthy
            | EventKind::Started
            | EventKind::Stopping
            | EventKind::Reload
            | EventKind::Test => 5,
            EventKind::Spawned
            | EventKind::Running
            | EventKind::Exited
            | EventKind::Stopped
            | EventKind::Note => 6,
        }
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event. Built by the supervisor thread only; shared as `Arc<Event>`. Its JSON (field
/// order included) is the contract's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub serial: u64,
    /// RFC 3339, local time with milliseconds and offset; set when the event is stamped.
    pub time: String,
    pub host: String,
    #[serde(rename = "event")]
    pub kind: EventKind,
    pub program: Option<String>,
    pub process: Option<String>,
    pub pid: Option<u32>,
    pub from: Option<StateName>,
    pub to: Option<StateName>,
    pub exit_code: Option<i32>,
    /// `SIGTERM`, ...
    pub signal: Option<String>,
    pub expected: Option<bool>,
    pub reason: Option<String>,
    /// Start attempts in the current series (BACKOFF, FATAL).
    pub tries: Option<u32>,
    /// The alert concerned (`alert_failed`, `test`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    /// The human line, in supervisor's words: the event log's text. Chat webhooks (Slack,
    /// Mattermost) show it as it is.
    pub text: String,
}

impl Event {
    /// An event of `kind` with every optional field empty; the caller fills in the rest and
    /// the serial/time are set when it is emitted.
    pub fn new(kind: EventKind, text: impl Into<String>) -> Event {
        Event {
            serial: 0,
            time: String::new(),
            host: hostname().to_string(),
            kind,
            program: None,
            process: None,
            pid: None,
            from: None,
            to: None,
            exit_code: None,
            signal: None,
            expected: None,
            reason: None,
            tries: None,
            alert: None,
            text: text.into(),
        }
    }

    /// One JSON object on one line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_string())
    }
}

/// This machine's name, read once.
pub fn hostname() -> &'static str {
    static HOST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".to_string())
    })
}

/// `2026-11-27T13:45:01.123+01:00` in local time.
pub fn rfc3339(t: SystemTime) -> String {
    let (time, gmtoff) = crate::logging::local_time(t, 'T');
    let off = gmtoff / 60;
    let sign = if off < 0 { '-' } else { '+' };
    format!("{time}{sign}{:02}:{:02}", off.abs() / 60, off.abs() % 60)
}

/// The recent events, for `events`, and a count per kind since taskmaster started, for
/// `/metrics`. Written by the supervisor thread only.
pub struct EventRing {
    recent: VecDeque<Arc<Event>>,
    next_serial: u64,
    pub counts: Arc<EventCounts>,
}

/// Events emitted per kind, readable from any thread.
#[derive(Default)]
pub struct EventCounts {
    by_kind: [AtomicU64; EventKind::ALL.len()],
}

impl EventCounts {
    pub fn get(&self, kind: EventKind) -> u64 {
        self.by_kind[kind as usize].load(Ordering::Relaxed)
    }
}

impl Default for EventRing {
    fn default() -> Self {
        EventRing {
            recent: VecDeque::with_capacity(64),
            next_serial: 1,
            counts: Arc::new(EventCounts::default()),
        }
    }
}

impl EventRing {
    /// Stamps `event` with the next serial and the time, and keeps it.
    pub fn stamp(&mut self, mut event: Event) -> Arc<Event> {
        event.serial = self.next_serial;
        self.next_serial += 1;
        event.time = rfc3339(SystemTime::now());
        self.counts.by_kind[event.kind as usize].fetch_add(1, Ordering::Relaxed);
        let event = Arc::new(event);
        if self.recent.len() == RING_CAP {
            self.recent.pop_front();
        }
        self.recent.push_back(event.clone());
        event
    }

    /// The kept events, oldest first.
    pub fn recent(&self) -> Vec<Arc<Event>> {
        self.recent.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_every_field_of_the_contract_in_order() {
        let mut ev = Event::new(EventKind::Fatal, "gave up: web");
        ev.program = Some("web".into());
        ev.process = Some("web:web_00".into());
        ev.from = Some(StateName::Backoff);
        ev.to = Some(StateName::Fatal);
        ev.reason = Some("Exited too quickly".into());
        ev.tries = Some(4);
        let json = ev.to_json();
        let keys = [
            "serial",
            "time",
            "host",
            "event",
            "program",
            "process",
            "pid",
            "from",
            "to",
            "exit_code",
            "signal",
            "expected",
            "reason",
            "tries",
            "text",
        ];
        let mut at = 0;
        for k in keys {
            let found = json[at..].find(&format!("\"{k}\":"));
            assert!(found.is_some(), "{k} follows in order in {json}");
            at += found.unwrap_or(0);
        }
        assert!(json.contains("\"event\":\"fatal\"") && json.contains("\"to\":\"FATAL\""));
        assert!(
            json.contains("\"pid\":null"),
            "absent fields are null: {json}"
        );
    }

    #[test]
    fn ring_keeps_the_last_thousand_with_growing_serials() {
        let mut ring = EventRing::default();
        for _ in 0..1_500 {
            ring.stamp(Event::new(EventKind::Spawned, "x"));
        }
        let recent = ring.recent();
        assert_eq!(recent.len(), RING_CAP, "the ring is bounded");
        assert_eq!(recent[0].serial, 501, "the oldest kept is the 501st");
        assert_eq!(recent[RING_CAP - 1].serial, 1_500);
        assert_eq!(ring.counts.get(EventKind::Spawned), 1_500);
    }

    #[test]
    fn rfc3339_has_millis_and_offset() {
        let t = rfc3339(SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_234));
        assert_eq!(t.len(), "1970-01-01T00:00:01.234+00:00".len(), "{t}");
        assert!(t.contains(".234"), "{t}");
    }

    #[test]
    fn exited_in_on_also_matches_unexpected_exits() {
        assert!(EventKind::Exited.matches(EventKind::ExitedUnexpected));
        assert!(!EventKind::ExitedUnexpected.matches(EventKind::Exited));
        assert_eq!(EventKind::parse_subscribable("test"), None);
        assert_eq!(
            EventKind::parse_subscribable("reload_failed"),
            Some(EventKind::ReloadFailed)
        );
    }
}
