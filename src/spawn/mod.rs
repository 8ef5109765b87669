//! Building and starting one child: argv, environment, working directory, umask, user, its own
//! process group, a clean signal mask and no inherited descriptors beyond 0, 1 and 2; and
//! signalling a child's process group. Runs on the supervisor thread (the only one that spawns,
//! which matters for PR_SET_PDEATHSIG: it fires when the *thread* that forked exits).

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::{Gid, Pid, Uid, User};

use crate::config::{OutputTarget, ProgramConfig, Rotation};
use crate::output;

// clone/exec: the child between clone and exec can only use raw, async-signal-safe calls.
#[allow(unsafe_code)]
mod fork;
pub mod limits;
// /proc, and pidfds (pidfd_open, pidfd_send_signal) and the subreaper prctl nix does not wrap.
#[allow(unsafe_code)]
pub mod procfs;
// The pseudo-terminal: ioctls nix does not wrap, and the child's setsid/TIOCSCTTY.
pub mod proc_events;
#[allow(unsafe_code)]
pub mod pty;
pub mod reaper;
// cgroup v2: the guard process's fork (see its module doc).
#[allow(unsafe_code)]
pub mod cgroup;

pub use pty::TtySize;

/// A child that was started.
pub struct Spawned {
    pub pid: Pid,
    /// Write end of the child's stdin (non-blocking); for a pty program, its terminal's
    /// master (a duplicate of the one read by the I/O thread, also used to resize it).
    pub stdin: Option<File>,
    /// Read ends of stdout/stderr pipes, with the files the bytes also go to.
    pub stdout: Option<output::Pipe>,
    pub stderr: Option<output::Pipe>,
    /// What the child reported before its program ran; see [`exec_failure`].
    pub report: ExecReport,
}

/// A child's report from before its exec: empty when it runs its program, or why it could not
/// (it has then exited). Read at spawn time; kept until the child is reaped.
#[derive(Debug, Clone, Copy)]
pub struct ExecReport(fork::Failure);

/// Why a child could not be started; shown in its status like supervisor's `spawnerr`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpawnError(pub String);

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SpawnError {}

/// The user a child runs as, resolved before forking (NSS lookups are not fork-safe).
struct Identity {
    uid: Uid,
    gid: Gid,
    groups: Vec<Gid>,
    name: String,
    home: PathBuf,
}

/// Starts one process of `prog` without waiting for its exec. Every failure a user can cause
/// is a `SpawnError`, found here when possible (missing command, bad workingdir, unknown user)
/// or reported by the child through `report` (see [`exec_failure`]). A `pty` program's
/// terminal starts at `tty_size`. `process_num` fills `%(process_num)d` in log paths. With
/// `cgroup`, the child joins that cgroup before its exec.
pub fn spawn(
    prog: &ProgramConfig,
    tty_size: TtySize,
    process_num: u32,
    cgroup: Option<&cgroup::Cgroup>,
) -> Result<Spawned, SpawnError> {
    let identity = match &prog.user {
        Some(name) => Some(resolve_user(name)?),
        None => None,
    };
    check_workingdir(prog)?;
    let program = resolve_command(prog)?;

    let stdout_log = LogPlan {
        target: &prog.stdout,
        rotation: prog.stdout_rotation,
        timestamps: prog.timestamps,
        process_num,
    };
    let stderr_log = LogPlan {
        target: &prog.stderr,
        rotation: prog.stderr_rotation,
        ..stdout_log
    };
    let ends = if prog.pty {
        terminal_ends(&stdout_log, tty_size)?
    } else {
        pipe_ends(&stdout_log, &stderr_log)?
    };

    let [child_in, child_out, child_err] = ends.child;
    let plan = fork::ChildPlan {
        path: cstring(program.as_os_str().as_bytes(), "command")?,
        argv: prog
            .argv
            .iter()
            .map(|a| cstring(a.as_bytes(), "argument"))
            .collect::<Result<_, _>>()?,
        envp: environment(prog, identity.as_ref())?,
        cwd: match &prog.workingdir {
            Some(dir) => Some(cstring(dir.as_os_str().as_bytes(), "workingdir")?),
            None => None,
        },
        umask: prog.umask.map(|m| m as nix::libc::mode_t),
        creds: identity.as_ref().map(|id| {
            let groups = id.groups.iter().map(|g| g.as_raw()).collect();
            (id.uid.as_raw(), id.gid.as_raw(), groups)
        }),
        stdin: child_in,
        stdout: child_out,
        stderr: child_err,
        session: prog.pty,
        nofile: limits::for_child(),
        cgroup: cgroup.map(|c| c.procs.clone()),
    };
    let (pid, failure) =
        fork::spawn(plan).map_err(|e| SpawnError(format!("cannot fork: {}", plain(&e))))?;
    Ok(Spawned {
        pid,
        stdin: Some(File::from(ends.stdin)),
        stdout: ends.stdout,
        stderr: ends.stderr,
        report: ExecReport(failure),
    })
}

