//! `taskmaster ctl` against a real headless taskmaster: every command, the status format of
//! every state, exit codes, reload by command and by SIGHUP.

use crate::harness::binary::{BIN, Daemon, ctl_at};
use crate::harness::procfs::gone;
use crate::harness::{LONG, wait_until};

const PROGRAMS: &str = r#"
[programs.running]
cmd = "sleep 1000"
starttime = 0.2

[programs.idle]
cmd = "sleep 1000"
autostart = false

[programs.chatty]
cmd = "sh -c 'echo out-line; echo err-line >&2; exec cat'"
starttime = 0.2

[programs.group]
cmd = "sleep 1000"
numprocs = 2
starttime = 0.2
"#;

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

fn head(name: &str, state: &str) -> String {
    format!("{name:<32} {state:<9} ")
}

#[test]
fn status_lists_every_process_and_exits_3_when_one_is_not_running() {
    let tm = Daemon::start(PROGRAMS);
    tm.wait_state("running", "RUNNING");
    tm.wait_state("group:*", "RUNNING");
    let all = tm.ctl(&["status"]);
    let names: Vec<&str> = lines(&all.out)
        .iter()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        names,
        [
            "chatty",
            "group:group_00",
            "group:group_01",
            "idle",
            "running"
        ],
        "every process in config order: {}",
        all.out
    );
    assert_eq!(all.code, 3, "idle is STOPPED, so status exits 3");
    let one = tm.ctl(&["status", "running"]);
    assert_eq!(
        one.code, 0,
        "all listed processes RUNNING: exit 0 ({one:?})"
    );
    let group = tm.ctl(&["status", "group:*"]);
    assert_eq!(
        lines(&group.out).len(),
        2,
        "group:* lists its two processes"
    );
    let unknown = tm.ctl(&["status", "nope"]);
    assert_eq!(
        unknown.code, 4,
        "unknown name: exit 4, as supervisorctl: {unknown:?}"
    );
    assert!(
        unknown.out.contains("nope"),
        "error names the unknown name: {unknown:?}"
    );
}

#[test]
fn start_stop_restart_report_per_process() {
    let tm = Daemon::start(PROGRAMS);
    let start = tm.ctl(&["start", "idle"]);
    assert_eq!(
        (start.out.trim(), start.code),
        ("idle: started", 0),
        "{start:?}"
    );
    let again = tm.ctl(&["start", "idle"]);
    assert_eq!(again.code, 1, "starting a running process fails: {again:?}");
    assert!(
        again.out.starts_with("idle: ERROR ("),
        "supervisorctl wording: {again:?}"
    );
    let pid_before = tm.ctl(&["pid", "idle"]).out;
    let restart = tm.ctl(&["restart", "idle"]);
    assert_eq!(restart.code, 0, "{restart:?}");
    assert!(restart.out.contains("idle: started"), "{restart:?}");
    assert_ne!(
        tm.ctl(&["pid", "idle"]).out,
        pid_before,
        "restart gives a new pid"
    );
    let stop = tm.ctl(&["stop", "idle", "group"]);
    assert_eq!(
        lines(&stop.out),
        [
            "idle: stopped",
            "group:group_00: stopped",
            "group:group_01: stopped"
        ],
        "one line per process: {stop:?}"
    );
    let missing = tm.ctl(&["start"]);
    assert_eq!(missing.code, 1, "start without a name: {missing:?}");
    assert_eq!(missing.out.trim(), "Error: start requires a process name");
}

