//! Health checks on the supervisor thread: queuing checks by due time, sending the due ones
//! to the checkers (`crate::health`) in batches, arming `log` checks on the I/O thread, and
//! feeding outcomes back to the state machine. The state machine decides when a check is due,
//! so at most one per process is in flight.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use nix::unistd::Pid;

use super::clock::Now;
use super::engine::Engine;
use super::process::{MAX_CHECK_SLACK, ProcState};
use crate::config::{Probe, ProgramConfig};
use crate::health::{Job, Outcome};

/// Health checks by due time: the supervisor wakes for the first one and takes every check
/// due by then in one go, instead of looking at every process for each. A thousand checks a
/// second go through here, so a check's round trip allocates nothing: a process keeps its
/// entry while its check is in flight, and its name travels in the job and back.
#[derive(Default)]
pub(super) struct CheckQueue {
    /// By due time, then a sequence number (unique keys without comparing names).
    due: BTreeMap<(Instant, u64), String>,
    /// Each known name's place in `due`; `None` while no check is queued (one in flight).
    at: HashMap<String, Option<(Instant, u64)>>,
    seq: u64,
}

impl CheckQueue {
    /// `name`'s next check is due at `due` (`None`: no check pending).
    pub fn set(&mut self, name: &str, due: Option<Instant>) {
        let old = match self.at.get(name) {
            Some(old) if old.map(|(t, _)| t) == due => return,
            Some(old) => *old,
            None if due.is_none() => return,
            None => None,
        };
        let owned = old.and_then(|key| self.due.remove(&key));
        self.put(name, owned, due);
    }

    /// As `set`, with the name already owned (an outcome's): no copy is made.
    pub fn requeue(&mut self, name: String, due: Option<Instant>) {
        match self.at.get_mut(name.as_str()) {
            Some(slot @ None) => {
                if let Some(t) = due {
                    self.seq += 1;
                    *slot = Some((t, self.seq));
                    self.due.insert((t, self.seq), name);
                }
            }
            // Queued meanwhile (a rescan), or not known yet.
            _ => self.set(&name, due),
        }
    }

    fn put(&mut self, name: &str, owned: Option<String>, due: Option<Instant>) {
        let key = due.map(|t| {
            self.seq += 1;
            (t, self.seq)
        });
        if let Some(key) = key {
            self.due
                .insert(key, owned.unwrap_or_else(|| name.to_string()));
        }
        match self.at.get_mut(name) {
            Some(slot) => *slot = key,
            None => {
                self.at.insert(name.to_string(), key);
            }
        }
    }

    /// A process that is gone (removed or renamed): its entry too.
    pub fn forget(&mut self, name: &str) {
        if let Some(Some(key)) = self.at.remove(name) {
            self.due.remove(&key);
        }
    }

    pub fn first(&self) -> Option<Instant> {
        self.due.first_key_value().map(|((at, _), _)| *at)
    }

    /// Takes out the checks due by `until` (their names stay known, with nothing queued).
    fn take_until(&mut self, until: Instant) -> Vec<String> {
        let mut names = Vec::new();
        while let Some(((at, _), _)) = self.due.first_key_value()
            && *at <= until
        {
            if let Some((_, name)) = self.due.pop_first() {
                if let Some(slot) = self.at.get_mut(&name) {
                    *slot = None;
                }
                names.push(name);
            }
        }
        names
    }
}

impl Engine {
    /// Sends every check that is due, each within its slack (`Process::check_slack`), to
    /// the checkers as one batch.
    pub(super) fn fire_checks(&mut self, now: Now) {
        if self
            .checks
            .first()
            .is_none_or(|at| at > now.mono + MAX_CHECK_SLACK)
        {
            return;
        }
        let mut jobs = Vec::new();
        for name in self.checks.take_until(now.mono + MAX_CHECK_SLACK) {
            let Some(p) = self.procs.get_mut(&name) else {
                continue;
            };
            match p.on_check_due(now) {
                Some(pid) => {
                    if let Some(health) = &p.config().health {
                        jobs.push(Job {
                            name,
                            pid,
                            probe: health.probe.clone(),
                            timeout: health.timeout,
                        });
                    }
                }
                // Not within its own slack yet: back in the queue.
                None => self.checks.set(&name, p.check_due()),
            }
        }
        if let Some(checkers) = &self.checkers {
            checkers.send(jobs);
        }
    }

