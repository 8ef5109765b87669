//! Health checks (interface.md section 10) against real processes and real sockets: each
//! probe kind, its failures (a command that hangs, floods or does not exist; a TCP peer that
//! never answers; HTTP 500 and redirects), the status words and `depends_on = healthy`.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::SystemTime;

use taskmaster::supervisor::snapshot::HealthStatus;
use taskmaster::supervisor::{Command, StateName};

use taskmaster::supervisor::events::EventKind;

use crate::harness::inprocess::{Tm, events, wait_event};
use crate::harness::{LONG, wait_until};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A one-process program checked by `health`, with quick checks.
fn checked(cmd: &str, health: &str, extra: &str) -> Tm {
    Tm::start(&format!(
        "[taskmaster]\nsocket = false\n[programs.svc]\ncmd = \"{cmd}\"\nstarttime = 0\n\
         health = {health}\nhealth_interval = 0.1\nhealth_timeout = 0.3\nhealth_retries = 2\n{extra}"
    ))
}

fn wait_health(tm: &Tm, what: &str, want: impl Fn(&HealthStatus) -> bool) -> HealthStatus {
    wait_until(LONG, what, || {
        tm.info("svc").health.as_ref().is_some_and(&want)
    });
    tm.info("svc").health.expect("health present")
}

fn unhealthy_reason(tm: &Tm) -> String {
    match wait_health(tm, "unhealthy", |h| matches!(h, HealthStatus::Unhealthy(_))) {
        HealthStatus::Unhealthy(why) => why,
        other => panic!("unhealthy expected, got {other:?}"),
    }
}

#[test]
fn tcp_check_turns_healthy_when_the_port_opens_and_a_dependent_starts_then() {
    let port = free_port();
    let tm = Tm::start(&format!(
        r#"
[taskmaster]
socket = false
[programs.db]
cmd = "python3 -c 'import socket,time; time.sleep(0.6); s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((\"127.0.0.1\", {port})); s.listen(); time.sleep(1000)'"
starttime = 0
health = {{ tcp = "127.0.0.1:{port}" }}
health_interval = 0.1
health_retries = 100
[programs.api]
cmd = "sleep 1000"
starttime = 0
depends_on = {{ db = "healthy" }}
"#
    ));
    let api = tm.info("api");
    assert_eq!(api.state, StateName::Waiting, "{api:?}");
    assert_eq!(api.reason, "waiting for db (healthy)");
    wait_until(LONG, "db healthy", || {
        tm.info("db").health == Some(HealthStatus::Healthy)
    });
    let line = tm.info("db").status_line(SystemTime::now());
    assert!(line.ends_with(", healthy"), "status says it: {line}");
    tm.wait_state("api", StateName::Running);
    tm.shutdown();
}

#[test]
fn a_check_command_that_does_not_exist_is_unhealthy_with_the_reason() {
    let tm = checked("sleep 1000", "{ cmd = \"/no/such/check\" }", "");
    let why = unhealthy_reason(&tm);
    assert!(why.contains("can't run '/no/such/check'"), "{why}");
    tm.shutdown();
}

#[test]
fn a_hanging_check_command_is_killed_at_the_timeout() {
    let tm = checked(
        "sleep 1000",
        "{ cmd = \"sh -c 'echo $$ >> {dir}/pids; exec sleep 100'\" }",
        "",
    );
    let why = unhealthy_reason(&tm);
    assert!(
        why.contains("did not finish within 0.3 s (killed)"),
        "{why}"
    );
    let pids = std::fs::read_to_string(tm.path("pids")).expect("the check ran");
    for pid in pids.lines().filter_map(|l| l.trim().parse::<u32>().ok()) {
        wait_until(LONG, "the hung check is gone", || {
            crate::harness::procfs::gone(pid)
        });
    }
    assert_eq!(
        tm.info("svc").state,
        StateName::Running,
        "the process itself is fine"
    );
    tm.shutdown();
}

#[test]
fn a_flooding_check_command_costs_nothing_and_is_killed() {
    let tm = checked("sleep 1000", "{ cmd = \"yes\" }", "");
    let why = unhealthy_reason(&tm);
    assert!(why.contains("did not finish"), "{why}");
    tm.shutdown();
}

#[test]
fn a_passing_check_command_is_healthy() {
    let tm = checked("sleep 1000", "{ cmd = \"true\" }", "");
    wait_health(&tm, "healthy", |h| *h == HealthStatus::Healthy);
    tm.shutdown();
}

/// A one-connection-at-a-time HTTP server answering `reply` (or nothing, for `None`).
fn http_server(reply: Option<&'static str>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = conn.read(&mut buf);
            match reply {
                Some(r) => {
                    let _ = conn.write_all(r.as_bytes());
                }
                // Accept and never answer: keep the connection open.
                None => held.push(conn),
            }
        }
    });
    port
}

