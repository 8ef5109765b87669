//! Log-file work asked of the supervisor thread: `rotate`, the truncation of `clear`, and
//! `reopen` / SIGUSR2. The files belong to the I/O thread (program logs) and to the event
//! log's writer; this side knows which process has which files, sends the work there, and
//! gets the outcome back through a callback run when the work is done, so the supervisor
//! thread never waits for a disk.

use crossbeam_channel::Sender;

use crate::config::ProgramConfig;
use crate::output::logfile::Notice;
use crate::output::{Chunk, FileOp, FileResults, FileTarget, Stream};

use super::engine::Engine;
use super::reply::{ActionResult, Answer, Fault, Follow, Reply};

/// One slot of a `clear`/`rotate` request: a process name, or the fault of an unknown name.
pub type Slot = Result<String, Fault>;

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

    /// `clear NAME...`: empties the captured output, truncates the log files, then answers.
    pub fn clear(&self, slots: Vec<Slot>, reply: Sender<Answer>) {
        let names: Vec<String> = slots.iter().flatten().cloned().collect();
        for name in &names {
            self.reader.clear(name);
        }
        self.truncate_logs(
            names,
            Box::new(move |outcomes| {
                let _ = reply.send(Ok(answer(slots, &outcomes, |_| Ok("cleared".into()))));
            }),
        );
    }

    /// `rotate NAME...`: a named process without a log file is an error.
    pub fn rotate(&self, slots: Vec<Slot>, reply: Sender<Answer>) {
        let names: Vec<String> = slots.iter().flatten().cloned().collect();
        self.rotate_logs(
            names,
            false,
            Box::new(move |outcomes| {
                let _ = reply.send(Ok(answer(slots, &outcomes, |done| match done {
                    true => Ok("rotated".into()),
                    false => Err(Fault::Other("no log file".into())),
                })));
            }),
        );
    }

    /// `rotate` alone: the event log and every process that has a log file.
    pub fn rotate_everything(&self, reply: Sender<Answer>) {
        let names: Vec<String> = self
            .procs
            .iter()
            .filter(|(n, p)| !targets_of(n, p.config()).is_empty())
            .map(|(n, _)| n.clone())
            .collect();
        self.rotate_logs(
            names,
            true,
            Box::new(move |outcomes| {
                let results = outcomes
                    .into_iter()
                    .filter(|(name, r)| name != EVENT_LOG || !matches!(r, Ok(false)))
                    .map(|(name, r)| ActionResult {
                        name,
                        outcome: r.map(|_| "rotated".to_string()).map_err(Fault::Other),
                    })
                    .collect();
                let _ = reply.send(Ok(Reply::Actions(results)));
            }),
        );
    }

    /// `reopen`: as SIGUSR2, answered once done.
    pub fn reopen(&mut self, reply: Sender<Answer>) {
        self.reopen_logs(Some(Box::new(move |failures: Vec<String>| {
            let answer = if failures.is_empty() {
                Ok(Reply::Text("reopened every log file".into()))
            } else {
                Err(Fault::Other(failures.join("; ")))
            };
            let _ = reply.send(answer);
        })));
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
                            let _ =
                                tx.send(Notice::failed(format!("log error: reopen failed: {f}")));
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

/// The reply of `clear`/`rotate`: one result per slot, in order.
fn answer(
    slots: Vec<Slot>,
    outcomes: &LogOutcomes,
    word: impl Fn(bool) -> Result<String, Fault>,
) -> Reply {
    let results = slots
        .into_iter()
        .map(|slot| match slot {
            Ok(name) => {
                let outcome = match outcomes.iter().find(|(n, _)| *n == name) {
                    Some((_, Ok(done))) => word(*done),
                    Some((_, Err(e))) => Err(Fault::Other(e.clone())),
                    None => word(false),
                };
                ActionResult { name, outcome }
            }
            Err(fault) => ActionResult {
                name: fault.subject().unwrap_or_default().to_string(),
                outcome: Err(fault),
            },
        })
        .collect();
    Reply::Actions(results)
}

/// `maintail -BYTES`.
pub fn maintail(bytes: usize) -> Reply {
    Reply::Output(crate::logging::tail(bytes).into_bytes())
}

/// `maintail -f -BYTES`: the end of the event log, then its new lines.
pub fn maintail_follow(bytes: usize) -> Answer {
    let (backlog, rx) = crate::logging::tail_and_follow(bytes).ok_or_else(|| {
        Fault::Other("this taskmaster keeps no event log (it runs inside another program)".into())
    })?;
    let backlog = backlog.into_bytes();
    Ok(Reply::Follow(Follow {
        name: EVENT_LOG.to_string(),
        stream: Some(Stream::Stdout),
        backlog: vec![Chunk {
            stream: Stream::Stdout,
            data: backlog.into(),
        }],
        rx,
    }))
}