    /// A new child of a program with a `log` check: the I/O thread watches its output.
    pub(super) fn arm_log_check(&mut self, name: &str, config: &ProgramConfig) {
        self.log_seen.remove(name);
        let Some(Probe::Log(text)) = config.health.as_ref().map(|h| &h.probe) else {
            return;
        };
        if let Some(hits) = &self.log_hits {
            self.reader.watch_text(name, text, hits.clone());
        }
    }

    /// The I/O thread saw a `log` check's text.
    pub fn on_log_hit(&mut self, name: &str, now: Now) {
        match self.procs.get(name).map(|p| p.state().clone()) {
            Some(ProcState::Running { pid, .. }) => {
                self.on_outcome(name.to_string(), pid, Ok(()), now);
            }
            // Seen during starttime: counted once it is RUNNING.
            Some(ProcState::Starting { .. }) => {
                self.log_seen.insert(name.to_string());
            }
            _ => {}
        }
    }

    /// Entered RUNNING with a `log` check: the text may have been seen already.
    pub(super) fn log_check_running(&mut self, name: &str, now: Now) {
        if self.log_seen.remove(name)
            && let Some(pid) = self.procs.get(name).and_then(|p| p.pid())
        {
            self.on_outcome(name.to_string(), pid, Ok(()), now);
        }
    }

    /// The checkers' outcomes. A check command was a child of ours: if a reap stopped at
    /// its zombie, reap again in case one of ours waited behind it (see `reap`). Only then:
    /// each reap asks the kernel to look through every child of ours.
    pub fn on_health_outcomes(&mut self, outcomes: Vec<Outcome>, now: Now) {
        for o in outcomes {
            self.on_outcome(o.name, o.pid, o.result, now);
        }
        if std::mem::take(&mut self.reap_cut) {
            self.reap(now);
        }
    }

    /// One outcome: the next check is queued; a change of health is applied (an outcome
    /// that changes nothing costs no more than that).
    fn on_outcome(&mut self, name: String, pid: Pid, result: Result<(), String>, now: Now) {
        let Some(p) = self.procs.get_mut(&name) else {
            return;
        };
        let effects = p.on_health(pid, result, now);
        let due = p.check_due();
        if effects.is_empty() {
            self.checks.requeue(name, due);
        } else {
            self.checks.set(&name, due);
            self.apply(&name, effects, now);
        }
    }

    pub(super) fn is_helper(&self, pid: Pid) -> bool {
        // An alert's command is its worker's to reap, like a health check's.
        let alert = self
            .alerts
            .helpers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&pid);
        alert
            || self.checkers.as_ref().is_some_and(|c| {
                c.helpers
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .contains(&pid)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::CheckQueue;
    use std::time::{Duration, Instant};

    #[test]
    fn the_queue_keeps_one_due_time_per_process_in_order() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut q = CheckQueue::default();
        q.set("a", Some(ms(30)));
        q.set("b", Some(ms(10)));
        q.set("c", Some(ms(20)));
        q.set("a", Some(ms(5)));
        q.set("c", None);
        assert_eq!(q.first(), Some(ms(5)), "a's new time replaced its old one");
        assert_eq!(q.take_until(ms(10)), ["a", "b"]);
        assert_eq!(q.first(), None, "taken out, c unset");
        q.set("b", Some(ms(40)));
        assert_eq!(q.take_until(ms(39)), Vec::<String>::new());
        assert_eq!(q.first(), Some(ms(40)));
        // An outcome gives its name back; a forgotten process leaves nothing behind.
        q.requeue("a".to_string(), Some(ms(50)));
        q.requeue("b".to_string(), Some(ms(45)));
        assert_eq!(
            q.take_until(ms(100)),
            ["b", "a"],
            "b's new time replaced 40"
        );
        q.set("c", Some(ms(60)));
        q.forget("c");
        q.forget("a");
        assert_eq!(q.first(), None);
        assert_eq!(q.at.len(), 1, "only b is still known");
    }
}
