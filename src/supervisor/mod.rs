//! The supervisor thread: the only owner and writer of process state. It serves [`Command`]s
//! from every front end, reaps children on SIGCHLD, fires the starttime/backoff/stoptime
//! deadlines from one `select!`, applies reloads and publishes snapshots.

mod api;
pub mod snapshot;

pub use api::{
    ActionResult, Command, Handle, ProgramSummary, ReloadReport, Reply, Request, Update,
};
pub use snapshot::{ExitInfo, ExitKind, ProcessInfo, Snapshot, StateName};

use crate::config::Config;

/// How the supervisor is started.
pub struct Options {
    /// Turn SIGHUP into a reload and SIGINT/SIGTERM into a shutdown. Off when the supervisor
    /// runs inside another program (the tests), which must keep its own signal handling.
    pub handle_signals: bool,
}

/// A running supervisor thread.
pub struct Supervisor {
    pub handle: Handle,
    pub thread: std::thread::JoinHandle<()>,
}

impl Supervisor {
    /// Starts the supervisor thread on a loaded config; autostart programs start at once.
    pub fn start(config: Config, options: Options) -> std::io::Result<Supervisor> {
        let _ = (config, options);
        todo!()
    }

    /// Waits until the supervisor thread has ended (after a shutdown).
    pub fn join(self) {
        let _ = self.thread.join();
    }
}
