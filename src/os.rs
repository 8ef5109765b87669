//! The few C library calls that nix does not wrap safely, each behind a safe function:
//! local time (`localtime_r`), ignoring SIGPIPE and `pidfd_open`. With `spawn::fork` (fork/exec) and
//! `spawn::pty` (the terminal), this is the only place `unsafe` is allowed (see `lib.rs`).

#![allow(unsafe_code)]

/// The broken-down local time of a Unix time (the process's time zone, as `TZ` says).
pub fn local_tm(secs: i64) -> nix::libc::tm {
    let t: nix::libc::time_t = secs;
    // SAFETY: an all-zero `tm` is a valid value (integers, and a null `tm_zone` pointer);
    // localtime_r only reads `t` and writes into the `tm` we own, and is thread-safe.
    unsafe {
        let mut tm: nix::libc::tm = std::mem::zeroed();
        nix::libc::localtime_r(&t, &mut tm);
        tm
    }
}

/// Writes to a closed pipe or socket then fail with EPIPE instead of killing taskmaster.
/// Children get the default disposition back before exec (`spawn::fork`).
pub fn ignore_sigpipe() {
    // SAFETY: SIG_IGN installs no handler, so no code ever runs in signal context.
    unsafe {
        let _ = nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigIgn,
        );
    }
}

/// A pidfd for `pid` (readable once it has exited), or `None` where the kernel has no
/// pidfd_open (before 5.3). Used to wait for a health check command with a timeout.
pub fn pidfd_open(pid: nix::unistd::Pid) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { nix::libc::syscall(nix::libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: the descriptor was just returned by the kernel and is owned by no one else.
    Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
}
