//! `/metrics` (interface.md section 9): scraped over TCP and parsed line by line, the values
//! checked against `status`; a taken port is a clean start-up error of the real binary.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use taskmaster::supervisor::{Command, StateName};

use crate::harness::binary::{BIN, Daemon};
use crate::harness::inprocess::Tm;
use crate::harness::{LONG, kill_group, wait_until};

/// `GET /metrics` over a fresh connection: (status line, body).
fn scrape(port: u16, path: &str) -> (String, String) {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).expect("connect to metrics");
    write!(conn, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").expect("request");
    let mut text = String::new();
    conn.read_to_string(&mut text).expect("read the answer");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

/// Samples by `name{labels}`; checks every sample's family has HELP and TYPE before it.
fn parse(body: &str) -> BTreeMap<String, f64> {
    let mut help = BTreeSet::new();
    let mut typed = BTreeSet::new();
    let mut samples = BTreeMap::new();
    for line in body.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            help.insert(rest.split(' ').next().unwrap_or("").to_string());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut w = rest.split(' ');
            let name = w.next().unwrap_or("").to_string();
            assert!(
                matches!(w.next(), Some("gauge" | "counter")),
                "a known type: {line}"
            );
            typed.insert(name);
        } else {
            let (series, value) = line.rsplit_once(' ').expect("`series value`");
            let family = series.split('{').next().unwrap_or("");
            assert!(
                help.contains(family) && typed.contains(family),
                "HELP and TYPE precede {line}"
            );
            let v: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("a number in {line}"));
            samples.insert(series.to_string(), v);
        }
    }
    for family in [
        "taskmaster_process_state",
        "taskmaster_process_up",
        "taskmaster_process_start_time_seconds",
        "taskmaster_process_restarts_total",
        "taskmaster_process_exit_code",
        "taskmaster_process_healthy",
        "taskmaster_log_bytes_total",
        "taskmaster_alerts_sent_total",
        "taskmaster_alerts_failed_total",
        "taskmaster_alerts_dropped_total",
        "taskmaster_reloads_total",
    ] {
        assert!(
            help.contains(family) && typed.contains(family),
            "{family} is exposed"
        );
    }
    samples
}

#[test]
fn metrics_match_status_line_by_line() {
    let tm = Tm::start(
        "[programs.web]\ncmd = \"sh -c 'echo hello; exec sleep 100'\"\nstarttime = 0\nnumprocs = 2\n\
         [programs.idle]\ncmd = \"sleep 100\"\nautostart = false\n\
         [alerts.log]\nsyslog = \"{dir}/nowhere.sock\"\non = [\"exited\"]\n",
    );
    let listener = taskmaster::metrics::bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
    let port = listener.local_addr().expect("addr").port();
    taskmaster::metrics::start(listener, tm.handle.clone()).expect("serve");
    let pid = tm.running_pid("web:web_00");
    tm.wait_state("web:web_01", StateName::Running);
    kill_group(pid);
    wait_until(Duration::from_secs(10), "web_00 restarted", || {
        let p = tm.info("web:web_00");
        p.restarts == 1 && p.state == StateName::Running
    });
    wait_until(
        Duration::from_secs(10),
        "the failed syslog delivery counted",
        || tm.handle.alert_counters().iter().any(|(_, c)| c.1 == 1),
    );
    // Snapshots are published every 20 ms: wait for one that has the restart.
    let mut m = BTreeMap::new();
    wait_until(
        Duration::from_secs(5),
        "the scrape shows the restart",
        || {
            let (status, body) = scrape(port, "/metrics");
            assert_eq!(status, "HTTP/1.1 200 OK");
            m = parse(&body);
            m.get("taskmaster_process_restarts_total{process=\"web:web_00\",program=\"web\"}")
                == Some(&1.0)
        },
    );
    let snap = tm.status();
    for p in &snap.processes {
        let id = format!("process=\"{}\",program=\"{}\"", p.name, p.program);
        for s in StateName::ALL {
            let want = if p.state == s { 1.0 } else { 0.0 };
            let key = format!("taskmaster_process_state{{{id},state=\"{s}\"}}");
            assert_eq!(m.get(&key), Some(&want), "{key}");
        }
        let up = if p.state == StateName::Running {
            1.0
        } else {
            0.0
        };
        assert_eq!(m.get(&format!("taskmaster_process_up{{{id}}}")), Some(&up));
        assert_eq!(
            m.get(&format!("taskmaster_process_restarts_total{{{id}}}")),
            Some(&f64::from(p.restarts))
        );
    }
    assert_eq!(
        m.get("taskmaster_process_exit_code{process=\"web:web_00\",program=\"web\"}"),
        Some(&-9.0),
        "killed by signal 9"
    );
    assert!(
        m.get(
            "taskmaster_log_bytes_total{process=\"web:web_01\",program=\"web\",stream=\"stdout\"}"
        )
        .is_some_and(|b| *b >= 6.0),
        "hello\\n counted"
    );
    assert_eq!(
        m.get("taskmaster_alerts_failed_total{alert=\"log\"}"),
        Some(&1.0)
    );
    assert_eq!(
        m.get("taskmaster_alerts_dropped_total{alert=\"log\"}"),
        Some(&0.0)
    );
    assert_eq!(m.get("taskmaster_reloads_total{result=\"ok\"}"), Some(&0.0));
    assert!(tm.call(Command::Reload).is_ok(), "the reload applies");
    wait_until(Duration::from_secs(5), "the reload counted", || {
        parse(&scrape(port, "/metrics").1).get("taskmaster_reloads_total{result=\"ok\"}")
            == Some(&1.0)
    });
    assert_eq!(scrape(port, "/").0, "HTTP/1.1 404 Not Found");
}

