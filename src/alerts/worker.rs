//! One alert's worker thread: takes events from the alert's bounded queue, gathers a digest
//! when the alert has one, delivers through the sink, counts, and reports each failure (and
//! the events the queue had to drop) back to the supervisor as an `alert_failed` event.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::exec;
use super::syslog;
use super::webhook::Webhook;
use crate::config::{AlertConfig, Sink};
use crate::supervisor::events::{Event, EventKind};

/// Events one digest holds at most; older ones are dropped (and counted) past that.
pub const MAX_BATCH: usize = 1_000;

/// Deliveries and losses of one alert since taskmaster started (kept across reloads).
#[derive(Debug, Default)]
pub struct Counters {
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    pub dropped: AtomicU64,
}

impl Counters {
    pub fn get(&self) -> (u64, u64, u64) {
        (
            self.sent.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            self.dropped.load(Ordering::Relaxed),
        )
    }
}

/// Where a delivery goes, prepared once per worker.
enum Target {
    Exec(Vec<String>),
    Webhook(Box<Webhook>),
    Syslog(std::path::PathBuf),
}

pub(super) struct Worker {
    pub config: AlertConfig,
    pub rx: Receiver<Arc<Event>>,
    pub counters: Arc<Counters>,
    /// `alert_failed` events for the supervisor to emit.
    pub reports: Sender<Event>,
    /// Pids of alert commands, which the supervisor must not reap as strays.
    pub helpers: crate::health::Helpers,
}

impl Worker {
    pub fn run(self) {
        let target = match &self.config.sink {
            Sink::Exec(_, argv) => Ok(Target::Exec(argv.clone())),
            Sink::Webhook { url, ca } => Webhook::new(url, ca.as_deref(), self.config.timeout)
                .map(|w| Target::Webhook(Box::new(w))),
            Sink::Syslog(path) => Ok(Target::Syslog(path.clone())),
        };
        let mut reported_drops = 0;
        while let Ok(first) = self.rx.recv() {
            let batch = self.gather(first);
            let outcome = match &target {
                Ok(t) => self.deliver(t, &batch),
                Err(why) => Err(why.clone()),
            };
            match outcome {
                Ok(()) => {
                    self.counters.sent.fetch_add(1, Ordering::Relaxed);
                }
                Err(why) => {
                    self.counters.failed.fetch_add(1, Ordering::Relaxed);
                    let what = match batch.len() {
                        1 => format!("event {}", batch[0].serial),
                        n => format!("{n} events"),
                    };
                    self.report(format!("{what} not delivered: {why}"));
                }
            }
            let drops = self.counters.dropped.load(Ordering::Relaxed);
            if drops > reported_drops {
                self.report(format!(
                    "{} events dropped (the queue was full)",
                    drops - reported_drops
                ));
                reported_drops = drops;
            }
        }
    }

    /// The first event, and with a digest everything arriving within the window after it.
    fn gather(&self, first: Arc<Event>) -> Vec<Arc<Event>> {
        let mut batch = vec![first];
        if self.config.digest.is_zero() {
            return batch;
        }
        let until = Instant::now() + self.config.digest;
        loop {
            match self.rx.recv_deadline(until) {
                Ok(ev) => {
                    if batch.len() == MAX_BATCH {
                        batch.remove(0);
                        self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    batch.push(ev);
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return batch,
            }
        }
    }

    fn deliver(&self, target: &Target, batch: &[Arc<Event>]) -> Result<(), String> {
        let json = if self.config.digest.is_zero() && batch.len() == 1 {
            batch[0].to_json()
        } else {
            let events: Vec<&Event> = batch.iter().map(|e| &**e).collect();
            serde_json::to_string(&events).unwrap_or_else(|_| "[]".to_string())
        };
        let timeout = self.config.timeout;
        match target {
            Target::Exec(argv) => exec::run_as_helper(argv, batch, &json, timeout, &self.helpers),
            Target::Webhook(w) => w.post(&json),
            Target::Syslog(path) => syslog::send(path, batch, timeout),
        }
    }

    fn report(&self, why: String) {
        let name = &self.config.name;
        let mut ev = Event::new(EventKind::AlertFailed, format!("alert {name}: {why}"));
        ev.alert = Some(name.clone());
        ev.reason = Some(why);
        // Never block: when the supervisor is far behind, the counters still tell.
        let _ = self.reports.try_send(ev);
    }
}

/// Waits at most `timeout` for the worker thread behind `done` to end.
pub(super) fn join_until(done: &Receiver<()>, until: Instant) {
    let _ = done.recv_deadline(until);
}
