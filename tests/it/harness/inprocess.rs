//! A supervisor started in this test process on a config written to a temp dir: requests
//! go straight to its handle; dropping it shuts it down (and SIGKILLs the groups it leaves).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use taskmaster::config;
use taskmaster::supervisor::events::{Event, EventKind};
use taskmaster::supervisor::{
    ActionResult, Answer, Command, Handle, Options, ProcessInfo, Reply, Snapshot, StateName,
    Supervisor, Update,
};

use super::{LONG, kill_group, wait_until, wait_until_showing};

/// A supervisor running in this test process on its own temp dir.
pub struct Tm {
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
    sup: Option<Supervisor>,
    pub handle: Handle,
}

impl Tm {
    /// Writes `toml` (with `{dir}` replaced by the temp dir) and starts a supervisor on it.
    pub fn start(toml: &str) -> Tm {
        let dir = tempfile::tempdir().expect("temp dir");
        let config_path = dir.path().join("taskmaster.toml");
        let tm_text = fill(toml, dir.path());
        std::fs::write(&config_path, tm_text).expect("write config");
        let config = config::load(&config_path).unwrap_or_else(|e| panic!("test config: {e}"));
        let sup = Supervisor::start(
            config,
            Options {
                handle_signals: false,
                terminal: false,
            },
        )
        .expect("supervisor starts");
        let handle = sup.handle.clone();
        Tm {
            dir,
            config_path,
            sup: Some(sup),
            handle,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Replaces the config file (same `{dir}` substitution).
    pub fn rewrite(&self, toml: &str) {
        std::fs::write(&self.config_path, fill(toml, self.dir.path())).expect("rewrite config");
    }

    pub fn call(&self, cmd: Command) -> Answer {
        self.handle.call_timeout(cmd, LONG)
    }

    pub fn status(&self) -> Arc<Snapshot> {
        match self.call(Command::Snapshot) {
            Ok(Reply::Snapshot(s)) => s,
            other => panic!("status should reply with a snapshot, got {other:?}"),
        }
    }

    pub fn info(&self, name: &str) -> ProcessInfo {
        self.status()
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("process {name} should exist"))
    }

    /// Waits until `name` is in `state`; its info then (a timeout shows the last seen).
    pub fn wait_state(&self, name: &str, state: StateName) -> ProcessInfo {
        let last = std::cell::RefCell::new(None);
        wait_until_showing(
            LONG,
            &format!("{name} to reach {state}"),
            || {
                let info = self.info(name);
                let done = info.state == state;
                *last.borrow_mut() = Some(info);
                done
            },
            || format!("last seen {:?}", last.borrow()),
        );
        last.into_inner()
            .unwrap_or_else(|| panic!("{name} was seen"))
    }

    /// The pid of `name` once it is RUNNING.
    pub fn running_pid(&self, name: &str) -> u32 {
        let info = self.wait_state(name, StateName::Running);
        info.pid.expect("a RUNNING process has a pid")
    }

    pub fn actions(&self, cmd: Command) -> Vec<ActionResult> {
        match self.call(cmd.clone()) {
            Ok(Reply::Actions(a) | Reply::Restart(a)) => a,
            other => panic!("{cmd:?} should reply with actions, got {other:?}"),
        }
    }

    /// Every live pid the supervisor knows of.
    pub fn pids(&self) -> Vec<u32> {
        self.status()
            .processes
            .iter()
            .filter_map(|p| p.pid)
            .collect()
    }

    /// The event-log lines from now on, gathered by a thread of its own.
    pub fn event_lines(&self) -> EventLines {
        let rx = self.handle.subscribe();
        // The subscription and the next command travel on different channels: wait until it
        // is registered (a new subscriber is told to read the snapshot at once).
        assert!(
            matches!(rx.recv_timeout(LONG), Ok(Update::Snapshot)),
            "the subscription is registered"
        );
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            while let Ok(u) = rx.recv() {
                match u {
                    Update::Event(ev) => sink.lock().expect("event lines").push(ev.text.clone()),
                    Update::Gone => return,
                    Update::Snapshot => {}
                }
            }
        });
        EventLines(lines)
    }

    pub fn shutdown(mut self) {
        self.stop_all();
    }

    fn stop_all(&mut self) {
        let Some(sup) = self.sup.take() else { return };
        let pids = self.pids();
        let done = self.handle.call_timeout(Command::Shutdown, LONG);
        if !matches!(done, Ok(Reply::Shutdown)) {
            for pid in pids {
                kill_group(pid);
            }
        }
        sup.join();
    }
}

impl Drop for Tm {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// Event-log lines of a [`Tm`] in order, as they come ([`Tm::event_lines`]). The reply to a
/// command and the event stream are separate channels: wait for the line, not the reply.
pub struct EventLines(Arc<Mutex<Vec<String>>>);

impl EventLines {
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().expect("event lines").clone()
    }

    pub fn count(&self, pred: impl Fn(&str) -> bool) -> usize {
        let lines = self.0.lock().expect("event lines");
        lines.iter().filter(|l| pred(l)).count()
    }

    /// Waits for a line that satisfies `pred`; a timeout shows every line seen.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let mut found = None;
        wait_until_showing(
            LONG,
            what,
            || {
                let lines = self.0.lock().expect("event lines");
                found = lines.iter().find(|l| pred(l)).cloned();
                found.is_some()
            },
            || format!("events {:#?}", self.lines()),
        );
        found.unwrap_or_default()
    }
}

fn fill(text: &str, dir: &Path) -> String {
    text.replace("{dir}", &dir.display().to_string())
}

/// The supervisor's kept events.
pub fn events(handle: &Handle) -> Vec<Arc<Event>> {
    match handle.call_timeout(Command::Events { follow: false }, LONG) {
        Ok(Reply::Events(evs)) => evs.into_iter().map(Arc::new).collect(),
        other => panic!("events should reply with events, got {other:?}"),
    }
}

/// Waits for an event of `kind` (and `pred`) in the ring.
pub fn wait_event(handle: &Handle, kind: EventKind, pred: impl Fn(&Event) -> bool) -> Arc<Event> {
    let mut found = None;
    wait_until(LONG, &format!("a {kind} event"), || {
        found = events(handle)
            .into_iter()
            .find(|e| e.kind == kind && pred(e));
        found.is_some()
    });
    found.expect("found")
}

/// `alert`'s (sent, failed, dropped).
pub fn alert_counters(handle: &Handle, alert: &str) -> (u64, u64, u64) {
    handle
        .alert_counters()
        .into_iter()
        .find(|(n, _)| n == alert)
        .map(|(_, c)| c)
        .unwrap_or_default()
}
