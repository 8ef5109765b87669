//! The fork and the child's side of it, up to `execve`. After `fork` in a threaded program the
//! child may only make async-signal-safe calls: everything (paths, argv, envp, pointer arrays,
//! group lists, descriptors) is prepared by the parent, and the child only makes system calls.
//!
//! The parent does not wait for the exec: the supervisor thread never blocks on a slow child.
//! A failure in the child (chdir, setuid, execve, ...) is written as `[stage, errno]` to a
//! close-on-exec pipe whose read end the supervisor keeps; when the child dies it reads it
//! (`exec_failure`) and reports a failed start with the reason, like a spawn error.

use std::ffi::{CString, c_char};
use std::os::fd::{AsRawFd, OwnedFd};

use nix::fcntl::OFlag;
use nix::libc;
use nix::unistd::Pid;

/// Everything the child needs, built before forking.
pub(super) struct ChildPlan {
    pub path: CString,
    pub argv: Vec<CString>,
    pub envp: Vec<CString>,
    pub cwd: Option<CString>,
    pub umask: Option<libc::mode_t>,
    pub creds: Option<(libc::uid_t, libc::gid_t, Vec<libc::gid_t>)>,
    /// Become the child's 0, 1 and 2.
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    /// `stdin` is a pty slave: the child leads a new session with it as controlling terminal
    /// (see `pty.rs`) instead of only a new process group.
    pub session: bool,
    /// The `cgroup.procs` file of the process's own cgroup, joined before the exec.
    pub cgroup: Option<CString>,
}

/// Where in the child a failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    Descriptors = 1,
    Credentials = 2,
    Chdir = 3,
    Exec = 4,
    Terminal = 5,
    Cgroup = 6,
}

impl Stage {
    fn from_byte(b: u8) -> Option<Stage> {
        [
            Stage::Descriptors,
            Stage::Credentials,
            Stage::Chdir,
            Stage::Exec,
            Stage::Terminal,
            Stage::Cgroup,
        ]
        .into_iter()
        .find(|s| *s as u8 == b)
    }
}

/// Forks and execs; returns the pid and the read end of the failure pipe (non-blocking).
pub(super) fn fork_exec(plan: ChildPlan) -> std::io::Result<(Pid, OwnedFd)> {
    let argv = null_terminated(&plan.argv);
    let envp = null_terminated(&plan.envp);
    let (report_r, report_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
    let parent = std::process::id() as libc::pid_t;
    // Signals stay blocked from before the fork until the child has reset every handler to
    // its default: a stop signal sent in between is then delivered to the child as what it
    // is, instead of running taskmaster's handler in the child and being lost.
    // SAFETY: sigset manipulation on values we own.
    let old_mask = unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        old
    };
    // SAFETY: fork has no preconditions; the child branch below makes only async-signal-safe
    // system calls on memory prepared before the fork and never returns.
    let pid = unsafe { libc::fork() };
    if pid != 0 {
        // SAFETY: restores the mask saved above.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old_mask, std::ptr::null_mut()) };
    }
    match pid {
        -1 => Err(std::io::Error::last_os_error()),
        // SAFETY: this is the freshly forked child; argv/envp point into `plan`, alive here.
        0 => unsafe { child(&plan, &argv, &envp, report_w.as_raw_fd(), parent) },
        pid => {
            // Both sides set the group (as shells do): whichever runs first wins, and a
            // signal to the group right after this returns can never miss the child.
            // Not for a session leader-to-be: setsid fails in a process that already leads
            // a group (`signal_group` covers the moment before its setsid instead).
            if !plan.session {
                // SAFETY: plain system call; EACCES after the child's exec is expected and fine.
                unsafe { libc::setpgid(pid, pid) };
            }
            Ok((Pid::from_raw(pid), report_r))
        }
    }
    // `plan` (the child's ends of its pipes) and `report_w` close here in the parent.
}

