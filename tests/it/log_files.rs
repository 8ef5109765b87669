//! Logs that can run for months (interface.md section 8), with real processes in an
//! in-process supervisor: size rotation under a full-speed flood, files shared by a group,
//! per-process files, timestamps, settings applied in place on reload, and a full disk.

use std::path::{Path, PathBuf};
use std::time::Duration;

use taskmaster::supervisor::events::EventKind;
use taskmaster::supervisor::{Command, Reply, StateName, Update};

use crate::harness::inprocess::Tm;
use crate::harness::{LONG, wait_until};

/// `path.N`.
fn numbered(path: &Path, n: u32) -> PathBuf {
    PathBuf::from(format!("{}.{n}", path.display()))
}

/// The kept files of `path`, oldest first, concatenated.
fn kept(path: &Path, backups: u32) -> Vec<u8> {
    let mut all = Vec::new();
    for n in (1..=backups).rev() {
        all.extend(std::fs::read(numbered(path, n)).unwrap_or_default());
    }
    all.extend(std::fs::read(path).unwrap_or_default());
    all
}

/// What `seq 1 N | head -c BYTES` writes.
fn seq_stream(bytes: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes + 16);
    let mut i = 1u64;
    while out.len() < bytes {
        out.extend_from_slice(format!("{i}\n").as_bytes());
        i += 1;
    }
    out.truncate(bytes);
    out
}

const FLOOD: usize = 64 << 20;

#[test]
fn a_64_mib_flood_rotates_without_losing_or_repeating_a_byte() {
    let tm = Tm::start(&format!(
        r#"
[programs.whole]
cmd = "sh -c 'seq 1 20000000 | head -c {FLOOD}'"
autorestart = "never"
starttime = 0
stdout = "{{dir}}/whole.log"
stdout_maxbytes = "1MB"
stdout_backups = 100

[programs.some]
cmd = "sh -c 'seq 1 20000000 | head -c {FLOOD}'"
autorestart = "never"
starttime = 0
stdout = "{{dir}}/some.log"
stdout_maxbytes = "1MB"
stdout_backups = 5
"#
    ));
    let all = tm.path("whole.log");
    let some = tm.path("some.log");
    let output = tm.handle.output().clone();
    wait_until(Duration::from_secs(120), "both floods captured", || {
        output.seq("whole") == FLOOD as u64 && output.seq("some") == FLOOD as u64
    });
    wait_until(LONG, "every byte in the files", || {
        kept(&all, 100).len() == FLOOD && std::fs::metadata(&some).is_ok()
    });
    let stream = seq_stream(FLOOD);
    let got = kept(&all, 100);
    assert!(
        got == stream,
        "whole.log and its 64 backups are the whole stream"
    );
    for n in 1..=64 {
        let f = std::fs::read(numbered(&all, n)).expect("backup");
        assert!(
            f.len() <= 1 << 20 && f.len() > 1_000_000,
            "{n}: {} bytes",
            f.len()
        );
        assert_eq!(f.last(), Some(&b'\n'), "backup {n} ends at a line end");
    }
    assert!(!numbered(&all, 65).exists(), "no empty extra backup");
    let got = kept(&some, 5);
    assert!(got.len() > 5 << 20, "six files kept: {}", got.len());
    assert!(
        stream.ends_with(&got),
        "some.log's kept files are the end of the stream"
    );
    assert!(!numbered(&some, 6).exists());
    tm.shutdown();
}

