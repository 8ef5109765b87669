//! The `exec` sink: runs the alert's command with `TASKMASTER_*` variables and the JSON on its
//! stdin, in a process group of its own that is killed at the timeout. Runs on the alert's
//! worker thread, never on the supervisor thread.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::supervisor::events::Event;

/// How much of the command's stderr is kept for the failure reason.
const STDERR_KEEP: usize = 512;

/// Runs `argv` for `batch` (the last event's fields in the variables); Ok when it exits 0
/// within `timeout`.
pub fn run_as_helper(
    argv: &[String],
    batch: &[std::sync::Arc<Event>],
    json: &str,
    timeout: Duration,
    helpers: &crate::health::Helpers,
) -> Result<(), String> {
    run_with(argv, batch, json, timeout, Some(helpers))
}

pub fn run(
    argv: &[String],
    batch: &[std::sync::Arc<Event>],
    json: &str,
    timeout: Duration,
) -> Result<(), String> {
    run_with(argv, batch, json, timeout, None)
}

/// `helpers`: the set of pids the supervisor must leave alone (it reaps strays otherwise);
/// held locked across the spawn so it never sees the child's zombie before the pid is in.
fn run_with(
    argv: &[String],
    batch: &[std::sync::Arc<Event>],
    json: &str,
    timeout: Duration,
    helpers: Option<&crate::health::Helpers>,
) -> Result<(), String> {
    let (Some(program), Some(last)) = (argv.first(), batch.last()) else {
        return Ok(());
    };
    let mut cmd = Command::new(program);
    cmd.args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        // Its own group: the timeout kills whatever it started too.
        .process_group(0);
    for (key, value) in variables(last, batch.len()) {
        cmd.env(key, value);
    }
    let mut child = {
        let mut set = helpers.map(|h| h.lock().unwrap_or_else(|e| e.into_inner()));
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot run '{program}': {e}"))?;
        if let Some(set) = set.as_mut() {
            set.insert(nix::unistd::Pid::from_raw(child.id() as i32));
        }
        child
    };
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let helpers = helpers.cloned();
    if let Some(mut stdin) = child.stdin.take() {
        let json = json.to_string();
        // A command that never reads its stdin must not hold up the worker: write from a
        // thread of its own, which ends with EPIPE once the command is gone.
        let _ = std::thread::Builder::new()
            .name("taskmaster-alert-stdin".into())
            .spawn(move || {
                let _ = stdin.write_all(json.as_bytes());
            });
    }
    let (err_tx, err_rx) = crossbeam_channel::bounded(1);
    if let Some(mut stderr) = child.stderr.take() {
        let _ = std::thread::Builder::new()
            .name("taskmaster-alert-stderr".into())
            .spawn(move || {
                let mut kept = Vec::new();
                let mut buf = [0u8; 8192];
                // Read to the end (a chatty command must not block on a full pipe), keep the start.
                while let Ok(n) = stderr.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let room = STDERR_KEEP.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
                let _ = err_tx.send(kept);
            });
    }
    let (done_tx, done_rx) = crossbeam_channel::bounded(1);
    std::thread::Builder::new()
        .name("taskmaster-alert-wait".into())
        .spawn(move || {
            let status = child.wait();
            if let Some(h) = helpers {
                h.lock().unwrap_or_else(|e| e.into_inner()).remove(&pid);
            }
            let _ = done_tx.send(status);
        })
        .map_err(|e| format!("cannot wait for '{program}': {e}"))?;
    let status = match done_rx.recv_timeout(timeout) {
        Ok(status) => status.map_err(|e| format!("cannot wait for '{program}': {e}"))?,
        Err(_) => {
            let _ = nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = done_rx.recv_timeout(Duration::from_secs(1));
            return Err(format!(
                "'{program}' still running after the timeout of {} s; killed",
                timeout.as_secs_f64()
            ));
        }
    };
    if status.success() {
        return Ok(());
    }
    let said = err_rx
        .recv_timeout(Duration::from_millis(200))
        .map(|b| String::from_utf8_lossy(&b).trim().replace('\n', " | "))
        .unwrap_or_default();
    let how = match (
        status.code(),
        std::os::unix::process::ExitStatusExt::signal(&status),
    ) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => format!(
            "terminated by {}",
            crate::supervisor::snapshot::signal_name(sig)
        ),
        (None, None) => "an unknown status".to_string(),
    };
    if said.is_empty() {
        Err(format!("'{program}' failed with {how}"))
    } else {
        Err(format!("'{program}' failed with {how}: {said}"))
    }
}

/// `TASKMASTER_EVENT`, `_PROGRAM`, ... of `last`, and `TASKMASTER_COUNT`.
pub fn variables(last: &Event, count: usize) -> Vec<(&'static str, String)> {
    let opt = |v: Option<String>| v.unwrap_or_default();
    vec![
        ("TASKMASTER_EVENT", last.kind.as_str().to_string()),
        ("TASKMASTER_PROGRAM", opt(last.program.clone())),
        ("TASKMASTER_PROCESS", opt(last.process.clone())),
        ("TASKMASTER_PID", opt(last.pid.map(|p| p.to_string()))),
        (
            "TASKMASTER_FROM",
            opt(last.from.map(|s| s.as_str().to_string())),
        ),
        (
            "TASKMASTER_TO",
            opt(last.to.map(|s| s.as_str().to_string())),
        ),
        (
            "TASKMASTER_EXIT_CODE",
            opt(last.exit_code.map(|c| c.to_string())),
        ),
        ("TASKMASTER_SIGNAL", opt(last.signal.clone())),
        ("TASKMASTER_REASON", opt(last.reason.clone())),
        ("TASKMASTER_SERIAL", last.serial.to_string()),
        ("TASKMASTER_COUNT", count.to_string()),
    ]
}
