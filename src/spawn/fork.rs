//! The spawn itself: a `clone(CLONE_VM | CLONE_VFORK)` child, the way glibc's `posix_spawn`
//! and CPython's `_posixsubprocess` start programs. The child shares taskmaster's memory (no
//! page tables copied, so a spawn costs the same however large taskmaster grows) and runs on
//! a stack of its own until it execs; taskmaster's thread is suspended until then.
//!
//! Sharing memory makes the child's side strict: it only makes raw system calls on data the
//! parent prepared (paths, argv, envp, pointer arrays, group lists, descriptors, the resource
//! limit), never allocates, never takes a lock, and never lets one of taskmaster's signal
//! handlers run (every signal stays blocked until each handler is back to its default).
//! Credentials change through raw syscalls: glibc's `setuid` would ask every thread of the
//! "process" it believes it is in — taskmaster's own threads — to change too.
//!
//! The descriptor table is not copied either. A plain clone copies all of taskmaster's
//! descriptors into the child (three per supervised process) and its exec closes them all
//! again: at 1,000 processes that was a fifth of a spawn's cost, at 10,000 most of it. So the
//! child starts on taskmaster's own table (`CLONE_FILES`) and its first act is to leave it
//! with `close_range(first, ~0, CLOSE_RANGE_UNSHARE)`, which copies only the descriptors
//! below `first`: taskmaster's 0, 1 and 2 and three *slots*, low numbers reserved once
//! (`Slots`) into which the parent puts the child's stdin, stdout and stderr just before the
//! clone (and /dev/null again after it). The slots and the stack are shared by all spawns, so
//! spawns take turns on a lock; the child holds none. Before Linux 5.9 the child falls back
//! to `unshare(CLONE_FILES)`, a full copy, as before.
//!
//! A failure in the child (chdir, setuid, execve, ...) is written as a stage and an errno
//! into the arguments the parent passed, as glibc's `posix_spawn` does: the parent resumes
//! only once the child has exec'd or exited, so it reads them right after the clone. The
//! reason is kept and reported when the child is reaped (`spawn::exec_failure`), as a failed
//! start.

use std::ffi::{CString, c_char, c_int, c_void};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use nix::libc;
use nix::unistd::Pid;

/// Everything the child needs, built before the clone.
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
    /// The descriptor limit the program gets (the one taskmaster was started with, see
    /// `limits.rs`), when taskmaster raised its own.
    pub nofile: Option<libc::rlimit>,
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

/// What the child said before it exec'd: nothing (it runs its program) or why it could not.
pub(super) type Failure = Option<(Stage, nix::errno::Errno)>;

/// The child's stack. Its code is a few system calls with small frames; 256 KiB leaves a wide
/// margin (debug builds included) and costs only the pages touched.
const STACK: usize = 256 * 1024;

/// What the child reads, through the clone's argument pointer, and its report.
struct ChildArgs<'a> {
    plan: &'a ChildPlan,
    argv: *const *const c_char,
    envp: *const *const c_char,
    /// The slots holding the child's stdin, stdout and stderr.
    slots: [c_int; 3],
    /// The lowest descriptor the child's own table leaves out.
    first_unshared: c_int,
    parent: libc::pid_t,
    /// `stage << 32 | errno` of a failure; 0 when the child exec'd.
    failure: AtomicU64,
}

/// The shared state of all spawns: the slots and the child's stack, made once.
struct Spawner {
    slots: [OwnedFd; 3],
    null: OwnedFd,
    stack: Stack,
}

// SAFETY: the stack is a private mapping used only under SPAWNER's lock (or by the child the
// lock holder is suspended for); nothing in it is tied to the thread that made it.
unsafe impl Send for Spawner {}

static SPAWNER: Mutex<Option<Spawner>> = Mutex::new(None);

