//! Orphans: descendants of a supervised process that outlive their parent. Taskmaster is the
//! child subreaper (`PR_SET_CHILD_SUBREAPER`), so they are reparented to it instead of init;
//! it reaps them at once, attributes each to the process it came from, and — for programs
//! with `orphans = "kill"` — stops them with that process (stopsignal, SIGKILL after stoptime)
//! on stop, restart and the process's death. Supervisor thread only.
//!
//! Attribution, first match wins (an orphan's parent is gone, so its origin must be recorded
//! or inferred):
//! 1. lineage: the descendants recorded while their parent lived. In the binary, from the
//!    kernel's process events (`lineage.rs`): every fork under a leader or a member, in order,
//!    so a child whose parent exits a microsecond after forking it is recorded too, and the
//!    parent's exit event adopts it at once. Where there are no events (not root, another pid
//!    namespace, no CONFIG_PROC_EVENTS, `TASKMASTER_NO_PROC_EVENTS` set; and in the tests'
//!    in-process supervisors), from the trees in /proc (`/proc/PID/task/*/children`): at
//!    every stop, and by a census every second (a window of processes per tick). After lost
//!    events (the socket's buffer overflowed) one full census catches up;
//! 2. its process group or session is one a process of ours leads (it never called setsid);
//! 3. its stdin/stdout/stderr is one of the pipes taskmaster gave a process (kept through
//!    fork and setsid unless the daemon redirected them);
//! 4. it was adopted when a leader died and started after that leader: that leader (the
//!    binary only, where every child that is not a leader is an orphan).
//!
//! Impossible with the events: a process forked while events were being lost (the census
//! after the overflow sees it only if its parent still lives or it kept a stream or group);
//! a thread-group leader that exits while its other threads go on (the kernel reports it as
//! the process's exit: its later forks are not followed). Impossible without the events (the
//! census): a descendant that calls setsid, redirects its standard streams and whose parent
//! exits before the census sees it, while no leader dies — it is adopted, reaped when it
//! ends, logged as of unknown origin, and left running.
//!
//! Only the binary becomes the subreaper (a process attribute, and it is the sole supervisor
//! of its process: `sole`), so only it adopts orphans and also reaps strays it cannot
//! attribute. Supervisors embedded in another program (the tests, several per process) leave
//! that program's orphan semantics alone: they still stop every descendant still in a
//! process's tree (recorded at the stop) and reap what they adopted, nothing else.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::engine::Engine;
use crate::config::Orphans as Policy;
use crate::spawn::procfs;

/// How often adopted orphans are looked for, and the lineage census runs.
pub(super) const SCAN_INTERVAL: Duration = Duration::from_secs(1);
/// Processes whose trees one census tick walks (the rest wait for the next ticks). Each walk
/// reads /proc (~20 µs): 500 a second cost 1 % of a core at 1,000 idle processes, 50 cost
/// 0.1 % at any number. A stop still walks its process's tree at once; the census only
/// helps attribute descendants whose parent dies while the leader lives.
const CENSUS_WINDOW: usize = 50;
/// Descendants recorded per tree walk at most (a fork bomb must not stall the supervisor).
const TREE_LIMIT: usize = 4096;
/// Leader deaths that look for strays at once: at most one per this interval (a mass death
/// would otherwise scan every child once per death); the rest wait for the next scan.
const DEATH_SCAN_INTERVAL: Duration = Duration::from_millis(50);
/// How long a leader's death still explains strays found by a later scan.
const DEATH_MEMORY: Duration = Duration::from_secs(2);
/// Pipe generations remembered per process (orphans of older runs still hold old pipes).
const PIPE_GENERATIONS: usize = 4;

#[derive(Debug, Clone)]
pub(super) struct Member {
    pub process: String,
    /// Its start time (0: it was gone before it could be read; never signalled).
    pub start: u64,
    /// The process it was forked by, when known (its exit reparents this one to us).
    pub parent: Option<Pid>,
    /// The leader of the run it came from, when known (the run ends when that one dies).
    pub run: Option<Pid>,
}

/// Where the lineage comes from (see `lineage.rs`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) enum Source {
    /// The /proc census and the periodic look for orphans (not the sole supervisor, no
    /// connector, or it gave no event).
    #[default]
    Census,
    /// The kernel's process events are subscribed, not proven yet: the census goes on.
    Probing,
    /// Every fork and exit of the supervised trees arrives as an event: no census, no scan.
    Events,
}

