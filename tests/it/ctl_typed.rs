//! The typed command path seen from `ctl` and the socket: `--json`, supervisorctl's words and
//! exit codes, per-name errors beside successes, bytes that are not UTF-8.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use crate::harness::binary::{BIN, Daemon};
use crate::harness::{LONG, wait_until};

const PROGRAMS: &str = r#"
[programs.running]
cmd = "sleep 1000"
starttime = 0.2

[programs.idle]
cmd = "sleep 1000"
autostart = false

[programs.binary]
cmd = "sh -c 'printf \"a\\377\\376b\\n\"; exec sleep 1000'"
starttime = 0.2

[programs.group]
cmd = "sleep 1000"
numprocs = 2
starttime = 0.2
"#;

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("valid JSON ({e}): {text}"))
}

#[test]
fn ctl_json_status_has_every_field() {
    let tm = Daemon::start(PROGRAMS);
    tm.wait_state("running", "RUNNING");
    let out = tm.ctl(&["--json", "status"]);
    assert_eq!(out.code, 3, "idle is STOPPED: exit 3 as in text: {out:?}");
    let data = json(&out.out);
    let procs = data.as_array().expect("status data is an array");
    assert_eq!(procs.len(), 5, "one object per process: {data}");
    let fields = [
        "name",
        "program",
        "state",
        "pid",
        "start_time",
        "uptime_s",
        "exit_code",
        "signal",
        "expected",
        "restarts",
        "description",
        "health",
    ];
    for p in procs {
        let obj = p.as_object().expect("a process is an object");
        for f in fields {
            assert!(obj.contains_key(f), "field {f} present in {p}");
        }
        assert_eq!(obj.len(), fields.len(), "no other field: {p}");
    }
    let running = procs
        .iter()
        .find(|p| p["name"] == "running")
        .expect("running listed");
    assert_eq!(running["state"], "RUNNING");
    assert!(running["pid"].as_u64().is_some_and(|p| p > 0), "{running}");
    assert!(running["uptime_s"].as_u64().is_some(), "{running}");
    assert!(
        running["start_time"].as_f64().is_some_and(|t| t > 1.6e9),
        "{running}"
    );
    assert!(
        running["health"].is_null(),
        "no health checks yet: {running}"
    );
    assert!(
        running["description"]
            .as_str()
            .is_some_and(|d| d.starts_with("pid ")),
        "{running}"
    );
    let member = procs
        .iter()
        .find(|p| p["name"] == "group:group_01")
        .expect("group member listed");
    assert_eq!(member["program"], "group");
    let idle = procs.iter().find(|p| p["name"] == "idle").expect("idle");
    assert_eq!(idle["state"], "STOPPED");
    assert!(
        idle["pid"].is_null() && idle["uptime_s"].is_null(),
        "{idle}"
    );

    let actions = tm.ctl(&["--json", "start", "idle", "nope"]);
    assert_eq!(actions.code, 1, "{actions:?}");
    assert_eq!(
        json(&actions.out),
        json(
            r#"[{"name":"idle","ok":true,"message":"started"},
                {"name":"nope","ok":false,"message":"no such process",
                 "fault":{"fault":"no_such_process","detail":"nope"}}]"#
        ),
        "one object per process"
    );
    let no_data = tm.ctl(&["--json", "help"]);
    assert_eq!(
        no_data.code, 1,
        "--json without data is an error: {no_data:?}"
    );
    assert!(no_data.err.contains("no data"), "{no_data:?}");
}

#[test]
fn supervisorctl_words_and_codes() {
    let tm = Daemon::start(PROGRAMS);
    tm.wait_state("running", "RUNNING");
    tm.wait_state("group:group_01", "RUNNING");

    let one_arg = tm.ctl(&["status running"]);
    assert_eq!(
        one_arg.code, 0,
        "`ctl 'status running'` as one argument: {one_arg:?}"
    );
    assert!(one_arg.out.starts_with("running "), "{one_arg:?}");

    let unknown = tm.ctl(&["status", "running", "nope", "nada:*"]);
    assert_eq!(unknown.code, 4, "an unknown name: 4 (LSB): {unknown:?}");
    let lines: Vec<&str> = unknown.out.lines().collect();
    assert_eq!(lines[0], "nope: ERROR (no such process)", "{unknown:?}");
    assert_eq!(lines[1], "nada: ERROR (no such group)", "{unknown:?}");
    assert!(lines[2].starts_with("running "), "{unknown:?}");

    let partial = tm.ctl(&["stop", "running", "nope"]);
    assert_eq!(
        (partial.out.as_str(), partial.code),
        ("running: stopped\nnope: ERROR (no such process)\n", 1),
        "the known name is acted on, the unknown reported"
    );
    let restart = tm.ctl(&["restart", "running"]);
    assert_eq!(
        (restart.out.as_str(), restart.code),
        ("running: ERROR (not running)\nrunning: started\n", 0),
        "supervisorctl's restart of a stopped process"
    );
    let restart = tm.ctl(&["restart", "running"]);
    assert_eq!(
        restart.out, "running: stopped\nrunning: started\n",
        "{restart:?}"
    );

    let pids = tm.ctl(&["pid", "group"]);
    let lines: Vec<&str> = pids.out.lines().collect();
    assert_eq!(lines.len(), 2, "{pids:?}");
    for (line, name) in lines.iter().zip(["group:group_00", "group:group_01"]) {
        let (n, pid) = line.split_once(' ').expect("NAME PID");
        assert_eq!(n, name, "{pids:?}");
        assert!(pid.parse::<u32>().is_ok_and(|p| p > 0), "{pids:?}");
    }
    assert!(
        tm.ctl(&["pid", "running"])
            .out
            .trim()
            .parse::<u32>()
            .is_ok(),
        "one process: the bare pid"
    );
    let fg = tm.ctl(&["fg"]);
    assert_eq!(
        (fg.out.trim(), fg.code),
        ("Error: fg requires one process name", 1)
    );
}

