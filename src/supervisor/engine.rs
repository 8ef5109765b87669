//! The supervisor thread's state and mechanics: carrying out effects, reaping, deadlines,
//! waiting requests, publishing snapshots. Request handlers live in `commands.rs`, the reload
//! in `reload.rs`; all of them run on the supervisor thread only.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::Sender;

use crate::output::logfile::Notice;
use nix::sys::signal::Signal;
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
use nix::unistd::Pid;

use super::api::Update;
use super::clock::Now;
use super::events::{Event, EventKind, EventRing};
use super::orphans::OrphanBook;
use super::process::{Effect, ProcState, Process};
use super::reply::{ActionResult, Answer, Fault, Reply};
use super::snapshot::{Snapshot, StateName};
use super::stdin::Stdins;
use super::transitions::{Seen, entered, note};
use crate::alerts::Alerts;
use crate::config::{Config, ProgramConfig};
use crate::output::{Chunk, OutputHub, OutputReader};
use crate::spawn::{self, TtySize, procfs};

/// Snapshots are published at most this often; `status` always builds a fresh one.
const PUBLISH_INTERVAL: Duration = Duration::from_millis(20);
/// Autostart processes started per turn of the loop at boot.
const BOOT_BATCH: usize = 32;
/// How often a snapshot notice that found a subscriber's channel full is tried again.
const NOTICE_RETRY: Duration = Duration::from_millis(50);
/// How long a shutdown waits for pipes held open by stray grandchildren.
const OUTPUT_DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WaitKind {
    Start,
    Stop,
}

/// A request slot waiting for a process to reach an outcome.
pub(super) struct Waiter {
    pub pending: u64,
    pub slot: usize,
    pub kind: WaitKind,
}

/// A multi-process request whose reply is sent once every slot has its outcome.
pub(super) struct Pending {
    /// `None` while waiting; `Some(None)` for a slot with nothing to report (a restart's stop
    /// of a process reached through `all` that was not running).
    pub results: Vec<Option<Option<ActionResult>>>,
    pub missing: usize,
    /// Which reply carries the results (`Reply::Actions` or `Reply::Restart`).
    pub wrap: fn(Vec<ActionResult>) -> Reply,
    pub reply: Sender<Answer>,
}

pub(super) struct Engine {
    pub config: Config,
    pub procs: BTreeMap<String, Process>,
    /// Program -> the programs that depend on it (rebuilt at each reload).
    pub dependents: super::deps::Dependents,
    /// Stops waiting for the process's dependents to be stopped first.
    pub deferred: BTreeSet<String>,
    pub by_pid: HashMap<Pid, String>,
    pub stdins: Stdins,
    /// Terminal sizes of pty processes, set by the last attach; kept across restarts.
    pub tty_sizes: HashMap<String, TtySize>,
    /// What each live child reported before its exec (see `spawn::exec_failure`).
    pub reports: HashMap<String, spawn::ExecReport>,
    /// Descriptors held for children, checked before each spawn (see `spawn::limits`).
    pub fds: spawn::limits::Budget,
    /// Autostart processes not started yet: the boot starts them a batch per turn of the
    /// loop, so `status` is answered while 10,000 spawn (see `start_queued`).
    boot_queue: std::collections::VecDeque<String>,
    pub output: Option<OutputHub>,
    /// Adopted orphans and what tells where they came from (see `orphans/mod.rs`).
    pub orphans: OrphanBook,
    /// The cgroups of `cgroup = true` processes (see `cgroups.rs`).
    pub cgroups: super::cgroups::CgroupBook,
    /// The health checker pool (see `health`) and where `log` checks report a match.
    pub checkers: Option<crate::health::Checkers>,
    pub log_hits: Option<Sender<String>>,
    /// `log` checks whose text appeared while the process was still STARTING.
    pub log_seen: std::collections::HashSet<String>,
    /// Health checks by due time (see `checks.rs`).
    pub checks: super::checks::CheckQueue,
    /// Something may have changed a process's deadline or check: `next_deadline` looks at
    /// every process again. Health outcomes that change nothing leave it unset, so a
    /// thousand checked processes cost no scan of them all per check.
    stale: bool,
    /// Something may have met a WAITING process's dependency: `advance` looks again.
    changed: bool,
    /// A reap stopped at a check command's zombie: reaped again once its checker is done.
    pub reap_cut: bool,
    /// The earliest deadline of any process (without health checks), as of the last scan.
    /// Deadlines change only with what marks the engine `stale` (a request, a signal, a
    /// transition, a deadline fired), so an idle supervisor never looks at its processes.
    proc_deadline: Option<Instant>,
    pub reader: OutputReader,
    pub latest: Option<Arc<Mutex<Arc<Snapshot>>>>,
    pub subscribers: Vec<Subscriber>,
    pub pending: HashMap<u64, Pending>,
    pub next_pending: u64,
    pub waiters: HashMap<String, Vec<Waiter>>,
    /// Some once shutting down: the replies to send when everything has stopped.
    pub shutdown: Option<Vec<Sender<Answer>>>,
    pub started: SystemTime,
    /// Every event emitted, the last ones kept, with their serials.
    pub events: EventRing,
    pub alerts: Alerts,
    /// What each process's transitions need remembered (see `transitions`).
    observed: HashMap<String, Seen>,
    /// `events -f` streams: one JSON line per event, as output chunks.
    event_followers: Vec<Sender<Chunk>>,
    /// See `Options::terminal`.
    pub hangup_is_shutdown: bool,
    /// Where log-file notices go (see `Supervisor::start`); also used for the outcome of
    /// a SIGUSR2 reopen, which finishes on the I/O thread.
    pub notices: Option<Sender<Notice>>,
    dirty: bool,
    last_publish: Instant,
    /// When snapshot notices were last attempted (see `Subscriber::owes_snapshot`).
    last_notice: Instant,
}