#[test]
fn a_taken_metrics_port_is_a_clear_start_up_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("t.toml");
    std::fs::write(
        &config,
        format!(
            "[taskmaster]\nsocket = false\nmetrics = \"127.0.0.1:{port}\"\n\
             [programs.marker]\ncmd = \"touch {}/ran\"\n",
            dir.path().display()
        ),
    )
    .expect("config");
    let out = std::process::Command::new(BIN)
        .arg("-c")
        .arg(&config)
        .arg("--headless")
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "exits 1: {err}");
    assert!(
        err.contains(&format!("cannot serve metrics on 127.0.0.1:{port}"))
            && err.contains("in use"),
        "says which address and why: {err}"
    );
    assert!(!dir.path().join("ran").exists(), "no program started");
}

#[test]
fn the_real_binary_serves_metrics_and_logs_failed_deliveries() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let d = Daemon::start(&format!(
        "metrics = \"127.0.0.1:{port}\"\n\
         [programs.web]\ncmd = \"sleep 100\"\nstarttime = 0\n\
         [alerts.hook]\non = [\"exited\"]\nwebhook = \"http://127.0.0.1:{closed}/secret\"\ntimeout = 1\n"
    ));
    d.wait_state("web", "RUNNING");
    // /metrics serves the latest published snapshot, which may trail `status` by one publish.
    wait_until(LONG, "web up in /metrics", || {
        parse(&scrape(port, "/metrics").1)
            .get("taskmaster_process_up{process=\"web\",program=\"web\"}")
            == Some(&1.0)
    });
    let pid: u32 = d.ctl(&["pid", "web"]).out.trim().parse().expect("a pid");
    kill_group(pid);
    wait_until(LONG, "the failed delivery in the event log", || {
        d.log_text().contains("alert hook: event")
    });
    let log = d.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("alert hook: event"))
        .unwrap_or_default();
    assert!(
        line.contains("not delivered") && line.contains("refused") && !line.contains("secret"),
        "{line}"
    );
}

#[test]
fn events_and_alert_test_through_ctl() {
    let d = Daemon::start(
        "[programs.web]\ncmd = \"sleep 100\"\nstarttime = 0\n\
         [alerts.log]\nexec = \"sh -c 'cat > {dir}/got.json'\"\n",
    );
    d.wait_state("web", "RUNNING");
    let out = d.ctl(&["events"]);
    assert_eq!(out.code, 0, "{out:?}");
    let events: Vec<serde_json::Value> = out
        .out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("a JSON line ({e}): {l}")))
        .collect();
    assert_eq!(events[0]["event"], "started", "{}", out.out);
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "running" && e["process"] == "web")
    );
    let mut follow = d
        .ctl_command(&["events", "-f"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("ctl events -f");
    let stdout = follow.stdout.take().expect("stdout");
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let sent = d.ctl(&["alert", "test", "log"]);
    assert_eq!(sent.code, 0, "{sent:?}");
    assert!(sent.out.contains("log: test event"), "{sent:?}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut seen = false;
    while let Ok(line) = rx.recv_deadline(deadline) {
        let ev: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
        if ev["event"] == "test" {
            seen = true;
            break;
        }
    }
    let _ = follow.kill();
    let _ = follow.wait();
    assert!(seen, "events -f streams the test event");
    wait_until(LONG, "the exec alert got the test event", || {
        std::fs::read_to_string(d.path("got.json")).is_ok_and(|t| t.contains("\"event\":\"test\""))
    });
    let bad = d.ctl(&["alert", "test", "nope"]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.err.contains("no such alert 'nope'") || bad.out.contains("no such alert 'nope'"),
        "{bad:?}"
    );
}

/// `taskmaster_process_healthy`: 1 or 0 for a RUNNING process with a health check, following
/// its checks; no sample for a process without one.
#[test]
fn metrics_say_whether_a_checked_process_is_healthy() {
    let tm = Tm::start(
        "[taskmaster]\nsocket = false\n\
         [programs.svc]\ncmd = \"sleep 100\"\nstarttime = 0\nhealth = { cmd = \"test -e {dir}/up\" }\n\
         health_interval = 0.1\nhealth_retries = 1\n\
         [programs.plain]\ncmd = \"sleep 100\"\nstarttime = 0\n",
    );
    let listener = taskmaster::metrics::bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
    let port = listener.local_addr().expect("addr").port();
    taskmaster::metrics::start(listener, tm.handle.clone()).expect("serve");
    let svc = "taskmaster_process_healthy{process=\"svc\",program=\"svc\"}";
    let healthy = || parse(&scrape(port, "/metrics").1).get(svc).copied();
    wait_until(Duration::from_secs(20), "svc unhealthy in /metrics", || {
        healthy() == Some(0.0)
    });
    std::fs::write(tm.path("up"), "").expect("touch");
    wait_until(Duration::from_secs(20), "svc healthy in /metrics", || {
        healthy() == Some(1.0)
    });
    let m = parse(&scrape(port, "/metrics").1);
    tm.wait_state("plain", StateName::Running);
    assert!(
        m.contains_key("taskmaster_process_up{process=\"plain\",program=\"plain\"}")
            && !m
                .keys()
                .any(|k| k.starts_with("taskmaster_process_healthy{process=\"plain\"")),
        "no health sample without a check: {m:?}"
    );
    std::fs::remove_file(tm.path("up")).expect("rm");
    wait_until(Duration::from_secs(20), "svc unhealthy again", || {
        healthy() == Some(0.0)
    });
    tm.shutdown();
}
