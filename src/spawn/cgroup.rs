//! cgroup v2 containment for `cgroup = true` programs: each process runs in a cgroup of its
//! own, `<taskmaster's cgroup>/taskmaster-<pid>/<process>.<n>`, joined by the child before its
//! exec. Whatever it starts stays in that cgroup — `setsid`, double forks and redirected
//! streams included — so a stop can kill all of it (`cgroup.kill`), where a process group or
//! the subreaper's attribution can miss a descendant.
//!
//! If taskmaster itself is SIGKILLed, PR_SET_PDEATHSIG only takes its direct children along;
//! a small guard process (forked with the first cgroup, holding only the read end of a pipe
//! that taskmaster alone can write) sees the pipe close when taskmaster ends, however it
//! ends, and kills `taskmaster-<pid>` as a whole.
//!
//! Limits (`memory_max`, `cpu_max`) need their controller enabled for taskmaster's cgroup
//! (`cgroup.subtree_control`); cgroup v2 allows that only in a cgroup without processes of
//! its own, so in practice when taskmaster runs in the root cgroup or its manager delegated
//! a subtree with the controllers on.

use std::ffi::CString;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use nix::libc;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::config::{CgroupLimits, Config};

/// Where taskmaster stands in the cgroup v2 hierarchy.
#[derive(Debug, Clone)]
pub struct Hierarchy {
    /// Taskmaster's own cgroup directory (under the cgroup2 mount).
    pub own: PathBuf,
    /// True when that cgroup is the hierarchy's root (no rule against processes in it).
    pub is_root: bool,
}

/// Finds taskmaster's cgroup v2 directory and checks it can hold new cgroups.
pub fn locate() -> Result<Hierarchy, String> {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
    let (mount_root, mount_point) = cgroup2_mount(&mounts)
        .ok_or("no cgroup2 file system is mounted (see /proc/self/mountinfo)")?;
    let cgroups = std::fs::read_to_string("/proc/self/cgroup")
        .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
    let path = cgroups
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .ok_or("taskmaster is in no cgroup v2 (no 0:: line in /proc/self/cgroup)")?;
    // Relative to the mount's root (a mount of a subtree, or a cgroup namespace).
    let rel = path
        .strip_prefix(mount_root.as_str())
        .unwrap_or(path)
        .trim_start_matches('/');
    let own = if rel.is_empty() {
        mount_point.clone()
    } else {
        mount_point.join(rel)
    };
    if nix::unistd::access(&own, nix::unistd::AccessFlags::W_OK).is_err() {
        return Err(format!(
            "taskmaster's cgroup {} is not writable (cgroups need root or a delegated cgroup)",
            own.display()
        ));
    }
    // Only the real root lacks `cgroup.type` (a cgroup namespace's root is not exempt from
    // the rule against processes beside enabled controllers).
    Ok(Hierarchy {
        is_root: !own.join("cgroup.type").exists(),
        own,
    })
}

/// The root and mount point of the first cgroup2 mount in mountinfo's text.
fn cgroup2_mount(mountinfo: &str) -> Option<(String, PathBuf)> {
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        if right.split_whitespace().next()? != "cgroup2" {
            return None;
        }
        let mut fields = left.split_whitespace();
        let root = fields.nth(3)?;
        let point = fields.next()?;
        Some((unescape(root), PathBuf::from(unescape(point))))
    })
}