/// A front end's update stream. Events may be lost when it lags (the channel is bounded),
/// but never the news of a newer snapshot: a notice that found the channel full is owed and
/// retried until it gets through.
pub(super) struct Subscriber {
    tx: Sender<Update>,
    owes_snapshot: bool,
}

impl Engine {
    pub fn new(
        config: Config,
        output: OutputHub,
        reader: OutputReader,
        alerts: Alerts,
        now: Now,
    ) -> Engine {
        let mut procs = BTreeMap::new();
        for prog in config.programs.values() {
            let shared = Arc::new(prog.clone());
            for name in prog.process_names() {
                procs.insert(name.clone(), Process::new(name, shared.clone(), now));
            }
        }
        Engine {
            dependents: super::deps::dependents(&config),
            deferred: BTreeSet::new(),
            config,
            procs,
            by_pid: HashMap::new(),
            stdins: Stdins::default(),
            tty_sizes: HashMap::new(),
            reports: HashMap::new(),
            fds: spawn::limits::Budget::new(),
            boot_queue: Default::default(),
            output: Some(output),
            orphans: OrphanBook::default(),
            cgroups: Default::default(),
            checkers: None,
            log_hits: None,
            log_seen: std::collections::HashSet::new(),
            checks: super::checks::CheckQueue::default(),
            stale: true,
            changed: true,
            reap_cut: false,
            proc_deadline: None,
            reader,
            latest: None,
            subscribers: Vec::new(),
            pending: HashMap::new(),
            next_pending: 0,
            waiters: HashMap::new(),
            shutdown: None,
            hangup_is_shutdown: false,
            started: now.wall,
            events: EventRing::default(),
            alerts,
            observed: HashMap::new(),
            event_followers: Vec::new(),
            notices: None,
            dirty: true,
            last_publish: now.mono,
            last_notice: now.mono,
        }
    }

    pub fn boot(&mut self, now: Now) {
        self.alerts.configure(&self.config.alerts);
        self.emit(Event::new(
            EventKind::Started,
            format!(
                "taskmaster started (pid {}, config {})",
                std::process::id(),
                self.config.path.display()
            ),
        ));
        self.boot_queue = self
            .procs
            .values()
            .filter(|p| p.config().autostart)
            .map(|p| p.name().to_string())
            .collect();
        // Said before the first spawn that would fail, not after.
        let starting = self.procs.values().filter(|p| p.config().autostart);
        if let Some(warning) = self.fds.forecast(starting.map(|p| p.config().as_ref())) {
            self.event(warning);
        }
        self.start_queued(now);
    }

    /// Starts the next batch of autostart processes; the loop comes back at once while some
    /// are left (see `boot_pending`), serving read-only requests in between.
    pub fn start_queued(&mut self, now: Now) {
        for _ in 0..BOOT_BATCH {
            let Some(name) = self.boot_queue.pop_front() else {
                return;
            };
            if self.procs.get(&name).is_some_and(|p| !p.is_started()) {
                self.start_process(&name, now);
            }
        }
    }

