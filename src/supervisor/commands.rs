//! Request handlers of the supervisor thread: one function per [`Command`], and the
//! resolution of `all`, `PROGRAM`, `PROGRAM:*` and process names.

use std::os::fd::AsFd;
use std::sync::Arc;

use crossbeam_channel::Sender;

use super::api::{Command, ProgramSummary, Reply, Request};
use super::clock::Now;
use super::engine::{Engine, Pending, WaitKind};
use super::process::{Effect, Process, autorestart_word};
use crate::spawn::TtySize;

impl Engine {
    pub fn on_request(&mut self, req: Request, now: Now) {
        let Request { cmd, reply } = req;
        if self.shutdown.is_some() {
            match cmd {
                Command::Shutdown => self.begin_shutdown(Some(reply), now),
                Command::Status(names) => self.status(names, reply),
                _ => {
                    let _ = reply.send(Reply::Error("taskmaster is shutting down".to_string()));
                }
            }
            return;
        }
        match cmd {
            Command::Status(names) => self.status(names, reply),
            Command::Start(names) => {
                let names = self.skip_implicit(names, |p| !p.is_started());
                self.each(names, reply, now, Engine::start_one)
            }
            Command::Stop(names) => {
                let names = self.skip_implicit(names, Process::is_active);
                self.each(names, reply, now, Engine::stop_one)
            }
            Command::Restart(names) => self.each(names, reply, now, Engine::restart_one),
            Command::Signal(sig, names) => self.each(names, reply, now, move |e, name, _, _, _| {
                Some(e.signal_one(name, sig))
            }),
            Command::Clear(names) => self.each(names, reply, now, |e, name, _, _, _| {
                e.reader.clear(name);
                Some(Ok("cleared".to_string()))
            }),
            Command::Reload => {
                let _ = reply.send(self.reload(now));
            }
            Command::Shutdown => self.begin_shutdown(Some(reply), now),
            Command::WriteStdin(name, data) => {
                let _ = reply.send(self.write_stdin(&name, &data));
            }
            Command::CloseStdin(name) => {
                let _ = reply.send(self.close_stdin(&name));
            }
            Command::Resize(name, size) => {
                let _ = reply.send(self.resize(&name, size));
            }
            Command::Avail => {
                let _ = reply.send(Reply::Avail(self.avail()));
            }
            Command::Events { follow } => {
                let stream = follow.then(|| self.follow_events());
                let _ = reply.send(Reply::Events(self.events.recent(), stream));
            }
            Command::AlertTest(name) => {
                let _ = reply.send(self.alert_test(&name));
            }
        }
    }