/// mountinfo writes space, tab, newline and backslash as octal escapes.
fn unescape(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// Every `cgroup = true` program can have its cgroup here, with its limits: `Err` names the
/// program and key that cannot be honoured and why. Called at startup and on reload.
pub fn check(config: &Config) -> Result<(), String> {
    let mut wanted = config.programs.values().filter(|p| p.cgroup.is_some());
    let Some(first) = wanted.next() else {
        return Ok(());
    };
    let here = locate().map_err(|e| {
        format!(
            "program '{}': key 'cgroup': cgroups are not usable: {e}",
            first.name
        )
    })?;
    for prog in std::iter::once(first).chain(wanted) {
        let Some(limits) = &prog.cgroup else { continue };
        for (key, controller) in needed_controllers(limits) {
            if !controller_available(&here, controller) {
                return Err(format!(
                    "program '{}': key '{key}': the {controller} controller is not enabled for \
                     taskmaster's cgroup {} (its cgroup.subtree_control: '{}'; cgroup v2 allows \
                     it only in a cgroup without processes, such as the root or a delegated one)",
                    prog.name,
                    here.own.display(),
                    read_trimmed(&here.own.join("cgroup.subtree_control")),
                ));
            }
        }
    }
    Ok(())
}

fn needed_controllers(limits: &CgroupLimits) -> Vec<(&'static str, &'static str)> {
    let mut v = Vec::new();
    if limits.memory_max.is_some() {
        v.push(("memory_max", "memory"));
    }
    if limits.cpu_max.is_some() {
        v.push(("cpu_max", "cpu"));
    }
    v
}

/// Enabled for our children already, or in the root where we may enable it.
pub fn controller_available(here: &Hierarchy, controller: &str) -> bool {
    let has = |file: &str| {
        read_trimmed(&here.own.join(file))
            .split_whitespace()
            .any(|c| c == controller)
    };
    has("cgroup.subtree_control") || (here.is_root && has("cgroup.controllers"))
}

fn read_trimmed(path: &Path) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Several supervisors may run in one process (the tests): each gets its own base.
static BASES: AtomicUsize = AtomicUsize::new(0);

/// `taskmaster-<pid>`: the parent of this supervisor's cgroups, with its guard.
pub struct Base {
    dir: PathBuf,
    here: Hierarchy,
    guard: Option<Guard>,
}

impl Base {
    /// Creates the base cgroup (removing empty ones left by a taskmaster that was killed)
    /// and starts its guard.
    pub fn create() -> Result<Base, String> {
        let here = locate()?;
        sweep_stale(&here.own);
        let n = BASES.fetch_add(1, Ordering::Relaxed);
        let name = match n {
            0 => format!("taskmaster-{}", std::process::id()),
            n => format!("taskmaster-{}-{n}", std::process::id()),
        };
        let dir = here.own.join(name);
        match std::fs::create_dir(&dir) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                return Err(format!("cannot create cgroup {}: {e}", dir.display()));
            }
            _ => {}
        }
        let guard = match Guard::start(&dir) {
            Ok(g) => Some(g),
            Err(e) => {
                log::warn!(
                    "no guard for {} ({e}): a SIGKILLed taskmaster leaves its cgroups",
                    dir.display()
                );
                None
            }
        };
        Ok(Base { dir, here, guard })
    }

    /// A new, empty cgroup `name` with `limits` written, for one run of a process.
    pub fn cgroup(&self, name: &str, limits: &CgroupLimits) -> Result<Cgroup, String> {
        for (_, controller) in needed_controllers(limits) {
            self.enable(controller)?;
        }
        let dir = self.dir.join(name);
        if let Err(e) = std::fs::create_dir(&dir) {
            return Err(format!("cannot create cgroup {}: {e}", dir.display()));
        }
        let cg = Cgroup {
            procs: CString::new(dir.join("cgroup.procs").as_os_str().as_bytes())
                .map_err(|_| "cgroup path contains a NUL byte".to_string())?,
            dir,
        };
        let writes = [
            ("memory.max", &limits.memory_max),
            ("cpu.max", &limits.cpu_max),
        ];
        for (file, value) in writes {
            if let Some(value) = value
                && let Err(e) = write_file(&cg.dir.join(file), value)
            {
                cg.remove();
                return Err(format!("cannot set {file} to '{value}': {e}"));
            }
        }
        Ok(cg)
    }

    /// Turns `controller` on for the base's children (and for the base, from the root).
    fn enable(&self, controller: &str) -> Result<(), String> {
        let on = |dir: &Path| {
            read_trimmed(&dir.join("cgroup.subtree_control"))
                .split_whitespace()
                .any(|c| c == controller)
        };
        if on(&self.dir) {
            return Ok(());
        }
        let plus = format!("+{controller}");
        if !on(&self.here.own) {
            write_file(&self.here.own.join("cgroup.subtree_control"), &plus).map_err(|e| {
                format!(
                    "cannot enable the {controller} controller for {}: {e}",
                    self.here.own.display()
                )
            })?;
        }
        write_file(&self.dir.join("cgroup.subtree_control"), &plus).map_err(|e| {
            format!(
                "cannot enable the {controller} controller for {}: {e}",
                self.dir.display()
            )
        })
    }
}

impl Drop for Base {
    fn drop(&mut self) {
        // The guard kills what is left (nothing, after a clean shutdown) and ends.
        if let Some(guard) = self.guard.take() {
            guard.finish();
        }
        remove_tree(&self.dir);
    }
}

/// Removes `taskmaster-<pid>*` cgroups whose taskmaster is gone and that are empty.
fn sweep_stale(own: &Path) {
    let Ok(entries) = std::fs::read_dir(own) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix("taskmaster-")) else {
            continue;
        };
        let pid = rest.split('-').next().and_then(|p| p.parse::<i32>().ok());
        let alive = pid.is_none_or(|p| Path::new(&format!("/proc/{p}")).exists());
        if alive {
            continue;
        }
        remove_tree(&e.path());
    }
}