    pub fn boot_pending(&self) -> bool {
        !self.boot_queue.is_empty()
    }

    /// Starts every autostart process still queued: a command that changes anything (stop,
    /// start, reload, ...) acts on a fully started configuration, as if the boot had been
    /// one step.
    pub fn finish_boot(&mut self, now: Now) {
        while self.boot_pending() {
            self.start_queued(now);
        }
    }

    /// Starts one process (autostart, reload, a dependency), its stopped dependencies first;
    /// outcome only logged.
    pub fn start_process(&mut self, name: &str, now: Now) {
        self.start_dependencies(name, now);
        if let Some(effects) = self.procs.get_mut(name).and_then(|p| p.on_start(now).ok()) {
            self.apply(name, effects, now);
        }
    }

    /// An event-log line about taskmaster itself that tells no transition: a note.
    pub fn event(&mut self, line: String) {
        self.emit(note(line, None));
    }

    /// A log file failed (a `log_failed` event, which front ends show as an error) or is
    /// written again (a note).
    pub fn on_notice(&mut self, notice: Notice) {
        let kind = if notice.failed {
            EventKind::LogFailed
        } else {
            EventKind::Note
        };
        self.emit(Event::new(kind, notice.text));
    }

    /// Stamps an event, writes it to the event log, shows it to front ends, queues it for
    /// the alerts and the `events -f` streams. The one way out for every event.
    pub fn emit(&mut self, event: Event) {
        let event = self.events.stamp(event);
        self.show(event, true);
    }

    /// An event already stamped: to the log, the front ends, the alerts and the followers.
    pub fn show(&mut self, event: Arc<Event>, log: bool) {
        if log {
            log::info!("{}", event.text);
        }
        self.subscribers.retain(|s| {
            !matches!(
                s.tx.try_send(Update::Event(event.clone())),
                Err(crossbeam_channel::TrySendError::Disconnected(_))
            )
        });
        self.alerts.route(&event);
        if !self.event_followers.is_empty() {
            let chunk = event_chunk(&event);
            // A follower that lags loses events rather than slowing anyone.
            self.event_followers.retain(|f| {
                !matches!(
                    f.try_send(chunk.clone()),
                    Err(crossbeam_channel::TrySendError::Disconnected(_))
                )
            });
        }
    }

    /// The state machine's lines for `name`, as events: with the transition they tell
    /// (`Some((from, to))`), or as notes.
    fn tell(
        &mut self,
        name: &str,
        lines: Vec<String>,
        change: Option<(StateName, StateName)>,
        now: Now,
    ) {
        let Some(p) = self.procs.get(name) else {
            return;
        };
        let info = p.info(now);
        let events = match change {
            Some((from, to)) => {
                let config = p.config().clone();
                let seen = self.observed.entry(name.to_string()).or_default();
                entered(seen, from, to, &info, &config, lines)
            }
            None => lines.into_iter().map(|l| note(l, Some(&info))).collect(),
        };
        for ev in events {
            self.emit(ev);
        }
    }

    /// A change of health as its event, `lines` (the state machine's words) as its text.
    fn tell_health(&mut self, name: &str, lines: Vec<String>, healthy: bool, now: Now) {
        let Some(info) = self.procs.get(name).map(|p| p.info(now)) else {
            return;
        };
        for ev in super::transitions::health(healthy, &info, lines) {
            self.emit(ev);
        }
    }

    /// `events -f`: the kept events and then each new one, as JSON lines in the shape of a
    /// followed output, so every front end streams it as it streams `tail -f`.
    pub fn follow_events(&mut self) -> Reply {
        let (tx, rx) = crossbeam_channel::bounded(4096);
        self.event_followers.push(tx);
        Reply::Follow(crate::supervisor::Follow {
            name: "events".to_string(),
            stream: None,
            backlog: self
                .events
                .recent()
                .iter()
                .map(|e| event_chunk(e))
                .collect(),
            rx,
        })
    }

