//! The event log of interface.md section 6: one line per event, millisecond timestamps,
//! supervisor's words — checked on the real binary's logfile.

use crate::harness::binary::Daemon;
use crate::harness::{LONG, wait_until};

const PROGRAMS: &str = r#"
[programs.web]
cmd = "sleep 1000"
starttime = 0.2
[programs.crash]
cmd = "sh -c 'exit 3'"
starttime = 1
startretries = 1
[programs.stubborn]
cmd = "sh -c 'trap \"\" TERM; sleep 1000'"
starttime = 0
stoptime = 0.3
[programs.once]
cmd = "sh -c 'sleep 0.3; exit 4'"
starttime = 0.1
autorestart = "never"
"#;

#[test]
fn every_event_is_one_timestamped_line() {
    let mut d = Daemon::start(PROGRAMS);
    d.wait_state("web", "RUNNING");
    d.wait_state("crash", "FATAL");
    d.wait_state("once", "EXITED");
    d.ctl(&["stop", "web", "stubborn"]);
    d.rewrite(&format!(
        "{PROGRAMS}\n[programs.added]\ncmd = \"sleep 1000\"\n"
    ));
    assert_eq!(d.ctl(&["reload"]).code, 0, "the reload applies");
    d.rewrite("[programs.bad]\ncmd = \"sleep 1\"\nnumprocs = 0\n");
    assert_eq!(d.ctl(&["reload"]).code, 1, "the bad reload is refused");
    d.ctl(&["shutdown"]);
    assert_eq!(d.wait_exit(), 0, "shutdown exits 0");

    let log = d.log_text();
    let expected = [
        "taskmaster started (pid ",
        "spawned: 'web' with pid ",
        "success: web entered RUNNING state",
        "exited: crash (exit status 3; not expected)",
        "backoff: crash entered BACKOFF state, retry 1 of 1 in 1 s",
        "gave up: crash entered FATAL state, too many start retries too quickly",
        "exited: once (exit status 4; not expected)",
        "stop requested: web (sending SIGTERM to process group ",
        "stopped: web (terminated by SIGTERM; graceful)",
        "killing: stubborn (pid ",
        "stopped: stubborn (terminated by SIGKILL; killed after stoptime)",
        "config reloaded: added [added], changed [], updated [], removed []",
        "reload refused, nothing changed: ",
        "taskmaster stopping",
    ];
    for what in expected {
        assert!(
            log.contains(what),
            "the log has a line with {what:?}:\n{log}"
        );
    }
    for line in log.lines() {
        // `2026-11-26 15:12:03.456 INFO ...`
        let stamp: Vec<&str> = line.splitn(3, ' ').collect();
        let time = stamp.get(1).copied().unwrap_or("");
        let millis = time.rsplit_once('.').map(|(_, ms)| ms).unwrap_or("");
        assert!(
            stamp.len() == 3 && millis.len() == 3 && millis.chars().all(|c| c.is_ascii_digit()),
            "every line starts with a millisecond timestamp: {line:?}"
        );
    }
    let refused = log
        .lines()
        .find(|l| l.contains("reload refused"))
        .unwrap_or_default();
    assert!(
        refused.contains("numprocs") && refused.contains("taskmaster.toml"),
        "the refusal names the file and key: {refused}"
    );
    wait_until(LONG, "log complete", || {
        d.log_text().contains("taskmaster stopped")
    });
}