fn null_terminated(items: &[CString]) -> Vec<*const c_char> {
    items
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// The child, from fork to exec.
///
/// # Safety
/// Only to be called in a freshly forked child; `argv`/`envp` are null-terminated arrays of
/// pointers into `plan`.
unsafe fn child(
    plan: &ChildPlan,
    argv: &[*const c_char],
    envp: &[*const c_char],
    report: libc::c_int,
    parent: libc::pid_t,
) -> ! {
    // SAFETY: the caller's contract (a fresh child, valid argv/envp); below are only
    // async-signal-safe system calls on memory prepared before the fork.
    unsafe {
        let fail = |stage: Stage| -> ! {
            let errno = *libc::__errno_location();
            let mut msg = [0u8; 5];
            msg[0] = stage as u8;
            msg[1..].copy_from_slice(&errno.to_ne_bytes());
            libc::write(report, msg.as_ptr().cast(), msg.len());
            libc::_exit(127)
        };
        // Its own process group, so stop and kill reach everything it starts; a pty program
        // also its own session, with the pty as its controlling terminal.
        if plan.session {
            if !super::pty::new_session()
                || !super::pty::take_controlling_terminal(plan.stdin.as_raw_fd())
            {
                fail(Stage::Terminal);
            }
        } else {
            libc::setpgid(0, 0);
        }
        // Into its cgroup before anything can fork: then nothing it starts is outside.
        if let Some(procs) = &plan.cgroup {
            let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                fail(Stage::Cgroup);
            }
            libc::close(fd);
        }
        // A clean signal state: nothing ignored (Rust ignores SIGPIPE, and ignored signals
        // survive exec), every handler back to default, then nothing blocked.
        for sig in 1..libc::SIGRTMIN() {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::pthread_sigmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        for (src, dst) in [
            (plan.stdin.as_raw_fd(), 0),
            (plan.stdout.as_raw_fd(), 1),
            (plan.stderr.as_raw_fd(), 2),
        ] {
            let ok = if src == dst {
                libc::fcntl(dst, libc::F_SETFD, 0) == 0
            } else {
                libc::dup2(src, dst) == dst
            };
            if !ok {
                fail(Stage::Descriptors);
            }
        }
        if let Some(mask) = plan.umask {
            libc::umask(mask);
        }
        if let Some((uid, gid, groups)) = &plan.creds
            && (libc::setgroups(groups.len() as _, groups.as_ptr()) != 0
                || libc::setgid(*gid) != 0
                || libc::setuid(*uid) != 0)
        {
            fail(Stage::Credentials);
        }
        if let Some(dir) = &plan.cwd
            && libc::chdir(dir.as_ptr()) != 0
        {
            fail(Stage::Chdir);
        }
        // If taskmaster dies without stopping its children (SIGKILL), take them along. It
        // fires when the forking *thread* ends: only the supervisor thread forks, and it lives
        // as long as taskmaster.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() != parent {
            libc::_exit(127);
        }
        // Whoever opened a descriptor without O_CLOEXEC (a library, the program that started
        // taskmaster), it does not reach the child.
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
        libc::execve(plan.path.as_ptr(), argv.as_ptr(), envp.as_ptr());
        fail(Stage::Exec)
    }
}

/// After the child died: what went wrong before or at its exec, if anything (`None` when it
/// exec'd fine: the pipe closed on exec without a report).
pub(super) fn read_failure(report: &OwnedFd) -> Option<(Stage, nix::errno::Errno)> {
    let mut msg = [0u8; 5];
    match nix::unistd::read(report.as_raw_fd(), &mut msg) {
        Ok(5) => {
            let stage = Stage::from_byte(msg[0])?;
            let errno = i32::from_ne_bytes([msg[1], msg[2], msg[3], msg[4]]);
            Some((stage, nix::errno::Errno::from_raw(errno)))
        }
        _ => None,
    }
}
