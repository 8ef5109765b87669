//! systemd readiness through the real binary: a test plays systemd, binds the datagram
//! socket named by `NOTIFY_SOCKET` and reads what headless taskmaster reports.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::harness::binary::{Daemon, ctl_at};

const PROGRAMS: &str = "[programs.sleeper]\ncmd = \"sleep 1000\"\nstarttime = 0\n\n\
                        [programs.manual]\ncmd = \"sleep 1000\"\nautostart = false\n";

/// Headless taskmaster with `NOTIFY_SOCKET`, not waited for: READY=1 is the signal.
fn service(notify_socket: &str) -> Daemon {
    let notify_socket = notify_socket.to_string();
    Daemon::launch(PROGRAMS)
        .setup(move |_, cmd| {
            cmd.env("NOTIFY_SOCKET", notify_socket);
        })
        .spawn()
}

fn receive(socket: &UnixDatagram, waiting_for: &str) -> String {
    let mut buf = [0u8; 4096];
    match socket.recv(&mut buf) {
        Ok(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
        Err(e) => panic!("no notification while waiting for {waiting_for}: {e}"),
    }
}

fn listener(socket: UnixDatagram) -> UnixDatagram {
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("read timeout");
    socket
}

#[test]
fn headless_taskmaster_reports_ready_reloading_and_stopping_to_systemd() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("notify.sock");
    let systemd = listener(UnixDatagram::bind(&path).expect("bind notify socket"));
    let mut service = service(&path.display().to_string());

    assert_eq!(receive(&systemd, "READY=1"), "READY=1");
    // Ready means spawned and reachable: no waiting after READY=1.
    let socket = service.socket.clone();
    let status = ctl_at(&socket, &["status", "sleeper"]);
    assert!(
        status.out.contains("pid "),
        "the autostart process was spawned before READY=1: {status:?}"
    );
    let manual = ctl_at(&socket, &["status", "manual"]);
    assert!(manual.out.contains("STOPPED"), "{manual:?}");

    service.signal(Signal::SIGHUP);
    let reloading = receive(&systemd, "RELOADING=1");
    let mut lines = reloading.lines();
    assert_eq!(lines.next(), Some("RELOADING=1"), "{reloading:?}");
    assert!(
        lines
            .next()
            .and_then(|l| l.strip_prefix("MONOTONIC_USEC="))
            .is_some_and(|n| n.parse::<u64>().is_ok_and(|n| n > 0)),
        "RELOADING=1 comes with MONOTONIC_USEC: {reloading:?}"
    );
    assert_eq!(receive(&systemd, "READY=1 after the reload"), "READY=1");

    service.signal(Signal::SIGTERM);
    assert_eq!(receive(&systemd, "STOPPING=1"), "STOPPING=1");
    assert_eq!(service.wait_exit(), 0, "clean exit");
    systemd
        .set_nonblocking(true)
        .expect("nonblocking notify socket");
    let mut buf = [0u8; 256];
    assert!(
        systemd.recv(&mut buf).is_err(),
        "nothing after STOPPING=1: {:?}",
        String::from_utf8_lossy(&buf)
    );
}

#[test]
fn abstract_notify_socket_names_are_understood() {
    use std::os::linux::net::SocketAddrExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let name = format!(
        "taskmaster-test-{}-{}",
        std::process::id(),
        dir.path().display()
    );
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
        .expect("abstract address");
    let systemd = listener(UnixDatagram::bind_addr(&addr).expect("bind abstract socket"));
    let service = service(&format!("@{name}"));
    assert_eq!(receive(&systemd, "READY=1"), "READY=1");
    service.signal(Signal::SIGTERM);
    assert_eq!(receive(&systemd, "STOPPING=1"), "STOPPING=1");
}