/// rmdir of a cgroup and its child cgroups, deepest first (a cgroup holding processes or
/// children cannot go); true when it is gone.
fn remove_tree(dir: &Path) -> bool {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree(&e.path());
            }
        }
    }
    match std::fs::remove_dir(dir) {
        Ok(()) => true,
        Err(e) => e.kind() == io::ErrorKind::NotFound,
    }
}

fn write_file(path: &Path, text: &str) -> io::Result<()> {
    let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
    f.write_all(text.as_bytes())
}

/// One process's cgroup.
#[derive(Debug)]
pub struct Cgroup {
    pub dir: PathBuf,
    /// `cgroup.procs`, prepared for the child, which writes "0" to it before its exec.
    pub procs: CString,
}

impl Cgroup {
    /// The processes in it now (zombies are not listed).
    pub fn members(&self) -> Vec<Pid> {
        read_trimmed(&self.dir.join("cgroup.procs"))
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .map(Pid::from_raw)
            .collect()
    }

    /// Sends `sig` to every member outside process group `group` (which has its own signal).
    pub fn signal_others(&self, sig: Signal, group: Option<Pid>) -> usize {
        let mut n = 0;
        for pid in self.members() {
            if group.is_some_and(|g| nix::unistd::getpgid(Some(pid)) == Ok(g)) {
                continue;
            }
            if kill(pid, sig).is_ok() {
                n += 1;
            }
        }
        n
    }

    /// SIGKILLs everything in it, with `cgroup.kill` (Linux 5.14) or, without it, pid by
    /// pid (a process forking meanwhile can escape one pass: three passes).
    pub fn kill(&self) {
        if write_file(&self.dir.join("cgroup.kill"), "1").is_ok() {
            return;
        }
        for _ in 0..3 {
            let members = self.members();
            if members.is_empty() {
                return;
            }
            for pid in members {
                let _ = kill(pid, Signal::SIGKILL);
            }
        }
    }

    /// Removes it if it is empty, with the cgroups its program made inside it; true when
    /// it is gone.
    pub fn remove(&self) -> bool {
        remove_tree(&self.dir)
    }
}

/// The process that kills the base cgroup when taskmaster ends (see the module doc).
struct Guard {
    pid: Pid,
    /// Taskmaster's end of the pipe: closing it (or dying) sets the guard off.
    _alive: OwnedFd,
}

impl Guard {
    fn start(base: &Path) -> io::Result<Guard> {
        let kill_path = CString::new(base.join("cgroup.kill").as_os_str().as_bytes())
            .map_err(|_| io::Error::other("NUL in cgroup path"))?;
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        let read_fd = read.as_raw_fd();
        // SAFETY: the child makes only async-signal-safe system calls on memory prepared
        // before the fork (`kill_path`) and never returns.
        let pid = unsafe { libc::fork() };
        match pid {
            -1 => Err(io::Error::last_os_error()),
            // SAFETY: the freshly forked child.
            0 => unsafe { guard_child(read_fd, &kill_path) },
            pid => Ok(Guard {
                pid: Pid::from_raw(pid),
                _alive: write,
            }),
        }
    }

    /// Sets the guard off (nothing is left to kill after a shutdown) and reaps it.
    fn finish(self) {
        let pid = self.pid;
        drop(self._alive);
        let _ = nix::sys::wait::waitpid(pid, None);
    }
}

/// The guard: waits for the pipe to close, kills the base cgroup, exits.
///
/// # Safety
/// Only in a freshly forked child; async-signal-safe calls only.
unsafe fn guard_child(read_fd: libc::c_int, kill_path: &CString) -> ! {
    // SAFETY: plain system calls on descriptors and memory that this process owns.
    unsafe {
        // Its own group: a Ctrl-C at taskmaster's terminal must not end it first. Signals
        // other than SIGKILL stay blocked (the mask is inherited from the forking thread).
        libc::setpgid(0, 0);
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, std::ptr::null_mut());
        // Only the pipe stays open: other descriptors would hold children's pipes open.
        if libc::dup2(read_fd, 0) != 0 {
            libc::_exit(1);
        }
        libc::syscall(libc::SYS_close_range, 1u32, u32::MAX, 0u32);
        let mut byte = 0u8;
        loop {
            let n = libc::read(0, (&mut byte as *mut u8).cast(), 1);
            if n == 0 || (n < 0 && *libc::__errno_location() != libc::EINTR) {
                break;
            }
        }
        let fd = libc::open(kill_path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd >= 0 {
            libc::write(fd, b"1".as_ptr().cast(), 1);
            libc::close(fd);
        }
        libc::_exit(0)
    }
}
