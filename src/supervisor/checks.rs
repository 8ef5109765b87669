//! Health checks on the supervisor thread: sending due checks to the checker pool
//! (`crate::health`), arming `log` checks on the I/O thread, and feeding outcomes back to the
//! state machine. The state machine decides when a check is due, so at most one per process
//! is in flight.

use nix::unistd::Pid;

use super::clock::Now;
use super::engine::Engine;
use super::process::ProcState;
use crate::config::{Probe, ProgramConfig};
use crate::health::{Job, Outcome};

impl Engine {
    pub(super) fn send_check(&mut self, name: &str, pid: Pid) {
        let Some(health) = self.procs.get(name).and_then(|p| p.config().health.clone()) else {
            return;
        };
        if let Some(checkers) = &self.checkers {
            checkers.send(Job {
                name: name.to_string(),
                pid,
                probe: health.probe,
                timeout: health.timeout,
            });
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
            Some(ProcState::Running { pid, .. }) => self.on_outcome(name, pid, Ok(()), now),
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
            self.on_outcome(name, pid, Ok(()), now);
        }
    }

    /// A checker's outcome. A check command was a child of ours: reap again in case one of
    /// our zombies waited behind it (see `reap`).
    pub fn on_health_outcome(&mut self, outcome: Outcome, now: Now) {
        self.on_outcome(&outcome.name, outcome.pid, outcome.result, now);
        self.reap(now);
    }

    fn on_outcome(&mut self, name: &str, pid: Pid, result: Result<(), String>, now: Now) {
        let effects = self
            .procs
            .get_mut(name)
            .map(|p| p.on_health(pid, result, now));
        if let Some(effects) = effects.filter(|e| !e.is_empty()) {
            self.apply(name, effects, now);
        }
    }

    pub(super) fn is_helper(&self, pid: Pid) -> bool {
        self.checkers.as_ref().is_some_and(|c| {
            c.helpers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&pid)
        })
    }
}
