//! What /proc says about processes, for attributing orphans: a process's parent, group,
//! session and start time (which, with the pid, names one process for good), its children,
//! and what its standard descriptors are. Also signalling one process through a pidfd, so a
//! pid reused since it was looked at is never hit.

use std::os::fd::{FromRawFd, OwnedFd};

use nix::libc;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

/// Fields of /proc/PID/stat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub comm: String,
    pub zombie: bool,
    pub ppid: i32,
    pub pgrp: i32,
    pub session: i32,
    /// Clock ticks after boot: (pid, start) identifies a process across pid reuse.
    pub start: u64,
}

pub fn stat(pid: Pid) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let (comm_part, rest) = text.rsplit_once(')')?;
    let comm = comm_part.get(open + 1..)?.to_string();
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
    // cmajflt utime stime cutime cstime priority nice num_threads itrealvalue starttime
    Some(Stat {
        comm,
        zombie: *f.first()? == "Z",
        ppid: f.get(1)?.parse().ok()?,
        pgrp: f.get(2)?.parse().ok()?,
        session: f.get(3)?.parse().ok()?,
        start: f.get(19)?.parse().ok()?,
    })
}

/// Children of every thread of `pid` (a multi-threaded program may fork from any thread).
pub fn children(pid: &str) -> Vec<Pid> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for task in tasks.flatten() {
        let path = task.path().join("children");
        if let Ok(text) = std::fs::read_to_string(path) {
            out.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .map(Pid::from_raw),
            );
        }
    }
    out
}

/// Every descendant of `pid` that is still attached to its tree (at most `limit`).
pub fn descendants(pid: Pid, limit: usize) -> Vec<Pid> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for c in children(&p.to_string()) {
            if out.len() >= limit {
                return out;
            }
            out.push(c);
            todo.push(c);
        }
    }
    out
}

/// The pipe inodes (`pipe:[N]`) and terminals (`/dev/pts/N`) among `pid`'s 0, 1 and 2.
pub fn std_streams(pid: Pid) -> Vec<String> {
    (0..3)
        .filter_map(|fd| std::fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok())
        .map(|t| t.to_string_lossy().into_owned())
        .filter(|t| t.starts_with("pipe:") || t.starts_with("/dev/pts/"))
        .collect()
}

/// How /proc names the pipe or terminal behind `fd` (`pipe:[N]`, `/dev/pts/N`).
pub fn stream_name(fd: &impl std::os::fd::AsRawFd) -> Option<String> {
    let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
    Some(link.to_string_lossy().into_owned())
}

/// Makes this process the child subreaper (`PR_SET_CHILD_SUBREAPER`): orphaned descendants
/// are reparented to it instead of init.
pub fn become_subreaper() -> std::io::Result<()> {
    // SAFETY: plain prctl on this process, no pointers.
    let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Sends `sig` to the process `pid` if it is still the one that started at `start`: the pidfd
/// pins the process, then its start time proves it is the one we mean.
pub fn signal_exact(pid: Pid, start: u64, sig: Signal) -> bool {
    // SAFETY: plain system call; a non-negative result is a new descriptor we own.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd < 0 {
        return false;
    }
    // SAFETY: `fd` was just returned by pidfd_open and is owned here only.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    if stat(pid).is_none_or(|s| s.start != start || s.zombie) {
        return false;
    }
    use std::os::fd::AsRawFd;
    // SAFETY: plain system call on a descriptor we own.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            sig as i32,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    r == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_parses_names_with_spaces_and_parens() {
        let text = "42 (a (b) c) S 1 42 7 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 12345 0 0";
        let s = parse_stat(text).expect("parses");
        assert_eq!(s.comm, "a (b) c");
        assert_eq!((s.ppid, s.pgrp, s.session, s.start), (1, 42, 7, 12345));
        assert!(!s.zombie);
    }

    #[test]
    fn own_stat_is_readable() {
        let me = stat(nix::unistd::getpid()).expect("own stat");
        assert_eq!(me.pgrp, nix::unistd::getpgrp().as_raw());
    }
}
