//! Reopening logs for an external logrotate, on the real binary: a supervisord user's
//! `postrotate kill -USR2 $(cat pidfile)` works against taskmaster (with the real logrotate
//! when it is installed, and always with the same renames done by hand), and the event log
//! finds its way back after its directory is deleted and made again.

use std::path::Path;
use std::process::Command;

use crate::harness::binary::Daemon;
use crate::harness::{LONG, wait_until};

/// Prints a counter line every 5 ms: any lost or repeated line shows as a gap or a repeat.
const COUNTER: &str = r#"
[programs.count]
cmd = "sh -c 'i=0; while :; do echo line-$i; i=$((i+1)); sleep 0.005; done'"
starttime = 0.1
stdout = "{dir}/count.log"
"#;

/// The counters of `files` read in order, checked to run on without gap or repeat.
fn assert_consecutive(files: &[&Path]) -> usize {
    let mut next = None;
    let mut count = 0;
    for f in files {
        let text = std::fs::read_to_string(f).unwrap_or_default();
        for line in text.lines() {
            let n: u64 = line
                .strip_prefix("line-")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("a whole line in {}: {line:?}", f.display()));
            if let Some(want) = next {
                assert_eq!(n, want, "in {}: no line lost or repeated", f.display());
            }
            next = Some(n + 1);
            count += 1;
        }
    }
    count
}

fn lines_in(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

fn start() -> Daemon {
    Daemon::launch(COUNTER)
        .extra("pidfile = \"{dir}/tm.pid\"\n")
        .start()
}

#[test]
fn a_postrotate_kill_usr2_reopens_every_log_without_losing_a_line() {
    let d = start();
    d.wait_state("count", "RUNNING");
    let pidfile = d.path("tm.pid");
    wait_until(LONG, "the pidfile", || {
        std::fs::read_to_string(&pidfile).is_ok_and(|s| s.trim() == d.pid().to_string())
    });
    let log = d.path("count.log");
    wait_until(LONG, "some lines", || lines_in(&log) > 20);
    // What logrotate does in its default `create` mode, then its postrotate script.
    for f in ["count.log", "tm.log"] {
        std::fs::rename(d.path(f), d.path(&format!("{f}.1"))).expect("rename");
    }
    let postrotate = format!("kill -USR2 $(cat {})", pidfile.display());
    let ok = Command::new("sh").arg("-c").arg(&postrotate).status();
    assert!(ok.is_ok_and(|s| s.success()), "postrotate runs");
    wait_until(LONG, "the event log reopened", || {
        std::fs::read_to_string(&d.log).is_ok_and(|t| t.contains("SIGUSR2: reopened"))
    });
    wait_until(LONG, "new lines in the new count.log", || {
        lines_in(&log) > 20
    });
    let old = d.path("count.log.1");
    let n = assert_consecutive(&[&old, &log]);
    assert!(n > 40, "{n} lines");
    assert!(
        std::fs::read_to_string(d.path("tm.log.1")).is_ok_and(|t| t.contains("taskmaster started")),
        "the old event log kept its lines"
    );
    assert_eq!(d.ctl(&["status", "count"]).code, 0, "still running");
    let pid = d.pid();
    d.ctl(&["shutdown"]);
    wait_until(LONG, "taskmaster gone", || {
        !crate::harness::procfs::alive(pid)
    });
    wait_until(LONG, "the pidfile removed at exit", || !pidfile.exists());
}

#[test]
fn the_real_logrotate_with_a_supervisord_postrotate_script_works() {
    if Command::new("logrotate").arg("--version").output().is_err() {
        println!("skipped: logrotate is not installed");
        return;
    }
    let d = start();
    d.wait_state("count", "RUNNING");
    let pidfile = d.path("tm.pid");
    wait_until(LONG, "the pidfile", || pidfile.exists());
    let log = d.path("count.log");
    wait_until(LONG, "some lines", || lines_in(&log) > 20);
    let conf = d.path("logrotate.conf");
    std::fs::write(
        &conf,
        format!(
            "{dir}/count.log {dir}/tm.log {{\n  daily\n  rotate 14\n  compress\n  \
             delaycompress\n  missingok\n  sharedscripts\n  postrotate\n    kill -USR2 $(cat {pid})\n  endscript\n}}\n",
            dir = d.dir.path().display(),
            pid = pidfile.display()
        ),
    )
    .expect("logrotate.conf");
    let out = Command::new("logrotate")
        .arg("-f")
        .arg("-s")
        .arg(d.path("logrotate.state"))
        .arg(&conf)
        .output()
        .expect("logrotate runs");
    assert!(
        out.status.success(),
        "logrotate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until(LONG, "new lines in the new count.log", || {
        lines_in(&log) > 20
    });
    let n = assert_consecutive(&[&d.path("count.log.1"), &log]);
    assert!(n > 40, "{n} lines");
    wait_until(LONG, "the new event log written", || {
        std::fs::read_to_string(&d.log).is_ok_and(|t| t.contains("SIGUSR2: reopened"))
    });
}

