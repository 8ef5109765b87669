//! Log-file work asked of the supervisor thread: `rotate`, the truncation of `clear`, and
//! `reopen` / SIGUSR2. The files belong to the I/O thread (program logs) and to the event
//! log's writer; this side knows which process has which files, sends the work there, and
//! gets the outcome back through a callback run when the work is done, so the supervisor
//! thread never waits for a disk.

use crate::config::ProgramConfig;
use crate::output::{FileOp, FileResults, FileTarget};

use super::engine::Engine;

/// Outcome per process, in the order asked: `Ok(true)` done, `Ok(false)` nothing to do (no
/// log file), `Err(why)`.
pub type LogOutcomes = Vec<(String, Result<bool, String>)>;

/// Called with the outcome once the work is done (on the I/O thread).
pub type LogsDone = Box<dyn FnOnce(LogOutcomes) + Send>;

/// What the event log is called in outcomes.
pub const EVENT_LOG: &str = "event log";

/// The `stdout` and `stderr` files of one process, with their rotation settings.
fn targets_of(name: &str, prog: &ProgramConfig) -> Vec<FileTarget> {
    let num = prog.process_num(name);
    [
        (&prog.stdout, prog.stdout_rotation),
        (&prog.stderr, prog.stderr_rotation),
    ]
    .into_iter()
    .filter_map(|(target, rotation)| {
        Some(FileTarget {
            process: name.to_string(),
            path: target.path_for(num)?,
            rotation,
        })
    })
    .collect()
}

/// Folds per-file results into one per process of `names` (the first error wins).
fn per_process(names: &[String], results: FileResults) -> LogOutcomes {
    names
        .iter()
        .map(|name| {
            let mut outcome = Ok(false);
            for (_, r) in results.iter().filter(|(p, _)| p == name) {
                outcome = match (outcome, r) {
                    (Err(e), _) => Err(e),
                    (Ok(_), Err(e)) => Err(e.clone()),
                    (Ok(_), Ok(())) => Ok(true),
                };
            }
            (name.clone(), outcome)
        })
        .collect()
}

impl Engine {
    fn log_targets(&self, names: &[String]) -> Vec<FileTarget> {
        names
            .iter()
            .filter_map(|n| self.procs.get(n).map(|p| targets_of(n, p.config())))
            .flatten()
            .collect()
    }

    /// Runs `op` on the files of `names` (already resolved process names); `done` gets one
    /// outcome per process.
    fn file_work(&self, op: FileOp, names: Vec<String>, done: LogsDone) {
        let targets = self.log_targets(&names);
        if targets.is_empty() {
            return done(per_process(&names, Vec::new()));
        }
        let finish = move |results: FileResults| done(per_process(&names, results));
        match &self.output {
            Some(hub) => hub.files(op, Some(targets), Box::new(finish)),
            None => finish(Vec::new()),
        }
    }

    /// `rotate NAME...`: rotates these processes' files now. With `event_log`, the event log
    /// too (first in the outcomes, as [`EVENT_LOG`]).
    pub fn rotate_logs(&self, names: Vec<String>, event_log: bool, done: LogsDone) {
        let mut first = Vec::new();
        if event_log {
            first.push((EVENT_LOG.to_string(), crate::logging::rotate()));
        }
        self.file_work(
            FileOp::Rotate,
            names,
            Box::new(move |rest| {
                first.extend(rest);
                done(first)
            }),
        );
    }

    /// The truncation half of `clear NAME...`.
    pub fn truncate_logs(&self, names: Vec<String>, done: LogsDone) {
        self.file_work(FileOp::Truncate, names, done);
    }

    /// Closes and reopens the event log and every open program log (SIGUSR2, `reopen`).
    /// `done` gets the failures (empty: all reopened) once the I/O thread has done its part;
    /// without it, failures go to the event log.
    pub fn reopen_logs(&mut self, done: Option<Box<dyn FnOnce(Vec<String>) + Send>>) {
        let mut failures = Vec::new();
        if let Err(e) = crate::logging::reopen() {
            failures.push(format!("{EVENT_LOG}: {e}"));
        }
        let notices = self.notices.clone();
        let finish = move |results: FileResults| {
            failures.extend(results.into_iter().filter_map(|(_, r)| r.err()));
            match done {
                Some(done) => done(failures),
                None => {
                    for f in failures {
                        if let Some(tx) = &notices {
                            let _ = tx.send(format!("log error: reopen failed: {f}"));
                        }
                    }
                }
            }
        };
        match &self.output {
            Some(hub) => hub.files(FileOp::Reopen, None, Box::new(finish)),
            None => finish(Vec::new()),
        }
    }
}