    /// Carries out a process's effects, then settles its waiters and pending follow-ups.
    pub fn apply(&mut self, name: &str, effects: Vec<Effect>, now: Now) {
        if !effects.is_empty() {
            self.dirty = true;
            self.touch();
        }
        // Removal and a queued start come after the stop's waiters have their outcome.
        let mut then = None;
        // Lines wait for the transition that follows them (it tells what they are about).
        let mut lines = Vec::new();
        for effect in effects {
            if !matches!(
                effect,
                Effect::Log(_) | Effect::Entered { .. } | Effect::Health { .. }
            ) && !lines.is_empty()
            {
                self.tell(name, std::mem::take(&mut lines), None, now);
            }
            match effect {
                Effect::Log(line) => lines.push(line),
                Effect::SignalGroup(pid, sig) => self.signal_group(name, pid, sig, now),
                Effect::Spawn => self.spawn_or_wait(name, now),
                Effect::Entered { from, to } => {
                    self.tell(name, std::mem::take(&mut lines), Some((from, to)), now);
                }
                Effect::StartAgain | Effect::Remove => then = Some(effect),
                Effect::WatchLog => self.log_check_running(name, now),
                // `healthy`/`unhealthy` events: the log line before it is their text.
                Effect::Health { healthy } => {
                    self.tell_health(name, std::mem::take(&mut lines), healthy, now);
                }
            }
        }
        if !lines.is_empty() {
            self.tell(name, lines, None, now);
        }
        match then {
            Some(Effect::Remove) => {
                self.settle(name, WaitKind::Stop);
                self.remove_now(name);
            }
            // The start waiters are settled by the start itself.
            Some(Effect::StartAgain) if self.shutdown.is_none() => {
                self.settle(name, WaitKind::Stop);
                self.start_process(name, now);
            }
            _ => {
                self.settle(name, WaitKind::Stop);
                self.settle(name, WaitKind::Start);
            }
        }
    }

    /// A signal to a process's group; when it stops the process, its orphans get it too, and
    /// SIGCONT follows so a stopped (SIGSTOP) process can act on it, as systemd does.
    fn signal_group(&mut self, name: &str, pid: Pid, sig: Signal, now: Now) {
        let stopping = self
            .procs
            .get(name)
            .is_some_and(|p| matches!(p.state(), ProcState::Stopping { .. }));
        // Before the group's signal: once the leader dies, its setsid'd children are
        // reparented and the tree no longer tells whose they were.
        if stopping {
            self.stop_orphans_of(name, Some(pid), now.mono);
        }
        if let Err(e) = spawn::signal_group(pid, sig) {
            log::warn!(
                "cannot send {} to group of {name} ({pid}): {e}",
                sig.as_str()
            );
        }
        if stopping && sig != Signal::SIGKILL {
            let _ = spawn::signal_group(pid, Signal::SIGCONT);
        }
        if stopping {
            self.signal_cgroup(name, pid, sig);
        }
    }

    pub(super) fn spawn(&mut self, name: &str, now: Now) {
        let Some(config) = self.procs.get(name).map(|p| p.config().clone()) else {
            return;
        };
        let tty_size = self
            .tty_sizes
            .get(name)
            .copied()
            .unwrap_or(TtySize::DEFAULT);
        if let Err(refusal) = self.fds.admit(&config, now.mono) {
            if let Some(line) = refusal.announce {
                self.event(line);
            }
            if let Some(effects) = self
                .procs
                .get_mut(name)
                .map(|p| p.on_spawn_failed(refusal.why, now))
            {
                self.apply(name, effects, now);
            }
            return;
        }
        let cgroup = match &config.cgroup {
            Some(limits) => match self.cgroups.prepare(name, limits) {
                Ok(cg) => Some(cg),
                Err(e) => {
                    if let Some(effects) = self
                        .procs
                        .get_mut(name)
                        .map(|p| p.on_spawn_failed(format!("cannot make its cgroup: {e}"), now))
                    {
                        self.apply(name, effects, now);
                    }
                    return;
                }
            },
            None => None,
        };
        let spawned = spawn::spawn(&config, tty_size, config.process_num(name), cgroup);
        // The process started when its exec did, not when this turn began: a boot batch or
        // a `start all` spawns dozens in one turn, and starttime must count from each one's
        // own start (the turn's reading made the last of them RUNNING too early).
        let now = Now::current();
        if spawned.is_err() {
            self.cgroups.discard(name);
        }
        let effects = match spawned {
            Ok(child) => {
                self.fds.spawned(child.pid, &config);
                self.by_pid.insert(child.pid, name.to_string());
                let streams = [
                    child
                        .stdout
                        .as_ref()
                        .and_then(|p| procfs::stream_name(&p.fd)),
                    child
                        .stderr
                        .as_ref()
                        .and_then(|p| procfs::stream_name(&p.fd)),
                    child.stdin.as_ref().and_then(procfs::stream_name),
                ];
                let streams = streams
                    .into_iter()
                    .flatten()
                    .filter(|s| s.starts_with("pipe:"))
                    .collect();
                self.orphans.note_spawn(name, child.pid, streams);
                match child.stdin {
                    Some(stdin) => self.stdins.insert(name, stdin),
                    None => self.stdins.remove(name),
                }
                self.reports.insert(name.to_string(), child.report);
                // Before the pipes are read: no line of the new child can be missed.
                self.arm_log_check(name, &config);
                if let Some(hub) = &self.output {
                    hub.register(name, child.stdout, child.stderr);
                }
                self.procs
                    .get_mut(name)
                    .map(|p| p.on_spawned(child.pid, now))
            }
            Err(e) => self
                .procs
                .get_mut(name)
                .map(|p| p.on_spawn_failed(e.0, now)),
        };
        if let Some(effects) = effects {
            // Nested apply: the spawn's own effects (log lines, an immediate RUNNING).
            self.apply(name, effects, now);
        }
    }

