//! Request handlers of the supervisor thread: one arm per [`Command`], and the one resolution
//! of [`Target`]s (`all`, `PROGRAM:*`, a process or program name) into processes.

use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::SystemTime;

use crossbeam_channel::Sender;

use super::api::{Command, Request, Target};
use super::clock::Now;
use super::engine::{Engine, Pending, WaitKind};
use super::process::{Effect, Process, autorestart_word};
use super::reply::{
    ActionResult, Answer, Fault, Follow, PidEntry, ProgramSummary, ReloadReport, Reply, StatusEntry,
};
use crate::output::Stream;
use crate::spawn::TtySize;

/// The event-log line of a hang-up a front end noticed (its terminal read or written)
/// before the supervisor saw the hang-up's SIGHUP, which writes its own line instead.
const HUNG_UP: &str = "terminal hung up: shutting down";

/// Backlog an attach view starts from: a few screens.
const ATTACH_BACKLOG: usize = 16 * 1024;

/// A target resolved: a process (named one by one, or reached through `all`/a program), or
/// a name that matched nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Resolved {
    Process { name: String, explicit: bool },
    Unknown(Fault),
}

/// What `each` does for one process: the outcome at once, or `None` when it registered a
/// waiter for its slot.
type OneFn<'a> =
    dyn FnMut(&mut Engine, &str, u64, usize, Now) -> Option<Result<String, Fault>> + 'a;

impl Engine {
    pub fn on_request(&mut self, req: Request, now: Now) {
        let Request { cmd, reply } = req;
        if self.shutdown.is_some() {
            match cmd {
                Command::Shutdown | Command::HangUp => self.begin_shutdown(Some(reply), now),
                Command::Status { targets } => send(reply, Ok(self.status(&targets))),
                _ => send(reply, Err(Fault::ShuttingDown)),
            }
            return;
        }
        if !matches!(
            cmd,
            Command::Status { .. } | Command::Pid { .. } | Command::Avail
        ) {
            self.finish_boot(now);
        }
        match cmd {
            Command::Status { targets } => send(reply, Ok(self.status(&targets))),
            Command::Start { targets } => {
                let items = self.skip_implicit(self.resolve(&targets), |p| !p.is_started());
                self.each(items, reply, Reply::Actions, now, &mut Engine::start_one)
            }
            Command::Stop { targets } => {
                let items = self.skip_implicit(self.resolve(&targets), Process::is_active);
                self.each(items, reply, Reply::Actions, now, &mut Engine::stop_one);
                self.advance_stops(now);
            }
            Command::Restart { targets } => self.restart(&targets, reply, now),
            Command::Signal { signal, targets } => {
                let Some(sig) = crate::config::parse_signal(&signal) else {
                    return send(reply, Err(Fault::BadSignal(signal)));
                };
                let items = self.resolve(&targets);
                self.each(
                    items,
                    reply,
                    Reply::Actions,
                    now,
                    &mut |e, name, _, _, _| Some(e.signal_one(name, sig)),
                )
            }
            Command::Clear { targets } => {
                let slots = slots(self.resolve(&targets));
                self.clear(slots, reply)
            }
            Command::Rotate { targets } if targets.is_empty() => self.rotate_everything(reply),
            Command::Rotate { targets } => {
                let slots = slots(self.resolve(&targets));
                self.rotate(slots, reply)
            }
            Command::Reopen => self.reopen(reply),
            Command::Maintail { bytes } => send(reply, Ok(super::logs::maintail(bytes))),
            Command::MaintailFollow { bytes } => send(reply, super::logs::maintail_follow(bytes)),
            Command::Reload => send(reply, self.reload(now)),
            Command::Reread => send(reply, self.reread().map(Reply::Reread)),
            Command::Shutdown => self.begin_shutdown(Some(reply), now),
            Command::HangUp => {
                self.event(HUNG_UP.to_string());
                self.begin_shutdown(Some(reply), now)
            }
            Command::Avail => send(reply, Ok(Reply::Avail(self.avail()))),
            Command::Pid { target } => send(reply, self.pid(target.as_ref())),
            Command::Tail {
                target,
                stream,
                bytes,
            } => send(reply, self.tail(&target, stream, bytes)),
            Command::Follow {
                target,
                stream,
                bytes,
            } => send(reply, self.follow(&target, stream, bytes)),
            Command::Attach { target } => send(reply, self.follow(&target, None, ATTACH_BACKLOG)),
            Command::WriteStdin { name, data } => send(reply, self.write_stdin(&name, &data)),
            Command::CloseStdin { name } => send(reply, self.close_stdin(&name)),
            Command::Resize { name, size } => send(reply, self.resize(&name, size)),
            Command::Help { topic } => send(
                reply,
                crate::command::help(topic.as_deref())
                    .map(Reply::Text)
                    .ok_or_else(|| {
                        Fault::Usage(format!("no help on {}", topic.unwrap_or_default()))
                    }),
            ),
            Command::Version => send(reply, Ok(Reply::Text(crate::command::version()))),
            Command::Snapshot => send(reply, Ok(Reply::Snapshot(Arc::new(self.snapshot())))),
            Command::Events { follow: false } => {
                let events = self.events.recent().iter().map(|e| (**e).clone()).collect();
                send(reply, Ok(Reply::Events(events)))
            }
            Command::Events { follow: true } => send(reply, Ok(self.follow_events())),
            Command::AlertTest { name } => send(reply, self.alert_test(&name)),
        }
    }

