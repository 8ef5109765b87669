//! The log commands of interface.md section 3 on the real binary through `taskmaster ctl`:
//! `rotate [NAME...]`, `reopen`, `clear` (which truncates the files), `maintail [-f]`, and
//! followed output that never splits a character.

use std::io::Read;
use std::path::Path;
use std::process::Stdio;

use crate::harness::binary::Daemon;
use crate::harness::{LONG, wait_until};

const PROGRAMS: &str = r#"
[programs.talk]
cmd = "sh -c 'i=0; while :; do echo line-$i; i=$((i+1)); sleep 0.005; done'"
starttime = 0.1
stdout = "{dir}/talk.out"

[programs.quiet]
cmd = "sleep 1000"
starttime = 0.1
"#;

fn size(p: &Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}

fn lines(p: &Path) -> Vec<u64> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("line-")?.parse().ok())
        .collect()
}

fn start() -> Daemon {
    let d = Daemon::start(PROGRAMS);
    d.wait_state("talk", "RUNNING");
    d.wait_state("quiet", "RUNNING");
    wait_until(LONG, "talk writing", || size(&d.path("talk.out")) > 200);
    d
}

#[test]
fn rotate_rotates_the_named_files_or_everything_and_the_event_log() {
    let d = start();
    let out = d.path("talk.out");
    let r = d.ctl(&["rotate", "talk"]);
    assert_eq!((r.out.trim(), r.code), ("talk: rotated", 0), "{r:?}");
    assert!(d.path("talk.out.1").exists(), "renamed when the reply came");
    wait_until(LONG, "new lines in talk.out", || lines(&out).len() > 10);
    let mut all = lines(&d.path("talk.out.1"));
    all.extend(lines(&out));
    assert!(
        all.windows(2).all(|w| w[1] == w[0] + 1),
        "no line lost or repeated across the rotation"
    );

    let r = d.ctl(&["rotate", "quiet", "nope"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.out.contains("quiet: ERROR (no log file)"), "{r:?}");
    assert!(r.out.contains("nope: ERROR (no such process)"), "{r:?}");

    let r = d.ctl(&["rotate"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.out.contains("event log: rotated"), "{r:?}");
    assert!(r.out.contains("talk: rotated"), "{r:?}");
    assert!(!r.out.contains("quiet"), "only processes with files: {r:?}");
    assert!(d.path("talk.out.2").exists());
    assert!(
        std::fs::read_to_string(d.path("tm.log.1")).is_ok_and(|t| t.contains("spawned: 'talk'")),
        "the event log's old lines in tm.log.1"
    );
    d.ctl(&["restart", "quiet"]);
    wait_until(LONG, "new events in the new event log", || {
        d.log_text().contains("spawned: 'quiet'")
    });
}

#[test]
fn reopen_answers_once_every_file_is_open_again() {
    let d = start();
    let out = d.path("talk.out");
    std::fs::rename(&out, d.path("talk.out.moved")).expect("rename");
    std::fs::rename(&d.log, d.path("tm.log.moved")).expect("rename");
    let r = d.ctl(&["reopen"]);
    assert_eq!(
        (r.out.trim(), r.code),
        ("reopened every log file", 0),
        "{r:?}"
    );
    assert!(out.exists(), "talk.out is back when the reply came");
    assert!(d.log.exists(), "and so is the event log");
    wait_until(LONG, "lines in the new talk.out", || lines(&out).len() > 10);
    let mut all = lines(&d.path("talk.out.moved"));
    all.extend(lines(&out));
    assert!(all.windows(2).all(|w| w[1] == w[0] + 1), "nothing lost");
}

#[test]
fn clear_empties_the_capture_and_truncates_the_log_files() {
    let d = start();
    let out = d.path("talk.out");
    wait_until(LONG, "a few KB", || size(&out) > 3000);
    let r = d.ctl(&["clear", "talk", "quiet"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.out.trim(), "talk: cleared\nquiet: cleared", "{r:?}");
    let after = size(&out);
    assert!(after < 1000, "truncated when the reply came: {after} bytes");
    wait_until(LONG, "writing goes on at the start", || {
        let l = lines(&out);
        l.len() > 5 && l.windows(2).all(|w| w[1] == w[0] + 1)
    });
    let tail = d.ctl(&["tail", "-100000", "talk"]);
    assert!(
        tail.out.len() < 3000,
        "the ring was emptied too: {}",
        tail.out.len()
    );
}

#[test]
fn maintail_shows_and_follows_the_event_log() {
    let d = start();
    let r = d.ctl(&["maintail"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.out.contains("spawned: 'talk'"), "{r:?}");
    let r = d.ctl(&["maintail", "-60"]);
    assert!(r.out.trim_end().len() <= 60, "{r:?}");
    let mut follower = d
        .ctl_command(&["maintail", "-f", "-1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ctl maintail -f");
    let mut stdout = follower.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
            if String::from_utf8_lossy(&seen).contains("spawned: 'quiet'") {
                break;
            }
        }
        String::from_utf8_lossy(&seen).into_owned()
    });
    wait_until(LONG, "a new spawn followed", || {
        d.ctl(&["restart", "quiet"]);
        reader.is_finished()
    });
    let _ = follower.kill();
    let _ = follower.wait();
    let seen = reader.join().expect("reader");
    assert!(seen.contains("spawned: 'quiet'"), "{seen}");
}

/// Regression: one write of 65,535 x `a` + `é` was shown as `aa��` by `tail -f` (the follow
/// channel cuts chunks at 64 KiB, and each chunk was decoded alone).
#[test]
fn tail_f_never_splits_a_character() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut data = vec![b'a'; 65_535];
    data.extend_from_slice("é\n".as_bytes());
    std::fs::write(dir.path().join("big"), &data).expect("write");
    let d = Daemon::start(&format!(
        "[programs.big]\ncmd = \"sh -c 'sleep 0.5; cat {}; exec sleep 1000'\"\nstarttime = 0\n",
        dir.path().join("big").display()
    ));
    let mut follower = d
        .ctl_command(&["tail", "-f", "big"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ctl tail -f");
    let mut stdout = follower.stdout.take().expect("stdout");
    let want = data.len();
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 65536];
        while seen.len() < want {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
        seen
    });
    wait_until(LONG, "the whole write followed", || reader.is_finished());
    let _ = follower.kill();
    let _ = follower.wait();
    let seen = reader.join().expect("reader");
    assert_eq!(seen.len(), data.len());
    assert!(seen == data, "the bytes as written, é whole");
    assert!(String::from_utf8(seen).is_ok_and(|t| t.ends_with("aé\n")));
}

/// Attach shows stdout and stderr together: a character cut in stdout must not have stderr's
/// bytes put inside it.
#[test]
fn attach_keeps_a_cut_character_whole_when_stderr_comes_between() {
    let d = Daemon::start(
        r#"
[programs.mix]
cmd = "sh -c 'sleep 0.5; printf \"x\\303\"; sleep 0.3; printf E >&2; sleep 0.3; printf \"\\251\\n\"; exec sleep 1000'"
starttime = 0
"#,
    );
    let mut follower = d
        .ctl_command(&["attach", "mix"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ctl attach");
    let mut stdout = follower.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while !seen.ends_with(b"\n") {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
        seen
    });
    wait_until(LONG, "the line followed", || reader.is_finished());
    let _ = follower.kill();
    let _ = follower.wait();
    let seen = String::from_utf8(reader.join().expect("reader")).expect("valid UTF-8");
    assert!(seen.contains("é"), "{seen:?}");
    assert!(seen == "xEé\n" || seen == "Exé\n", "{seen:?}");
}