impl Spawner {
    fn new() -> std::io::Result<Spawner> {
        let null = OwnedFd::from(
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/null")?,
        );
        // At 3 or above, so a slot is never one of the child's own 0, 1 and 2 (taskmaster
        // may have been started with those closed).
        let slot = || -> std::io::Result<OwnedFd> {
            // SAFETY: F_DUPFD_CLOEXEC on a descriptor we own; the new one is ours to own.
            let fd = unsafe { libc::fcntl(null.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // SAFETY: just returned by fcntl, owned by nothing else.
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        };
        Ok(Spawner {
            slots: [slot()?, slot()?, slot()?],
            null,
            stack: Stack::new()?,
        })
    }

    /// Puts `fds` in the slots (closing what they held), or /dev/null back with `None`.
    fn fill(&self, fds: Option<[&OwnedFd; 3]>) -> std::io::Result<()> {
        for (i, slot) in self.slots.iter().enumerate() {
            let src = fds.map_or(self.null.as_raw_fd(), |f| f[i].as_raw_fd());
            // SAFETY: both descriptors are open and owned; dup3 replaces the slot atomically.
            if unsafe { libc::dup3(src, slot.as_raw_fd(), libc::O_CLOEXEC) } < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

/// Starts the child and returns once it has exec'd or failed: its pid, and the failure it
/// reported if any (the child has then exited and waits to be reaped).
pub(super) fn spawn(plan: ChildPlan) -> std::io::Result<(Pid, Failure)> {
    let argv = null_terminated(&plan.argv);
    let envp = null_terminated(&plan.envp);
    let mut spawner = SPAWNER.lock().unwrap_or_else(|e| e.into_inner());
    if spawner.is_none() {
        *spawner = Some(Spawner::new()?);
    }
    let Some(spawner) = spawner.as_ref() else {
        return Err(std::io::Error::other("no spawner"));
    };
    spawner.fill(Some([&plan.stdin, &plan.stdout, &plan.stderr]))?;
    let slots = spawner.slots.each_ref().map(|s| s.as_raw_fd());
    let args = ChildArgs {
        plan: &plan,
        argv: argv.as_ptr(),
        envp: envp.as_ptr(),
        slots,
        first_unshared: slots.iter().max().map_or(3, |m| m + 1),
        parent: std::process::id() as libc::pid_t,
        failure: AtomicU64::new(0),
    };
    // Every signal, glibc's internal ones included, stays blocked from before the clone
    // until the child has reset every handler to its default: a handler of taskmaster's
    // running in the child would write into taskmaster's memory, and a stop signal sent in
    // between is then delivered to the child as what it is.
    let old_mask = block_all_signals();
    // SAFETY: the stack is a mapping of STACK bytes no one else uses while the lock is held,
    // and `top` its aligned upper end; `args` and everything it points to outlive the
    // child's use of them, because CLONE_VFORK suspends this thread until the child has
    // exec'd or exited. The child runs only `child_main`, which never returns.
    let pid = unsafe {
        libc::clone(
            child_main,
            spawner.stack.top(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::CLONE_FILES | libc::SIGCHLD,
            (&args as *const ChildArgs).cast_mut().cast::<c_void>(),
        )
    };
    let clone_error = std::io::Error::last_os_error();
    restore_signals(&old_mask);
    // The slots must not keep the child's pipes open: an output pipe would never see EOF.
    let emptied = spawner.fill(None);
    if pid == -1 {
        return Err(clone_error);
    }
    if let Err(e) = emptied {
        log::warn!("cannot empty the spawn slots after pid {pid}: {e}");
    }
    Ok((
        Pid::from_raw(pid),
        decode(args.failure.load(Ordering::Acquire)),
    ))
    // `plan` (the child's ends of its pipes) closes here in the parent.
}

fn null_terminated(items: &[CString]) -> Vec<*const c_char> {
    items
        .iter()
        .map(|s| s.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

/// The child's stack: an anonymous mapping with an inaccessible guard page at its low end,
/// so an overflow faults instead of writing over taskmaster's memory.
struct Stack {
    base: *mut c_void,
    len: usize,
}

impl Stack {
    fn new() -> std::io::Result<Stack> {
        let guard = page_size();
        let len = STACK + guard;
        // SAFETY: a fresh private anonymous mapping; no existing memory is touched.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let stack = Stack { base, len };
        // SAFETY: the first page of the mapping just made.
        if unsafe { libc::mprotect(base, guard, libc::PROT_NONE) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(stack)
    }

    /// The high end (stacks grow down), 16-byte aligned as every ABI wants.
    fn top(&self) -> *mut c_void {
        let end = self.base as usize + self.len;
        (end & !15) as *mut c_void
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`; the child no longer runs on it.
        unsafe { libc::munmap(self.base, self.len) };
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096).max(4096)
}

/// Blocks every signal in the calling thread (a raw rt_sigprocmask: glibc's wrapper would
/// leave its two internal signals open) and returns the previous mask.
fn block_all_signals() -> [u64; 16] {
    let all = [u64::MAX; 16];
    let mut old = [0u64; 16];
    // SAFETY: both sets are valid for the kernel's 8-byte sigset size passed.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            all.as_ptr(),
            old.as_mut_ptr(),
            8usize,
        )
    };
    old
}

fn restore_signals(old: &[u64; 16]) {
    // SAFETY: restores the mask saved by `block_all_signals`.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            old.as_ptr(),
            std::ptr::null_mut::<u64>(),
            8usize,
        )
    };
}

/// The clone's entry point, on the child's stack.
extern "C" fn child_main(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the `ChildArgs` the parent passed to clone; it stays alive and
    // unchanged while the parent is suspended (CLONE_VFORK).
    unsafe { child(&*arg.cast::<ChildArgs>()) }
}

/// The child, from clone to exec.
///
/// # Safety
/// Only to be called in a freshly cloned CLONE_VM | CLONE_FILES child; `argv`/`envp` are
/// null-terminated arrays of pointers into `plan`.
unsafe fn child(args: &ChildArgs) -> ! {
    let plan = args.plan;
    let [stdin, stdout, stderr] = args.slots;
    // SAFETY: the caller's contract; below are only async-signal-safe system calls on memory
    // prepared before the clone, none of which allocates or writes shared memory other than
    // errno (the suspended parent thread's, which it does not read after the clone) and the
    // report.
    unsafe {
        let fail = |stage: Stage| -> ! {
            let errno = *libc::__errno_location();
            let code = (stage as u64) << 32 | u64::from(errno as u32);
            args.failure.store(code, Ordering::Release);
            libc::_exit(127)
        };
        // Off taskmaster's descriptor table before anything changes in it (see the module
        // doc): the new one holds only the numbers below `first_unshared`.
        if libc::syscall(
            libc::SYS_close_range,
            args.first_unshared as u32,
            u32::MAX,
            libc::CLOSE_RANGE_UNSHARE,
        ) != 0
            && libc::syscall(libc::SYS_unshare, libc::CLONE_FILES) != 0
        {
            fail(Stage::Descriptors);
        }
        // Its own process group, so stop and kill reach everything it starts; a pty program
        // also its own session, with the pty as its controlling terminal. Done before the
        // parent resumes, so a signal to the group right after the spawn cannot miss it.
        if plan.session {
            if !super::pty::new_session() || !super::pty::take_controlling_terminal(stdin) {
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
        // survive exec), every handler back to default — real-time ones too, as a handler
        // here would run on taskmaster's memory — then nothing blocked. (glibc refuses its
        // two internal signals; their handlers ignore signals not meant for their process.)
        for sig in 1..=libc::SIGRTMAX() {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::pthread_sigmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        // The slots are 3 or above, so none is overwritten before it is copied.
        for (src, dst) in [(stdin, 0), (stdout, 1), (stderr, 2)] {
            if libc::dup2(src, dst) != dst {
                fail(Stage::Descriptors);
            }
        }
        if let Some(limit) = &plan.nofile {
            libc::setrlimit(libc::RLIMIT_NOFILE, limit);
        }
        if let Some(mask) = plan.umask {
            libc::umask(mask);
        }
        // Raw system calls: they change this (single-threaded) child only.
        if let Some((uid, gid, groups)) = &plan.creds
            && (libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) != 0
                || libc::syscall(libc::SYS_setgid, libc::c_long::from(*gid)) != 0
                || libc::syscall(libc::SYS_setuid, libc::c_long::from(*uid)) != 0)
        {
            fail(Stage::Credentials);
        }
        if let Some(dir) = &plan.cwd
            && libc::chdir(dir.as_ptr()) != 0
        {
            fail(Stage::Chdir);
        }
        // If taskmaster dies without stopping its children (SIGKILL), take them along. It
        // fires when the spawning *thread* ends: only the supervisor thread spawns, and it
        // lives as long as taskmaster.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() != args.parent {
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
        libc::execve(plan.path.as_ptr(), args.argv, args.envp);
        fail(Stage::Exec)
    }
}

/// What the child reported before its exec, if anything (0: it exec'd fine).
fn decode(code: u64) -> Failure {
    let stage = Stage::from_byte((code >> 32) as u8)?;
    Some((stage, nix::errno::Errno::from_raw(code as u32 as i32)))
}