    /// Expands targets into processes, in the order given, without repeats. A process named
    /// one by one is `explicit`; one reached through `all` or its program is not: like
    /// supervisorctl, `stop all` passes over processes that are not running instead of
    /// reporting an error for each.
    fn resolve(&self, targets: &[Target]) -> Vec<Resolved> {
        let mut out: Vec<Resolved> = Vec::new();
        let push = |out: &mut Vec<Resolved>, n: &str, explicit: bool| {
            let found = out.iter_mut().find_map(|r| match r {
                Resolved::Process { name, explicit } if name == n => Some(explicit),
                _ => None,
            });
            match found {
                Some(e) => *e |= explicit,
                None => out.push(Resolved::Process {
                    name: n.to_string(),
                    explicit,
                }),
            }
        };
        for target in targets {
            let program = match target {
                Target::All => {
                    self.procs.keys().for_each(|n| push(&mut out, n, false));
                    continue;
                }
                Target::Process(raw) => {
                    let single = self
                        .procs
                        .get(raw.as_str())
                        .is_some_and(|p| p.config().numprocs == 1 || raw.contains(':'));
                    if single {
                        push(&mut out, raw, true);
                        continue;
                    }
                    raw
                }
                Target::Program(program) => program,
            };
            if self.config.programs.contains_key(program) {
                self.procs
                    .values()
                    .filter(|p| p.config().name == *program)
                    .for_each(|p| push(&mut out, p.name(), false));
            } else {
                let fault = match target {
                    Target::Program(p) => Fault::NoSuchGroup(p.clone()),
                    _ => Fault::NoSuchProcess(program.clone()),
                };
                out.push(Resolved::Unknown(fault));
            }
        }
        out
    }

    /// The one process `target` designates (tail and attach need exactly one).
    fn resolve_one(&self, target: &Target) -> Result<String, Fault> {
        let mut found = Vec::new();
        for r in self.resolve(std::slice::from_ref(target)) {
            match r {
                Resolved::Process { name, .. } => found.push(name),
                Resolved::Unknown(fault) => return Err(fault),
            }
        }
        match <[String; 1]>::try_from(found) {
            Ok([one]) => Ok(one),
            Err(_) => Err(Fault::Ambiguous(target.to_string())),
        }
    }

