//! Alerts with real sinks (interface.md section 9): an exec command, a webhook received by a
//! real HTTP/HTTPS listener, a syslog datagram socket bound by the test; failures reported as
//! events; a hung endpoint never delays supervision.

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use taskmaster::supervisor::StateName;
use taskmaster::supervisor::events::{Event, EventKind};

use crate::harness::inprocess::{Tm, alert_counters, wait_event};
use crate::harness::webhook::{Answer, Hook};
use crate::harness::{kill_group, wait_until};

const CRASH: &str = "[programs.crash]\ncmd = \"sh -c 'exit 3'\"\nstarttime = 0.5\nstartretries = 0\nautostart = false\n";

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("valid JSON ({e}): {text}"))
}

#[test]
fn exec_alert_gets_the_json_on_stdin_and_the_variables() {
    let tm = Tm::start(&format!(
        "{CRASH}[alerts.page]\non = [\"fatal\"]\n\
         exec = \"sh -c 'cat > {{dir}}/in.json; env | grep ^TASKMASTER_ | sort > {{dir}}/env.txt; mv {{dir}}/in.json {{dir}}/done.json'\"\n"
    ));
    tm.actions(taskmaster::supervisor::Command::start(vec!["crash".into()]));
    let done = tm.path("done.json");
    wait_until(Duration::from_secs(10), "the alert command ran", || {
        done.exists()
    });
    let ev = json(&std::fs::read_to_string(&done).expect("stdin copy"));
    assert_eq!(ev["event"], "fatal", "{ev}");
    assert_eq!(ev["process"], "crash");
    assert_eq!(ev["to"], "FATAL");
    assert_eq!(ev["tries"], 1);
    assert!(
        ev["reason"]
            .as_str()
            .is_some_and(|r| r.contains("Exited too quickly")),
        "{ev}"
    );
    let env = std::fs::read_to_string(tm.path("env.txt")).expect("env copy");
    for want in [
        "TASKMASTER_EVENT=fatal",
        "TASKMASTER_PROGRAM=crash",
        "TASKMASTER_PROCESS=crash",
        "TASKMASTER_TO=FATAL",
        "TASKMASTER_COUNT=1",
        &format!("TASKMASTER_SERIAL={}", ev["serial"]),
    ] {
        assert!(env.lines().any(|l| l == want), "{want} in:\n{env}");
    }
    wait_until(Duration::from_secs(5), "the delivery counted", || {
        alert_counters(&tm.handle, "page").0 == 1
    });
}

#[test]
fn digest_sends_one_array_with_every_event_of_the_window() {
    let tm = Tm::start(
        "[programs.a]\ncmd = \"sleep 100\"\nstarttime = 0\nnumprocs = 4\n\
         [alerts.batch]\non = [\"exited\"]\ndigest = 1\n\
         exec = \"sh -c 'cat > {dir}/in.json; echo $TASKMASTER_COUNT > {dir}/count; mv {dir}/in.json {dir}/done.json'\"\n",
    );
    let pids: Vec<u32> = (0..4)
        .map(|i| {
            tm.wait_state(&format!("a:a_0{i}"), StateName::Running)
                .pid
                .expect("pid")
        })
        .collect();
    for pid in pids {
        kill_group(pid);
    }
    let done = tm.path("done.json");
    wait_until(Duration::from_secs(10), "the digest went out", || {
        done.exists()
    });
    let batch = json(&std::fs::read_to_string(&done).expect("digest"));
    let arr = batch.as_array().expect("a digest is an array");
    assert_eq!(arr.len(), 4, "four exits in one window: {batch}");
    assert!(
        arr.iter()
            .all(|e| e["event"] == "exited_unexpected" && e["signal"] == "SIGKILL")
    );
    let count = std::fs::read_to_string(tm.path("count")).expect("count");
    assert_eq!(count.trim(), "4", "TASKMASTER_COUNT is the batch size");
}

