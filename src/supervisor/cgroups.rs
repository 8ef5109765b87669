//! The cgroups of `cgroup = true` processes (see `spawn::cgroup`), supervisor thread only.
//! Each run of a process gets a new cgroup. A stop sends the stop signal to everything in it
//! (the process group gets its own), and SIGKILL after `stoptime` kills the whole cgroup.
//! When the leader has died, what is left in its cgroup is stopped like orphans are: the
//! stop signal, then `cgroup.kill` after `stoptime` (at once when the stop already reached
//! its SIGKILL). An empty cgroup is removed.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::engine::Engine;
use crate::config::CgroupLimits;
use crate::spawn::cgroup::{Base, Cgroup};

/// How often cgroups that wait to be emptied and removed are looked at.
const POLL: Duration = Duration::from_millis(50);
/// How long a shutdown waits for killed cgroups to empty before leaving them to the guard.
const FINISH_WAIT: Duration = Duration::from_secs(2);

/// A cgroup whose leader is gone: killed at `kill_at` (if still populated), then removed.
struct Drain {
    name: String,
    cgroup: Cgroup,
    kill_at: Instant,
    killed: bool,
}

/// A killed cgroup that still cannot be removed after this long is given up on (logged).
const GIVE_UP: Duration = Duration::from_secs(10);

#[derive(Default)]
pub(super) struct CgroupBook {
    base: Option<Base>,
    runs: u64,
    /// Process name -> the cgroup of its current run.
    live: HashMap<String, Cgroup>,
    draining: Vec<Drain>,
}

impl CgroupBook {
    /// A fresh cgroup for the next run of `name`.
    pub fn prepare(&mut self, name: &str, limits: &CgroupLimits) -> Result<&Cgroup, String> {
        if self.base.is_none() {
            self.base = Some(Base::create()?);
        }
        let base = self.base.as_ref().ok_or("no base cgroup")?;
        self.runs += 1;
        let cg = base.cgroup(&format!("{name}.{}", self.runs), limits)?;
        if let Some(old) = self.live.insert(name.to_string(), cg) {
            // A run whose end was never seen: whatever is in it has no process any more.
            old.kill();
            self.draining.push(Drain {
                name: name.to_string(),
                cgroup: old,
                kill_at: Instant::now(),
                killed: true,
            });
        }
        self.live.get(name).ok_or_else(|| "cgroup lost".to_string())
    }

    /// The spawn failed: its cgroup goes.
    pub fn discard(&mut self, name: &str) {
        if let Some(cg) = self.live.remove(name) {
            cg.kill();
            if !cg.remove() {
                self.draining.push(Drain {
                    name: name.to_string(),
                    cgroup: cg,
                    kill_at: Instant::now(),
                    killed: true,
                });
            }
        }
    }

    /// The next kill due, or the next look at cgroups waiting to empty.
    pub fn deadline(&self) -> Option<Instant> {
        if self.draining.is_empty() {
            return None;
        }
        let poll = Instant::now() + POLL;
        let kills = self
            .draining
            .iter()
            .filter(|d| !d.killed)
            .map(|d| d.kill_at);
        Some(kills.fold(poll, Instant::min))
    }

    pub fn is_idle(&self) -> bool {
        self.draining.is_empty()
    }
}

impl Engine {
    /// Stop signals reach the whole cgroup (the group has its own), SIGKILL kills it.
    pub(super) fn signal_cgroup(&mut self, name: &str, leader: Pid, sig: Signal) {
        let Some(cg) = self.cgroups.live.get(name) else {
            return;
        };
        if sig == Signal::SIGKILL {
            cg.kill();
            return;
        }
        if cg.signal_others(sig, Some(leader)) > 0 {
            cg.signal_others(Signal::SIGCONT, Some(leader));
        }
    }

    /// `name`'s leader was reaped: what is left in its cgroup is stopped, then killed.
    /// `stopping`: the process was being stopped, with the SIGKILL still to come at this
    /// time (`Some(None)`: it was sent).
    pub(super) fn cgroup_leader_gone(&mut self, name: &str, stopping: Option<Option<Instant>>) {
        let Some(cg) = self.cgroups.live.remove(name) else {
            return;
        };
        let now = Instant::now();
        let members = cg.members();
        if members.is_empty() && cg.remove() {
            return;
        }
        let Some(config) = self.procs.get(name).map(|p| p.config().clone()) else {
            cg.kill();
            self.cgroups.draining.push(Drain {
                name: name.to_string(),
                cgroup: cg,
                kill_at: now,
                killed: true,
            });
            return;
        };
        let kill_at = match stopping {
            // A stop: the stop signal reached them already; the SIGKILL may have too.
            Some(kill_at) => kill_at.unwrap_or(now),
            None => {
                if !members.is_empty() {
                    cg.signal_others(config.stopsignal, None);
                    cg.signal_others(Signal::SIGCONT, None);
                    self.event(format!(
                        "stopping {} process(es) left in the cgroup of {name} with {}",
                        members.len(),
                        config.stopsignal.as_str()
                    ));
                }
                now + config.stoptime
            }
        };
        self.cgroups.draining.push(Drain {
            name: name.to_string(),
            cgroup: cg,
            kill_at,
            killed: false,
        });
        self.cgroup_deadlines(now);
    }

    /// Kills drained cgroups whose time has come and removes the empty ones.
    pub(super) fn cgroup_deadlines(&mut self, now: Instant) {
        let mut lines = Vec::new();
        self.cgroups.draining.retain_mut(|d| {
            if !d.killed && d.kill_at <= now {
                let members = d.cgroup.members();
                if !members.is_empty() {
                    d.cgroup.kill();
                    lines.push(format!(
                        "killing: {} process(es) left in the cgroup of {} (pids {}) with cgroup.kill",
                        members.len(),
                        d.name,
                        members
                            .iter()
                            .map(|p| p.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
                d.killed = true;
            }
            if d.cgroup.remove() {
                return false;
            }
            if d.killed && now.duration_since(d.kill_at) > GIVE_UP {
                lines.push(format!(
                    "cannot remove the cgroup of {} ({}): still busy {} s after its kill",
                    d.name,
                    d.cgroup.dir.display(),
                    GIVE_UP.as_secs()
                ));
                return false;
            }
            true
        });
        for line in lines {
            self.event(line);
        }
    }

    /// At shutdown: nothing of ours may outlive taskmaster. Kills every cgroup left and
    /// waits (briefly) for them to empty; the base's guard covers what remains.
    pub(super) fn finish_cgroups(&mut self) {
        let book = &mut self.cgroups;
        for (name, cgroup) in book.live.drain() {
            book.draining.push(Drain {
                name,
                cgroup,
                kill_at: Instant::now(),
                killed: false,
            });
        }
        let until = Instant::now() + FINISH_WAIT;
        while !book.draining.is_empty() && Instant::now() < until {
            book.draining.retain(|d| {
                d.cgroup.kill();
                !d.cgroup.remove()
            });
            if !book.draining.is_empty() {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        book.base = None;
    }
}