/// An orphan being stopped: SIGKILL at `kill_at`.
struct Doomed {
    member: Member,
    comm: String,
    kill_at: Instant,
}

#[derive(Default)]
pub(super) struct OrphanBook {
    /// This process holds no children but ours (the binary): reap every stray.
    pub sole: bool,
    /// Descendants seen in a live process's tree.
    pub lineage: HashMap<Pid, Member>,
    /// Leaders already reaped whose exit event has not come yet (their forks may still be on
    /// their way); a live leader is found in `by_pid`.
    pub leaders: HashMap<Pid, String>,
    /// Live leaders whose exit event came before their reap (nothing of theirs is on its way).
    pub exited: HashSet<Pid>,
    pub source: Source,
    /// Events were lost once already (said once).
    pub lost_told: bool,
    /// Orphans now our children, with the process they came from (`None`: unknown).
    pub adopted: HashMap<Pid, Option<Member>>,
    /// Process group / session id (= the leader's pid) -> process name.
    groups: HashMap<Pid, String>,
    /// `pipe:[N]` -> process name, the last few generations of each process.
    pipes: HashMap<String, String>,
    pipe_order: HashMap<String, VecDeque<Vec<String>>>,
    doomed: HashMap<Pid, Doomed>,
    last_scan: Option<Instant>,
    last_death_scan: Option<Instant>,
    /// Leaders that died lately: process name, start time, when.
    deaths: VecDeque<(String, u64, Instant)>,
    census_from: usize,
}

impl OrphanBook {
    /// The next scan (while `active`: some process runs, or orphans are adopted, and the
    /// lineage comes from the census) or SIGKILL.
    pub fn deadline(&self, active: bool) -> Option<Instant> {
        let active = (active || !self.adopted.is_empty()) && self.source != Source::Events;
        let scan = self.last_scan.filter(|_| active).map(|t| t + SCAN_INTERVAL);
        let kill = self.doomed.values().map(|d| d.kill_at).min();
        scan.into_iter().chain(kill).min()
    }

    /// A leader was spawned: its group id and its pipes now name it.
    pub fn note_spawn(&mut self, name: &str, pid: Pid, streams: Vec<String>) {
        self.groups.insert(pid, name.to_string());
        for s in &streams {
            self.pipes.insert(s.clone(), name.to_string());
        }
        let gens = self.pipe_order.entry(name.to_string()).or_default();
        gens.push_back(streams);
        while gens.len() > PIPE_GENERATIONS {
            for old in gens.pop_front().unwrap_or_default() {
                self.pipes.remove(&old);
            }
        }
        if self.last_scan.is_none() {
            self.last_scan = Some(Instant::now());
        }
    }

    /// A process now goes by another name (a reload changed numprocs).
    pub fn rename(&mut self, from: &str, to: &str) {
        let fix = |n: &mut String| {
            if n == from {
                *n = to.to_string();
            }
        };
        self.groups.values_mut().for_each(fix);
        self.leaders.values_mut().for_each(fix);
        self.pipes.values_mut().for_each(fix);
        self.lineage.values_mut().for_each(|m| fix(&mut m.process));
        self.adopted
            .values_mut()
            .flatten()
            .for_each(|m| fix(&mut m.process));
        self.doomed
            .values_mut()
            .for_each(|d| fix(&mut d.member.process));
        if let Some(gens) = self.pipe_order.remove(from) {
            self.pipe_order.insert(to.to_string(), gens);
        }
    }