#[test]
fn the_event_log_comes_back_after_its_directory_is_deleted_and_made_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).expect("mkdir");
    let d = Daemon::launch("[programs.web]\ncmd = \"sleep 1000\"\nstarttime = 0.1\n")
        .log(&logs.join("tm.log"))
        .start();
    d.wait_state("web", "RUNNING");
    std::fs::remove_dir_all(&logs).expect("rm -r logs");
    std::fs::create_dir(&logs).expect("mkdir logs");
    // Events keep coming; within a second or so they land in the new file.
    wait_until(LONG, "events in the new event log", || {
        d.ctl(&["restart", "web"]);
        std::fs::read_to_string(logs.join("tm.log")).is_ok_and(|t| t.contains("spawned: 'web'"))
    });
    let fd_dir = format!("/proc/{}/fd", d.pid());
    let deleted = std::fs::read_dir(&fd_dir)
        .expect("fds")
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .any(|t| t.to_string_lossy().contains("(deleted)"));
    assert!(!deleted, "no descriptor left on a deleted file");
}

#[test]
fn the_event_log_on_a_full_disk_is_reported_and_written_again_once_there_is_room() {
    if !nix::unistd::geteuid().is_root() {
        println!("skipped: mounting a small tmpfs needs root");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(fs) = crate::log_files::Tmpfs::mount(&dir.path().join("small")) else {
        println!("skipped: cannot mount a tmpfs here");
        return;
    };
    let log = fs.0.join("tm.log");
    let d = Daemon::launch("[programs.web]\ncmd = \"sleep 1000\"\nstarttime = 0\n")
        .log(&log)
        .start();
    d.wait_state("web", "RUNNING");
    // Fill the rest of the 1 MiB; events go on until the event log's last page is full.
    let filler = fs.0.join("filler");
    let _ = std::fs::write(&filler, vec![b'x'; 2 << 20]);
    // Headless taskmaster echoes the event log on stderr, which is not on the full disk.
    let stderr = || std::fs::read_to_string(d.path("stderr")).unwrap_or_default();
    wait_until(LONG, "the event log reported as failing", || {
        d.ctl(&["restart", "web"]);
        stderr().contains("log error: the event log")
    });
    assert!(stderr().contains("No space left on device"), "{}", stderr());
    assert_eq!(d.ctl(&["status", "web"]).code, 0, "taskmaster carries on");
    let before = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        !before.contains("log error"),
        "it could not be written there"
    );
    std::fs::remove_file(&filler).expect("free the space");
    wait_until(LONG, "the event log written again", || {
        d.ctl(&["restart", "web"]);
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.len() > before.len() && text.contains("log resumed: the event log")
    });
    drop(d);
    drop(fs);
}
