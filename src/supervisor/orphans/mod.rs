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
//!
//! Parts: this file keeps the book (what is known of every descendant and orphan) and the
//! engine's entry points for spawns, deaths, reaps and deadlines; `adoption.rs` tells where
//! an orphan came from, takes it in and reaps it; `stop.rs` stops and kills orphans with
//! their process; `census.rs` reads the trees in /proc where there are no process events.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use nix::unistd::Pid;

use super::engine::Engine;
use crate::spawn::procfs;

mod adoption;
mod census;
mod stop;

/// How often adopted orphans are looked for, and the lineage census runs.
pub(super) const SCAN_INTERVAL: Duration = Duration::from_secs(1);
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
}

impl Engine {
    /// A leader of ours has died and is a zombie still: its children are ours now. They are
    /// looked for at once (rate-limited), and its known orphans are stopped.
    pub(in crate::supervisor) fn leader_died(&mut self, name: &str, pid: Pid, now: Instant) {
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
    pub(in crate::supervisor) fn orphan_deadlines(&mut self, now: Instant) {
        self.kill_due_orphans(now);
        self.census_scan(now);
    }

    /// `name`'s leader `pid` was reaped: kept as a parent until its exit event, and its group
    /// id forgotten once nothing is left in the group (with process events there is no
    /// periodic look to do it).
    pub(in crate::supervisor) fn leader_reaped(&mut self, name: &str, pid: Pid) {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(process: &str) -> Member {
        Member {
            process: process.to_string(),
            start: 7,
            parent: None,
            run: None,
        }
    }

    fn doomed(process: &str, kill_at: Instant) -> Doomed {
        Doomed {
            member: member(process),
            comm: "sleep".to_string(),
            kill_at,
        }
    }

    #[test]
    fn the_next_deadline_is_the_census_scan_or_the_first_sigkill() {
        let t0 = Instant::now();
        let mut book = OrphanBook {
            last_scan: Some(t0),
            ..OrphanBook::default()
        };
        assert_eq!(
            book.deadline(true),
            Some(t0 + SCAN_INTERVAL),
            "a scan a second"
        );
        assert_eq!(book.deadline(false), None, "nothing runs, nothing adopted");
        book.adopted.insert(Pid::from_raw(5), None);
        assert_eq!(
            book.deadline(false),
            Some(t0 + SCAN_INTERVAL),
            "adopted orphans are looked after while nothing runs"
        );
        let soon = t0 + Duration::from_millis(10);
        book.doomed.insert(Pid::from_raw(6), doomed("web", soon));
        book.doomed
            .insert(Pid::from_raw(7), doomed("web", t0 + Duration::from_secs(9)));
        assert_eq!(book.deadline(true), Some(soon), "the first SIGKILL due");
        book.source = Source::Events;
        book.doomed.clear();
        assert_eq!(book.deadline(true), None, "no scan with process events");
    }

    #[test]
    fn only_the_last_pipe_generations_name_a_process() {
        let mut book = OrphanBook::default();
        for n in 0..=PIPE_GENERATIONS {
            book.note_spawn(
                "web",
                Pid::from_raw(100 + n as i32),
                vec![format!("pipe:[{n}]")],
            );
        }
        assert!(
            !book.pipes.contains_key("pipe:[0]"),
            "the oldest is forgotten"
        );
        for n in 1..=PIPE_GENERATIONS {
            assert_eq!(
                book.pipes.get(&format!("pipe:[{n}]")).map(String::as_str),
                Some("web"),
                "generation {n} is remembered"
            );
        }
        assert!(book.last_scan.is_some(), "the first spawn starts the scans");
    }

    #[test]
    fn a_rename_reaches_every_record_of_the_process() {
        let mut book = OrphanBook::default();
        let (leader, orphan) = (Pid::from_raw(10), Pid::from_raw(11));
        book.note_spawn("web:0", leader, vec!["pipe:[1]".to_string()]);
        book.leaders.insert(Pid::from_raw(9), "web:0".to_string());
        book.lineage.insert(Pid::from_raw(12), member("web:0"));
        book.adopted.insert(orphan, Some(member("web:0")));
        book.adopted.insert(Pid::from_raw(13), Some(member("db")));
        book.doomed.insert(orphan, doomed("web:0", Instant::now()));
        book.rename("web:0", "web");
        assert_eq!(book.groups[&leader], "web", "group");
        assert_eq!(book.pipes["pipe:[1]"], "web", "pipe");
        assert!(book.pipe_order.contains_key("web") && !book.pipe_order.contains_key("web:0"));
        assert_eq!(book.leaders[&Pid::from_raw(9)], "web", "reaped leader");
        assert_eq!(book.lineage[&Pid::from_raw(12)].process, "web", "lineage");
        assert_eq!(
            book.adopted[&orphan].as_ref().map(|m| m.process.as_str()),
            Some("web"),
            "adopted"
        );
        assert_eq!(book.doomed[&orphan].member.process, "web", "being stopped");
        assert_eq!(
            book.adopted[&Pid::from_raw(13)]
                .as_ref()
                .map(|m| m.process.as_str()),
            Some("db"),
            "another process's orphan keeps its name"
        );
    }
}
