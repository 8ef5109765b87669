//! Kill-on-drop ownership of every daemon the bench starts, with its whole brood: on drop
//! (normal end, error, panic) and on Ctrl-C/SIGTERM the daemon is frozen, its children are
//! killed (with their process groups), then the daemon itself.

use std::process::{Child, Command};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use crate::Res;
use crate::procfs;

/// Pids of live daemons, for the signal thread's clean-up.
static LIVE: Mutex<Vec<i32>> = Mutex::new(Vec::new());

/// Temp directories to remove on Ctrl-C (normal ends remove them through their TempDir).
static DIRS: Mutex<Vec<std::path::PathBuf>> = Mutex::new(Vec::new());

/// Puts a temp directory on the Ctrl-C clean-up list (1 GiB output files live on tmpfs).
pub fn register_dir(path: &std::path::Path) {
    if let Ok(mut v) = DIRS.lock() {
        v.push(path.to_path_buf());
    }
}

/// Kills a daemon and everything it started, leaving nothing to respawn.
pub fn kill_tree(pid: i32) {
    // Frozen first, so it cannot fork a replacement between the scan and the kills.
    let _ = kill(Pid::from_raw(pid), Signal::SIGSTOP);
    for child in procfs::children(pid) {
        let _ = killpg(Pid::from_raw(child), Signal::SIGKILL);
        let _ = kill(Pid::from_raw(child), Signal::SIGKILL);
    }
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
}

/// Ctrl-C or SIGTERM to the bench: kill every live daemon tree, then exit.
pub fn install_signal_cleanup() -> Res<()> {
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])?;
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            let pids = LIVE.lock().map(|v| v.clone()).unwrap_or_default();
            for pid in pids {
                kill_tree(pid);
            }
            for dir in DIRS.lock().map(|v| v.clone()).unwrap_or_default() {
                let _ = std::fs::remove_dir_all(dir);
            }
            eprintln!("bench: interrupted; every daemon and child killed");
            std::process::exit(128 + sig);
        }
    });
    Ok(())
}

/// Puts a daemon the bench did not start itself (one under tmux) on the Ctrl-C list.
pub fn register(pid: i32) {
    if let Ok(mut v) = LIVE.lock() {
        v.push(pid);
    }
}

pub fn unregister(pid: i32) {
    if let Ok(mut v) = LIVE.lock() {
        v.retain(|&p| p != pid);
    }
}

/// A daemon process the bench started; killed with its children on drop.
pub struct DaemonGuard {
    child: Child,
}

impl DaemonGuard {
    pub fn spawn(mut cmd: Command) -> Res<Self> {
        let child = cmd.spawn()?;
        register(child.id() as i32);
        Ok(Self { child })
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The exit status if it has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGTERM and wait up to `grace` for a clean exit (the daemon stops its children);
    /// true when it exited by itself.
    pub fn terminate(&mut self, grace: Duration) -> bool {
        let _ = kill(Pid::from_raw(self.pid()), Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.exited().is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }
}

impl Drop for DaemonGuard {
    fn drop(&mut self) {
        let pid = self.pid();
        if self.exited().is_none() {
            kill_tree(pid);
            let _ = self.child.wait();
        }
        unregister(pid);
    }
}

/// A plain child (helper script, baseline process): killed and reaped on drop.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
