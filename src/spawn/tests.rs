//! The spawn path on real children: what they get, what they report, and that taskmaster
//! keeps none of their descriptors (output pipes end when the child does).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::wait::{WaitStatus, waitpid};

use super::*;

fn program(toml: &str) -> ProgramConfig {
    let text = format!("[programs.p]\n{toml}");
    let config = crate::config::parse(Path::new("/etc/tm/t.toml"), &text).expect("config");
    config.programs["p"].clone()
}

/// Everything read from `fd` until EOF; panics if EOF does not come within 10 s (a copy of
/// the write end still open somewhere).
fn read_to_eof(fd: &OwnedFd) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        assert!(
            Instant::now() < deadline,
            "no EOF: {:?}",
            String::from_utf8_lossy(&out)
        );
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        if poll(&mut fds, PollTimeout::from(100u16)).unwrap_or(0) == 0 {
            continue;
        }
        match nix::unistd::read(fd.as_raw_fd(), &mut buf) {
            Ok(0) => return String::from_utf8_lossy(&out).into_owned(),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => panic!("read: {e}"),
        }
    }
}

fn exit_code(pid: Pid) -> i32 {
    match waitpid(pid, None) {
        Ok(WaitStatus::Exited(_, code)) => code,
        other => panic!("{pid}: {other:?}"),
    }
}

#[test]
fn output_pipes_end_with_the_child_and_hold_only_0_1_2() {
    // Descriptors taskmaster holds at higher numbers than the spawn slots: the child's own
    // table must not have them (it is not a copy of taskmaster's).
    let extra: Vec<_> = (0..64)
        .map(|_| nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("pipe"))
        .collect();
    let p = program(r#"cmd = "sh -c 'ls /proc/self/fd; echo err >&2'""#);
    let child = spawn(&p, TtySize::DEFAULT, 0, None).expect("spawned");
    assert!(child.report.0.is_none(), "exec'd");
    let out = child.stdout.as_ref().expect("captured stdout");
    let err = child.stderr.as_ref().expect("captured stderr");
    let mut fds: Vec<u32> = read_to_eof(&out.fd)
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    fds.sort();
    // ls opens one descriptor of its own to read the directory: 3.
    assert_eq!(fds, [0, 1, 2, 3], "only stdio in the child");
    assert_eq!(read_to_eof(&err.fd), "err\n");
    assert_eq!(exit_code(child.pid), 0);
    drop(extra);
}

#[test]
fn a_failed_exec_is_reported_with_its_stage_and_errno() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("not-a-program");
    std::fs::write(&bad, b"\x00\x01\x02\x03").expect("write");
    std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let p = program(&format!("cmd = \"{}\"", bad.display()));
    let child = spawn(&p, TtySize::DEFAULT, 0, None).expect("cloned");
    let why = exec_failure(&child.report, &p).expect("a failure reported");
    assert!(
        why.0.starts_with("couldn't exec") && why.0.contains("Exec format error"),
        "{why}"
    );
    assert_eq!(
        exit_code(child.pid),
        127,
        "the child exits 127 after reporting"
    );
}

#[test]
fn a_child_leads_its_own_group_and_gets_its_stdin() {
    let p =
        program(r#"cmd = "sh -c 'read line; echo \"$line\" $(cut -d\" \" -f5 /proc/$$/stat)'""#);
    let child = spawn(&p, TtySize::DEFAULT, 0, None).expect("spawned");
    let mut stdin = child.stdin.expect("stdin");
    std::io::Write::write_all(&mut stdin, b"hello\n").expect("write");
    drop(stdin);
    let out = read_to_eof(&child.stdout.expect("stdout").fd);
    assert_eq!(
        out.trim(),
        format!("hello {}", child.pid),
        "own group, stdin read"
    );
    assert_eq!(exit_code(child.pid), 0);
}
