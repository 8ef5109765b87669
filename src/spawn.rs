//! Building and starting one child: argv, environment, working directory, umask, user, its own
//! process group, a clean signal mask and no inherited descriptors beyond 0, 1 and 2; and
//! signalling a child's process group. Runs on the supervisor thread (the only one that spawns,
//! which matters for PR_SET_PDEATHSIG: it fires when the *thread* that forked exits).

use std::ffi::{CString, OsStr};
use std::fmt;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::{Gid, Pid, Uid, User};

use crate::config::{OutputTarget, ProgramConfig};
use crate::output;

/// A child that was started.
pub struct Spawned {
    pub pid: Pid,
    /// Write end of the child's stdin (non-blocking).
    pub stdin: Option<File>,
    /// Read ends of stdout/stderr pipes, with the files the bytes also go to.
    pub stdout: Option<output::Pipe>,
    pub stderr: Option<output::Pipe>,
}

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

/// Starts one process of `prog`. Every failure a user can cause is a `SpawnError`.
pub fn spawn(prog: &ProgramConfig) -> Result<Spawned, SpawnError> {
    let identity = match &prog.user {
        Some(name) => Some(resolve_user(name)?),
        None => None,
    };
    if let Some(dir) = &prog.workingdir {
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(SpawnError(format!(
                    "workingdir '{}' is not a directory",
                    dir.display()
                )));
            }
            Err(e) => {
                return Err(SpawnError(format!(
                    "bad workingdir '{}': {}",
                    dir.display(),
                    plain(&e)
                )));
            }
        }
    }
    let program = resolve_command(prog)?;

    let mut cmd = std::process::Command::new(&program);
    cmd.arg0(&prog.argv[0]).args(&prog.argv[1..]);
    if let Some(id) = &identity {
        cmd.env("USER", &id.name)
            .env("LOGNAME", &id.name)
            .env("HOME", &id.home);
    }
    cmd.envs(&prog.env);
    if let Some(dir) = &prog.workingdir {
        cmd.current_dir(dir);
    }
    cmd.stdin(Stdio::piped());
    cmd.process_group(0);

    let (stdout_pipe, stdout_stdio) = output_pipe(&prog.stdout, "stdout")?;
    let (stderr_pipe, stderr_stdio) = output_pipe(&prog.stderr, "stderr")?;
    cmd.stdout(stdout_stdio).stderr(stderr_stdio);

    let umask = prog.umask;
    let creds = identity
        .as_ref()
        .map(|id| (id.uid, id.gid, id.groups.clone()));
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe system calls; it allocates nothing (the group list was built before).
    unsafe {
        cmd.pre_exec(move || child_setup(umask, creds.as_ref()));
    }

    let mut child = cmd
        .spawn()
        .map_err(|e| SpawnError(spawn_failure(&program, &e)))?;
    let stdin = child.stdin.take().map(|s| {
        let fd: OwnedFd = s.into();
        let _ = set_nonblocking(&fd);
        File::from(fd)
    });
    // The Child is dropped without waiting: the supervisor reaps by pid on SIGCHLD.
    Ok(Spawned {
        pid: Pid::from_raw(child.id() as i32),
        stdin,
        stdout: stdout_pipe,
        stderr: stderr_pipe,
    })
}

fn child_setup(umask: Option<u32>, creds: Option<&(Uid, Gid, Vec<Gid>)>) -> std::io::Result<()> {
    use nix::libc;
    // SAFETY: plain system calls on values we own; no allocation.
    unsafe {
        if let Some(mask) = umask {
            libc::umask(mask as libc::mode_t);
        }
        if let Some((uid, gid, groups)) = creds {
            let raw: &[Gid] = groups;
            if libc::setgroups(raw.len() as _, raw.as_ptr() as *const libc::gid_t) != 0
                || libc::setgid(gid.as_raw()) != 0
                || libc::setuid(uid.as_raw()) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
        }
        // If taskmaster dies without stopping its children (SIGKILL), take them along.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        // Descriptors opened without O_CLOEXEC by anyone (a library, the program that started
        // taskmaster) must not reach the child: mark everything above stderr close-on-exec.
        // std's own exec-error pipe is already CLOEXEC, so marking it again is harmless.
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
    }
    Ok(())
}

fn output_pipe(
    target: &OutputTarget,
    which: &str,
) -> Result<(Option<output::Pipe>, Stdio), SpawnError> {
    let file = match target {
        OutputTarget::Discard => return Ok((None, Stdio::null())),
        OutputTarget::Capture => None,
        OutputTarget::File(path) => Some(output::open_log(path).map_err(|e| {
            SpawnError(format!(
                "cannot open {which} file '{}': {}",
                path.display(),
                plain(&e)
            ))
        })?),
    };
    let (read, write) =
        output::pipe().map_err(|e| SpawnError(format!("cannot create {which} pipe: {e}")))?;
    Ok((Some(output::Pipe { fd: read, file }), Stdio::from(write)))
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

fn spawn_failure(program: &Path, e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(nix::libc::EACCES) => format!("command at '{}' is not executable", program.display()),
        Some(nix::libc::ENOENT) => format!("can't find command '{}'", program.display()),
        Some(nix::libc::EPERM) => format!("cannot switch user: {}", plain(e)),
        _ => format!("cannot start '{}': {}", program.display(), plain(e)),
    }
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
        Err(nix::errno::Errno::ESRCH) => Ok(()),
        other => other,
    }
}
