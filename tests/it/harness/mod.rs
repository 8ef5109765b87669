//! The test harness: a supervisor in this process ([`inprocess`]); the real binary
//! ([`binary`], started by [`launch`]) on pipes or on a tmux [`terminal`]; what /proc says
//! ([`procfs`]); a webhook endpoint ([`webhook`]) and a seeded PRNG ([`rng`]) for the chaos
//! tests. One way to wait: [`wait_until`] polls a condition until a deadline (never a bare
//! sleep; where a test sleeps, a comment says why the sleep is what it tests).

pub mod binary;
pub mod inprocess;
pub mod launch;
pub mod procfs;
pub mod rng;
pub mod terminal;
pub mod webhook;

use std::path::Path;
use std::time::{Duration, Instant};

/// The deadline for anything that should happen "soon" (generous: a loaded 2-core machine).
pub const LONG: Duration = Duration::from_secs(30);

/// Polls `cond` until it holds or `timeout` passes; panics naming `what` on timeout.
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for: {what}"
        );
        // The poll interval: the one sleep every wait of the tests goes through.
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The pid a test program wrote into `path`, once it is there.
pub fn file_pid(path: &Path) -> u32 {
    let mut pid = 0;
    wait_until(LONG, &format!("{} written", path.display()), || {
        pid = std::fs::read_to_string(path)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0);
        pid != 0
    });
    pid
}

/// [`wait_until`], whose timeout message ends with what `last` tells then (the last screen,
/// the last status seen).
pub fn wait_until_showing(
    timeout: Duration,
    what: &str,
    cond: impl FnMut() -> bool,
    last: impl Fn() -> String,
) {
    let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_until(timeout, what, cond)
    }));
    if waited.is_err() {
        panic!(
            "timed out after {timeout:?} waiting for: {what}; {}",
            last()
        );
    }
}

/// A file's text, empty when it cannot be read (yet).
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// SIGKILLs process group `pgid` (a child of ours leads its own).
pub fn kill_group(pgid: u32) {
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pgid as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
}