fn http_check(reply: Option<&'static str>) -> Tm {
    let port = http_server(reply);
    checked(
        "sleep 1000",
        &format!("{{ http = \"http://127.0.0.1:{port}/health\" }}"),
        "",
    )
}

#[test]
fn http_200_is_healthy() {
    let tm = http_check(Some("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
    wait_health(&tm, "healthy", |h| *h == HealthStatus::Healthy);
    tm.shutdown();
}

#[test]
fn http_500_is_unhealthy() {
    let tm = http_check(Some("HTTP/1.1 500 Internal Server Error\r\n\r\n"));
    assert_eq!(unhealthy_reason(&tm), "HTTP 500");
    tm.shutdown();
}

#[test]
fn an_http_redirect_loop_is_one_failed_check_not_a_loop() {
    let tm = http_check(Some(
        "HTTP/1.1 302 Found\r\nLocation: /health\r\nContent-Length: 0\r\n\r\n",
    ));
    assert!(unhealthy_reason(&tm).contains("302 (redirects are not followed)"));
    tm.shutdown();
}

#[test]
fn a_peer_that_accepts_and_never_answers_times_out() {
    let tm = http_check(None);
    assert_eq!(unhealthy_reason(&tm), "no answer within the timeout");
    tm.shutdown();
}

#[test]
fn a_log_check_is_healthy_once_the_line_is_printed() {
    let tm = checked(
        "sh -c 'echo starting; sleep 0.3; echo ready to accept connections; sleep 1000'",
        "{ log = \"ready to accept\" }",
        "",
    );
    assert_ne!(
        tm.info("svc").health,
        Some(HealthStatus::Healthy),
        "not before the line"
    );
    wait_health(&tm, "healthy by its log", |h| *h == HealthStatus::Healthy);
    tm.shutdown();
}

#[test]
fn health_restart_restarts_an_unhealthy_process() {
    let tm = checked(
        "sleep 1000",
        "{ cmd = \"false\" }",
        "health_restart = true\nstoptime = 1",
    );
    let first = tm.wait_state("svc", StateName::Running).pid;
    wait_until(LONG, "restarted with a new pid", || {
        let p = tm.info("svc");
        p.state == StateName::Running && p.pid.is_some() && p.pid != first
    });
    let r = tm.actions(Command::stop(vec!["svc".into()]));
    assert_eq!(r[0].render(), "svc: stopped");
    tm.shutdown();
}

/// Health changes are events: in the kept events (`events`), to an alert subscribed to them,
/// with the reason of the failure; each change once (checks go on every 0.1 s meanwhile).
#[test]
fn healthy_and_unhealthy_are_events_for_the_stream_and_the_alerts() {
    let tm = checked(
        "sleep 1000",
        "{ cmd = \"test -e {dir}/up\" }",
        "[alerts.health]\non = [\"healthy\", \"unhealthy\"]\n\
         exec = \"sh -c 'cat >> {dir}/alerts.json; echo >> {dir}/alerts.json'\"\n",
    );
    let kinds = |tm: &Tm| -> Vec<EventKind> {
        events(&tm.handle)
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Healthy | EventKind::Unhealthy))
            .map(|e| e.kind)
            .collect()
    };
    let down = wait_event(&tm.handle, EventKind::Unhealthy, |_| true);
    assert_eq!(down.process.as_deref(), Some("svc"));
    assert_eq!(down.pid, tm.info("svc").pid);
    assert_eq!(
        down.reason.as_deref(),
        Some("'test' exited with status 1"),
        "{down:?}"
    );
    assert!(
        down.text.starts_with("unhealthy: svc (cmd test -e "),
        "{}",
        down.text
    );
    std::fs::write(tm.path("up"), "").expect("touch");
    let up = wait_event(&tm.handle, EventKind::Healthy, |_| true);
    assert!(up.serial > down.serial);
    assert_eq!(up.reason, None);
    std::fs::remove_file(tm.path("up")).expect("rm");
    wait_until(LONG, "unhealthy again", || {
        kinds(&tm)
            == [
                EventKind::Unhealthy,
                EventKind::Healthy,
                EventKind::Unhealthy,
            ]
    });
    let alerts = tm.path("alerts.json");
    wait_until(LONG, "the alert saw all three", || {
        std::fs::read_to_string(&alerts).is_ok_and(|t| t.lines().count() >= 3)
    });
    let seen: Vec<String> = std::fs::read_to_string(&alerts)
        .expect("alerts")
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("one JSON event a line");
            v["event"].as_str().unwrap_or("").to_string()
        })
        .collect();
    assert_eq!(seen, ["unhealthy", "healthy", "unhealthy"]);
    tm.shutdown();
}