    /// `alert test NAME`: a `test` event, emitted (so it is logged and numbered) and queued
    /// for that one alert whatever its filters.
    fn alert_test(&mut self, name: &str) -> Reply {
        if !self.alerts.names().iter().any(|n| n == name) {
            let known = self.alerts.names();
            return Reply::Error(format!(
                "no such alert '{name}' (alerts: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ));
        }
        let ev = self.events.stamp(crate::alerts::test_event(name));
        // No alert subscribes to `test`: `show` logs it and tells the front ends, and it goes
        // to this one alert below.
        self.show(ev.clone(), true);
        match self.alerts.test(name, &ev) {
            Ok(()) => Reply::Done,
            Err(e) => Reply::Error(e),
        }
    }

    /// Expands the names a user typed into process names, in order, without repeats.
    pub fn resolve(&self, names: &[String]) -> Result<Vec<String>, String> {
        Ok(self
            .resolve_marked(names)?
            .into_iter()
            .map(|(n, _)| n)
            .collect())
    }

    /// Like `resolve`, marking each process named one by one (`true`) rather than through
    /// `all`, `PROGRAM` or `PROGRAM:*` (`false`): like supervisorctl, `stop all` passes over
    /// processes that are not running instead of reporting an error for each.
    fn resolve_marked(&self, names: &[String]) -> Result<Vec<(String, bool)>, String> {
        let mut out: Vec<(String, bool)> = Vec::new();
        let push = |n: &String, explicit: bool, out: &mut Vec<(String, bool)>| match out
            .iter_mut()
            .find(|(m, _)| m == n)
        {
            Some(entry) => entry.1 |= explicit,
            None => out.push((n.clone(), explicit)),
        };
        for raw in names {
            let program = raw.strip_suffix(":*").unwrap_or(raw);
            let single_named = self
                .procs
                .get(raw.as_str())
                .is_some_and(|p| p.config().numprocs == 1 || raw.contains(':'));
            if raw == "all" {
                self.procs.keys().for_each(|n| push(n, false, &mut out));
            } else if single_named {
                push(raw, true, &mut out);
            } else if self.config.programs.contains_key(program) {
                self.procs
                    .values()
                    .filter(|p| p.config().name == program)
                    .for_each(|p| push(&p.name().to_string(), false, &mut out));
            } else {
                return Err(format!("no such process: {raw}"));
            }
        }
        Ok(out)
    }

    /// Keeps the processes named one by one, and of those reached through `all` or a group
    /// only the ones `wanted` accepts. Unknown names are kept for `each` to report.
    fn skip_implicit(&self, names: Vec<String>, wanted: impl Fn(&Process) -> bool) -> Vec<String> {
        match self.resolve_marked(&names) {
            Ok(marked) => marked
                .into_iter()
                .filter(|(n, explicit)| *explicit || self.procs.get(n).is_some_and(&wanted))
                .map(|(n, _)| n)
                .collect(),
            Err(_) => names,
        }
    }

    fn status(&self, names: Vec<String>, reply: Sender<Reply>) {
        let mut snap = self.snapshot();
        if !names.is_empty() {
            match self.resolve(&names) {
                Ok(wanted) => snap.processes.retain(|p| wanted.contains(&p.name)),
                Err(e) => {
                    let _ = reply.send(Reply::Error(e));
                    return;
                }
            }
        }
        let _ = reply.send(Reply::Status(Arc::new(snap)));
    }

    /// Runs `one` for every named process; `one` returns the outcome at once, or `None` when
    /// it registered a waiter for slot `slot` of pending request `id`.
    fn each<F>(&mut self, names: Vec<String>, reply: Sender<Reply>, now: Now, mut one: F)
    where
        F: FnMut(&mut Engine, &str, u64, usize, Now) -> Option<Result<String, String>>,
    {
        let targets = match self.resolve(&names) {
            Ok(t) => t,
            Err(e) => {
                let _ = reply.send(Reply::Error(e));
                return;
            }
        };
        if targets.is_empty() {
            let _ = reply.send(Reply::Actions(Vec::new()));
            return;
        }
        let id = self.next_pending;
        self.next_pending += 1;
        self.pending.insert(
            id,
            Pending {
                results: vec![None; targets.len()],
                missing: targets.len(),
                reply,
            },
        );
        for (slot, name) in targets.iter().enumerate() {
            if let Some(outcome) = one(self, name, id, slot, now) {
                self.fill(id, slot, name, outcome);
            }
        }
    }

    fn start_one(
        &mut self,
        name: &str,
        id: u64,
        slot: usize,
        now: Now,
    ) -> Option<Result<String, String>> {
        let result = self.procs.get_mut(name)?.on_start(now);
        self.wait_for(name, result, WaitKind::Start, id, slot, now)
    }

    fn stop_one(
        &mut self,
        name: &str,
        id: u64,
        slot: usize,
        now: Now,
    ) -> Option<Result<String, String>> {
        let result = self.procs.get_mut(name)?.on_stop(now);
        self.wait_for(name, result, WaitKind::Stop, id, slot, now)
    }

    /// A refused transition is the outcome at once; an accepted one is carried out and its
    /// outcome awaited.
    fn wait_for(
        &mut self,
        name: &str,
        transition: Result<Vec<Effect>, &'static str>,
        kind: WaitKind,
        id: u64,
        slot: usize,
        now: Now,
    ) -> Option<Result<String, String>> {
        match transition {
            Err(why) => Some(Err(why.to_string())),
            Ok(effects) => {
                self.add_waiter(name, id, slot, kind);
                self.apply(name, effects, now);
                None
            }
        }
    }

    fn restart_one(
        &mut self,
        name: &str,
        id: u64,
        slot: usize,
        now: Now,
    ) -> Option<Result<String, String>> {
        let stopped = self.procs.get_mut(name)?.on_stop(now);
        if let Ok(effects) = stopped {
            self.apply(name, effects, now);
        }
        // A user's restart is not counted in RESTARTS: those are the policy's.
        self.start_one(name, id, slot, now)
    }

    fn signal_one(&mut self, name: &str, sig: nix::sys::signal::Signal) -> Result<String, String> {
        let pid = self
            .procs
            .get(name)
            .and_then(|p| p.pid())
            .ok_or_else(|| "not running".to_string())?;
        nix::sys::signal::kill(pid, sig).map_err(|e| format!("cannot signal: {e}"))?;
        self.event(format!("signalled: {name} with {}", sig.as_str()));
        Ok("signalled".to_string())
    }

    fn write_stdin(&mut self, name: &str, data: &[u8]) -> Reply {
        if !self.procs.contains_key(name) {
            return Reply::Error(format!("no such process: {name}"));
        }
        match self.stdins.write(name, data) {
            Ok(()) => Reply::Done,
            Err(e) => Reply::Error(e),
        }
    }

    fn close_stdin(&mut self, name: &str) -> Reply {
        let Some(p) = self.procs.get(name) else {
            return Reply::Error(format!("no such process: {name}"));
        };
        if p.config().pty {
            // A terminal has no "closed" input: its EOF is the VEOF character at the start
            // of a line, which the line discipline turns into a zero-length read.
            return self.write_stdin(name, b"\x04");
        }
        if self.stdins.close(name) {
            Reply::Done
        } else {
            Reply::Error(format!("{name} is not running"))
        }
    }

    fn resize(&mut self, name: &str, size: TtySize) -> Reply {
        let Some(p) = self.procs.get(name) else {
            return Reply::Error(format!("no such process: {name}"));
        };
        if !p.config().pty {
            return Reply::Error(format!("{name} does not run on a pty"));
        }
        self.tty_sizes.insert(name.to_string(), size);
        self.mark_dirty();
        match self.stdins.get(name) {
            Some(master) => match crate::spawn::pty::set_size(master.as_fd(), size) {
                Ok(()) => Reply::Done,
                Err(e) => Reply::Error(format!("{name}: cannot resize its terminal: {e}")),
            },
            // Not running: the size is kept for its next start.
            None => Reply::Done,
        }
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
            })
            .collect()
    }
}
