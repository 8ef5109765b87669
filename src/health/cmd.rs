//! `cmd` checks: the command runs in its own process group with no input and its output
//! discarded (a check that floods costs nothing); it must exit 0 within the timeout, or its
//! group is SIGKILLed. The wait is a pidfd polled with the timeout: no sleep loop.

use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::Helpers;

pub fn check(argv: &[String], timeout: Duration, helpers: &Helpers) -> Result<(), String> {
    let Some((program, args)) = argv.split_first() else {
        return Err("empty command".to_string());
    };
    // The helpers lock is held across the spawn so the supervisor, peeking at a zombie,
    // always knows it for a check command's.
    let mut child = {
        let mut set = helpers.lock().unwrap_or_else(|e| e.into_inner());
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("can't run '{program}': {e}"))?;
        set.insert(Pid::from_raw(child.id() as i32));
        child
    };
    let pid = Pid::from_raw(child.id() as i32);
    let finished = wait_exit(pid, timeout);
    if !finished {
        let _ = killpg(pid, Signal::SIGKILL);
    }
    let status = child.wait();
    helpers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&pid);
    if !finished {
        return Err(format!(
            "'{program}' did not finish within {} s (killed)",
            timeout.as_secs_f64()
        ));
    }
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => match s.code() {
            Some(c) => Err(format!("'{program}' exited with status {c}")),
            None => Err(format!("'{program}' was killed by a signal")),
        },
        Err(e) => Err(format!("waiting for '{program}': {e}")),
    }
}

/// True when `pid` exited within `timeout` (it is left to be reaped).
fn wait_exit(pid: Pid, timeout: Duration) -> bool {
    let Some(fd) = crate::os::pidfd_open(pid) else {
        // No pidfd (kernel before 5.3): the process is waited without a timeout.
        return true;
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
    loop {
        match poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(0) => return false,
            Ok(_) => return true,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return true,
        }
    }
}
