//! Stopping orphans with their process (`orphans = "kill"`): the process's stopsignal, then
//! SIGKILL after its stoptime, to each orphan and to its own descendants, which would be
//! orphaned in turn. A pid is signalled only while its start time is the recorded one (no
//! signal reaches a reused pid). Supervisor thread only.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::{Doomed, Member, TREE_LIMIT};
use crate::config::Orphans as Policy;
use crate::spawn::procfs;
use crate::supervisor::engine::Engine;

impl Engine {
    pub(super) fn policy_of(&self, process: &str) -> Policy {
        self.procs
            .get(process)
            .map_or(Policy::Kill, |p| p.config().orphans)
    }

    /// Sends the process's stopsignal to `pid` and schedules its SIGKILL.
    pub(super) fn doom(&mut self, pid: Pid, member: Member, comm: String, now: Instant) {
        if self.orphans.doomed.contains_key(&pid) {
            return;
        }
        // Its own descendants would be orphaned in turn as it dies: they go with it.
        for d in procfs::descendants(pid, TREE_LIMIT) {
            if let Some(st) = procfs::stat(d).filter(|s| !s.zombie) {
                let m = Member {
                    process: member.process.clone(),
                    start: st.start,
                    parent: Some(Pid::from_raw(st.ppid)),
                    run: member.run,
                };
                self.orphans.lineage.insert(d, m.clone());
                self.doom_one(d, m, st.comm, now);
            }
        }
        self.doom_one(pid, member, comm, now);
    }

    fn doom_one(&mut self, pid: Pid, member: Member, comm: String, now: Instant) {
        if self.orphans.doomed.contains_key(&pid) {
            return;
        }
        let (sig, stoptime) = self
            .procs
            .get(&member.process)
            .map_or((Signal::SIGTERM, Duration::from_secs(10)), |p| {
                (p.config().stopsignal, p.config().stoptime)
            });
        if !procfs::signal_exact(pid, member.start, sig) {
            return;
        }
        // A stopped orphan must be able to act on the signal.
        procfs::signal_exact(pid, member.start, Signal::SIGCONT);
        self.event(format!(
            "stopping orphan: {}'s pid {pid} ({comm}) with {}",
            member.process,
            sig.as_str()
        ));
        let kill_at = now + stoptime;
        self.orphans.doomed.insert(
            pid,
            Doomed {
                member,
                comm,
                kill_at,
            },
        );
    }

    /// Stop, restart or death of `name`: every orphan and stray descendant it has (outside
    /// its process group, which gets its own signals) is stopped too, unless it leaves them.
    pub(in crate::supervisor) fn stop_orphans_of(
        &mut self,
        name: &str,
        leader: Option<Pid>,
        now: Instant,
    ) {
        // Recorded even when they are left running: they are reaped as ours when they end.
        if let Some(leader) = leader {
            self.orphans.census(name, leader);
        }
        if self.policy_of(name) == Policy::Leave {
            return;
        }
        let lineage = self.orphans.lineage.iter().map(|(p, m)| (*p, m.clone()));
        let adopted = self
            .orphans
            .adopted
            .iter()
            .filter_map(|(p, m)| m.clone().map(|m| (*p, m)));
        let targets: Vec<(Pid, Member)> = lineage
            .chain(adopted)
            .filter(|(_, m)| m.process == name)
            .collect();
        for (pid, member) in targets {
            let Some(st) = procfs::stat(pid).filter(|s| s.start == member.start && !s.zombie)
            else {
                self.orphans.lineage.remove(&pid);
                continue;
            };
            if leader.is_some_and(|l| st.pgrp == l.as_raw()) {
                continue;
            }
            self.doom(pid, member, st.comm, now);
        }
    }

    /// SIGKILL to the orphans still alive at their stoptime.
    pub(super) fn kill_due_orphans(&mut self, now: Instant) {
        let due: Vec<Pid> = self
            .orphans
            .doomed
            .iter()
            .filter(|(_, d)| d.kill_at <= now)
            .map(|(p, _)| *p)
            .collect();
        for pid in due {
            let Some(d) = self.orphans.doomed.remove(&pid) else {
                continue;
            };
            if procfs::signal_exact(pid, d.member.start, Signal::SIGKILL) {
                self.event(format!(
                    "killing orphan: {}'s pid {pid} ({}) with SIGKILL, still alive after stoptime",
                    d.member.process, d.comm
                ));
            }
        }
    }

    /// Orphans still being stopped (a shutdown waits for them).
    pub(in crate::supervisor) fn orphans_stopping(&self) -> bool {
        !self.orphans.doomed.is_empty()
    }
}