    /// Resolves the waiters of one kind against the process's state.
    pub(super) fn settle(&mut self, name: &str, kind: WaitKind) {
        let Some(p) = self.procs.get(name) else {
            return;
        };
        let outcome = match kind {
            WaitKind::Stop => (!p.is_active()).then(|| Ok("stopped".to_string())),
            WaitKind::Start => p.start_outcome(),
        };
        if let Some(outcome) = outcome {
            self.resolve_waiters(name, kind, outcome);
        }
    }

    pub fn add_waiter(&mut self, name: &str, pending: u64, slot: usize, kind: WaitKind) {
        self.waiters
            .entry(name.to_string())
            .or_default()
            .push(Waiter {
                pending,
                slot,
                kind,
            });
    }

    fn resolve_waiters(&mut self, name: &str, kind: WaitKind, outcome: Result<String, Fault>) {
        let Some(list) = self.waiters.get_mut(name) else {
            return;
        };
        let (done, keep): (Vec<Waiter>, Vec<Waiter>) = list.drain(..).partition(|w| w.kind == kind);
        *list = keep;
        if list.is_empty() {
            self.waiters.remove(name);
        }
        for w in done {
            self.fill(w.pending, w.slot, name, outcome.clone());
        }
    }

    /// Records one slot's outcome; sends the reply when it was the last one.
    pub fn fill(&mut self, pending: u64, slot: usize, name: &str, outcome: Result<String, Fault>) {
        self.settle_slot(pending, slot, Some(ActionResult::new(name, outcome)));
    }

    /// Records one slot's result (`None`: nothing to report); sends the reply when it was the
    /// last one.
    pub fn settle_slot(&mut self, pending: u64, slot: usize, result: Option<ActionResult>) {
        let Some(p) = self.pending.get_mut(&pending) else {
            return;
        };
        if let Some(cell) = p.results.get_mut(slot) {
            if cell.is_none() {
                p.missing -= 1;
            }
            *cell = Some(result);
        }
        if p.missing == 0
            && let Some(p) = self.pending.remove(&pending)
        {
            let results = p.results.into_iter().flatten().flatten().collect();
            let _ = p.reply.send(Ok((p.wrap)(results)));
        }
    }

    /// Drops a process that has no child any more.
    pub fn remove_now(&mut self, name: &str) {
        if self.procs.remove(name).is_none() {
            return;
        }
        self.checks.forget(name);
        self.observed.remove(name);
        self.deferred.remove(name);
        self.stdins.remove(name);
        self.reports.remove(name);
        for kind in [WaitKind::Start, WaitKind::Stop] {
            self.resolve_waiters(name, kind, Err(Fault::RemovedByReload));
        }
        if let Some(hub) = &self.output {
            hub.forget(name);
        }
        self.dirty = true;
    }

    /// Something shown in the snapshot changed outside a process's state machine.
    pub fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    pub fn add_process(&mut self, name: String, config: Arc<ProgramConfig>, now: Now) {
        self.procs
            .insert(name.clone(), Process::new(name, config, now));
        self.dirty = true;
    }

