//! `depends_on` on the supervisor thread (interface.md section 10): the gate every spawn goes
//! through (a process whose dependencies are not met waits in WAITING), starting stopped
//! dependencies first, releasing waiting processes the moment their dependencies are met,
//! and stopping dependents before their dependencies, level by level.
//!
//! The state machine knows one process; whether another one is "healthy" or "completed" is
//! read here, where every process is, and handed to it as `on_wait`.

use std::collections::HashMap;

use super::clock::Now;
use super::engine::{Engine, WaitKind};
use super::process::{ProcState, Process};
use super::snapshot::ExitCause;
use crate::config::{Condition, Config};

/// Program name -> the programs that depend on it.
pub(super) type Dependents = HashMap<String, Vec<String>>;

pub(super) fn dependents(config: &Config) -> Dependents {
    let mut map: Dependents = HashMap::new();
    for prog in config.programs.values() {
        for dep in prog.depends_on.keys() {
            map.entry(dep.clone()).or_default().push(prog.name.clone());
        }
    }
    map
}

/// Whether `p` has reached `cond`.
fn meets(p: &Process, cond: Condition) -> bool {
    match (p.state(), cond) {
        (ProcState::Starting { .. } | ProcState::Running { .. }, Condition::Started) => true,
        (ProcState::Running { .. }, Condition::Running) => true,
        (ProcState::Running { .. }, Condition::Healthy) => p.is_healthy(),
        (
            ProcState::Exited {
                exit,
                restart_at: None,
            },
            Condition::Completed,
        ) => exit.cause == ExitCause::Died { expected: true },
        _ => false,
    }
}

/// Why `p` will not reach a condition by itself, if it will not: at rest, or itself held by
/// something that will not come.
fn blocked(p: &Process) -> Option<String> {
    match p.state() {
        ProcState::Waiting {
            blocked: Some(_), ..
        } => Some(format!("{} is WAITING", p.name())),
        ProcState::Exited {
            exit,
            restart_at: None,
        } => Some(format!("{} is EXITED ({})", p.name(), exit.describe())),
        _ if !p.is_active() => Some(format!("{} is {}", p.name(), p.state_name())),
        _ => None,
    }
}

impl Engine {
    /// The processes of a program: `prog` alone or `prog:prog_NN`, found by range (the map is
    /// sorted by name).
    pub(super) fn processes_of<'a>(
        &'a self,
        program: &'a str,
    ) -> impl Iterator<Item = &'a Process> {
        self.procs
            .range(program.to_string()..)
            .take_while(move |(k, _)| {
                k.as_str() == program || k.strip_prefix(program).is_some_and(|r| r.starts_with(':'))
            })
            .map(|(_, p)| p)
    }

    /// The first unmet dependency of `name` (`db (healthy)`), and why it will not come by
    /// itself if it will not; `None` when every dependency is met.
    fn unmet(&self, name: &str) -> Option<(String, Option<String>)> {
        let config = self.procs.get(name)?.config().clone();
        for (dep, cond) in &config.depends_on {
            for q in self.processes_of(dep) {
                if !meets(q, *cond) {
                    let on = format!("{dep} ({})", cond.as_str());
                    return Some((on, blocked(q)));
                }
            }
        }
        None
    }

    /// Every spawn goes through here: at once when the dependencies are met, else WAITING.
    pub(super) fn spawn_or_wait(&mut self, name: &str, now: Now) {
        match self.unmet(name) {
            None => self.spawn(name, now),
            Some((on, blocked)) => {
                if let Some(effects) = self
                    .procs
                    .get_mut(name)
                    .map(|p| p.on_wait(on, blocked, now))
                {
                    self.apply(name, effects, now);
                }
            }
        }
    }

    /// A start asked for `name` starts the dependencies that are at rest and not met first
    /// (recursively: theirs before them).
    pub(super) fn start_dependencies(&mut self, name: &str, now: Now) {
        let Some(config) = self.procs.get(name).map(|p| p.config().clone()) else {
            return;
        };
        for (dep, cond) in &config.depends_on {
            let idle: Vec<String> = self
                .processes_of(dep)
                .filter(|q| !meets(q, *cond) && !q.is_active())
                .map(|q| q.name().to_string())
                .collect();
            for q in idle {
                self.start_process(&q, now);
            }
        }
    }

    /// Spawns the WAITING processes whose dependencies are now met and updates the reason of
    /// the others; repeated until nothing changes, since one start can meet another's.
    pub(super) fn release_waiting(&mut self, now: Now) {
        if self.shutdown.is_some() {
            return;
        }
        loop {
            let waiting: Vec<String> = self
                .procs
                .values()
                .filter(|p| p.is_waiting())
                .map(|p| p.name().to_string())
                .collect();
            let before = waiting.len();
            for name in waiting {
                self.spawn_or_wait(&name, now);
            }
            let after = self.procs.values().filter(|p| p.is_waiting()).count();
            if after >= before {
                return;
            }
        }
    }

    /// Queues a stop that waits for the process's dependents to be stopped first.
    pub(super) fn defer_stop(&mut self, name: &str) {
        self.deferred.insert(name.to_string());
    }

    /// A process's queued stop waits while a dependent of it is queued too or still stopping.
    fn has_stopping_dependents(&self, name: &str) -> bool {
        let Some(program) = self.procs.get(name).map(|p| p.config().name.clone()) else {
            return false;
        };
        let Some(dependents) = self.dependents.get(&program) else {
            return false;
        };
        dependents.iter().any(|d| {
            self.processes_of(d).any(|q| {
                q.name() != name
                    && (self.deferred.contains(q.name())
                        || matches!(q.state(), ProcState::Stopping { .. }))
            })
        })
    }

    /// Carries out the queued stops whose dependents are all stopped: each level in
    /// parallel, the next one when the previous has stopped.
    pub(super) fn advance_stops(&mut self, now: Now) {
        loop {
            let ready: Vec<String> = self
                .deferred
                .iter()
                .filter(|n| !self.has_stopping_dependents(n))
                .cloned()
                .collect();
            if ready.is_empty() {
                return;
            }
            for name in ready {
                self.deferred.remove(&name);
                match self.procs.get_mut(&name).map(|p| p.on_stop(now)) {
                    Some(Ok(effects)) => self.apply(&name, effects, now),
                    // It came to rest by itself meanwhile: its waiters have their answer.
                    Some(Err(_)) => self.settle(&name, WaitKind::Stop),
                    None => {}
                }
            }
        }
    }
}
