//! Output capture, files, discard, stdin, environment, working directory and umask.

use std::time::Duration;

use taskmaster::output::Stream;
use taskmaster::supervisor::{Command, Reply, StateName};

use crate::harness::inprocess::Tm;
use crate::harness::{LONG, read, wait_until};

fn tail_text(tm: &Tm, name: &str, stream: Option<Stream>) -> String {
    tm.handle
        .output()
        .tail(name, stream, 64 * 1024)
        .unwrap_or_default()
        .iter()
        .map(|c| String::from_utf8_lossy(&c.data).into_owned())
        .collect()
}

#[test]
fn stdout_and_stderr_go_to_files_and_the_tail() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.talker]
cmd = "sh -c 'echo out-line; echo err-line >&2; sleep 1000'"
starttime = 0
stdout = "{dir}/out.log"
stderr = "{dir}/err.log"
"#,
    );
    wait_until(LONG, "files written", || {
        read(&tm.path("out.log")) == "out-line\n" && read(&tm.path("err.log")) == "err-line\n"
    });
    wait_until(LONG, "tail captured", || {
        tail_text(&tm, "talker", Some(Stream::Stdout)) == "out-line\n"
            && tail_text(&tm, "talker", Some(Stream::Stderr)) == "err-line\n"
    });
}

#[test]
fn false_discards_and_omitted_captures_only() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.quiet]
cmd = "sh -c 'echo hidden; echo shown >&2; sleep 1000'"
starttime = 0
stdout = false
"#,
    );
    wait_until(LONG, "stderr captured", || {
        tail_text(&tm, "quiet", None).contains("shown")
    });
    assert!(
        !tail_text(&tm, "quiet", None).contains("hidden"),
        "stdout=false discards"
    );
}

#[test]
fn env_workingdir_and_umask_apply_to_the_child() {
    // SAFETY-free: the variable is only read by children.
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.envy]
cmd = "sh -c 'echo \"$STARTED_BY $ANSWER $HOME\" > env.txt; pwd > pwd.txt; touch made; sleep 1000'"
workingdir = "{dir}"
umask = "077"
starttime = 0
env = { STARTED_BY = "taskmaster", ANSWER = 42 }
"#,
    );
    wait_until(LONG, "child wrote its files", || tm.path("made").exists());
    let home = std::env::var("HOME").unwrap_or_default();
    assert_eq!(
        read(&tm.path("env.txt")).trim(),
        format!("taskmaster 42 {home}"),
        "env = inherited + configured"
    );
    let canonical = std::fs::canonicalize(tm.dir.path()).expect("canonical dir");
    assert_eq!(
        read(&tm.path("pwd.txt")).trim(),
        canonical.display().to_string()
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(tm.path("made"))
        .expect("made")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "umask 077 gives 0600 files");
}

#[test]
fn child_sees_only_descriptors_0_1_2() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.fds]
cmd = "sh -c 'ls /proc/self/fd > fds.txt; touch done; sleep 1000'"
workingdir = "{dir}"
starttime = 0
"#,
    );
    wait_until(LONG, "child listed its fds", || tm.path("done").exists());
    let mut fds: Vec<u32> = read(&tm.path("fds.txt"))
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect();
    fds.sort();
    // ls itself opens one descriptor to read the directory: 3.
    assert_eq!(
        fds,
        [0, 1, 2, 3],
        "only stdio (plus ls's own dir fd) is open in the child"
    );
}

#[test]
fn stdin_lines_reach_the_child() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.echo]
cmd = "cat"
starttime = 0
"#,
    );
    tm.wait_state("echo", StateName::Running);
    match tm.call(Command::WriteStdin {
        name: "echo".into(),
        data: b"hello child\n".to_vec(),
    }) {
        Ok(Reply::Done) => {}
        other => panic!("stdin write should succeed, got {other:?}"),
    }
    wait_until(LONG, "cat echoed the line", || {
        tail_text(&tm, "echo", None).contains("hello child")
    });
}

/// The acceptance test: 1 GiB through stdout into a file, every byte arrives, the engine
/// answers status meanwhile, and memory stays bounded.
#[test]
fn one_gib_of_stdout_reaches_the_file_with_bounded_memory() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.flood]
cmd = "head -c 1073741824 /dev/zero"
starttime = 0
autorestart = "never"
stdout = "{dir}/flood.out"
stdout_maxbytes = 0
"#,
    );
    let rss_before = crate::harness::procfs::rss_kib();
    let mut peak = rss_before;
    let mut answered = 0;
    let file = tm.path("flood.out");
    wait_until(Duration::from_secs(120), "1 GiB in the file", || {
        let t0 = std::time::Instant::now();
        let _ = tm.info("flood");
        assert!(
            t0.elapsed() < Duration::from_secs(1),
            "status answered within 1 s during the flood"
        );
        answered += 1;
        peak = peak.max(crate::harness::procfs::rss_kib());
        std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0) >= 1 << 30
    });
    tm.wait_state("flood", StateName::Exited);
    assert_eq!(
        std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0),
        1 << 30,
        "every byte, no more"
    );
    assert!(answered > 1, "status was asked during the flood");
    // RSS is the whole test binary's: other tests (alert storms, pty floods) run beside this
    // one and allocate too, so the bound only has to tell "bounded" from "buffered the GiB".
    assert!(
        peak < rss_before + 256 * 1024,
        "RSS grew by at most 256 MiB while 1 GiB flowed: {rss_before} -> {peak} KiB"
    );
    let _ = std::fs::remove_file(&file);
}