    pub fn on_signal(&mut self, sig: i32, now: Now) {
        match sig {
            nix::libc::SIGCHLD => self.reap(now),
            // The terminal of a front end was closed: a hang-up, checked before the reload
            // SIGHUP otherwise means (the front end would shut down a moment later anyway).
            nix::libc::SIGHUP if self.hangup_is_shutdown && !terminal_alive() => {
                if self.shutdown.is_none() {
                    self.event("terminal hung up (SIGHUP): shutting down".to_string());
                }
                self.begin_shutdown(None, now);
            }
            // A reload during a shutdown could start what is being stopped.
            nix::libc::SIGHUP if self.shutdown.is_none() => {
                let _ = self.reload(now);
            }
            nix::libc::SIGTERM | nix::libc::SIGINT | nix::libc::SIGQUIT => {
                self.begin_shutdown(None, now)
            }
            nix::libc::SIGUSR2 => {
                // Reopened first, so this line is the first of the new event log.
                self.reopen_logs(None);
                self.event("SIGUSR2: reopened every log file".to_string());
            }
            nix::libc::SIGHUP => {}
            other => self.event(format!(
                "ignored {}: taskmaster goes on (TERM, INT or QUIT stop it)",
                crate::signals::name(other)
            )),
        }
    }

    /// Reaps every dead child of ours. Children are reaped by pid, never with waitpid(-1):
    /// the process may have other children (a test harness, several supervisors) whose
    /// statuses are not ours to take. `waitid(WNOWAIT)` peeks at the next zombie so the common
    /// case costs one call per death; a foreign zombie makes us check each of ours instead.
    pub(super) fn reap(&mut self, now: Now) {
        loop {
            let flags = WaitPidFlag::WEXITED
                | WaitPidFlag::WSTOPPED
                | WaitPidFlag::WCONTINUED
                | WaitPidFlag::WNOHANG
                | WaitPidFlag::WNOWAIT;
            let peeked = match waitid(Id::All, flags) {
                Ok(WaitStatus::StillAlive) | Err(_) => None,
                Ok(status) => Some(status),
            };
            if peeked.is_none() {
                return;
            }
            match peeked {
                Some(st @ (WaitStatus::Stopped(..) | WaitStatus::Continued(_)))
                    if self.orphans.sole
                        || st.pid().is_some_and(|p| self.by_pid.contains_key(&p)) =>
                {
                    if let Some(pid) = st.pid() {
                        self.job_control(pid, now);
                    }
                }
                Some(st) if st.pid().is_some_and(|p| self.by_pid.contains_key(&p)) => {
                    if !st.pid().is_some_and(|pid| self.reap_pid(pid, now)) {
                        return;
                    }
                }
                // A health check's command: its checker reaps it, and its outcome brings us
                // back here for any zombie of ours behind it.
                Some(st) if st.pid().is_some_and(|p| self.is_helper(p)) => {
                    self.reap_cut = true;
                    return;
                }
                Some(st) if st.pid().is_some_and(|p| self.reap_orphan(p)) => {}
                // Not ours: check each of ours (in a test process a zombie of ours may hide
                // behind another's).
                _ => {
                    let ours: Vec<Pid> = self.by_pid.keys().copied().collect();
                    for pid in ours {
                        if !self.reap_pid(pid, now) {
                            self.job_control(pid, now);
                        }
                    }
                    for pid in self.orphan_pids() {
                        self.reap_orphan(pid);
                    }
                    return;
                }
            }
        }
    }

    /// Takes `pid`'s pending stop or continue notification (WSTOPPED/WCONTINUED), if any, and
    /// records it on its process: `RUNNING (stopped by SIGSTOP)`.
    fn job_control(&mut self, pid: Pid, now: Now) {
        let flags = WaitPidFlag::WSTOPPED | WaitPidFlag::WCONTINUED | WaitPidFlag::WNOHANG;
        let sig = match waitid(Id::Pid(pid), flags) {
            Ok(WaitStatus::Stopped(_, sig)) => Some(sig as i32),
            Ok(WaitStatus::Continued(_)) => None,
            _ => return,
        };
        let Some(name) = self.by_pid.get(&pid).cloned() else {
            return;
        };
        if let Some(effects) = self
            .procs
            .get_mut(&name)
            .map(|p| p.on_job_control(pid, sig))
        {
            self.apply(&name, effects, now);
        }
    }

