//! Where an orphan came from, and taking it in: the attribution rules (first match wins,
//! see `orphans`), adopting the strays that are now taskmaster's children, and reaping them
//! with a line in the event log. Supervisor thread only.

use std::time::Instant;

use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::{Member, OrphanBook};
use crate::config::Orphans as Policy;
use crate::spawn::procfs;
use crate::supervisor::engine::Engine;

impl OrphanBook {
    /// Who `pid` (alive or a zombie) came from, if that can be told.
    pub fn attribute(
        &self,
        pid: Pid,
        st: &procfs::Stat,
        died: Option<(&str, u64)>,
    ) -> Option<Member> {
        let member = |process: &str| Member {
            process: process.to_string(),
            start: st.start,
            parent: None,
            run: None,
        };
        if let Some(m) = self.lineage.get(&pid).filter(|m| m.start == st.start) {
            return Some(m.clone());
        }
        // A process leading its own group or session is nobody's member: its id may be an
        // old leader's of ours, reused (pids wrap quickly on a busy machine).
        for id in [st.pgrp, st.session] {
            if id == pid.as_raw() {
                continue;
            }
            if let Some(name) = self.groups.get(&Pid::from_raw(id)) {
                return Some(member(name));
            }
        }
        if !st.zombie {
            for stream in procfs::std_streams(pid) {
                if let Some(name) = self.pipes.get(&stream) {
                    return Some(member(name));
                }
            }
        }
        // Only the sole supervisor of its process knows every other child is an orphan; in a
        // test process the other children may be other supervisors' leaders. A stray started
        // after exactly one of the leaders that died lately is that one's.
        if !self.sole {
            return None;
        }
        if let Some((name, leader_start)) = died
            && st.start >= leader_start
        {
            return Some(member(name));
        }
        let mut candidates = self.deaths.iter().filter(|(_, s, _)| st.start >= *s);
        match (candidates.next(), candidates.next()) {
            (Some((name, _, _)), None) => Some(member(name)),
            _ => None,
        }
    }
}

impl Engine {
    /// Orphans adopted since the last look: attributed, logged, and stopped at once when the
    /// process they came from is not running. `died`: a leader of ours that just died (a
    /// zombie still) and its start time, the likely origin of new strays.
    pub(in crate::supervisor) fn adopt_orphans(&mut self, died: Option<(&str, u64)>, now: Instant) {
        let me = std::process::id().to_string();
        for pid in procfs::children(&me) {
            if self.by_pid.contains_key(&pid)
                || self.orphans.adopted.contains_key(&pid)
                || self.is_helper(pid)
            {
                continue;
            }
            let Some(st) = procfs::stat(pid) else {
                continue;
            };
            let Some(member) = self.orphans.attribute(pid, &st, died) else {
                if self.orphans.sole && !st.zombie {
                    self.event(format!(
                        "adopted: orphan pid {pid} ({}) of unknown origin, left running",
                        st.comm
                    ));
                    self.orphans.adopted.insert(pid, None);
                }
                continue;
            };
            let leader = self.procs.get(&member.process).and_then(|p| p.pid());
            let origin_died = died.is_some_and(|(n, _)| n == member.process);
            // Members of a dead leader's group are SIGKILLed with the group.
            let in_group = leader.is_some_and(|l| st.pgrp == l.as_raw());
            self.take_orphan(
                pid,
                st,
                member,
                leader.is_none() || origin_died,
                in_group,
                now,
            );
        }
    }

    /// An orphan of `member`'s process, now our child: logged, kept, and stopped at once
    /// when the run it came from is over (`run_over`) unless its group dies with its leader.
    pub(in crate::supervisor) fn take_orphan(
        &mut self,
        pid: Pid,
        st: procfs::Stat,
        member: Member,
        run_over: bool,
        in_group: bool,
        now: Instant,
    ) {
        self.event(format!(
            "adopted: orphan pid {pid} ({}) of {}",
            st.comm, member.process
        ));
        let policy = self.policy_of(&member.process);
        self.orphans.adopted.insert(pid, Some(member.clone()));
        if policy == Policy::Kill && run_over && !in_group && !st.zombie {
            self.doom(pid, member, st.comm, now);
        }
    }