#[test]
fn webhook_posts_the_event_over_http() {
    let hook = Hook::http(Answer::Status(200));
    let tm = Tm::start(&format!(
        "[programs.web]\ncmd = \"sleep 100\"\nstarttime = 0\n\
         [alerts.hook]\non = [\"exited_unexpected\", \"recovered\"]\nwebhook = \"{}\"\n",
        hook.url("http")
    ));
    let pid = tm.running_pid("web");
    kill_group(pid);
    let got = hook.wait_for(2, Duration::from_secs(10));
    assert_eq!(got[0].path, "/hooks/T0/secret");
    assert!(
        got[0]
            .headers
            .to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{}",
        got[0].headers
    );
    let first = json(&got[0].body);
    let second = json(&got[1].body);
    assert_eq!(first["event"], "exited_unexpected");
    assert_eq!(first["pid"], pid);
    assert_eq!(first["signal"], "SIGKILL");
    assert_eq!(first["expected"], false);
    assert_eq!(second["event"], "recovered");
    assert!(
        second["serial"].as_u64() > first["serial"].as_u64(),
        "serials grow"
    );
    assert!(
        first["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("exited: web"))
    );
}

#[test]
fn webhook_over_https_trusts_the_configured_ca_and_refuses_an_unknown_one() {
    let hook = Hook::https(Answer::Status(204));
    let ca = tempfile::NamedTempFile::new().expect("ca file");
    std::fs::write(ca.path(), hook.cert_pem.as_deref().expect("pem")).expect("write ca");
    let tm = Tm::start(&format!(
        "[programs.web]\ncmd = \"sleep 100\"\nautostart = false\n\
         [alerts.good]\nwebhook = \"{url}\"\nca = \"{ca}\"\n\
         [alerts.untrusted]\nwebhook = \"{url}\"\ntimeout = 2\n",
        url = hook.url("https"),
        ca = ca.path().display()
    ));
    assert!(matches!(
        tm.call(taskmaster::supervisor::Command::AlertTest {
            name: "good".into()
        }),
        Ok(taskmaster::supervisor::Reply::Text(_))
    ));
    let got = hook.wait_for(1, Duration::from_secs(10));
    assert_eq!(json(&got[0].body)["event"], "test");
    assert!(
        tm.call(taskmaster::supervisor::Command::AlertTest {
            name: "untrusted".into()
        })
        .is_ok(),
        "the alert exists"
    );
    let failed = wait_event(&tm.handle, EventKind::AlertFailed, |e| {
        e.alert.as_deref() == Some("untrusted")
    });
    let why = failed.reason.clone().unwrap_or_default();
    assert!(
        why.to_ascii_lowercase().contains("certificate") || why.contains("UnknownIssuer"),
        "a TLS failure: {why}"
    );
    assert!(
        !why.contains("secret"),
        "the URL's path (a secret for chat hooks) is not logged: {why}"
    );
    assert_eq!(alert_counters(&tm.handle, "good"), (1, 0, 0));
}

#[test]
fn webhook_500_is_retried_three_times_then_reported() {
    let hook = Hook::http(Answer::Status(500));
    let tm = Tm::start(&format!(
        "[programs.web]\ncmd = \"sleep 100\"\nautostart = false\n\
         [alerts.hook]\nwebhook = \"{}\"\n",
        hook.url("http")
    ));
    assert!(
        tm.call(taskmaster::supervisor::Command::AlertTest {
            name: "hook".into()
        })
        .is_ok(),
        "the alert exists"
    );
    let failed = wait_event(&tm.handle, EventKind::AlertFailed, |_| true);
    assert_eq!(hook.received().len(), 4, "one attempt and 3 retries");
    let why = failed.reason.clone().unwrap_or_default();
    assert!(
        why.contains("HTTP 500") && why.contains("4 attempts"),
        "{why}"
    );
    let got = hook.received();
    assert!(
        got[3].at - got[0].at >= Duration::from_millis(250 + 500 + 1000),
        "retries back off"
    );
    assert_eq!(alert_counters(&tm.handle, "hook"), (0, 1, 0));
}

#[test]
fn unreachable_and_slow_webhooks_fail_with_the_reason() {
    // A port that was free a moment ago: nothing listens there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let slow = Hook::http(Answer::After(Duration::from_secs(3)));
    let tm = Tm::start(&format!(
        "[programs.web]\ncmd = \"sleep 100\"\nautostart = false\n\
         [alerts.down]\nwebhook = \"http://127.0.0.1:{closed}/x\"\n\
         [alerts.slow]\nwebhook = \"{}\"\ntimeout = 0.3\n",
        slow.url("http")
    ));
    assert!(
        tm.call(taskmaster::supervisor::Command::AlertTest {
            name: "down".into()
        })
        .is_ok(),
        "the alert exists"
    );
    assert!(
        tm.call(taskmaster::supervisor::Command::AlertTest {
            name: "slow".into()
        })
        .is_ok(),
        "the alert exists"
    );
    let down = wait_event(&tm.handle, EventKind::AlertFailed, |e| {
        e.alert.as_deref() == Some("down")
    });
    assert!(
        down.reason
            .as_deref()
            .is_some_and(|r| r.to_ascii_lowercase().contains("refused")),
        "{down:?}"
    );
    let slow_ev = wait_event(&tm.handle, EventKind::AlertFailed, |e| {
        e.alert.as_deref() == Some("slow")
    });
    assert!(
        slow_ev
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("timeout")),
        "{slow_ev:?}"
    );
}