    /// Reaps `pid` if it has ended (the rest of its group SIGKILLed first, see
    /// `spawn::reaper`); true when it did.
    fn reap_pid(&mut self, pid: Pid, now: Now) -> bool {
        if !spawn::reaper::has_ended(pid) {
            return false;
        }
        // Dead but not reaped: its children are ours now; whatever left its group is found
        // and stopped before the group is killed and the zombie gives up its pid.
        if let Some(name) = self.by_pid.get(&pid).cloned() {
            self.leader_died(&name, pid, now.mono);
        }
        let Some(kind) = spawn::reaper::reap_leader(&mut spawn::reaper::System, pid) else {
            return false;
        };
        let Some(name) = self.by_pid.remove(&pid) else {
            return true;
        };
        self.fds.reaped(pid);
        self.leader_reaped(&name, pid);
        let stopping = self.procs.get(&name).and_then(|p| match p.state() {
            ProcState::Stopping { .. } => Some(p.deadline()),
            _ => None,
        });
        self.cgroup_leader_gone(&name, stopping);
        self.stdins.remove(&name);
        let report = self.reports.remove(&name);
        let shutting_down = self.shutdown.is_some();
        let Some(p) = self.procs.get_mut(&name).filter(|p| p.pid() == Some(pid)) else {
            return true;
        };
        // A child that never got to run its program is a failed start with the reason.
        let never_ran = report
            .filter(|_| !shutting_down && p.is_started())
            .and_then(|report| spawn::exec_failure(&report, p.config()));
        let effects = match never_ran {
            Some(e) => p.on_spawn_failed(e.0, now),
            None => p.on_exit(kind, now, shutting_down),
        };
        self.apply(&name, effects, now);
        true
    }

    /// Something outside the health checks happened (a request, a signal, a transition):
    /// every process's deadline and dependencies are looked at again.
    pub fn touch(&mut self) {
        self.stale = true;
        self.changed = true;
    }

    pub fn next_deadline(&mut self) -> Option<Instant> {
        if self.stale {
            self.rescan();
        }
        let publish = self.dirty.then_some(self.last_publish + PUBLISH_INTERVAL);
        let owed = self
            .subscribers
            .iter()
            .any(|s| s.owes_snapshot)
            .then_some(self.last_notice + NOTICE_RETRY);
        self.proc_deadline
            .into_iter()
            .chain(self.checks.first())
            .chain(publish)
            .chain(owed)
            .chain(self.stdins.deadline())
            .chain(self.orphans.deadline(!self.by_pid.is_empty()))
            .chain(self.cgroups.deadline())
            .min()
    }

    /// Every process's deadline, and its next health check queued.
    fn rescan(&mut self) {
        self.stale = false;
        self.proc_deadline = self.procs.values().filter_map(|p| p.deadline()).min();
        for p in self.procs.values() {
            self.checks.set(p.name(), p.check_due());
        }
    }

    pub fn fire_deadlines(&mut self, now: Now) {
        self.stdins.flush_due(now.mono);
        self.orphan_deadlines(now.mono);
        self.cgroup_deadlines(now.mono);
        if self.stale || self.proc_deadline.is_some_and(|d| d <= now.mono) {
            let due: Vec<String> = self
                .procs
                .values()
                .filter(|p| p.deadline().is_some_and(|d| d <= now.mono))
                .map(|p| p.name().to_string())
                .collect();
            // A deadline that fired moved, even when it said nothing.
            self.stale |= !due.is_empty();
            for name in due {
                if let Some(effects) = self.procs.get_mut(&name).map(|p| p.on_deadline(now)) {
                    self.apply(&name, effects, now);
                }
            }
        }
        self.fire_checks(now);
    }

    pub fn snapshot(&self) -> Snapshot {
        // A snapshot is read at its own time, whatever turn of the loop builds it.
        let now = Now::current();
        Snapshot {
            config_path: self.config.path.clone(),
            taskmaster_pid: std::process::id(),
            taskmaster_started: self.started,
            taken: now.wall,
            processes: self
                .procs
                .values()
                .map(|p| {
                    let mut info = p.info(now);
                    if info.pty.is_some()
                        && let Some(size) = self.tty_sizes.get(&info.name)
                    {
                        info.pty = Some(*size);
                    }
                    info
                })
                .collect(),
        }
    }