#[test]
fn pid_tail_clear_signal_avail_help_version() {
    let tm = Daemon::start(PROGRAMS);
    tm.wait_state("chatty", "RUNNING");
    tm.wait_state("running", "RUNNING");
    assert_eq!(
        tm.ctl(&["pid"]).out.trim(),
        tm.pid().to_string(),
        "taskmaster's pid"
    );
    let pid: u32 = tm
        .ctl(&["pid", "running"])
        .out
        .trim()
        .parse()
        .expect("a pid");
    assert!(pid > 0, "running process has a pid");
    assert_eq!(
        lines(&tm.ctl(&["pid", "all"]).out).len(),
        5,
        "pid all: one per process"
    );

    wait_until(LONG, "chatty output captured", || {
        tm.ctl(&["tail", "chatty"]).out.contains("out-line")
    });
    assert_eq!(
        tm.ctl(&["tail", "chatty"]).out,
        "out-line\n",
        "tail shows stdout only"
    );
    assert_eq!(
        tm.ctl(&["tail", "chatty", "stderr"]).out,
        "err-line\n",
        "tail stderr"
    );
    let cleared = tm.ctl(&["clear", "chatty"]);
    assert_eq!(cleared.code, 0, "{cleared:?}");
    assert_eq!(
        tm.ctl(&["tail", "chatty"]).out,
        "",
        "cleared output is gone"
    );

    let sig = tm.ctl(&["signal", "KILL", "running"]);
    assert_eq!(sig.code, 0, "{sig:?}");
    wait_until(LONG, "running killed", || {
        tm.ctl(&["status", "running"])
            .out
            .contains("terminated by SIGKILL")
            || tm.ctl(&["pid", "running"]).out.trim() != pid.to_string()
    });
    let bad = tm.ctl(&["signal", "NOPE", "running"]);
    assert_eq!(
        (bad.out.trim(), bad.code),
        ("Error: bad signal name 'NOPE'", 1)
    );

    let avail = tm.ctl(&["avail"]);
    assert_eq!(
        lines(&avail.out).len(),
        4,
        "one line per program: {avail:?}"
    );
    assert!(
        avail.out.contains("2 processes"),
        "group's numprocs shown: {avail:?}"
    );
    assert!(
        tm.ctl(&["help"]).out.contains("attach  avail  clear"),
        "help lists commands"
    );
    assert!(
        tm.ctl(&["help", "tail"]).out.contains("tail -f"),
        "help for one command"
    );
    let version = tm.ctl(&["version"]).out;
    assert_eq!(
        version.trim(),
        format!("taskmaster {}", env!("CARGO_PKG_VERSION"))
    );
    let unknown = tm.ctl(&["frobnicate", "x"]);
    assert_eq!(
        (unknown.out.trim(), unknown.code),
        ("*** Unknown syntax: frobnicate x", 1)
    );
}

