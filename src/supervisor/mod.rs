//! The supervisor thread: the only owner and writer of process state. It serves [`Command`]s
//! from every front end, reaps children on SIGCHLD, fires the starttime/backoff/stoptime
//! deadlines from one `select!`, applies reloads and publishes snapshots.

mod api;
mod cgroups;
mod checks;
mod clock;
mod commands;
mod deps;
mod engine;
pub mod events;
mod lineage;
mod logs;
mod orphans;
pub mod process;
mod reload;
mod reply;
pub mod snapshot;
mod stdin;
mod transitions;

pub use api::{Command, Handle, Request, Target, Update};
pub use clock::Now;
pub use reply::{
    ActionResult, Answer, Fault, Follow, PidEntry, ProcessStatus, ProgramSummary, ReloadReport,
    Reply, StatusEntry,
};
pub use snapshot::{ExitCause, ExitInfo, ExitKind, ProcessInfo, Snapshot, StateName, StopEnd};

use std::sync::{Arc, Mutex};

use crossbeam_channel::{Receiver, after, never, select};

use crate::config::Config;
use crate::output::OutputHub;
use engine::Engine;

/// How the supervisor is started.
pub struct Options {
    /// Turn SIGHUP into a reload and SIGINT/SIGTERM into a shutdown. Off when the supervisor
    /// runs inside another program (the tests), which must keep its own signal handling.
    pub handle_signals: bool,
    /// A front end owns the terminal on stdin (dashboard, terminal shell). Closing that
    /// terminal sends SIGHUP; such a SIGHUP, with the terminal gone, is a hang-up and shuts
    /// taskmaster down instead of reloading the config.
    pub terminal: bool,
}

/// A running supervisor thread.
pub struct Supervisor {
    pub handle: Handle,
    pub thread: std::thread::JoinHandle<()>,
}

impl Supervisor {
    /// Starts the supervisor thread on a loaded config; autostart programs start at once.
    pub fn start(config: Config, options: Options) -> std::io::Result<Supervisor> {
        crate::spawn::cgroup::check(&config).map_err(std::io::Error::other)?;
        crate::spawn::limits::raise();
        ensure_stdio_open();
        // A process attribute: only the binary, which owns its process, takes it. A program
        // embedding supervisors (the tests) keeps its own orphan semantics — its daemonized
        // helpers (tmux) must not become its zombies.
        if options.handle_signals {
            become_subreaper();
        }
        let (req_tx, req_rx) = crossbeam_channel::unbounded();
        let (sub_tx, sub_rx) = crossbeam_channel::unbounded();
        let (sig_tx, sig_rx) = crossbeam_channel::unbounded();
        let (alert_tx, alert_rx) = crossbeam_channel::bounded(1024);
        // Problems with log files (and their recovery), from the I/O thread and the event
        // log, become event lines shown to every front end.
        let (note_tx, note_rx) = crossbeam_channel::unbounded();
        let (hub, reader) = OutputHub::start_with(crate::output::RING_CAP, Some(note_tx.clone()))?;
        crate::logging::set_notices(note_tx.clone());
        // Registered before the first spawn so no SIGCHLD can be missed.
        let signals = crate::signals::start(sig_tx, options.handle_signals)?;
        let alert_stats = crate::alerts::AlertStats::default();
        let alerts = crate::alerts::Alerts::new(alert_stats.clone(), alert_tx);
        let mut engine = Engine::new(config, hub, reader.clone(), alerts, Now::current());
        // The binary is the only supervisor in its process: every stray child is its own.
        engine.orphans.sole = options.handle_signals;
        // Subscribed before the first spawn, so no fork in a supervised tree is missed.
        let (proc_tx, proc_rx) = crossbeam_channel::unbounded();
        if engine.orphans.sole {
            if lineage::events_allowed() {
                crate::spawn::proc_events::start(proc_tx)?;
                engine.orphans.source = orphans::Source::Probing;
            } else {
                let why = format!("{} is set", lineage::NO_EVENTS_ENV);
                let _ = proc_tx.send(vec![crate::spawn::proc_events::ProcEvent::Unavailable(why)]);
            }
        }
        let latest = Arc::new(Mutex::new(Arc::new(engine.snapshot())));
        engine.latest = Some(latest.clone());
        engine.hangup_is_shutdown = options.terminal;
        engine.notices = Some(note_tx);
        let (checkers, health_rx) = crate::health::Checkers::start()?;
        let (log_tx, log_rx) = crossbeam_channel::unbounded();
        engine.checkers = Some(checkers);
        engine.log_hits = Some(log_tx);
        let handle = Handle {
            req_tx,
            latest,
            subscribe_tx: sub_tx,
            output: reader,
            counts: engine.events.counts.clone(),
            alert_stats,
        };
        let thread = std::thread::Builder::new()
            .name("taskmaster-supervisor".to_string())
            .spawn(move || {
                run(
                    engine,
                    req_rx,
                    sub_rx,
                    sig_rx,
                    alert_rx,
                    note_rx,
                    (health_rx, log_rx, proc_rx),
                );
                drop(signals);
            })?;
        Ok(Supervisor { handle, thread })
    }