    pub fn publish_if_due(&mut self, now: Now) {
        let now = now.mono;
        if self.dirty && now >= self.last_publish + PUBLISH_INTERVAL {
            self.publish(now);
        } else if now >= self.last_notice + NOTICE_RETRY
            && self.subscribers.iter().any(|s| s.owes_snapshot)
        {
            self.notify_snapshot(now);
        }
    }

    /// Registers a front end's update stream. It is told at once to read the latest snapshot:
    /// it may have read it before the publish that preceded its registration.
    pub fn subscribe(&mut self, tx: Sender<Update>) {
        let owes_snapshot = tx.try_send(Update::Snapshot).is_err();
        self.subscribers.push(Subscriber { tx, owes_snapshot });
    }

    /// Tells every subscriber a newer snapshot is there; a full channel makes the notice owed.
    fn notify_snapshot(&mut self, now: Instant) {
        self.last_notice = now;
        self.subscribers
            .retain_mut(|s| match s.tx.try_send(Update::Snapshot) {
                Ok(()) => {
                    s.owes_snapshot = false;
                    true
                }
                Err(crossbeam_channel::TrySendError::Full(_)) => {
                    s.owes_snapshot = true;
                    true
                }
                Err(crossbeam_channel::TrySendError::Disconnected(_)) => false,
            });
    }

    fn publish(&mut self, now: Instant) {
        self.dirty = false;
        self.last_publish = now;
        let snap = Arc::new(self.snapshot());
        if let Some(latest) = &self.latest {
            match latest.lock() {
                Ok(mut g) => *g = snap,
                Err(poisoned) => *poisoned.into_inner() = snap,
            }
        }
        self.notify_snapshot(now);
    }

    pub fn begin_shutdown(&mut self, reply: Option<Sender<Answer>>, now: Now) {
        // What was never started stays stopped.
        self.boot_queue.clear();
        if self.shutdown.is_none() {
            crate::notify::send("STOPPING=1");
            self.shutdown = Some(Vec::new());
            self.emit(Event::new(
                EventKind::Stopping,
                "taskmaster stopping: stopping every process",
            ));
            // Dependents first, each level in parallel (see `deps`).
            let active: Vec<String> = self
                .procs
                .values()
                .filter(|p| p.is_active())
                .map(|p| p.name().to_string())
                .collect();
            for name in active {
                self.defer_stop(&name);
            }
            self.advance_stops(now);
        }
        if let (Some(replies), Some(reply)) = (self.shutdown.as_mut(), reply) {
            replies.push(reply);
        }
    }

    /// What a turn's changes made possible: waiting processes whose dependencies are met
    /// start, queued stops whose dependents are stopped go ahead.
    pub fn advance(&mut self, now: Now) {
        if std::mem::take(&mut self.changed) {
            self.release_waiting(now);
        }
        self.advance_stops(now);
    }

    pub fn is_finished(&self) -> bool {
        self.shutdown.is_some()
            && self.by_pid.is_empty()
            && !self.orphans_stopping()
            && self.cgroups.is_idle()
    }

    pub fn finish(mut self) {
        self.finish_cgroups();
        if let Some(hub) = self.output.take() {
            hub.finish(OUTPUT_DRAIN_TIMEOUT);
        }
        self.publish(Instant::now());
        self.event("taskmaster stopped".to_string());
        for reply in self.shutdown.take().unwrap_or_default() {
            let _ = reply.send(Ok(Reply::Shutdown));
        }
        for p in std::mem::take(&mut self.pending).into_values() {
            let _ = p.reply.send(Err(Fault::ShuttingDown));
        }
        for s in &self.subscribers {
            let _ = s.tx.send_timeout(Update::Gone, Duration::from_millis(100));
        }
        self.event_followers.clear();
        self.alerts.flush();
        log::logger().flush();
    }
}

/// False once stdin's terminal has hung up: the kernel then fails terminal ioctls with EIO.
fn terminal_alive() -> bool {
    nix::sys::termios::tcgetattr(std::io::stdin()).is_ok()
}

/// One event as a line of a followed stream.
fn event_chunk(event: &Event) -> Chunk {
    let mut line = event.to_json().into_bytes();
    line.push(b'\n');
    Chunk {
        stream: crate::output::Stream::Stdout,
        data: line.into(),
    }
}