#[test]
fn attach_sends_stdin_and_shows_output() {
    let tm = Daemon::start(PROGRAMS);
    tm.wait_state("chatty", "RUNNING");
    let mut attach = tm
        .ctl_command(&["attach", "chatty"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("ctl attach starts");
    {
        use std::io::Write;
        let stdin = attach.stdin.as_mut().expect("piped stdin");
        writeln!(stdin, "typed-by-user").expect("write to ctl");
    }
    wait_until(LONG, "typed line echoed by cat", || {
        tm.ctl(&["tail", "chatty"]).out.contains("typed-by-user")
    });
    drop(attach.stdin.take());
    let out = attach.wait_with_output().expect("ctl attach ends at EOF");
    assert_eq!(
        out.status.code(),
        Some(0),
        "attach ends cleanly when stdin ends"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("out-line"),
        "attach shows the backlog: {text}"
    );
}

#[test]
fn ctl_exit_codes() {
    let tm = Daemon::start(PROGRAMS);
    tm.wait_state("running", "RUNNING");
    assert_eq!(tm.ctl(&["status", "running"]).code, 0, "ok");
    assert_eq!(tm.ctl(&["stop", "nope"]).code, 1, "error");
    assert_eq!(tm.ctl(&["status", "idle"]).code, 3, "status not RUNNING");
    let dead = ctl_at(&tm.path("nothing.sock"), &["status"]);
    assert_eq!(dead.code, 2, "unreachable socket: {dead:?}");
    assert!(
        dead.err.contains("nothing.sock"),
        "message names the path: {dead:?}"
    );
    // Without -s, the socket comes from the config.
    let via_config = std::process::Command::new(BIN)
        .args(["ctl", "-c"])
        .arg(&tm.config)
        .args(["status", "running"])
        .output()
        .expect("ctl runs");
    assert_eq!(via_config.status.code(), Some(0), "socket found through -c");
}

#[test]
fn shutdown_stops_taskmaster_and_removes_the_socket() {
    let mut tm = Daemon::start(PROGRAMS);
    let pid: u32 = {
        tm.wait_state("running", "RUNNING");
        tm.ctl(&["pid", "running"]).out.trim().parse().expect("pid")
    };
    let reply = tm.ctl(&["shutdown"]);
    assert_eq!(
        (reply.out.trim(), reply.code),
        ("Shut down", 0),
        "{reply:?}"
    );
    assert_eq!(tm.wait_exit(), 0, "taskmaster exits 0 after shutdown");
    assert!(!tm.socket.exists(), "socket file removed on exit");
    assert!(gone(pid), "children stopped and reaped");
}

#[test]
fn reload_by_command_and_by_sighup_report_alike() {
    let tm = Daemon::start(PROGRAMS);
    tm.rewrite(&format!(
        "{PROGRAMS}\n[programs.extra]\ncmd = \"sleep 1000\"\n"
    ));
    let reply = tm.ctl(&["reload"]);
    assert_eq!(
        (reply.out.trim(), reply.code),
        ("extra: added process group", 0),
        "{reply:?}"
    );
    wait_until(LONG, "reload logged", || {
        tm.log_text().contains("added [extra]")
    });

    tm.rewrite(&format!(
        "{PROGRAMS}\n[programs.extra2]\ncmd = \"sleep 1000\"\n"
    ));
    let pid = nix::unistd::Pid::from_raw(tm.pid() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).expect("SIGHUP sent");
    wait_until(LONG, "SIGHUP reload logged", || {
        tm.log_text().contains("added [extra2]")
    });
    let log = tm.log_text();
    let reloads: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("config reloaded"))
        .map(|l| l.split_once("config reloaded").map_or("", |(_, r)| r))
        .collect();
    assert_eq!(
        reloads,
        [
            ": added [extra], changed [], updated [], removed []",
            ": added [extra2], changed [], updated [], removed [extra]",
        ],
        "both reloads logged the same way"
    );
    let broken = tm.path("taskmaster.toml");
    std::fs::write(&broken, "[programs.x]\ncmd = \n").expect("write bad config");
    let refused = tm.ctl(&["reload"]);
    assert_eq!(refused.code, 1, "a bad config is refused: {refused:?}");
    assert!(
        refused.out.contains("taskmaster.toml"),
        "error names the file: {refused:?}"
    );
}

const STATES: &str = r#"
[programs.running]
cmd = "sleep 1000"
starttime = 0.2

[programs.idle]
cmd = "sleep 1000"
autostart = false

[programs.batch]
cmd = "sh -c 'sleep 0.5; exit 2'"
starttime = 0.1
autorestart = "never"
exitcodes = [0, 2]

[programs.broken]
cmd = "/no/such/bin"
startretries = 0

[programs.flaky]
cmd = "sh -c 'exit 1'"
starttime = 5
startretries = 100

[programs.slow]
cmd = "sleep 1000"
starttime = 600
"#;

/// `Nov 26 03:12 PM`: month, day, time, AM/PM.
fn is_clock(words: &[&str]) -> bool {
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    matches!(words, [m, d, t, ampm]
        if months.contains(m)
            && d.len() == 2 && d.chars().all(|c| c.is_ascii_digit())
            && t.len() == 5 && t.as_bytes()[2] == b':'
            && (*ampm == "AM" || *ampm == "PM"))
}

#[test]
fn status_format_of_every_state_is_supervisorctls() {
    let tm = Daemon::start(STATES);
    let running = tm.wait_state("running", "RUNNING");
    let rest = running
        .strip_prefix(&head("running", "RUNNING"))
        .unwrap_or_default();
    let (pid, uptime) = rest.split_once(", uptime ").unwrap_or_default();
    assert!(
        pid.starts_with("pid ") && pid[4..].parse::<u32>().is_ok(),
        "{running}"
    );
    assert!(uptime.starts_with("0:00:"), "uptime H:MM:SS: {running}");

    let idle = tm.wait_state("idle", "STOPPED");
    assert_eq!(idle, format!("{}Not started", head("idle", "STOPPED")));

    let batch = tm.wait_state("batch", "EXITED");
    let rest = batch
        .strip_prefix(&head("batch", "EXITED"))
        .unwrap_or_default();
    let (when, why) = rest.split_once(" (").unwrap_or_default();
    assert!(
        is_clock(&when.split(' ').collect::<Vec<_>>()),
        "clock: {batch}"
    );
    assert_eq!(why, "exit status 2; expected)", "exit description: {batch}");

    let broken = tm.wait_state("broken", "FATAL");
    assert_eq!(
        broken,
        format!(
            "{}can't find command '/no/such/bin'",
            head("broken", "FATAL")
        )
    );

    let flaky = tm.wait_state("flaky", "BACKOFF");
    assert_eq!(
        flaky,
        format!(
            "{}Exited too quickly (process log may have details)",
            head("flaky", "BACKOFF")
        )
    );

    let slow = tm.wait_state("slow", "STARTING");
    let pid = slow
        .strip_prefix(&head("slow", "STARTING"))
        .unwrap_or_default();
    assert!(
        pid.starts_with("pid ") && pid[4..].parse::<u32>().is_ok(),
        "{slow}"
    );
}

fn run_bin(
    dir: &std::path::Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> crate::harness::binary::Ctl {
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(args)
        .current_dir(dir)
        .env_remove("TASKMASTER_CONFIG")
        // No config of the machine's user may be found by the lookup.
        .env("XDG_CONFIG_HOME", dir.join("no-xdg"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(std::process::Stdio::null())
        .output()
        .expect("taskmaster runs")
        .into()
}

#[test]
fn check_version_help_and_config_lookup() {
    let dir = tempfile::tempdir().expect("temp dir");
    let none = run_bin(dir.path(), &["check"], &[]);
    assert_eq!(none.code, 1, "no config found: {none:?}");
    assert!(
        none.err.contains("$TASKMASTER_CONFIG")
            && none.err.contains("./taskmaster.toml")
            && none.err.contains("./configs/taskmaster.toml"),
        "names the places tried: {none:?}"
    );
    std::fs::create_dir(dir.path().join("configs")).expect("mkdir");
    let good = "[programs.a]\ncmd = \"true\"\n[programs.b]\ncmd = \"true\"\n";
    std::fs::write(dir.path().join("configs/taskmaster.toml"), good).expect("write");
    let found = run_bin(dir.path(), &["check"], &[]);
    assert_eq!(
        (found.out.trim(), found.code),
        ("config OK: 2 programs", 0),
        "{found:?}"
    );
    std::fs::write(dir.path().join("bad.toml"), "[programs.a]\nnope = 1\n").expect("write");
    let bad = run_bin(dir.path(), &["check"], &[("TASKMASTER_CONFIG", "bad.toml")]);
    assert_eq!(
        bad.code, 1,
        "$TASKMASTER_CONFIG wins over ./configs: {bad:?}"
    );
    assert!(
        bad.err.contains("bad.toml"),
        "error names the file: {bad:?}"
    );
    let explicit = run_bin(dir.path(), &["check", "-c", "configs/taskmaster.toml"], &[]);
    assert_eq!(explicit.code, 0, "-c: {explicit:?}");

    let version = run_bin(dir.path(), &["--version"], &[]);
    assert_eq!(
        version.out.trim(),
        format!("taskmaster {}", env!("CARGO_PKG_VERSION"))
    );
    let help = run_bin(dir.path(), &["--help"], &[]);
    assert!(help.out.contains("taskmaster ctl"), "usage shown: {help:?}");
    let wrong = run_bin(dir.path(), &["--frob"], &[]);
    assert_eq!(wrong.code, 1, "unknown flag: {wrong:?}");
    assert!(wrong.err.contains("--frob"), "{wrong:?}");
}

#[test]
fn sigterm_ends_headless_taskmaster_cleanly() {
    let mut tm = Daemon::start(PROGRAMS);
    tm.wait_state("running", "RUNNING");
    let pid: u32 = tm.ctl(&["pid", "running"]).out.trim().parse().expect("pid");
    let me = nix::unistd::Pid::from_raw(tm.pid() as i32);
    nix::sys::signal::kill(me, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM sent");
    assert_eq!(tm.wait_exit(), 0, "exit 0 after SIGTERM");
    assert!(!tm.socket.exists(), "socket removed");
    assert!(gone(pid), "children stopped");
}
