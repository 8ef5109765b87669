//! A pseudo-terminal the bench owns, with taskmaster's dashboard on its slave side (its
//! stdin, stdout and controlling terminal), and a reader thread that splits what the
//! dashboard writes into frames.
//!
//! Frame boundary: ratatui 0.29's `Terminal::draw` ends every frame, even one whose diff is
//! empty, with the backend's attribute reset (`SGR 0`, `ESC [0m`) followed at once by hiding
//! or showing the cursor (`ESC [?25l` / `ESC [?25h`). Nothing else the dashboard writes has
//! that pair, so each occurrence is one frame drawn; silence between bursts is not relied on.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::pty::{Winsize, openpty};

use crate::Res;
use crate::guard::DaemonGuard;

/// The end of every frame: attribute reset, then the cursor's hide/show sequence.
const FRAME_END: &[u8] = b"\x1b[0m\x1b[?25";

/// One frame as written: when its last byte was read, and its bytes.
pub struct Frame {
    pub end: Instant,
    pub bytes: Vec<u8>,
}

impl Frame {
    pub fn contains(&self, needle: &[u8]) -> bool {
        self.bytes.windows(needle.len()).any(|w| w == needle)
    }
}

/// taskmaster on the pty; killed with its children on drop, which also ends the reader.
pub struct Screen {
    // Field order is drop order: the daemon dies first, then the reader is told to stop.
    daemon: DaemonGuard,
    master: File,
    frames: Receiver<Frame>,
    stop: Arc<AtomicBool>,
}

fn cloexec(fd: &OwnedFd) -> Res<()> {
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
    Ok(())
}

impl Screen {
    /// Starts `bin -c config` on a fresh `cols` x `rows` pty, stderr to `err`.
    pub fn spawn(bin: &Path, config: &Path, err: &Path, cols: u16, rows: u16) -> Res<Screen> {
        let size = Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = openpty(Some(&size), None)?;
        // Neither end may leak into taskmaster's children beyond its own fds 0 and 1.
        cloexec(&pty.master)?;
        cloexec(&pty.slave)?;
        let mut cmd = Command::new(bin);
        cmd.arg("-c")
            .arg(config)
            .env("TERM", "xterm-256color")
            .env_remove("NO_COLOR")
            .stdin(Stdio::from(pty.slave.try_clone()?))
            .stdout(Stdio::from(pty.slave.try_clone()?))
            .stderr(File::create(err)?);
        // SAFETY: only async-signal-safe system calls between fork and exec. std has already
        // put the slave on fds 0 and 1, so fd 0 becomes the new session's controlling tty.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                nix::unistd::setsid()?;
                if nix::libc::ioctl(0, nix::libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let daemon = DaemonGuard::spawn(cmd)?;
        // Only the daemon holds the slave now: its death shows as EIO on the master.
        drop(pty.slave);
        let reader = pty.master.try_clone()?;
        let (tx, frames) = crossbeam_channel::unbounded();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("bench-pty-reader".into())
            .spawn(move || read_frames(reader, &tx, &flag))?;
        Ok(Screen {
            daemon,
            master: File::from(pty.master),
            frames,
            stop,
        })
    }

    pub fn pid(&self) -> i32 {
        self.daemon.pid()
    }

    /// Whether taskmaster has exited (it then shows no dashboard).
    pub fn exited(&mut self) -> bool {
        self.daemon.exited().is_some()
    }

    /// Types `bytes` on the terminal; returns when they were written.
    pub fn key(&mut self, bytes: &[u8]) -> Res<Instant> {
        self.master.write_all(bytes)?;
        Ok(Instant::now())
    }

    /// Every frame read so far and not yet taken.
    pub fn take(&self) -> Vec<Frame> {
        self.frames.try_iter().collect()
    }

    /// The end of the first frame, from now on, that writes `needle`, waiting up to `limit`.
    pub fn wait_text(&self, needle: &[u8], limit: Duration) -> Res<Instant> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.frames.recv_timeout(left) {
                Ok(f) if f.contains(needle) => return Ok(f.end),
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "no frame wrote {:?} within {limit:?}",
                        String::from_utf8_lossy(needle)
                    )
                    .into());
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err("the dashboard's terminal closed".into());
                }
            }
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The reader thread: reads the master as fast as the dashboard writes (so it never blocks
/// on a full pty), cutting frames at [`FRAME_END`]. Ends on EIO (every slave closed), on
/// `stop` (checked every 100 ms), or when nobody listens.
fn read_frames(master: OwnedFd, tx: &Sender<Frame>, stop: &AtomicBool) {
    // The flood keeps both cores busy: a reader that waits its turn reads several frames at
    // once, late, and their times bunch. Real-time priority (root only; otherwise it just
    // stays normal) lets it read each frame as it comes; it uses next to no CPU.
    let param = nix::libc::sched_param { sched_priority: 1 };
    // SAFETY: sets this thread's policy from a valid sched_param; no memory is handed over.
    let _ = unsafe { nix::libc::sched_setscheduler(0, nix::libc::SCHED_FIFO, &param) };
    let mut buf = vec![0u8; 64 * 1024];
    let mut cur: Vec<u8> = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(100u16)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {}
            Err(_) => return,
        }
        let n = match nix::unistd::read(master.as_raw_fd(), &mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => continue,
            Err(_) => return,
        };
        let end = Instant::now();
        // A marker may straddle two reads: rescan the last few bytes already held.
        let mut from = cur.len().saturating_sub(FRAME_END.len() - 1);
        cur.extend_from_slice(&buf[..n]);
        while let Some(p) = cur[from..]
            .windows(FRAME_END.len())
            .position(|w| w == FRAME_END)
        {
            let cut = from + p + FRAME_END.len();
            let rest = cur.split_off(cut);
            let bytes = std::mem::replace(&mut cur, rest);
            if tx.send(Frame { end, bytes }).is_err() {
                return;
            }
            from = 0;
        }
    }
}