#[test]
fn a_group_sharing_one_file_rotates_it_once_and_keeps_lines_whole() {
    // Each line is written in three pieces, so lines of the three processes would mix if
    // pieces went to the file as they came.
    let tm = Tm::start(
        r#"
[programs.w]
cmd = "sh -c 'i=0; while [ $i -lt 1500 ]; do printf \"$$-$i-\"; printf \"abcdefgh\"; echo \"-end\"; i=$((i+1)); done; sleep 1000'"
numprocs = 3
starttime = 0
stdout = "{dir}/%(program_name)s.log"
stdout_maxbytes = "20KB"
stdout_backups = 50
"#,
    );
    let path = tm.path("w.log");
    wait_until(LONG, "4,500 lines in the kept files", || {
        String::from_utf8_lossy(&kept(&path, 50)).lines().count() == 4500
    });
    let text = String::from_utf8(kept(&path, 50)).expect("utf8");
    let mut next: std::collections::HashMap<String, u32> = Default::default();
    for line in text.lines() {
        let parts: Vec<&str> = line.split('-').collect();
        assert_eq!(parts.len(), 4, "a whole line: {line:?}");
        assert_eq!(&parts[2..], ["abcdefgh", "end"], "{line:?}");
        let n: u32 = parts[1].parse().expect("counter");
        let want = next.entry(parts[0].to_string()).or_insert(0);
        assert_eq!(n, *want, "process {} in order, once each", parts[0]);
        *want += 1;
    }
    assert_eq!(next.len(), 3);
    // One rotation per 20 KB filled, not one per process: every backup is full (up to the
    // last whole line) and there are as many as the bytes need.
    let backups = (1..=50).filter(|&n| numbered(&path, n).exists()).count();
    for n in 1..=backups as u32 {
        let len = std::fs::read(numbered(&path, n)).expect("backup").len();
        assert!(
            (20_480 - 100..=20_480).contains(&len),
            "backup {n}: {len} bytes"
        );
    }
    assert!(backups >= 3, "{backups} backups of {} bytes", text.len());
    assert!(crate::harness::read(&path).len() < 20_480);
    tm.shutdown();
}

#[test]
fn process_num_gives_each_process_of_a_group_its_own_file() {
    let tm = Tm::start(
        r#"
[programs.w]
cmd = "sh -c 'echo out-$$; echo err-$$ >&2; sleep 1000'"
numprocs = 3
starttime = 0
stdout = "{dir}/%(program_name)s.%(process_num)02d.out"
stderr = "%(here)s/%(program_name)s-%(process_num)d.err"
"#,
    );
    for n in 0..3 {
        let name = format!("w:w_{n:02}");
        let pid = tm.running_pid(&name);
        let out = tm.path(&format!("w.{n:02}.out"));
        let err = tm.path(&format!("w-{n}.err"));
        wait_until(LONG, "both files written", || {
            crate::harness::read(&out) == format!("out-{pid}\n")
                && crate::harness::read(&err) == format!("err-{pid}\n")
        });
    }
    tm.shutdown();
}

/// `2026-11-27T13:45:01.123+01:00 ` at the start of `line`; the rest of the line.
fn strip_stamp(line: &str) -> Option<&str> {
    let (stamp, rest) = line.split_once(' ')?;
    let b = stamp.as_bytes();
    let ok = stamp.len() == 29
        && b[4] == b'-'
        && b[10] == b'T'
        && b[19] == b'.'
        && b[20..23].iter().all(u8::is_ascii_digit)
        && (b[23] == b'+' || b[23] == b'-')
        && b[26] == b':';
    ok.then_some(rest)
}

#[test]
fn timestamps_stamp_each_line_once_when_it_starts() {
    let tm = Tm::start(
        r#"
[programs.t]
cmd = "sh -c 'echo one; printf tw; sleep 0.3; echo o; printf \"three\nfour\n\"; echo err >&2; sleep 1000'"
starttime = 0
timestamps = true
stdout = "{dir}/t.out"
stderr = "{dir}/t.err"
"#,
    );
    let out = tm.path("t.out");
    wait_until(LONG, "four lines", || {
        crate::harness::read(&out).lines().count() == 4
    });
    let text = crate::harness::read(&out);
    let rest: Vec<&str> = text.lines().filter_map(strip_stamp).collect();
    assert_eq!(rest, ["one", "two", "three", "four"], "{text}");
    wait_until(LONG, "stderr line", || {
        strip_stamp(crate::harness::read(&tm.path("t.err")).trim_end()) == Some("err")
    });
    // The ring keeps the bytes as written.
    let tail = tm.handle.output().tail("t", None, 1000).expect("ring");
    let raw: Vec<u8> = tail.iter().flat_map(|c| c.data.to_vec()).collect();
    assert_eq!(
        String::from_utf8_lossy(&raw),
        "one\ntwo\nthree\nfour\nerr\n"
    );
    tm.shutdown();
}