    /// Keeps the processes named one by one, and of those reached through `all` or a group
    /// only the ones `wanted` accepts. Unknown names are kept for `each` to report.
    fn skip_implicit(
        &self,
        items: Vec<Resolved>,
        wanted: impl Fn(&Process) -> bool,
    ) -> Vec<Resolved> {
        items
            .into_iter()
            .filter(|r| match r {
                Resolved::Process { name, explicit } => {
                    *explicit || self.procs.get(name).is_some_and(&wanted)
                }
                Resolved::Unknown(_) => true,
            })
            .collect()
    }

    fn status(&self, targets: &[Target]) -> Reply {
        let now = SystemTime::now();
        let snap = self.snapshot();
        let entry = |name: &str| snap.get(name).map(|p| StatusEntry::Process(p.status(now)));
        let entries = if targets.is_empty() || targets.contains(&Target::All) {
            snap.processes
                .iter()
                .map(|p| StatusEntry::Process(p.status(now)))
                .collect()
        } else {
            self.resolve(targets)
                .into_iter()
                .filter_map(|r| match r {
                    Resolved::Process { name, .. } => entry(&name),
                    Resolved::Unknown(fault) => Some(StatusEntry::Unknown {
                        name: fault.subject().unwrap_or_default().to_string(),
                        error: fault.to_string(),
                    }),
                })
                .collect()
        };
        Reply::Status(entries)
    }

    /// Runs `one` for every resolved process; unknown names get their fault in their slot.
    /// The reply (`wrap` of the results) is sent once every slot has its outcome.
    fn each(
        &mut self,
        items: Vec<Resolved>,
        reply: Sender<Answer>,
        wrap: fn(Vec<ActionResult>) -> Reply,
        now: Now,
        one: &mut OneFn<'_>,
    ) {
        let id = self.open_pending(items.len(), wrap, reply);
        for (slot, item) in items.into_iter().enumerate() {
            match item {
                Resolved::Process { name, .. } => {
                    if let Some(outcome) = one(self, &name, id, slot, now) {
                        self.fill(id, slot, &name, outcome);
                    }
                }
                Resolved::Unknown(fault) => {
                    let name = fault.subject().unwrap_or_default().to_string();
                    self.fill(id, slot, &name, Err(fault));
                }
            }
        }
    }

    /// Registers a request waiting for `slots` outcomes (answered at once when there are none).
    fn open_pending(
        &mut self,
        slots: usize,
        wrap: fn(Vec<ActionResult>) -> Reply,
        reply: Sender<Answer>,
    ) -> u64 {
        let id = self.next_pending;
        self.next_pending += 1;
        if slots == 0 {
            send(reply, Ok(wrap(Vec::new())));
            return id;
        }
        self.pending.insert(
            id,
            Pending {
                results: vec![None; slots],
                missing: slots,
                wrap,
                reply,
            },
        );
        id
    }

    /// supervisorctl's restart: a stop, then a start; the reply has the stop results (for a
    /// process reached through `all` or a group, only if it was running) then the start's.
    fn restart(&mut self, targets: &[Target], reply: Sender<Answer>, now: Now) {
        let items = self.resolve(targets);
        let n = items.len();
        let id = self.open_pending(2 * n, Reply::Restart, reply);
        for (slot, item) in items.into_iter().enumerate() {
            let (name, explicit) = match item {
                Resolved::Process { name, explicit } => (name, explicit),
                Resolved::Unknown(fault) => {
                    let name = fault.subject().unwrap_or_default().to_string();
                    self.settle_slot(id, slot, None);
                    self.fill(id, n + slot, &name, Err(fault));
                    continue;
                }
            };
            match self.procs.get_mut(&name).map(|p| p.on_stop(now)) {
                Some(Ok(effects)) => {
                    self.add_waiter(&name, id, slot, WaitKind::Stop);
                    self.apply(&name, effects, now);
                }
                Some(Err(fault)) if explicit => self.fill(id, slot, &name, Err(fault)),
                _ => self.settle_slot(id, slot, None),
            }
            // A user's restart is not counted in RESTARTS: those are the policy's.
            if let Some(outcome) = self.start_one(&name, id, n + slot, now) {
                self.fill(id, n + slot, &name, outcome);
            }
        }
    }

