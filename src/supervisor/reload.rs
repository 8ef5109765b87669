//! Applying a new config on the supervisor thread: only the difference is acted on
//! (interface.md section 4). A config that fails to load changes nothing.

use std::sync::Arc;

use super::clock::Now;
use super::engine::Engine;
use super::events::{Event, EventKind};
use super::reply::{Answer, Fault, ReloadReport, Reply};
use crate::config::{self, ProgramConfig};

impl Engine {
    /// Applies the config file anew, telling systemd (when it listens) it is reloading.
    pub fn reload(&mut self, now: Now) -> Answer {
        self.finish_boot(now);
        crate::notify::reloading();
        let answer = self.apply_config_file(now);
        crate::notify::send("READY=1");
        answer
    }

    fn apply_config_file(&mut self, now: Now) -> Answer {
        let loaded = config::load(&self.config.path).map_err(|e| e.to_string());
        let new = match loaded.and_then(|c| crate::spawn::cgroup::check(&c).map(|()| c)) {
            Ok(c) => c,
            Err(e) => {
                let mut ev = Event::new(
                    EventKind::ReloadFailed,
                    format!("reload refused, nothing changed: {e}"),
                );
                ev.reason = Some(e.clone());
                self.emit(ev);
                return Err(Fault::ReloadRefused(e));
            }
        };
        let diff = config::diff(&self.config, &new);
        crate::logging::set_rotation(new.logfile_rotation);
        for name in &diff.removed {
            for pname in self.process_names_of(name) {
                self.retire(&pname, now);
            }
        }
        for name in diff.added.iter().chain(&diff.changed).chain(&diff.updated) {
            let Some(prog) = new.programs.get(name) else {
                continue;
            };
            let restart = diff.changed.contains(name);
            self.apply_program(Arc::new(prog.clone()), restart, now);
        }
        let report = ReloadReport {
            added: diff.added,
            changed: diff.changed,
            updated: diff.updated,
            removed: diff.removed,
        };
        self.config = new;
        self.dependents = super::deps::dependents(&self.config);
        self.alerts.configure(&self.config.alerts);
        self.emit(Event::new(
            EventKind::Reload,
            format!(
                "config reloaded: added [{}], changed [{}], updated [{}], removed [{}]",
                report.added.join(", "),
                report.changed.join(", "),
                report.updated.join(", "),
                report.removed.join(", ")
            ),
        ));
        Ok(Reply::Reload(report))
    }

    fn process_names_of(&self, program: &str) -> Vec<String> {
        self.procs
            .values()
            .filter(|p| p.config().name == program)
            .map(|p| p.name().to_string())
            .collect()
    }

    /// Brings a program's processes in line with `prog`: extra ones stop and go, missing ones
    /// are added (and started if autostart), kept ones take the new settings, restarting when
    /// `restart` (launch settings changed) and they were running.
    fn apply_program(&mut self, prog: Arc<ProgramConfig>, restart: bool, now: Now) {
        if let Some(old) = self.config.programs.get(&prog.name).cloned() {
            self.rename_kept(&old, &prog);
        }
        let wanted = prog.process_names();
        for old in self.process_names_of(&prog.name) {
            if !wanted.contains(&old) {
                self.retire(&old, now);
            }
        }
        for name in wanted {
            let Some(p) = self.procs.get_mut(&name) else {
                self.add_process(name.clone(), prog.clone(), now);
                if prog.autostart {
                    self.start_process(&name, now);
                }
                continue;
            };
            // Was it on its way out? It comes back with the new settings.
            p.on_readded();
            p.set_config(prog.clone());
            if !restart {
                self.configure_logs(&name, &prog);
                continue;
            }
            if p.is_active() || prog.autostart {
                if let Ok(effects) = p.on_stop(now) {
                    self.apply(&name, effects, now);
                }
                self.start_process(&name, now);
            }
        }
    }

    /// Rotation and timestamps apply to the open files of a running process at once.
    fn configure_logs(&self, name: &str, prog: &ProgramConfig) {
        let Some(hub) = &self.output else {
            return;
        };
        use crate::output::Stream;
        hub.configure(name, Stream::Stdout, prog.stdout_rotation, prog.timestamps);
        hub.configure(name, Stream::Stderr, prog.stderr_rotation, prog.timestamps);
    }

    /// When numprocs changes the names (1 -> N: `web` becomes `web:web_00`; N -> 1 and back;
    /// 100 -> 101 widens the index), the processes both configs have keep running under their
    /// new names: a rename, not a replacement, so old and new never run side by side.
    fn rename_kept(&mut self, old: &ProgramConfig, new: &ProgramConfig) {
        for i in 0..old.numprocs.min(new.numprocs) {
            let (from, to) = (old.process_name(i), new.process_name(i));
            if from != to && self.procs.contains_key(&from) && !self.procs.contains_key(&to) {
                self.rename(&from, &to);
            }
        }
    }

    fn rename(&mut self, from: &str, to: &str) {
        let Some(mut p) = self.procs.remove(from) else {
            return;
        };
        self.checks.forget(from);
        p.rename(to);
        if let Some(pid) = p.pid() {
            self.by_pid.insert(pid, to.to_string());
            self.event(format!(
                "renamed: {from} is now {to} (numprocs changed; pid {pid} kept)"
            ));
        } else {
            self.event(format!("renamed: {from} is now {to} (numprocs changed)"));
        }
        self.procs.insert(to.to_string(), p);
        self.stdins.rename(from, to);
        self.orphans.rename(from, to);
        if let Some(size) = self.tty_sizes.remove(from) {
            self.tty_sizes.insert(to.to_string(), size);
        }
        if let Some(report) = self.reports.remove(from) {
            self.reports.insert(to.to_string(), report);
        }
        if let Some(waiters) = self.waiters.remove(from) {
            self.waiters.insert(to.to_string(), waiters);
        }
        if let Some(hub) = &self.output {
            hub.rename(from, to);
        }
    }

    /// Stops a process gracefully and drops it once stopped.
    fn retire(&mut self, name: &str, now: Now) {
        if let Some(effects) = self.procs.get_mut(name).map(|p| p.on_retire(now)) {
            self.apply(name, effects, now);
        }
    }
}