    /// Records every descendant now in `leader`'s tree as belonging to `name`.
    pub fn census(&mut self, name: &str, leader: Pid) {
        for pid in procfs::descendants(leader, TREE_LIMIT) {
            if let Some(st) = procfs::stat(pid) {
                // What the events recorded (its parent) is kept.
                if self.lineage.get(&pid).is_some_and(|m| m.start == st.start) {
                    continue;
                }
                let member = Member {
                    process: name.to_string(),
                    start: st.start,
                    parent: Some(Pid::from_raw(st.ppid)),
                    run: Some(leader),
                };
                self.lineage.insert(pid, member);
            }
        }
    }

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
    pub(super) fn adopt_orphans(&mut self, died: Option<(&str, u64)>, now: Instant) {
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
    pub(super) fn take_orphan(
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

    fn policy_of(&self, process: &str) -> Policy {
        self.procs
            .get(process)
            .map_or(Policy::Kill, |p| p.config().orphans)
    }

    /// Sends the process's stopsignal to `pid` and schedules its SIGKILL.
    fn doom(&mut self, pid: Pid, member: Member, comm: String, now: Instant) {
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
    pub(super) fn stop_orphans_of(&mut self, name: &str, leader: Option<Pid>, now: Instant) {
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

    /// A leader of ours has died and is a zombie still: its children are ours now. They are
    /// looked for at once (rate-limited), and its known orphans are stopped.
    pub(super) fn leader_died(&mut self, name: &str, pid: Pid, now: Instant) {
        let start = procfs::stat(pid).map_or(0, |s| s.start);
        let book = &mut self.orphans;
        book.deaths
            .retain(|(_, _, at)| now.duration_since(*at) < DEATH_MEMORY);
        book.deaths.push_back((name.to_string(), start, now));
        let due = book
            .last_death_scan
            .is_none_or(|t| now.duration_since(t) >= DEATH_SCAN_INTERVAL);
        // With process events, the leader's exit event adopts its children (see `lineage`).
        if due && book.source != Source::Events {
            book.last_death_scan = Some(now);
            self.adopt_orphans(Some((name, start)), now);
        }
        self.stop_orphans_of(name, None, now);
    }

    /// The periodic look for new orphans, the census, and SIGKILLs due.
    pub(super) fn orphan_deadlines(&mut self, now: Instant) {
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
        if self.orphans.source != Source::Events
            && self
                .orphans
                .deadline(!self.by_pid.is_empty())
                .is_some_and(|t| now >= t)
            && self
                .orphans
                .last_scan
                .is_some_and(|t| now >= t + SCAN_INTERVAL)
        {
            self.orphans.last_scan = Some(now);
            self.census_tick();
            self.adopt_orphans(None, now);
            self.forget_dead_lineage();
        }
    }

    pub(super) fn census_tick(&mut self) {
        let live: Vec<(String, Pid)> = self
            .procs
            .values()
            .filter(|p| p.config().orphans == Policy::Kill)
            .filter_map(|p| p.pid().map(|pid| (p.name().to_string(), pid)))
            .collect();
        if live.is_empty() {
            return;
        }
        let from = self.orphans.census_from % live.len();
        for (name, pid) in live
            .iter()
            .cycle()
            .skip(from)
            .take(CENSUS_WINDOW.min(live.len()))
        {
            self.orphans.census(name, *pid);
        }
        self.orphans.census_from = from + CENSUS_WINDOW;
    }

    pub(super) fn forget_dead_lineage(&mut self) {
        self.orphans
            .lineage
            .retain(|pid, m| procfs::stat(*pid).is_some_and(|s| s.start == m.start));
        let leaders: Vec<Pid> = self.orphans.groups.keys().copied().collect();
        for pgid in leaders {
            // A group id stays meaningful while any member is alive.
            if !self.by_pid.contains_key(&pgid)
                && nix::sys::signal::killpg(pgid, None) == Err(nix::errno::Errno::ESRCH)
            {
                self.orphans.groups.remove(&pgid);
            }
        }
    }

    /// `name`'s leader `pid` was reaped: kept as a parent until its exit event, and its group
    /// id forgotten once nothing is left in the group (with process events there is no
    /// periodic look to do it).
    pub(super) fn leader_reaped(&mut self, name: &str, pid: Pid) {
        let book = &mut self.orphans;
        if book.source == Source::Census {
            return;
        }
        if !book.exited.remove(&pid) {
            book.leaders.insert(pid, name.to_string());
        }
        if nix::sys::signal::killpg(pid, None) == Err(nix::errno::Errno::ESRCH) {
            book.groups.remove(&pid);
        }
    }

    /// A zombie that is not one of our leaders: reaped (and logged) when it is ours — an
    /// adopted orphan, one we can attribute, or any stray when we are the sole supervisor.
    /// False when it is some other supervisor's in this process.
    pub(super) fn reap_orphan(&mut self, pid: Pid) -> bool {
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

    /// Orphans still being stopped (a shutdown waits for them).
    pub(super) fn orphans_stopping(&self) -> bool {
        !self.orphans.doomed.is_empty()
    }

    /// Every pid that may be an orphan of ours (adopted, being stopped, or seen in a tree),
    /// for the slow path of reaping.
    pub(super) fn orphan_pids(&self) -> Vec<Pid> {
        let o = &self.orphans;
        let mut pids: Vec<Pid> = o.adopted.keys().chain(o.doomed.keys()).copied().collect();
        pids.extend(o.lineage.keys().copied());
        pids.sort_unstable();
        pids.dedup();
        pids
    }
}
