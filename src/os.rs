//! The few C library calls that nix does not wrap safely, each behind a safe function:
//! local time (`localtime_r`), ignoring SIGPIPE, `pidfd_open` and a netlink socket of any
//! protocol. With `spawn::fork` (fork/exec) and `spawn::pty` (the terminal), this is the only
//! place `unsafe` is allowed (see `lib.rs`); [`netlink`], built on it, is safe code.

#![allow(unsafe_code)]

#[deny(unsafe_code)]
pub mod netlink;

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

/// A netlink socket (datagrams, close-on-exec) of `protocol` (`NETLINK_*`). nix names only
/// some protocols, and not NETLINK_CONNECTOR (the proc connector).
pub fn netlink_socket(protocol: nix::libc::c_int) -> std::io::Result<std::os::fd::OwnedFd> {
    use nix::libc;
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket(2); a non-negative result is a descriptor we now own.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
            protocol,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket(2) and is owned here only.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}