    fn start_one(
        &mut self,
        name: &str,
        id: u64,
        slot: usize,
        now: Now,
    ) -> Option<Result<String, Fault>> {
        if !self.procs.contains_key(name) {
            return Some(Err(Fault::NoSuchProcess(name.to_string())));
        }
        self.start_dependencies(name, now);
        let result = self.procs.get_mut(name)?.on_start(now);
        self.wait_for(name, result, WaitKind::Start, id, slot, now)
    }

    fn stop_one(
        &mut self,
        name: &str,
        id: u64,
        slot: usize,
        _now: Now,
    ) -> Option<Result<String, Fault>> {
        let Some(p) = self.procs.get(name) else {
            return Some(Err(Fault::NoSuchProcess(name.to_string())));
        };
        // Queued, so that dependents stop before their dependencies (`advance_stops`).
        if !p.is_active() {
            return Some(Err(Fault::NotRunning));
        }
        self.add_waiter(name, id, slot, WaitKind::Stop);
        self.defer_stop(name);
        None
    }

    /// A refused transition is the outcome at once; an accepted one is carried out and its
    /// outcome awaited.
    fn wait_for(
        &mut self,
        name: &str,
        transition: Result<Vec<Effect>, Fault>,
        kind: WaitKind,
        id: u64,
        slot: usize,
        now: Now,
    ) -> Option<Result<String, Fault>> {
        match transition {
            Err(fault) => Some(Err(fault)),
            Ok(effects) => {
                self.add_waiter(name, id, slot, kind);
                self.apply(name, effects, now);
                None
            }
        }
    }

    fn signal_one(&mut self, name: &str, sig: nix::sys::signal::Signal) -> Result<String, Fault> {
        let pid = self
            .procs
            .get(name)
            .and_then(|p| p.pid())
            .ok_or(Fault::NotRunning)?;
        nix::sys::signal::kill(pid, sig).map_err(|e| Fault::Signal(e.to_string()))?;
        self.event(format!("signalled: {name} with {}", sig.as_str()));
        Ok("signalled".to_string())
    }

    fn pid(&self, target: Option<&Target>) -> Answer {
        let Some(target) = target else {
            return Ok(Reply::Pid(std::process::id()));
        };
        let mut entries = Vec::new();
        for r in self.resolve(std::slice::from_ref(target)) {
            match r {
                Resolved::Process { name, .. } => entries.push(PidEntry {
                    pid: self
                        .procs
                        .get(&name)
                        .and_then(|p| p.pid())
                        .map(|p| p.as_raw().unsigned_abs()),
                    name,
                }),
                Resolved::Unknown(fault) => return Err(fault),
            }
        }
        Ok(Reply::Pids(entries))
    }

    fn tail(&self, target: &Target, stream: Option<Stream>, bytes: usize) -> Answer {
        let name = self.resolve_one(target)?;
        let chunks = self.reader.tail(&name, stream, bytes).unwrap_or_default();
        let data = chunks.iter().flat_map(|c| c.data.iter().copied()).collect();
        Ok(Reply::Output(data))
    }

    fn follow(&self, target: &Target, stream: Option<Stream>, bytes: usize) -> Answer {
        let name = self.resolve_one(target)?;
        let (backlog, rx) = self.reader.tail_and_follow(&name, stream, bytes);
        Ok(Reply::Follow(Follow {
            name,
            stream,
            backlog,
            rx,
        }))
    }