#[test]
fn reread_shows_the_difference_and_update_applies_it() {
    let tm = Daemon::start(PROGRAMS);
    tm.wait_state("running", "RUNNING");
    tm.rewrite(&format!(
        "{PROGRAMS}\n[programs.late]\ncmd = \"sleep 1000\"\n"
    ));
    let reread = tm.ctl(&["reread"]);
    assert_eq!((reread.out.as_str(), reread.code), ("late: available\n", 0));
    assert!(
        !tm.ctl(&["status"]).out.contains("late"),
        "reread changes nothing"
    );
    let update = tm.ctl(&["update"]);
    assert_eq!(update.out, "late: added process group\n", "{update:?}");
    tm.wait_state("late", "RUNNING");
    assert_eq!(
        tm.ctl(&["reread"]).out,
        "No config updates to processes\n",
        "nothing left to apply"
    );
}

#[test]
fn ctl_usage_and_config_errors_exit_1_not_2() {
    let out = std::process::Command::new(BIN)
        .args(["ctl", "-c", "/nonexistent.toml", "status"])
        .output()
        .expect("ctl runs");
    assert_eq!(
        out.status.code(),
        Some(1),
        "a config that cannot be read is a bad argument: {out:?}"
    );
}

#[test]
fn output_travels_as_bytes() {
    let tm = Daemon::start(PROGRAMS);
    tm.wait_state("binary", "RUNNING");
    let raw = || {
        tm.ctl_command(&["tail", "binary"])
            .output()
            .expect("ctl runs")
            .stdout
    };
    wait_until(LONG, "output captured", || !raw().is_empty());
    assert_eq!(raw(), b"a\xff\xfeb\n", "tail gives the bytes as they were");

    // tail -f over the socket: chunks are base64 of the exact bytes.
    let mut s = UnixStream::connect(&tm.socket).expect("connect");
    s.write_all(b"{\"cmd\":\"tail\",\"args\":[\"-f\",\"binary\"]}\n")
        .expect("request");
    let mut line = String::new();
    BufReader::new(s.try_clone().expect("clone"))
        .read_line(&mut line)
        .expect("a chunk");
    let msg = json(&line);
    assert_eq!(msg["stream"], "stdout", "{line}");
    let bytes = taskmaster::protocol::base64::decode(msg["bytes"].as_str().unwrap_or(""));
    assert_eq!(bytes.as_deref(), Some(&b"a\xff\xfeb\n"[..]), "{line}");
}

#[test]
fn typed_requests_and_words_reach_the_same_command() {
    let tm = Daemon::start(PROGRAMS);
    tm.wait_state("running", "RUNNING");
    let ask = |req: &str| {
        let mut s = UnixStream::connect(&tm.socket).expect("connect");
        s.write_all(req.as_bytes()).expect("request");
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).expect("reply");
        json(&line)
    };
    let typed = ask("{\"request\":{\"cmd\":\"pid\",\"target\":{\"process\":\"running\"}}}\n");
    let words = ask("{\"cmd\":\"pid\",\"args\":[\"running\"]}\n");
    assert_eq!(typed, words, "one command, two spellings");
    assert_eq!(typed["kind"], "pids", "{typed}");
    assert_eq!(typed["data"][0]["name"], "running", "{typed}");
    let bad = ask("{\"request\":{\"cmd\":\"launch\"}}\n");
    assert_eq!(
        bad["ok"], false,
        "an unknown typed command is refused: {bad}"
    );
}

/// Idle connections are dropped after a few seconds, and one slot is kept for `ctl`.
#[test]
fn idle_clients_are_dropped_and_ctl_always_gets_in() {
    use taskmaster::frontend::socket::{IDLE_TIMEOUT, MAX_CLIENTS};
    let tm = Daemon::start(PROGRAMS);
    let idle: Vec<UnixStream> = (0..MAX_CLIENTS)
        .filter_map(|_| UnixStream::connect(&tm.socket).ok())
        .collect();
    let status = tm.ctl(&["status", "running"]);
    assert!(
        status.out.starts_with("running "),
        "ctl gets in while {MAX_CLIENTS} idle clients hold every slot: {status:?}"
    );
    let mut first = idle.into_iter().next().expect("an idle client");
    first
        .set_read_timeout(Some(IDLE_TIMEOUT * 4))
        .expect("timeout");
    let t0 = std::time::Instant::now();
    let mut buf = [0u8; 16];
    // Other tests' children send this process SIGCHLD: a read may be interrupted.
    let n = loop {
        match first.read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Ok(n) => break n,
            Err(e) => panic!("read failed after {:?}: {e}", t0.elapsed()),
        }
    };
    assert_eq!(n, 0, "an idle client is disconnected (EOF)");
    assert!(
        t0.elapsed() < IDLE_TIMEOUT * 2 + Duration::from_secs(2),
        "within about IDLE_TIMEOUT: {:?}",
        t0.elapsed()
    );
}
