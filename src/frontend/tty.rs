//! Waiting for terminal input without trusting crossterm with a dead terminal: once the tty
//! hangs up (window closed, tmux killed), crossterm 0.28's event source loops forever on
//! reads that return 0 bytes. Front ends wait here first and call crossterm's `poll`/`read`
//! only when there is input on a live terminal.

use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtyInput {
    /// Something to read: crossterm may be asked now.
    Ready,
    /// Nothing arrived within the timeout.
    Idle,
    /// The terminal is gone for good.
    HungUp,
}

/// Waits up to `timeout` for input on stdin's terminal.
pub fn wait_input(timeout: Duration) -> TtyInput {
    let stdin = std::io::stdin();
    let millis = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
    let mut fds = [PollFd::new(stdin.as_fd(), PollFlags::POLLIN)];
    match poll(&mut fds, PollTimeout::from(millis)) {
        Ok(0) => TtyInput::Idle,
        Ok(_) => {
            let revents = fds[0].revents().unwrap_or(PollFlags::empty());
            if revents.intersects(PollFlags::POLLHUP | PollFlags::POLLERR | PollFlags::POLLNVAL)
                || !alive()
            {
                TtyInput::HungUp
            } else {
                TtyInput::Ready
            }
        }
        Err(nix::errno::Errno::EINTR) => TtyInput::Idle,
        Err(_) => TtyInput::HungUp,
    }
}

/// False once stdin's terminal has hung up: the kernel then fails terminal ioctls with EIO.
pub fn alive() -> bool {
    nix::sys::termios::tcgetattr(std::io::stdin()).is_ok()
}

/// When stdin's terminal has hung up, points stdout and stderr at /dev/null and says true.
///
/// Every write to a hung-up terminal fails (EIO), and `eprintln!`/`println!` panic on a
/// failed write. ratatui's `Terminal` does an `eprintln!` in its drop when it cannot show
/// the cursor again: after a hang-up that panic ended the main thread, and with it the
/// process, in the middle of the shutdown the hang-up had begun (stubborn programs never got
/// their SIGKILL, their children lived on). Nobody can read that terminal any more, so
/// whatever is written after this lands unseen and cannot fail.
pub fn let_go_if_dead() -> bool {
    if alive() {
        return false;
    }
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        for fd in [1, 2] {
            let _ = nix::unistd::dup2(null.as_raw_fd(), fd);
        }
    }
    true
}

/// Like crossterm's `event::poll`, but fails instead of spinning once the terminal hung up.
/// `Ok(true)`: `event::read` will not block.
pub fn poll_event(timeout: Duration) -> std::io::Result<bool> {
    let gone = || std::io::Error::other("the terminal went away");
    if wait_input(Duration::ZERO) == TtyInput::HungUp {
        return Err(gone());
    }
    // Events crossterm already holds (several keys read at once) are not visible on the fd.
    if crossterm::event::poll(Duration::ZERO)? {
        return Ok(true);
    }
    match wait_input(timeout) {
        TtyInput::HungUp => Err(gone()),
        TtyInput::Idle => Ok(false),
        TtyInput::Ready => crossterm::event::poll(Duration::ZERO),
    }
}