    /// `alert test NAME`: a `test` event, emitted (numbered, logged, shown) and queued for
    /// that one alert whatever its filters.
    fn alert_test(&mut self, name: &str) -> Answer {
        if !self.alerts.names().iter().any(|n| n == name) {
            let known = self.alerts.names();
            return Err(Fault::Usage(format!(
                "no such alert '{name}' (alerts: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )));
        }
        let ev = self.events.stamp(crate::alerts::test_event(name));
        // No alert subscribes to `test`: `show` logs it and tells the front ends; it goes to
        // this one alert below.
        self.show(ev.clone(), true);
        self.alerts.test(name, &ev).map_err(Fault::Usage)?;
        Ok(Reply::Text(format!(
            "{name}: test event {} queued",
            ev.serial
        )))
    }

    fn write_stdin(&mut self, name: &str, data: &[u8]) -> Answer {
        if !self.procs.contains_key(name) {
            return Err(Fault::NoSuchProcess(name.to_string()));
        }
        match self.stdins.write(name, data) {
            Ok(()) => Ok(Reply::Done),
            Err(e) => Err(Fault::Stdin(e)),
        }
    }

    fn close_stdin(&mut self, name: &str) -> Answer {
        let Some(p) = self.procs.get(name) else {
            return Err(Fault::NoSuchProcess(name.to_string()));
        };
        if p.config().pty {
            // A terminal has no "closed" input: its EOF is the VEOF character at the start
            // of a line, which the line discipline turns into a zero-length read.
            return self.write_stdin(name, b"\x04");
        }
        if self.stdins.close(name) {
            Ok(Reply::Done)
        } else {
            Err(Fault::NotRunning)
        }
    }

    fn resize(&mut self, name: &str, size: TtySize) -> Answer {
        let Some(p) = self.procs.get(name) else {
            return Err(Fault::NoSuchProcess(name.to_string()));
        };
        if !p.config().pty {
            return Err(Fault::Other(format!("{name} does not run on a pty")));
        }
        self.tty_sizes.insert(name.to_string(), size);
        self.mark_dirty();
        match self.stdins.get(name) {
            Some(master) => match crate::spawn::pty::set_size(master.as_fd(), size) {
                Ok(()) => Ok(Reply::Done),
                Err(e) => Err(Fault::Other(format!(
                    "{name}: cannot resize its terminal: {e}"
                ))),
            },
            // Not running: the size is kept for its next start.
            None => Ok(Reply::Done),
        }
    }

    /// What a reload would do with the config file as it is now; nothing changes.
    fn reread(&self) -> Result<ReloadReport, Fault> {
        let new = crate::config::load(&self.config.path)
            .map_err(|e| Fault::ReloadRefused(e.to_string()))?;
        crate::spawn::cgroup::check(&new).map_err(Fault::ReloadRefused)?;
        let diff = crate::config::diff(&self.config, &new);
        Ok(ReloadReport {
            added: diff.added,
            changed: diff.changed,
            updated: diff.updated,
            removed: diff.removed,
        })
    }

    fn avail(&self) -> Vec<ProgramSummary> {
        self.config
            .programs
            .values()
            .map(|p| ProgramSummary {
                name: p.name.clone(),
                numprocs: p.numprocs,
                autostart: p.autostart,
                autorestart: autorestart_word(p.autorestart).to_string(),
                cmd: p.cmd.clone(),
                cgroup: p.cgroup.as_ref().map(|l| {
                    let limits: Vec<String> =
                        [("memory.max", &l.memory_max), ("cpu.max", &l.cpu_max)]
                            .into_iter()
                            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
                            .collect();
                    if limits.is_empty() {
                        "no limits".to_string()
                    } else {
                        limits.join(" ")
                    }
                }),
            })
            .collect()
    }
}

/// Each target's process name, or the fault of a name that matched nothing.
fn slots(items: Vec<Resolved>) -> Vec<Result<String, Fault>> {
    items
        .into_iter()
        .map(|r| match r {
            Resolved::Process { name, .. } => Ok(name),
            Resolved::Unknown(fault) => Err(fault),
        })
        .collect()
}

fn send(reply: Sender<Answer>, answer: Answer) {
    let _ = reply.send(answer);
}