    /// Waits until the supervisor thread has ended (after a shutdown).
    pub fn join(self) {
        let _ = self.thread.join();
    }
}

/// Orphans of supervised trees (double-forked daemons, setsid'd grandchildren) are
/// reparented to taskmaster instead of init, so it can reap, attribute and stop them.
fn become_subreaper() {
    if let Err(e) = crate::spawn::procfs::become_subreaper() {
        log::warn!("cannot become the child subreaper ({e}): orphans go to init and escape stops");
    }
}

/// A child's pipes must never land on 0, 1 or 2 (the child's dup2 onto them would clash):
/// if taskmaster was started with any of them closed, park /dev/null there.
fn ensure_stdio_open() {
    use nix::fcntl::{FcntlArg, OFlag, fcntl, open};
    for fd in 0..3 {
        if fcntl(fd, FcntlArg::F_GETFD) == Err(nix::errno::Errno::EBADF) {
            // Opened without O_CLOEXEC on purpose: it stands in for a standard stream.
            let _ = open("/dev/null", OFlag::O_RDWR, nix::sys::stat::Mode::empty());
        }
    }
}

fn run(
    mut engine: Engine,
    req_rx: Receiver<Request>,
    sub_rx: Receiver<crossbeam_channel::Sender<Update>>,
    sig_rx: Receiver<i32>,
    alert_rx: Receiver<events::Event>,
    note_rx: Receiver<crate::output::logfile::Notice>,
    (health_rx, log_rx, proc_rx): (
        Receiver<Vec<crate::health::Outcome>>,
        Receiver<String>,
        Receiver<Vec<crate::spawn::proc_events::ProcEvent>>,
    ),
) {
    engine.boot(Now::current());
    let mut req_rx = Some(req_rx);
    let mut sub_rx = Some(sub_rx);
    let never_req = never();
    let never_sub = never();
    let never_proc = never();
    let mut proc_rx = Some(proc_rx);
    loop {
        let now = Now::current();
        engine.start_queued(now);
        let timer = match engine.next_deadline() {
            // Boot batches left: serve what is waiting, then come back at once.
            _ if engine.boot_pending() => after(std::time::Duration::ZERO),
            Some(at) => after(at.saturating_duration_since(now.mono)),
            None => never(),
        };
        select! {
            recv(req_rx.as_ref().unwrap_or(&never_req)) -> msg => match msg {
                Ok(req) => {
                    // A request may change any process (a reload, a config in place).
                    engine.touch();
                    engine.on_request(req, Now::current());
                }
                // Every handle is gone: nobody can ever stop us, so stop now.
                Err(_) => {
                    req_rx = None;
                    engine.begin_shutdown(None, Now::current());
                }
            },
            recv(sub_rx.as_ref().unwrap_or(&never_sub)) -> msg => match msg {
                Ok(tx) => engine.subscribe(tx),
                Err(_) => sub_rx = None,
            },
            recv(sig_rx) -> msg => if let Ok(sig) = msg {
                // SIGCHLD (a check command's, often) changes only what a reap applies.
                if sig != nix::libc::SIGCHLD {
                    engine.touch();
                }
                engine.on_signal(sig, Now::current());
            },
            // A failed alert delivery, reported by its worker.
            recv(alert_rx) -> msg => if let Ok(ev) = msg {
                engine.emit(ev);
            },
            recv(note_rx) -> msg => if let Ok(notice) = msg {
                engine.on_notice(notice);
            },
            // Every outcome that arrived meanwhile, as one batch.
            recv(health_rx) -> msg => if let Ok(batch) = msg {
                let mut outcomes = batch;
                while let Ok(more) = health_rx.try_recv() {
                    outcomes.extend(more);
                }
                engine.on_health_outcomes(outcomes, Now::current());
            },
            recv(log_rx) -> msg => if let Ok(name) = msg {
                engine.on_log_hit(&name, Now::current());
            },
            // Forks and exits in the supervised trees (see `lineage`).
            recv(proc_rx.as_ref().unwrap_or(&never_proc)) -> msg => match msg {
                Ok(batch) => engine.on_proc_events(batch, Now::current().mono),
                Err(_) => {
                    proc_rx = None;
                    engine.proc_events_ended();
                }
            },
            recv(timer) -> _ => {}
        }
        let now = Now::current();
        engine.fire_deadlines(now);
        engine.advance(now);
        if engine.is_finished() {
            engine.finish();
            return;
        }
        engine.publish_if_due(now);
    }
}