#[test]
fn syslog_alert_sends_an_rfc5424_datagram() {
    let dir = tempfile::tempdir().expect("dir");
    let sock_path = dir.path().join("log.sock");
    let sock = UnixDatagram::bind(&sock_path).expect("bind the test's /dev/log");
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let tm = Tm::start(&format!(
        "{CRASH}[alerts.sys]\non = [\"fatal\"]\nsyslog = \"{}\"\n",
        sock_path.display()
    ));
    tm.actions(taskmaster::supervisor::Command::start(vec!["crash".into()]));
    let mut buf = vec![0u8; 4096];
    let n = sock.recv(&mut buf).expect("a datagram arrives");
    let line = String::from_utf8_lossy(&buf[..n]).into_owned();
    // <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD SP MSG
    let parts: Vec<&str> = line.splitn(8, ' ').collect();
    assert_eq!(
        parts[0], "<26>1",
        "facility daemon (3), severity critical (2): {line}"
    );
    assert!(
        parts[1].contains('T') && parts[1].len() >= 29,
        "RFC 3339 time: {line}"
    );
    assert_eq!(parts[3], "taskmaster");
    assert_eq!(parts[4], std::process::id().to_string());
    assert_eq!(parts[5], "fatal");
    assert_eq!(parts[6], "-");
    assert!(
        parts[7].starts_with("gave up: crash entered FATAL state"),
        "{line}"
    );
}

#[test]
fn exec_failures_are_reported_and_a_hung_command_is_killed() {
    let tm = Tm::start(
        "[programs.web]\ncmd = \"sleep 100\"\nautostart = false\n\
         [alerts.missing]\nexec = \"/no/such/pager\"\n\
         [alerts.nonzero]\nexec = \"sh -c 'echo bad news >&2; exit 3'\"\n\
         [alerts.hung]\nexec = \"sh -c 'echo $$ > {dir}/hung.pid; exec sleep 100'\"\ntimeout = 0.5\n\
         [alerts.chatty]\nexec = \"sh -c 'head -c 5000000 /dev/zero; head -c 5000000 /dev/zero >&2'\"\n",
    );
    let started = Instant::now();
    for name in ["missing", "nonzero", "hung", "chatty"] {
        assert!(
            tm.call(taskmaster::supervisor::Command::AlertTest { name: name.into() })
                .is_ok()
        );
    }
    let reason = |name: &str| {
        wait_event(&tm.handle, EventKind::AlertFailed, |e| {
            e.alert.as_deref() == Some(name)
        })
        .reason
        .clone()
        .unwrap_or_default()
    };
    assert!(reason("missing").contains("cannot run '/no/such/pager'"));
    let nonzero = reason("nonzero");
    assert!(
        nonzero.contains("exit status 3") && nonzero.contains("bad news"),
        "{nonzero}"
    );
    let hung = reason("hung");
    assert!(hung.contains("killed"), "{hung}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "killed at its timeout"
    );
    let pid: i32 = std::fs::read_to_string(tm.path("hung.pid"))
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    wait_until(Duration::from_secs(5), "the hung command is gone", || {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err()
    });
    wait_until(
        Duration::from_secs(20),
        "10 MB of output read to the end",
        || alert_counters(&tm.handle, "chatty").0 == 1,
    );
}

