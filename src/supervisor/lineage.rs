//! The orphan lineage from the kernel's process events (see `spawn::proc_events`): each fork
//! under a leader of ours or one of its descendants adds the child to the lineage, each exit
//! drops the process and adopts its children, which the kernel has just reparented to us.
//! With events working there is no census and no periodic look for orphans (`orphans/census.rs`);
//! after lost events, one full census and one look catch up. Supervisor thread only.

use std::time::Instant;

use nix::unistd::Pid;

use super::engine::Engine;
use super::orphans::{Member, Source};
use crate::spawn::proc_events::ProcEvent;
use crate::spawn::procfs;

/// Set (to anything but empty or `0`) in taskmaster's environment: no process events, the
/// /proc census only (for the tests, which run both ways).
pub const NO_EVENTS_ENV: &str = "TASKMASTER_NO_PROC_EVENTS";

/// Whether this run may follow the kernel's process events.
pub fn events_allowed() -> bool {
    std::env::var(NO_EVENTS_ENV).map_or(true, |v| v.is_empty() || v == "0")
}

impl Engine {
    pub(super) fn on_proc_events(&mut self, batch: Vec<ProcEvent>, now: Instant) {
        for ev in batch {
            match ev {
                ProcEvent::Working => {
                    self.orphans.source = Source::Events;
                    self.event(
                        "process events: orphan lineage follows the kernel's fork and exit events"
                            .to_string(),
                    );
                }
                ProcEvent::Unavailable(why) => {
                    self.orphans.source = Source::Census;
                    self.orphans.leaders.clear();
                    self.orphans.exited.clear();
                    self.event(format!(
                        "process events unavailable ({why}): orphan lineage by /proc census"
                    ));
                }
                ProcEvent::Fork {
                    parent,
                    child,
                    start,
                } => self.on_fork(Pid::from_raw(parent), Pid::from_raw(child), start),
                ProcEvent::Exit { pid, forked } => self.on_exit(Pid::from_raw(pid), forked, now),
                ProcEvent::Lost => self.on_lost(now),
            }
        }
    }

    /// The event thread is gone (a failed read): the census takes over.
    pub(super) fn proc_events_ended(&mut self) {
        if self.orphans.source == Source::Census {
            return;
        }
        self.orphans.source = Source::Census;
        self.orphans.leaders.clear();
        self.orphans.exited.clear();
        self.event("process events ended: orphan lineage by /proc census".to_string());
    }

    /// A child of a leader of ours or of one of its descendants joins the lineage.
    fn on_fork(&mut self, parent: Pid, child: Pid, start: Option<u64>) {
        let book = &mut self.orphans;
        let leader = self
            .by_pid
            .get(&parent)
            .or_else(|| book.leaders.get(&parent));
        let origin = match leader {
            Some(name) => Some((name.clone(), Some(parent))),
            None => book
                .lineage
                .get(&parent)
                .map(|m| (m.process.clone(), m.run)),
        };
        if let Some((process, run)) = origin {
            let member = Member {
                process,
                start: start.unwrap_or(0),
                parent: Some(parent),
                run,
            };
            book.lineage.insert(child, member);
        }
    }

    /// `pid` ended: it leaves the lineage (unless it is our zombie still, which its reap
    /// attributes), and its children in the lineage, ours now, are adopted at once. Only a
    /// process that `forked` can have any (a thousand check commands a second cost no look
    /// at the lineage).
    fn on_exit(&mut self, pid: Pid, forked: bool, now: Instant) {
        if self.by_pid.contains_key(&pid) {
            // A leader not reaped yet: its reap needs not keep it as a parent.
            self.orphans.exited.insert(pid);
        } else {
            self.orphans.leaders.remove(&pid);
        }
        if self.orphans.lineage.contains_key(&pid)
            && !procfs::stat(pid).is_some_and(|s| s.zombie && s.ppid == my_pid())
        {
            self.orphans.lineage.remove(&pid);
        }
        if !forked {
            return;
        }
        let children: Vec<(Pid, Member)> = self
            .orphans
            .lineage
            .iter()
            .filter(|(_, m)| m.parent == Some(pid))
            .map(|(p, m)| (*p, m.clone()))
            .collect();
        for (child, member) in children {
            self.adopt_member(child, member, now);
        }
    }

    /// A lineage member whose parent ended: taken as ours if it was reparented to us.
    fn adopt_member(&mut self, pid: Pid, mut member: Member, now: Instant) {
        if self.by_pid.contains_key(&pid)
            || self.orphans.adopted.contains_key(&pid)
            || self.is_helper(pid)
        {
            return;
        }
        let Some(st) = procfs::stat(pid).filter(|s| s.ppid == my_pid()) else {
            return;
        };
        // Events come in order: the pid is still the process forked under it.
        if member.start == 0 {
            member.start = st.start;
            self.orphans.lineage.insert(pid, member.clone());
        }
        if member.start != st.start {
            return;
        }
        let leader = self.procs.get(&member.process).and_then(|p| p.pid());
        let run_over = match member.run {
            Some(run) => !self.by_pid.contains_key(&run),
            None => leader.is_none(),
        };
        // Members of a dead leader's group are SIGKILLed with the group.
        let in_group = member.run.or(leader).is_some_and(|l| st.pgrp == l.as_raw());
        self.take_orphan(pid, st, member, run_over, in_group, now);
    }

    /// Events were lost: what they would have told is read from /proc once.
    fn on_lost(&mut self, now: Instant) {
        if !self.orphans.lost_told {
            self.orphans.lost_told = true;
            self.event(
                "process events were lost (the kernel's buffer overflowed): one full /proc \
                 census (said once)"
                    .to_string(),
            );
        }
        let live: Vec<(String, Pid)> = self
            .procs
            .values()
            .filter_map(|p| p.pid().map(|pid| (p.name().to_string(), pid)))
            .collect();
        for (name, pid) in live {
            self.orphans.census(&name, pid);
        }
        self.adopt_orphans(None, now);
        self.forget_dead_lineage();
        // Their exit events may be among the lost ones; the census stands in for them.
        self.orphans.leaders.clear();
        self.orphans.exited.clear();
    }
}

fn my_pid() -> i32 {
    std::process::id() as i32
}
