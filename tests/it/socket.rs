//! The control socket under abuse: many clients at once, garbage, an endless line, clients
//! leaving mid-stream; a second taskmaster on the same socket; symlinks and file mode.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use crate::harness::binary::{BIN, Daemon};
use crate::harness::{LONG, wait_until};

const PROGRAMS: &str = r#"
[programs.web]
cmd = "sh -c 'while true; do echo tick; sleep 0.1; done'"
starttime = 0.2
"#;

fn connect(tm: &Daemon) -> UnixStream {
    let s = UnixStream::connect(&tm.socket).expect("connect to the socket");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout set");
    s
}

fn request(stream: &mut UnixStream, reader: &mut BufReader<UnixStream>, line: &[u8]) -> String {
    stream.write_all(line).expect("request written");
    let mut reply = String::new();
    reader.read_line(&mut reply).expect("reply read");
    reply
}

fn assert_serving(tm: &Daemon) {
    let status = tm.ctl(&["status", "web"]);
    assert!(
        status.out.contains("web"),
        "taskmaster still serves: {status:?}"
    );
}

#[test]
fn socket_is_private_and_answers_json() {
    let tm = Daemon::start(PROGRAMS);
    let meta = std::fs::metadata(&tm.socket).expect("socket exists");
    assert!(meta.file_type().is_socket(), "a UNIX socket");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "mode 0600");
    let mut s = connect(&tm);
    let mut r = BufReader::new(s.try_clone().expect("clone"));
    let reply = request(&mut s, &mut r, b"{\"cmd\":\"version\",\"args\":[]}\n");
    let v: serde_json::Value = serde_json::from_str(&reply).expect("JSON reply");
    assert_eq!(v["ok"], true, "{reply}");
    assert!(
        v["output"]
            .as_str()
            .unwrap_or("")
            .starts_with("taskmaster "),
        "{reply}"
    );
    let reply = request(&mut s, &mut r, b"{\"cmd\":\"stop\",\"args\":[\"nope\"]}\n");
    let v: serde_json::Value = serde_json::from_str(&reply).expect("JSON reply");
    assert_eq!(
        (v["ok"].as_bool(), v["code"].as_i64()),
        (Some(false), Some(1)),
        "{reply}"
    );
    assert!(
        v["error"].as_str().unwrap_or("").contains("nope"),
        "{reply}"
    );
}

#[test]
fn fifty_concurrent_clients() {
    let tm = Daemon::start(PROGRAMS);
    tm.wait_state("web", "RUNNING");
    let threads: Vec<_> = (0..50)
        .map(|_| {
            let path = tm.socket.clone();
            std::thread::spawn(move || {
                let mut s = UnixStream::connect(&path).expect("connect");
                s.set_read_timeout(Some(Duration::from_secs(30)))
                    .expect("timeout");
                let mut r = BufReader::new(s.try_clone().expect("clone"));
                for _ in 0..20 {
                    let reply = request(&mut s, &mut r, b"{\"cmd\":\"status\"}\n");
                    assert!(reply.contains("RUNNING"), "status reply: {reply}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread ok");
    }
    assert_serving(&tm);
}

#[test]
fn garbage_gets_errors_and_the_connection_survives() {
    let tm = Daemon::start(PROGRAMS);
    let mut s = connect(&tm);
    let mut r = BufReader::new(s.try_clone().expect("clone"));
    for junk in [
        &b"\xff\xfe\x00garbage\n"[..],
        b"not json\n",
        b"{\"cmd\": 5}\n",
        b"[]\n",
    ] {
        let reply = request(&mut s, &mut r, junk);
        assert!(
            reply.contains("\"ok\":false"),
            "error reply for {junk:?}: {reply}"
        );
    }
    let reply = request(&mut s, &mut r, b"{\"cmd\":\"version\"}\n");
    assert!(
        reply.contains("\"ok\":true"),
        "same connection still works: {reply}"
    );
    // Random bytes, then the client vanishes.
    let mut noise = connect(&tm);
    let bytes: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let _ = noise.write_all(&bytes);
    drop(noise);
    assert_serving(&tm);
}

#[test]
fn ten_megabyte_line_is_refused_without_hurting_others() {
    let tm = Daemon::start(PROGRAMS);
    let mut s = connect(&tm);
    let chunk = vec![b'x'; 1024 * 1024];
    let mut refused = false;
    for _ in 0..10 {
        if s.write_all(&chunk).is_err() {
            refused = true;
            break;
        }
    }
    let mut reply = String::new();
    let _ = BufReader::new(&s).read_line(&mut reply);
    assert!(
        refused || reply.contains("longer than"),
        "the long line is refused: {reply}"
    );
    assert_serving(&tm);
}

#[test]
fn client_closing_mid_tail_f_leaves_taskmaster_serving() {
    let tm = Daemon::start(PROGRAMS);
    tm.wait_state("web", "RUNNING");
    for _ in 0..5 {
        let mut s = connect(&tm);
        s.write_all(b"{\"cmd\":\"tail\",\"args\":[\"-f\",\"web\"]}\n")
            .expect("request");
        let mut r = BufReader::new(s.try_clone().expect("clone"));
        let mut line = String::new();
        r.read_line(&mut line).expect("first chunk");
        assert!(
            line.contains("\"stream\":\"stdout\""),
            "a stream chunk: {line}"
        );
        drop(r);
        drop(s);
    }
    assert_serving(&tm);
    let mut s = connect(&tm);
    s.write_all(b"{\"cmd\":\"tail\",\"args\":[\"-f\",\"nope\"]}\n")
        .expect("request");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    assert!(
        text.contains("\"ok\":false") && text.contains("nope"),
        "{text}"
    );
}

#[test]
fn second_taskmaster_refuses_a_live_socket_and_a_symlink() {
    let tm = Daemon::start(PROGRAMS);
    let other = tm.path("other.toml");
    std::fs::write(
        &other,
        format!("[taskmaster]\nsocket = \"{}\"\n", tm.socket.display()),
    )
    .expect("write config");
    let out = std::process::Command::new(BIN)
        .args(["--headless", "-c"])
        .arg(&other)
        .output()
        .expect("second taskmaster runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "refused: {err}");
    assert!(err.contains("is in use by another taskmaster"), "{err}");
    assert_serving(&tm);

    let link = tm.path("link.sock");
    std::os::unix::fs::symlink(tm.path("elsewhere"), &link).expect("symlink");
    std::fs::write(
        &other,
        format!("[taskmaster]\nsocket = \"{}\"\n", link.display()),
    )
    .expect("write config");
    let out = std::process::Command::new(BIN)
        .args(["--headless", "-c"])
        .arg(&other)
        .output()
        .expect("taskmaster runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "symlink refused: {err}");
    assert!(err.contains("not a socket"), "{err}");
}

#[test]
fn stale_socket_is_replaced() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).expect("bind"));
    assert!(path.exists(), "a stale socket file is left");
    let config = dir.path().join("tm.toml");
    std::fs::write(
        &config,
        format!("[taskmaster]\nsocket = \"{}\"\n", path.display()),
    )
    .expect("config");
    let mut child = std::process::Command::new(BIN)
        .args(["--headless", "-c"])
        .arg(&config)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("taskmaster starts");
    wait_until(LONG, "taskmaster answers on the old path", || {
        crate::harness::binary::ctl_at(&path, &["version"]).code == 0
    });
    let _ = crate::harness::binary::ctl_at(&path, &["shutdown"]);
    let _ = child.kill();
    let _ = child.wait();
}