    /// A zombie that is not one of our leaders: reaped (and logged) when it is ours — an
    /// adopted orphan, one we can attribute, or any stray when we are the sole supervisor.
    /// False when it is some other supervisor's in this process.
    pub(in crate::supervisor) fn reap_orphan(&mut self, pid: Pid) -> bool {
        // A health check's command is its checker's to reap.
        if self.is_helper(pid) {
            return false;
        }
        let known = self.orphans.adopted.get(&pid).cloned().or_else(|| {
            let d = self.orphans.doomed.get(&pid)?;
            Some(Some(d.member.clone()))
        });
        let member = match known {
            Some(m) => m,
            None => {
                let Some(st) = procfs::stat(pid) else {
                    return false;
                };
                let m = self.orphans.attribute(pid, &st, None);
                if m.is_none() && !self.orphans.sole {
                    return false;
                }
                m
            }
        };
        let how = match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => format!("exit status {code}"),
            Ok(WaitStatus::Signaled(_, sig, _)) => format!("terminated by {}", sig.as_str()),
            Ok(_) => return false,
            // Not our child: still in someone's tree, or gone (reaped by its parent).
            Err(_) => {
                if procfs::stat(pid).is_none() {
                    self.forget_orphan(pid);
                }
                return false;
            }
        };
        self.forget_orphan(pid);
        let origin = member.map_or("unknown origin".to_string(), |m| m.process);
        self.event(format!("orphan exited: pid {pid} of {origin} ({how})"));
        true
    }

    fn forget_orphan(&mut self, pid: Pid) {
        self.orphans.adopted.remove(&pid);
        self.orphans.doomed.remove(&pid);
        self.orphans.lineage.remove(&pid);
    }

    /// Every pid that may be an orphan of ours (adopted, being stopped, or seen in a tree),
    /// for the slow path of reaping.
    pub(in crate::supervisor) fn orphan_pids(&self) -> Vec<Pid> {
        let o = &self.orphans;
        let mut pids: Vec<Pid> = o.adopted.keys().chain(o.doomed.keys()).copied().collect();
        pids.extend(o.lineage.keys().copied());
        pids.sort_unstable();
        pids.dedup();
        pids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pid no process has (above any pid_max): its standard streams read as none.
    const NOBODY: i32 = 0x7fff_0000;

    fn stat(pgrp: i32, session: i32, start: u64) -> procfs::Stat {
        procfs::Stat {
            comm: "sleep".to_string(),
            zombie: false,
            ppid: 1,
            pgrp,
            session,
            start,
        }
    }

    fn who(book: &OrphanBook, st: &procfs::Stat, died: Option<(&str, u64)>) -> Option<String> {
        book.attribute(Pid::from_raw(NOBODY), st, died)
            .map(|m| m.process)
    }

    #[test]
    fn the_lineage_names_a_descendant_while_its_start_time_matches() {
        let mut book = OrphanBook::default();
        let member = Member {
            process: "web".to_string(),
            start: 50,
            parent: Some(Pid::from_raw(3)),
            run: Some(Pid::from_raw(2)),
        };
        book.lineage.insert(Pid::from_raw(NOBODY), member);
        let found = book.attribute(Pid::from_raw(NOBODY), &stat(NOBODY, NOBODY, 50), None);
        assert_eq!(
            found.and_then(|m| m.parent),
            Some(Pid::from_raw(3)),
            "the recorded member, parent and all"
        );
        assert_eq!(
            who(&book, &stat(NOBODY, NOBODY, 51), None),
            None,
            "another start time: the pid was reused"
        );
    }

    #[test]
    fn a_group_or_session_of_ours_names_it_unless_it_leads_its_own() {
        let mut book = OrphanBook::default();
        book.note_spawn("web", Pid::from_raw(40), Vec::new());
        assert_eq!(
            who(&book, &stat(40, 1, 5), None).as_deref(),
            Some("web"),
            "group"
        );
        assert_eq!(
            who(&book, &stat(41, 40, 5), None).as_deref(),
            Some("web"),
            "session"
        );
        // Our old leader's pid, reused by a process leading its own group.
        book.note_spawn("db", Pid::from_raw(NOBODY), Vec::new());
        assert_eq!(
            who(&book, &stat(NOBODY, NOBODY, 5), None),
            None,
            "a group leader is nobody's member"
        );
    }

    #[test]
    fn a_stray_is_the_dead_leaders_only_for_the_sole_supervisor() {
        let mut book = OrphanBook::default();
        let st = stat(NOBODY, NOBODY, 100);
        assert_eq!(
            who(&book, &st, Some(("web", 90))),
            None,
            "not sole: unknown"
        );
        book.sole = true;
        assert_eq!(
            who(&book, &st, Some(("web", 90))).as_deref(),
            Some("web"),
            "started after the leader that just died"
        );
        assert_eq!(
            who(&book, &st, Some(("web", 110))),
            None,
            "started before it: not its"
        );
        let now = Instant::now();
        book.deaths.push_back(("web".to_string(), 90, now));
        book.deaths.push_back(("db".to_string(), 120, now));
        assert_eq!(
            who(&book, &st, None).as_deref(),
            Some("web"),
            "the one death it started after"
        );
        book.deaths.push_back(("api".to_string(), 95, now));
        assert_eq!(who(&book, &st, None), None, "two candidates: unknown");
    }
}
