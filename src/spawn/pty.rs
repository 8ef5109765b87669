//! Pseudo-terminals for `pty = true` programs. The parent side (supervisor thread) opens the
//! pair and sizes it before the fork; the master then goes to the I/O thread (read like a
//! pipe) and, duplicated, to the supervisor (the program's input, window-size changes). The
//! child side is two small async-signal-safe steps run between fork and exec — a session of
//! its own, then the slave as its controlling terminal — before the usual `dup2` onto 0, 1, 2.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::fcntl::OFlag;
use nix::libc;
use nix::pty::{PtyMaster, grantpt, posix_openpt, ptsname_r, unlockpt};

/// A terminal's size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TtySize {
    pub rows: u16,
    pub cols: u16,
}

impl TtySize {
    /// What a terminal that nobody has sized yet gets (a VT100's screen).
    pub const DEFAULT: TtySize = TtySize { rows: 24, cols: 80 };

    /// The size clamped to what a terminal can be: at least one cell each way.
    pub fn clamped(rows: u16, cols: u16) -> TtySize {
        TtySize {
            rows: rows.max(1),
            cols: cols.max(1),
        }
    }
}

/// Both ends of a fresh pseudo-terminal, close-on-exec.
pub struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
}

/// Opens a pseudo-terminal pair with the given window size. Neither end becomes taskmaster's
/// controlling terminal (O_NOCTTY).
pub fn open(size: TtySize) -> io::Result<Pty> {
    let master: PtyMaster = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY)?;
    grantpt(&master)?;
    unlockpt(&master)?;
    let path = ptsname_r(&master)?;
    // SAFETY: PtyMaster owns its descriptor; into_raw_fd hands ownership to OwnedFd.
    let master = unsafe {
        use std::os::fd::{FromRawFd, IntoRawFd};
        OwnedFd::from_raw_fd(master.into_raw_fd())
    };
    set_cloexec(&master)?;
    let slave = nix::fcntl::open(
        path.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    // SAFETY: `open` returned a fresh descriptor that nothing else owns.
    let slave = unsafe {
        use std::os::fd::FromRawFd;
        OwnedFd::from_raw_fd(slave)
    };
    set_size(master.as_fd(), size)?;
    Ok(Pty { master, slave })
}

/// Sets the terminal's window size (TIOCSWINSZ on either end); the kernel sends SIGWINCH to
/// the terminal's foreground process group when it changes.
pub fn set_size(fd: BorrowedFd<'_>, size: TtySize) -> io::Result<()> {
    let ws = libc::winsize {
        ws_row: size.rows,
        ws_col: size.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from a valid pointer.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The terminal's window size (TIOCGWINSZ).
pub fn size(fd: BorrowedFd<'_>) -> io::Result<TtySize> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize through a valid pointer.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(TtySize {
        rows: ws.ws_row,
        cols: ws.ws_col,
    })
}

fn set_cloexec(fd: &OwnedFd) -> io::Result<()> {
    use nix::fcntl::{FcntlArg, FdFlag, fcntl};
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
    Ok(())
}

/// Child side, first step: a new session (and process group) led by the child, without a
/// controlling terminal. Its group id is its pid, so stop signals to the group still reach
/// it and what it starts. False when it failed (errno set).
///
/// # Safety
/// Async-signal-safe; meant for the child between fork and exec.
pub(super) unsafe fn new_session() -> bool {
    // SAFETY: setsid takes no arguments and is async-signal-safe.
    unsafe { libc::setsid() != -1 }
}

/// Child side, second step (after [`new_session`]): `slave` becomes the session's
/// controlling terminal, so the program gets terminal signals (Ctrl-C is SIGINT to its
/// foreground group) and job control. False when it failed (errno set).
///
/// # Safety
/// Async-signal-safe; meant for the child between fork and exec.
pub(super) unsafe fn take_controlling_terminal(slave: libc::c_int) -> bool {
    // SAFETY: TIOCSCTTY takes an integer argument, no pointer; async-signal-safe.
    unsafe { libc::ioctl(slave, libc::TIOCSCTTY, 0) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_pty_has_the_size_asked_for_and_follows_changes() {
        let pty = open(TtySize {
            rows: 33,
            cols: 101,
        })
        .expect("open a pty");
        assert_eq!(
            size(pty.slave.as_fd()).expect("size"),
            TtySize {
                rows: 33,
                cols: 101
            },
            "the slave sees the size set on the master"
        );
        set_size(pty.master.as_fd(), TtySize { rows: 10, cols: 40 }).expect("resize");
        assert_eq!(
            size(pty.slave.as_fd()).expect("size"),
            TtySize { rows: 10, cols: 40 }
        );
    }
}