/// Taskmaster's ends of a child's standard descriptors, and the child's (its 0, 1, 2).
struct Ends {
    stdin: OwnedFd,
    stdout: Option<output::Pipe>,
    stderr: Option<output::Pipe>,
    child: [OwnedFd; 3],
}

fn pipe_ends(stdout_log: &LogPlan, stderr_log: &LogPlan) -> Result<Ends, SpawnError> {
    let (stdin_read, stdin_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)
        .map_err(|e| SpawnError(format!("cannot create stdin pipe: {e}")))?;
    let _ = set_nonblocking(&stdin_write);
    let (stdout, stdout_fd) = output_pipe(stdout_log, "stdout")?;
    let (stderr, stderr_fd) = output_pipe(stderr_log, "stderr")?;
    Ok(Ends {
        stdin: stdin_write,
        stdout,
        stderr,
        child: [stdin_read, stdout_fd, stderr_fd],
    })
}

/// A pty program: the slave is its 0, 1 and 2; the master is read by the I/O thread as its
/// one output stream (to the `stdout` file) and written by the supervisor as its input.
fn terminal_ends(stdout_log: &LogPlan, size: TtySize) -> Result<Ends, SpawnError> {
    let no_pty = |e: std::io::Error| SpawnError(format!("cannot open a pty: {}", plain(&e)));
    let file = open_log_sink(stdout_log, "stdout")?;
    let pty = pty::open(size).map_err(no_pty)?;
    let input = pty.master.try_clone().map_err(no_pty)?;
    let _ = set_nonblocking(&input);
    let child = [
        pty.slave.try_clone().map_err(no_pty)?,
        pty.slave.try_clone().map_err(no_pty)?,
        pty.slave,
    ];
    Ok(Ends {
        stdin: input,
        stdout: Some(output::Pipe {
            fd: pty.master,
            file,
        }),
        stderr: None,
        child,
    })
}

fn check_workingdir(prog: &ProgramConfig) -> Result<(), SpawnError> {
    let Some(dir) = &prog.workingdir else {
        return Ok(());
    };
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(SpawnError(format!(
            "workingdir '{}' is not a directory",
            dir.display()
        ))),
        Err(e) => Err(SpawnError(format!(
            "bad workingdir '{}': {}",
            dir.display(),
            plain(&e)
        ))),
    }
}

/// Once the child has died: the reason it never ran its program, if that is what happened.
pub fn exec_failure(report: &ExecReport, prog: &ProgramConfig) -> Option<SpawnError> {
    let (stage, errno) = report.0?;
    let why = errno.desc();
    Some(SpawnError(match stage {
        fork::Stage::Descriptors => format!("cannot set up the child's descriptors: {why}"),
        fork::Stage::Credentials => format!(
            "cannot switch to user '{}': {why}",
            prog.user.as_deref().unwrap_or("?")
        ),
        fork::Stage::Chdir => format!(
            "couldn't chdir to '{}': {why}",
            prog.workingdir
                .as_deref()
                .unwrap_or(Path::new("?"))
                .display()
        ),
        fork::Stage::Exec => format!("couldn't exec {}: {why}", prog.argv[0]),
        fork::Stage::Terminal => format!("cannot give the child its terminal: {why}"),
        fork::Stage::Cgroup => format!("cannot join its cgroup: {why}"),
    }))
}

/// Inherited environment, then the user's identity (when `user` is set), then `env`.
fn environment(prog: &ProgramConfig, id: Option<&Identity>) -> Result<Vec<CString>, SpawnError> {
    let mut vars: BTreeMap<OsString, OsString> = std::env::vars_os().collect();
    if let Some(id) = id {
        vars.insert("USER".into(), id.name.clone().into());
        vars.insert("LOGNAME".into(), id.name.clone().into());
        vars.insert("HOME".into(), id.home.clone().into());
    }
    for (k, v) in &prog.env {
        vars.insert(k.into(), v.into());
    }
    vars.into_iter()
        .map(|(k, v)| {
            let mut kv = k.into_vec();
            kv.push(b'=');
            kv.extend(v.into_vec());
            cstring(&kv, "environment variable")
        })
        .collect()
}

fn cstring(bytes: &[u8], what: &str) -> Result<CString, SpawnError> {
    CString::new(bytes).map_err(|_| SpawnError(format!("{what} contains a NUL byte")))
}

/// Where one stream of a process goes.
#[derive(Clone, Copy)]
struct LogPlan<'a> {
    target: &'a OutputTarget,
    rotation: Rotation,
    timestamps: bool,
    process_num: u32,
}