/// A listener that accepts and drops every connection, counting them.
fn tcp_server() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            drop(conn);
        }
    });
    (port, count)
}

/// `tcp` checks to an address run together on the poller: a hundred processes checked ten
/// times a second all become healthy, and keep being checked: once the listener closes, all
/// hundred turn unhealthy. (To a local address the kernel's listening table answers most
/// checks without a connect; the connects of any others are accepted by the thread.)
#[test]
fn a_hundred_tcp_checks_pass_together_and_keep_running() {
    use nix::sys::socket::{Shutdown, shutdown};
    use std::os::fd::AsRawFd;
    let listener = TcpListener::bind("[::]:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let raw = listener.as_raw_fd();
    let acceptor = std::thread::spawn(move || {
        // Ends when the listening socket is shut down (accept fails).
        for conn in listener.incoming() {
            if conn.is_err() {
                return;
            }
        }
    });
    // IPv4 to a dual-stack [::] listener.
    let tm = Tm::start(&format!(
        "[taskmaster]\nsocket = false\n[programs.svc]\ncmd = \"sleep 1000\"\nstarttime = 0\n\
         numprocs = 100\nhealth = {{ tcp = \"127.0.0.1:{port}\" }}\nhealth_interval = 0.1\n"
    ));
    let all = |want: &dyn Fn(&HealthStatus) -> bool| {
        let s = tm.status();
        s.processes.len() == 100
            && s.processes
                .iter()
                .all(|p| p.health.as_ref().is_some_and(want))
    };
    wait_until(LONG, "all hundred healthy", || {
        all(&|h| *h == HealthStatus::Healthy)
    });
    // On Linux, shutting a listening socket down stops it listening (and wakes `accept`).
    shutdown(raw, Shutdown::Both).expect("shutdown the listener");
    acceptor.join().expect("acceptor ends");
    wait_until(LONG, "all hundred unhealthy: still checked", || {
        all(&|h| matches!(h, HealthStatus::Unhealthy(_)))
    });
    tm.shutdown();
}

/// A refused port fails at once with the kernel's words; a name (not an address) is still
/// checked (by the pool, which resolves it).
#[test]
fn a_refused_tcp_port_is_unhealthy_with_the_reason_and_a_name_is_resolved() {
    let port = free_port();
    let tm = checked(
        "sleep 1000",
        &format!("{{ tcp = \"127.0.0.1:{port}\" }}"),
        "",
    );
    let why = unhealthy_reason(&tm);
    assert!(
        why.starts_with(&format!("127.0.0.1:{port}: Connection refused")),
        "{why}"
    );
    tm.shutdown();
    let (port, _) = tcp_server();
    let tm = checked(
        "sleep 1000",
        &format!("{{ tcp = \"localhost:{port}\" }}"),
        "",
    );
    wait_health(&tm, "healthy by name", |h| *h == HealthStatus::Healthy);
    tm.shutdown();
}

/// A port whose accept queue is full drops the SYN: the connect hangs, and the check fails
/// at its timeout without holding the other checks.
#[test]
fn a_tcp_connect_that_hangs_fails_at_the_timeout() {
    use nix::sys::socket::{
        AddressFamily, Backlog, SockFlag, SockType, SockaddrIn, bind, listen, socket,
    };
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .expect("socket");
    let any = SockaddrIn::new(127, 0, 0, 1, 0);
    bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &any).expect("bind");
    listen(&fd, Backlog::new(0).expect("backlog")).expect("listen");
    let listener = TcpListener::from(fd);
    let port = listener.local_addr().expect("addr").port();
    // Fill the queue (never accepted): later SYNs are dropped.
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let fillers: Vec<_> = (0..3)
        .filter_map(|_| {
            std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(200)).ok()
        })
        .collect();
    let (ok_port, _) = tcp_server();
    let tm = Tm::start(&format!(
        "[taskmaster]\nsocket = false\n\
         [programs.svc]\ncmd = \"sleep 1000\"\nstarttime = 0\nhealth = {{ tcp = \"127.0.0.1:{port}\" }}\n\
         health_interval = 0.1\nhealth_timeout = 0.3\nhealth_retries = 2\n\
         [programs.ok]\ncmd = \"sleep 1000\"\nstarttime = 0\nhealth = {{ tcp = \"127.0.0.1:{ok_port}\" }}\n\
         health_interval = 0.1\n"
    ));
    wait_until(LONG, "ok healthy while svc's connect hangs", || {
        tm.info("ok").health == Some(HealthStatus::Healthy)
    });
    assert_eq!(unhealthy_reason(&tm), "no connection within the timeout");
    drop(fillers);
    tm.shutdown();
}
