//! Many processes on the real binary: two thousand reach RUNNING and stop; the descriptor
//! limit is raised at start, children get the one taskmaster was started with, and when the
//! limit cannot hold every process the event log says so once, status says why the others did
//! not start, and taskmaster keeps answering.

use std::os::unix::process::CommandExt;
use std::time::Duration;

use crate::harness::binary::{Daemon, ctl, raw_request, status_rows};
use crate::harness::procfs::children_of;
use crate::harness::{read, wait_until};

fn sleepers(n: u32, starttime: u32) -> String {
    format!(
        r#"
[programs.sleeper]
cmd = "sleep 100000"
numprocs = {n}
starttime = {starttime}
stoptime = 5
startretries = 0
"#
    )
}

/// linux/capability.h: CAP_SYS_RESOURCE (libc does not define the capability numbers).
const CAP_SYS_RESOURCE: nix::libc::c_ulong = 24;

/// Starts the binary with descriptor limits `soft`/`hard`, and without the privilege to raise
/// the hard one (CAP_SYS_RESOURCE out of the bounding set: a root test runner would otherwise
/// lift it away).
fn start_limited(toml: &str, soft: u64, hard: u64) -> Daemon {
    Daemon::launch(toml)
        .setup(move |_, c| {
            // SAFETY: prctl and setrlimit are async-signal-safe system calls.
            unsafe {
                c.pre_exec(move || {
                    // EPERM without root: then the hard limit cannot be raised anyway.
                    nix::libc::prctl(nix::libc::PR_CAPBSET_DROP, CAP_SYS_RESOURCE, 0, 0, 0);
                    let limit = nix::libc::rlimit {
                        rlim_cur: soft,
                        rlim_max: hard,
                    };
                    if nix::libc::setrlimit(nix::libc::RLIMIT_NOFILE, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        })
        .start()
}

/// The "Max open files" soft and hard limits of `pid`.
fn open_files_limit(pid: u32) -> (String, String) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap_or_default();
    let line = text
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap_or_default()
        .to_string();
    let mut words = line.split_whitespace().skip(3);
    (
        words.next().unwrap_or_default().to_string(),
        words.next().unwrap_or_default().to_string(),
    )
}

#[test]
fn the_limit_is_raised_and_children_get_the_one_taskmaster_started_with() {
    let bin = start_limited(&sleepers(1, 0), 1000, 4000);
    let socket = bin.socket.clone();
    assert_eq!(
        open_files_limit(bin.pid()),
        ("4000".to_string(), "4000".to_string()),
        "taskmaster's soft limit is raised to the hard one"
    );
    wait_until(Duration::from_secs(20), "the sleeper running", || {
        status_rows(&socket).iter().any(|r| r.1 == "RUNNING")
    });
    let kids = bin.children();
    assert_eq!(kids.len(), 1, "one child: {kids:?}");
    assert_eq!(
        open_files_limit(kids[0]),
        ("1000".to_string(), "4000".to_string()),
        "the child gets the soft limit taskmaster was started with"
    );
}

#[test]
fn a_descriptor_shortage_is_said_once_and_status_tells_why() {
    // 100 processes at 3 descriptors each cannot fit in 200.
    let bin = start_limited(&sleepers(100, 0), 200, 200);
    let socket = bin.socket.clone();
    let log = bin.log.clone();
    let mut rows = Vec::new();
    wait_until(
        Duration::from_secs(30),
        "every process started or refused",
        || {
            rows = status_rows(&socket);
            rows.len() == 100 && rows.iter().all(|r| r.1 == "RUNNING" || r.1 == "FATAL")
        },
    );
    let running = rows.iter().filter(|r| r.1 == "RUNNING").count();
    assert!(
        (10..100).contains(&running),
        "some run, not all: {running} RUNNING"
    );
    let text = ctl(&socket, "status", &[])["output"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let refused = text
        .lines()
        .find(|l| l.contains("FATAL"))
        .unwrap_or_default();
    assert!(
        refused.contains("limit of 200 open files"),
        "status says why: {refused}"
    );
    let events = read(&log);
    assert_eq!(
        events.matches("descriptor limit too low").count(),
        1,
        "a forecast before the first spawn:\n{events}"
    );
    assert_eq!(
        events.matches("descriptor limit reached").count(),
        1,
        "said once when reached:\n{events}"
    );
    assert!(
        events.find("descriptor limit too low") < events.find(" spawned: '"),
        "the forecast comes before the first spawn"
    );
    assert_eq!(bin.children().len(), running, "no stray children");
}

#[test]
fn two_thousand_processes_reach_running_and_stop() {
    const N: usize = 2000;
    let bin = Daemon::start(&sleepers(N as u32, 1));
    let socket = bin.socket.clone();
    // The supervisor answers between spawns only in turns: a status may wait, so a reply
    // that does not come in time is polled again rather than a failure.
    wait_until(Duration::from_secs(180), "2000 processes RUNNING", || {
        let rows = status_text(&socket).unwrap_or_default();
        rows.lines().filter(|l| l.contains(" RUNNING ")).count() == N
    });
    assert_eq!(bin.children().len(), N, "one child per process");
    let reply = ctl(&socket, "stop", &["all"]);
    assert_eq!(reply["ok"], true, "stop all: {reply}");
    let rows = status_rows(&socket);
    assert!(
        rows.iter().all(|r| r.1 == "STOPPED"),
        "all stopped once `stop all` returns"
    );
    wait_until(Duration::from_secs(30), "every child reaped", || {
        children_of(bin.pid()).is_empty()
    });
}

/// The text of a `status` reply, or `None` when none came in time.
fn status_text(socket: &std::path::Path) -> Option<String> {
    let line = raw_request(socket, b"{\"cmd\":\"status\",\"args\":[]}\n")?;
    let reply: serde_json::Value = serde_json::from_str(&line).ok()?;
    reply["output"].as_str().map(str::to_string)
}

/// Milliseconds since the epoch of an event's `YYYY-MM-DDTHH:MM:SS.mmm+00:00` time (UTC).
fn event_ms(time: &str) -> Option<i64> {
    let (date, clock) = time.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, rest) = clock.split_once('.')?;
    let ms = rest.get(..3)?.parse::<i64>().ok()?;
    let mut t = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (h, min, s) = (t.next()??, t.next()??, t.next()??);
    // Days from the civil date (Howard Hinnant's days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + day - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    Some((((days * 24 + h) * 60 + min) * 60 + s) * 1000 + ms)
}

#[test]
fn starttime_counts_from_each_process_own_spawn_even_in_a_batch() {
    // Dozens are spawned per supervisor turn at boot. A process's start (status'
    // `start_time`, from which starttime counts) cannot be before its own spawn began, which
    // is after the previous process's `spawned` event: spawns happen one after another.
    // Counting from the turn's start made the last of a batch RUNNING too early.
    const N: usize = 100;
    let bin = Daemon::start(&sleepers(N as u32, 1));
    wait_until(Duration::from_secs(120), "all RUNNING", || {
        let rows = status_rows(&bin.socket);
        rows.len() == N && rows.iter().all(|r| r.1 == "RUNNING")
    });
    let status = bin.ctl(&["--json", "status"]);
    let status: serde_json::Value = serde_json::from_str(&status.out).expect("status JSON");
    let start_ms = |name: &str| -> i64 {
        let p = status
            .as_array()
            .and_then(|a| a.iter().find(|p| p["name"] == name))
            .unwrap_or_else(|| panic!("{name} in status"));
        (p["start_time"].as_f64().expect("start_time") * 1000.0).round() as i64
    };
    let events = bin.ctl(&["events"]).out;
    let spawned: Vec<(String, i64)> = events
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "spawned")
        .map(|e| {
            let name = e["process"].as_str().unwrap_or_default().to_string();
            (
                name,
                event_ms(e["time"].as_str().unwrap_or_default()).expect("time"),
            )
        })
        .collect();
    assert_eq!(spawned.len(), N, "one spawned event each:\n{events}");
    for pair in spawned.windows(2) {
        let (before, before_ms) = &pair[0];
        let (name, _) = &pair[1];
        // Both in whole milliseconds: 1 ms of rounding.
        assert!(
            start_ms(name) >= before_ms - 1,
            "{name} started at {} ms, before {before}'s spawn ended at {before_ms} ms",
            start_ms(name)
        );
    }
}
