//! A command that cannot be spawned is a failed start with the reason shown, never a crash.

use taskmaster::supervisor::{Command, StateName};

use crate::harness::inprocess::Tm;
use crate::harness::procfs::comm;
use crate::harness::{LONG, wait_until};

fn fatal_reason(program_toml: &str) -> String {
    let tm = Tm::start(&format!(
        "[taskmaster]\nsocket = false\n[programs.broken]\n{program_toml}\nstartretries = 1\nstarttime = 0.1\n"
    ));
    let info = tm.wait_state("broken", StateName::Fatal);
    assert_eq!(info.pid, None, "a FATAL process has no pid");
    info.status_line(std::time::SystemTime::now())
}

#[test]
fn missing_binary_is_fatal_with_cant_find_command() {
    let line = fatal_reason(r#"cmd = "/no/such/bin --flag""#);
    assert!(line.contains("FATAL"), "{line}");
    assert!(line.contains("can't find command '/no/such/bin'"), "{line}");
}

#[test]
fn missing_binary_on_path_is_fatal() {
    let line = fatal_reason(r#"cmd = "no-such-program-xyz""#);
    assert!(
        line.contains("can't find command 'no-such-program-xyz'"),
        "{line}"
    );
}

#[test]
fn not_executable_is_fatal_with_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    let script = dir.path().join("script.sh");
    std::fs::write(&script, "#!/bin/sh\nsleep 100\n").expect("write script");
    let line = fatal_reason(&format!("cmd = \"{}\"", script.display()));
    assert!(line.contains("is not executable"), "{line}");
}

#[test]
fn bad_workingdir_is_fatal_with_reason() {
    let line = fatal_reason("cmd = \"sleep 100\"\nworkingdir = \"/no/such/dir\"");
    assert!(line.contains("workingdir '/no/such/dir'"), "{line}");
}

#[test]
fn unknown_user_is_fatal_with_reason() {
    let line = fatal_reason("cmd = \"sleep 100\"\nuser = \"no-such-user-xyz\"");
    assert!(line.contains("unknown user 'no-such-user-xyz'"), "{line}");
}

#[test]
fn start_of_a_broken_command_reports_spawn_error() {
    let tm = Tm::start(
        "[taskmaster]\nsocket = false\n[programs.broken]\ncmd = \"/no/such/bin\"\nautostart = false\nstartretries = 0\n",
    );
    let r = tm.actions(Command::start(vec!["broken".into()]));
    assert_eq!(
        r[0].render(),
        "broken: ERROR (spawn error: can't find command '/no/such/bin')"
    );
    assert_eq!(
        tm.info("broken").state,
        StateName::Fatal,
        "startretries 0: FATAL at once"
    );
}

#[test]
fn user_drops_uid_gid_and_groups_when_root() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: dropping to another user needs taskmaster to run as root");
        return;
    }
    let tm = Tm::start(
        "[taskmaster]\nsocket = false\n[programs.nobody]\ncmd = \"sleep 1000\"\nuser = \"nobody\"\nstarttime = 0\n",
    );
    let pid = tm.running_pid("nobody");
    // The supervisor does not wait for the exec: look once the child runs `sleep`.
    wait_until(LONG, "the child exec'd sleep", || comm(pid) == "sleep");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let nobody = nix::unistd::User::from_name("nobody")
        .ok()
        .flatten()
        .expect("user nobody exists");
    let uid = nobody.uid.as_raw().to_string();
    let gid = nobody.gid.as_raw().to_string();
    let field = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    assert!(
        field("Uid:").iter().all(|u| *u == uid),
        "every uid is nobody's: {:?}",
        field("Uid:")
    );
    assert!(
        field("Gid:").iter().all(|g| *g == gid),
        "every gid is nobody's: {:?}",
        field("Gid:")
    );
    assert!(
        field("Groups:").iter().all(|g| *g == gid),
        "no supplementary group of root is kept: {:?}",
        field("Groups:")
    );
}

#[test]
fn exec_failure_in_the_child_is_a_failed_start_with_the_reason() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let binary = dir.path().join("not-a-program");
    // Executable but in no format the kernel can run: execve fails with ENOEXEC in the child.
    std::fs::write(&binary, [0u8, 1, 2, 3]).expect("write file");
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let line = fatal_reason(&format!("cmd = \"{}\"", binary.display()));
    assert!(line.contains("FATAL"), "{line}");
    assert!(
        line.contains("couldn't exec") && line.contains("Exec format error"),
        "{line}"
    );
}

#[test]
fn chdir_refused_to_the_user_is_a_failed_start_with_the_reason() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: running as another user needs taskmaster to run as root");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let private = dir.path().join("private");
    std::fs::create_dir(&private).expect("mkdir");
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let line = fatal_reason(&format!(
        "cmd = \"sleep 100\"\nuser = \"nobody\"\nworkingdir = \"{}\"",
        private.display()
    ));
    assert!(
        line.contains("couldn't chdir to") && line.contains("Permission denied"),
        "{line}"
    );
}