#[test]
fn a_hung_webhook_never_delays_a_restart() {
    let hook = Hook::http(Answer::Never);
    let tm = Tm::start(&format!(
        // Quick deaths are restarted after 0.1 s (the never-spin rule, capped here).
        "[programs.web]\ncmd = \"sleep 100\"\nstarttime = 0\nrestart_delay_max = 0.1\n\
         [alerts.hook]\non = [\"exited\", \"spawned\", \"running\", \"recovered\"]\nwebhook = \"{}\"\ntimeout = 30\n",
        hook.url("http")
    ));
    let mut pid = tm.running_pid("web");
    hook.wait_for(1, Duration::from_secs(10));
    let mut worst = Duration::ZERO;
    for _ in 0..20 {
        let killed = Instant::now();
        kill_group(pid);
        let mut next = None;
        wait_until(Duration::from_secs(5), "a new pid RUNNING", || {
            let p = tm.info("web");
            next = p.pid.filter(|n| *n != pid && p.state == StateName::Running);
            next.is_some()
        });
        worst = worst.max(killed.elapsed());
        pid = next.expect("new pid");
    }
    assert!(
        worst < Duration::from_millis(1_000),
        "each restart within the usual time while the webhook hangs (worst {worst:?})"
    );
    assert_eq!(
        hook.received().len(),
        1,
        "the first delivery is still hanging"
    );
}

#[test]
fn events_follow_streams_transitions_in_serial_order() {
    let tm = Tm::start("[programs.web]\ncmd = \"sleep 100\"\nstarttime = 0\n");
    let pid = tm.running_pid("web");
    let follow = match tm.call(taskmaster::supervisor::Command::Events { follow: true }) {
        Ok(taskmaster::supervisor::Reply::Follow(f)) => f,
        other => panic!("a backlog and a stream, got {other:?}"),
    };
    let parse = |data: &[u8]| -> Event {
        assert_eq!(data.last(), Some(&b'\n'), "one JSON line per event");
        serde_json::from_slice(data).expect("an event as JSON")
    };
    let backlog: Vec<Event> = follow.backlog.iter().map(|c| parse(&c.data)).collect();
    let kinds: Vec<EventKind> = backlog
        .iter()
        .map(|e| e.kind)
        .filter(|k| *k != EventKind::Note)
        .collect();
    assert_eq!(
        kinds,
        [EventKind::Started, EventKind::Spawned, EventKind::Running],
        "the backlog has what happened so far"
    );
    kill_group(pid);
    let mut got: Vec<Event> = Vec::new();
    while got.iter().filter(|e| e.kind != EventKind::Note).count() < 4 {
        let chunk = follow
            .rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the next event arrives");
        got.push(parse(&chunk.data));
    }
    assert!(
        got.iter()
            .any(|e| e.kind == EventKind::Note && e.text.starts_with("restarting: web")),
        "the log's other lines are in the stream too: {got:?}"
    );
    let kinds: Vec<EventKind> = got
        .iter()
        .map(|e| e.kind)
        .filter(|k| *k != EventKind::Note)
        .collect();
    assert_eq!(
        kinds,
        [
            EventKind::ExitedUnexpected,
            EventKind::Spawned,
            EventKind::Running,
            EventKind::Recovered
        ]
    );
    let serials: Vec<u64> = backlog.iter().chain(&got).map(|e| e.serial).collect();
    assert!(
        serials.windows(2).all(|w| w[1] == w[0] + 1),
        "serials count up by one: {serials:?}"
    );
}

