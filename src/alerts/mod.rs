//! Alerts (interface.md section 9): each `[alerts.NAME]` has a worker thread fed by a bounded
//! queue. The supervisor thread only routes events into the queues (`try_send`, never a wait);
//! when a queue is full its oldest event is dropped and counted. Delivery, digests, timeouts
//! and retries all happen on the worker, which reports failures back as `alert_failed` events.
//!
//! Sinks: [`exec`] (a command), [`webhook`] (an HTTP POST), [`syslog`] (RFC 5424 datagrams).

pub mod exec;
pub mod syslog;
pub mod webhook;
mod worker;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};

pub use worker::{Counters, MAX_BATCH};

use crate::config::AlertConfig;
use crate::supervisor::events::{Event, EventKind};

/// Events waiting for one alert's worker, at most.
pub const QUEUE_CAP: usize = 256;
/// How long a shutdown waits for the last deliveries.
const FLUSH_PATIENCE: Duration = Duration::from_secs(1);

/// The counters of every alert ever configured, by name; read by `/metrics`.
pub type AlertStats = Arc<Mutex<BTreeMap<String, Arc<Counters>>>>;

/// One configured alert: its queue's two ends (the receiver lets the router drop the oldest).
struct Route {
    config: AlertConfig,
    tx: Sender<Arc<Event>>,
    rx: Receiver<Arc<Event>>,
    counters: Arc<Counters>,
    /// Disconnects when the worker thread ends.
    done: Receiver<()>,
}

/// The alerts of the loaded config. Owned by the supervisor thread.
pub struct Alerts {
    routes: BTreeMap<String, Route>,
    stats: AlertStats,
    reports: Sender<Event>,
    /// Pids of running alert commands: not strays for the supervisor to reap.
    pub helpers: crate::health::Helpers,
}

impl Alerts {
    /// `reports` receives the workers' `alert_failed` events.
    pub fn new(stats: AlertStats, reports: Sender<Event>) -> Alerts {
        Alerts {
            routes: BTreeMap::new(),
            stats,
            reports,
            helpers: crate::health::Helpers::default(),
        }
    }

    /// Starts a worker per alert; on a reload, alerts whose settings did not change keep
    /// their worker and queue, the others are replaced (the old worker finishes its queue).
    pub fn configure(&mut self, alerts: &BTreeMap<String, AlertConfig>) {
        self.routes
            .retain(|name, r| alerts.get(name).is_some_and(|c| *c == r.config));
        for (name, config) in alerts {
            if self.routes.contains_key(name) {
                continue;
            }
            match self.start(config) {
                Ok(route) => {
                    self.routes.insert(name.clone(), route);
                }
                Err(e) => log::error!("alert {name}: cannot start its thread: {e}"),
            }
        }
    }

    fn start(&self, config: &AlertConfig) -> std::io::Result<Route> {
        let counters = {
            let mut stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
            stats.entry(config.name.clone()).or_default().clone()
        };
        let (tx, rx) = crossbeam_channel::bounded(QUEUE_CAP);
        let (done_tx, done) = crossbeam_channel::bounded::<()>(0);
        let w = worker::Worker {
            config: config.clone(),
            rx: rx.clone(),
            counters: counters.clone(),
            reports: self.reports.clone(),
            helpers: self.helpers.clone(),
        };
        std::thread::Builder::new()
            .name(format!("taskmaster-alert-{}", config.name))
            .spawn(move || {
                w.run();
                drop(done_tx);
            })?;
        Ok(Route {
            config: config.clone(),
            tx,
            rx,
            counters,
            done,
        })
    }

    /// Queues `event` for every alert that wants it. Never blocks.
    pub fn route(&self, event: &Arc<Event>) {
        for route in self.routes.values() {
            if wants(&route.config, event) {
                push(route, event.clone());
            }
        }
    }

    /// Queues a synthetic `test` event for the alert `name`, whatever its filters.
    pub fn test(&self, name: &str, event: &Arc<Event>) -> Result<(), String> {
        let route = self.routes.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.routes.keys().map(String::as_str).collect();
            format!(
                "no such alert '{name}' (alerts: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )
        })?;
        push(route, event.clone());
        Ok(())
    }

    pub fn names(&self) -> Vec<String> {
        self.routes.keys().cloned().collect()
    }

    /// At shutdown: no more events; gives the workers a moment to deliver what is queued.
    pub fn flush(&mut self) {
        let until = Instant::now() + FLUSH_PATIENCE;
        let routes = std::mem::take(&mut self.routes);
        let dones: Vec<Receiver<()>> = routes.into_values().map(|r| r.done).collect();
        for done in &dones {
            worker::join_until(done, until);
        }
    }
}

/// Whether an alert's `on` and `programs` select `event`. Taskmaster's own events (no
/// program) go only to alerts that do not name programs.
pub fn wants(config: &AlertConfig, event: &Event) -> bool {
    if !config.on.iter().any(|k| k.matches(event.kind)) {
        return false;
    }
    match (&config.programs, &event.program) {
        (None, _) => true,
        (Some(names), Some(p)) => names.contains(p),
        (Some(_), None) => false,
    }
}

/// Queues without waiting; a full queue loses its oldest event (counted).
fn push(route: &Route, mut event: Arc<Event>) {
    loop {
        match route.tx.try_send(event) {
            Ok(()) => return,
            Err(TrySendError::Full(back)) => {
                event = back;
                if route.rx.try_recv().is_ok() {
                    route
                        .counters
                        .dropped
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            Err(TrySendError::Disconnected(_)) => return,
        }
    }
}

/// A `test` event as `alert test NAME` sends it.
pub fn test_event(name: &str) -> Event {
    let mut ev = Event::new(
        EventKind::Test,
        format!("test: alert {name} (sent by `alert test {name}`)"),
    );
    ev.alert = Some(name.to_string());
    ev
}