/// The stream's log file, opened now so that a file that cannot be opened is a spawn error
/// (as in supervisor); `None` without a file.
fn open_log_sink(plan: &LogPlan, which: &str) -> Result<Option<output::LogSink>, SpawnError> {
    let Some(path) = plan.target.path_for(plan.process_num) else {
        return Ok(None);
    };
    output::LogSink::open(&path, plan.rotation, plan.timestamps)
        .map(Some)
        .map_err(|e| {
            SpawnError(format!(
                "cannot open {which} file '{}': {}",
                path.display(),
                plain(&e)
            ))
        })
}

fn output_pipe(plan: &LogPlan, which: &str) -> Result<(Option<output::Pipe>, OwnedFd), SpawnError> {
    if *plan.target == OutputTarget::Discard {
        let null = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .map_err(|e| SpawnError(format!("cannot open /dev/null: {}", plain(&e))))?;
        return Ok((None, OwnedFd::from(null)));
    }
    let file = open_log_sink(plan, which)?;
    let (read, write) =
        output::pipe().map_err(|e| SpawnError(format!("cannot create {which} pipe: {e}")))?;
    Ok((Some(output::Pipe { fd: read, file }), write))
}

/// Finds the executable like supervisor does, so the reason is "can't find command 'x'"
/// rather than a bare errno from exec.
fn resolve_command(prog: &ProgramConfig) -> Result<PathBuf, SpawnError> {
    let arg0 = &prog.argv[0];
    let found = if arg0.contains('/') {
        let p = match &prog.workingdir {
            Some(dir) if Path::new(arg0).is_relative() => dir.join(arg0),
            _ => PathBuf::from(arg0),
        };
        p.exists().then_some(p)
    } else {
        let path_var = prog
            .env
            .get("PATH")
            .cloned()
            .or_else(|| std::env::var("PATH").ok())
            .unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".to_string());
        std::env::split_paths(OsStr::new(&path_var))
            .map(|dir| dir.join(arg0))
            .find(|p| p.is_file())
    };
    let Some(path) = found else {
        return Err(SpawnError(format!("can't find command '{arg0}'")));
    };
    let executable = std::fs::metadata(&path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false);
    if !executable {
        return Err(SpawnError(format!(
            "command at '{}' is not executable",
            path.display()
        )));
    }
    Ok(path)
}

fn resolve_user(name: &str) -> Result<Identity, SpawnError> {
    let user = match name.parse::<u32>() {
        Ok(uid) => User::from_uid(Uid::from_raw(uid)),
        Err(_) => User::from_name(name),
    }
    .map_err(|e| SpawnError(format!("cannot look up user '{name}': {e}")))?
    .ok_or_else(|| SpawnError(format!("unknown user '{name}'")))?;
    let me = nix::unistd::geteuid();
    if !me.is_root() && user.uid != me {
        return Err(SpawnError(format!(
            "cannot run as user '{name}': taskmaster is not running as root"
        )));
    }
    let cname = CString::new(user.name.clone())
        .map_err(|_| SpawnError(format!("bad user name '{name}'")))?;
    let groups = if me.is_root() {
        nix::unistd::getgrouplist(&cname, user.gid)
            .map_err(|e| SpawnError(format!("cannot list groups of user '{name}': {e}")))?
    } else {
        Vec::new()
    };
    Ok(Identity {
        uid: user.uid,
        gid: user.gid,
        groups,
        name: user.name,
        home: user.dir,
    })
}

/// An io::Error's message without the "(os error N)" suffix.
fn plain(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

fn set_nonblocking(fd: &OwnedFd) -> nix::Result<()> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    use std::os::fd::AsRawFd;
    let flags = OFlag::from_bits_truncate(fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL)?);
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

/// Sends `sig` to the process group led by `pid` (every child leads its own group).
/// A group that is already gone is not an error.
pub fn signal_group(pid: Pid, sig: Signal) -> nix::Result<()> {
    match killpg(pid, sig) {
        // No such group: the child is gone, or it is a pty program between fork and its
        // setsid (the parent cannot make that group for it), still in taskmaster's own
        // group. Then signal it directly: it holds every signal blocked until its handlers
        // are reset, then takes this one as what it is. (The group test keeps a pid reused
        // by an unrelated process out of reach.)
        Err(nix::errno::Errno::ESRCH) => {
            let ours = nix::unistd::getpgid(None).ok();
            if nix::unistd::getpgid(Some(pid)).ok() != ours {
                return Ok(());
            }
            match nix::sys::signal::kill(pid, sig) {
                Err(nix::errno::Errno::ESRCH) => Ok(()),
                other => other,
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests;