const TICKER: &str = r#"
[programs.tick]
# Ten lines per turn: each turn forks a `sleep`, slow on a loaded machine; the echoes are free.
cmd = "sh -c 'while :; do for i in 0 1 2 3 4 5 6 7 8 9; do echo 0123456789012345678901234567890123456789; done; sleep 0.01; done'"
starttime = 0
stdout = "{dir}/tick.log"
"#;

#[test]
fn reload_applies_rotation_and_timestamps_in_place() {
    let tm = Tm::start(&format!("{TICKER}stdout_maxbytes = 0\n"));
    let pid = tm.wait_state("tick", StateName::Running).pid;
    let path = tm.path("tick.log");
    wait_until(LONG, "some output", || {
        crate::harness::read(&path).len() > 2000
    });
    assert!(!numbered(&path, 1).exists(), "maxbytes 0 never rotates");
    tm.rewrite(&format!(
        "{TICKER}stdout_maxbytes = \"1KB\"\nstdout_backups = 2\ntimestamps = true\n"
    ));
    match tm.call(Command::Reload) {
        Ok(Reply::Reload(r)) => assert_eq!(r.updated, ["tick"], "{r:?}"),
        other => panic!("reload: {other:?}"),
    }
    wait_until(LONG, "two backups", || numbered(&path, 2).exists());
    assert_eq!(tm.info("tick").pid, pid, "the process kept running");
    wait_until(LONG, "stamped lines", || {
        let text = crate::harness::read(&path);
        text.lines().count() > 3 && text.lines().all(|l| strip_stamp(l).is_some())
    });
    let size = std::fs::metadata(&path).expect("stat").len();
    assert!(size <= 1024, "the file stays under 1 KB: {size}");
    assert!(!numbered(&path, 3).exists(), "2 backups kept");
    tm.shutdown();
}

/// A 1 MiB tmpfs mounted on `path`, unmounted on drop.
pub struct Tmpfs(pub PathBuf);

impl Tmpfs {
    pub fn mount(path: &Path) -> Option<Tmpfs> {
        std::fs::create_dir_all(path).ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(path.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: a test that failed half way may still hold a file open there.
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn a_full_disk_is_reported_and_writing_resumes_when_space_is_freed() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    }
    let tm = Tm::start("");
    let Some(fs) = Tmpfs::mount(&tm.path("small")) else {
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    };
    let updates = tm.handle.subscribe();
    tm.rewrite(&format!(
        r#"
[programs.fill]
cmd = "sh -c 'while :; do echo 0123456789012345678901234567890123456789; done'"
starttime = 0
stdout = "{}/fill.log"
stdout_maxbytes = 0
"#,
        fs.0.display()
    ));
    assert!(matches!(tm.call(Command::Reload), Ok(Reply::Reload(_))));
    let pid = tm.wait_state("fill", StateName::Running).pid;
    let saw = |what: &str| {
        let deadline = std::time::Instant::now() + LONG;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match updates.recv_timeout(left) {
                Ok(Update::Event(ev)) if ev.text.contains(what) => {
                    return (ev.kind, ev.text.clone());
                }
                Ok(_) => {}
                Err(_) => panic!("no event with {what:?}"),
            }
        }
    };
    // Typed: front ends show it as an error by its kind.
    let (kind, line) = saw("log error: fill's stdout log");
    assert!(
        kind == EventKind::LogFailed && line.contains("fill.log") && line.contains("No space left"),
        "{kind:?} {line}"
    );
    let seq = tm.handle.output().seq("fill");
    wait_until(LONG, "output still captured", || {
        tm.handle.output().seq("fill") > seq + 100_000
    });
    assert_eq!(tm.info("fill").pid, pid, "the program keeps running");
    std::fs::remove_file(fs.0.join("fill.log")).expect("free the space");
    let (kind, line) = saw("log resumed: fill's stdout log");
    assert!(
        kind == EventKind::Note && line.contains("fill.log"),
        "{kind:?} {line}"
    );
    wait_until(LONG, "the file grows again", || {
        std::fs::metadata(fs.0.join("fill.log")).is_ok_and(|m| m.len() > 1000)
    });
    tm.shutdown();
    drop(fs);
}