/// The README's mail example, with a stand-in `mail` first on PATH that records what it got.
#[test]
fn the_readme_mail_example_sends_a_digest_with_a_subject() {
    let tm = Tm::start(
        "[programs.a]\ncmd = \"sleep 100\"\nstarttime = 0\nnumprocs = 2\n\
         [alerts.mail]\non = [\"exited\"]\ndigest = 0.5\n\
         exec = '''sh -c 'PATH={dir}/bin:$PATH mail -s \"[taskmaster] $TASKMASTER_COUNT event(s), last: $TASKMASTER_EVENT $TASKMASTER_PROCESS\" ops@example.com' '''\n",
    );
    let bin = tm.path("bin");
    std::fs::create_dir(&bin).expect("bin dir");
    let mail = bin.join("mail");
    std::fs::write(
        &mail,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > {0}/args\ncat > {0}/body.tmp\nmv {0}/body.tmp {0}/body\n",
            tm.path("").display()
        ),
    )
    .expect("stub");
    std::fs::set_permissions(&mail, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let a0 = tm.running_pid("a:a_00");
    let a1 = tm.running_pid("a:a_01");
    kill_group(a0);
    kill_group(a1);
    let body = tm.path("body");
    wait_until(Duration::from_secs(10), "the mail went out", || {
        body.exists()
    });
    let args = std::fs::read_to_string(tm.path("args")).expect("args");
    let lines: Vec<&str> = args.lines().collect();
    assert_eq!(lines[0], "-s");
    assert!(
        lines[1].starts_with("[taskmaster] 2 event(s), last: exited_unexpected a:a_0"),
        "{args}"
    );
    assert_eq!(lines[2], "ops@example.com");
    let batch = json(&std::fs::read_to_string(&body).expect("body"));
    assert_eq!(batch.as_array().map(Vec::len), Some(2), "{batch}");
}

/// taskmaster's own `started` and `stopping` reach the alerts, also through a digest whose
/// window is still open at shutdown: the real binary, stopped by SIGTERM, delivers what is
/// queued before it exits (the digest goes out at once, not after its 30 s).
#[test]
fn started_and_stopping_are_delivered_before_the_binary_exits() {
    let mut d = crate::harness::binary::Daemon::start(
        "[programs.web]\ncmd = \"sleep 100\"\nstarttime = 0\n\
         [alerts.each]\non = [\"started\", \"stopping\"]\n\
         exec = \"sh -c 'cat >> {dir}/each.json; echo >> {dir}/each.json'\"\n\
         [alerts.batch]\non = [\"started\", \"stopping\"]\ndigest = 30\n\
         exec = \"sh -c 'cat > {dir}/batch.json'\"\n",
    );
    let each = d.path("each.json");
    let batch = d.path("batch.json");
    let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap_or_default();
    wait_until(Duration::from_secs(10), "started delivered", || {
        read(&each).contains(r#""event":"started""#)
    });
    assert!(!batch.exists(), "the digest's window is still open");
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(d.pid() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let t0 = Instant::now();
    assert_eq!(d.wait_exit(), 0, "TERM exits 0");
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "shutdown is not held up by the digest's window"
    );
    // The shutdown waits up to a second for the workers; polled all the same, for a loaded
    // machine.
    wait_until(Duration::from_secs(5), "stopping delivered", || {
        read(&each).contains(r#""event":"stopping""#)
    });
    let lines: Vec<serde_json::Value> = read(&each).lines().map(json).collect();
    let kinds: Vec<&str> = lines.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(kinds, ["started", "stopping"], "{lines:?}");
    // The command may still be writing as taskmaster exits: poll for the whole array.
    wait_until(Duration::from_secs(5), "the digest delivered", || {
        serde_json::from_str::<serde_json::Value>(&read(&batch)).is_ok()
    });
    let digest = json(&read(&batch));
    let kinds: Vec<&str> = digest
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["event"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(kinds, ["started", "stopping"], "{digest}");
}
