//! The terminal closing under taskmaster (window closed, `tmux kill-session`): the shutdown
//! it begins runs to its end. Regression: once the terminal was gone, ratatui's drop of the
//! dashboard's `Terminal` failed to show the cursor and `eprintln!`ed about it to the dead
//! terminal; the failed write panicked the main thread, which ended the process in the middle
//! of the shutdown (no SIGKILL for a program ignoring TERM, its child left to init, no
//! `taskmaster stopped`). Skipped, with a printed reason, without tmux.

use crate::harness::binary::{Daemon, raw_request};
use crate::harness::launch::Launch;
use crate::harness::procfs::{alive, children_of};
use crate::harness::terminal;
use crate::harness::{LONG, wait_until, wait_until_showing};

/// A program ignoring TERM with a child that ignores it too (only the SIGKILL after
/// `stoptime` ends them), a program on a pseudo-terminal, and plain ones.
const CONFIG: &str = r#"
[programs.stubborn]
cmd = "sh -c 'trap \"\" TERM; sleep 1000; echo unreachable'"
starttime = 0.3
stoptime = 1

[programs.repl]
cmd = "cat"
pty = true
starttime = 0.3

[programs.plain]
cmd = "sleep 1000"
numprocs = 2
starttime = 0.3
"#;

const NAMES: [&str; 4] = ["stubborn", "repl", "plain:plain_00", "plain:plain_01"];

/// Starts `launch` on a tmux terminal, waits until every process runs, kills the tmux
/// session, then checks that the shutdown ended (`taskmaster stopped` is the event log's last
/// line), that nothing of the config survives, and that the log says why, once.
fn hang_up(launch: Launch) {
    if !terminal::available() {
        return;
    }
    let s: Daemon = launch.in_terminal(120, 40).start();
    wait_until(LONG, "every process RUNNING", || {
        let rows = s.status_rows();
        NAMES.iter().all(|n| {
            rows.iter()
                .any(|(name, state, _)| name == n && state == "RUNNING")
        })
    });
    let mut pids: Vec<u32> = NAMES.iter().filter_map(|n| s.pid_of(n)).collect();
    assert_eq!(pids.len(), NAMES.len(), "ctl status shows every pid");
    let stubborn = s.pid_of("stubborn").expect("stubborn has a pid");
    let mut grandchild = Vec::new();
    wait_until(LONG, "stubborn's sleep started", || {
        grandchild = children_of(stubborn);
        !grandchild.is_empty()
    });
    pids.extend(grandchild);
    pids.push(s.pid());
    let _ = s.tmux(&["kill-session", "-t", &s.term().target]).status();

    wait_until_showing(
        LONG,
        "the event log to end with `taskmaster stopped`",
        || {
            s.log_text()
                .lines()
                .last()
                .is_some_and(|l| l.ends_with("taskmaster stopped"))
        },
        || format!("event log:\n{}", s.log_text()),
    );
    wait_until_showing(
        LONG,
        "taskmaster and every process of its config gone",
        || pids.iter().all(|p| !alive(*p)),
        || {
            let left: Vec<_> = pids.iter().filter(|p| alive(**p)).collect();
            format!("alive: {left:?} (taskmaster {})", s.pid())
        },
    );
    let log = s.log_text();
    let hung_up = log
        .lines()
        .filter(|l| l.contains("terminal hung up"))
        .count();
    assert_eq!(hung_up, 1, "one line says the terminal hung up:\n{log}");
    assert!(
        log.contains("killing: stubborn") && log.contains("stopped: stubborn"),
        "stubborn was SIGKILLed after its stoptime:\n{log}"
    );
}

/// The dashboard under the pane's shell (the shell leads the session: taskmaster itself gets
/// no SIGHUP and learns of the hang-up from its terminal).
#[test]
fn dashboard_hang_up_under_a_shell_stops_everything() {
    hang_up(Daemon::launch(CONFIG));
}

/// The dashboard leading the terminal's session (tmux runs it directly): the hang-up's
/// SIGHUP and the dead terminal both reach it.
#[test]
fn dashboard_hang_up_as_session_leader_stops_everything() {
    hang_up(Daemon::launch(CONFIG).session_leader());
}

/// The line shell on a terminal (`--no-tui`) under the pane's shell: no SIGHUP either; the
/// shell's failed read is the news.
#[test]
fn shell_hang_up_under_a_shell_stops_everything() {
    hang_up(Daemon::launch(CONFIG).flags(&["--no-tui"]));
}

/// The line shell on a terminal (`--no-tui`) leading the session.
#[test]
fn shell_hang_up_as_session_leader_stops_everything() {
    hang_up(Daemon::launch(CONFIG).flags(&["--no-tui"]).session_leader());
}

/// A hang-up is the local terminal's news: over the socket, `hang_up` is no command (a
/// client cannot put `terminal hung up` in the log), and nothing stops.
#[test]
fn hang_up_is_not_a_socket_command() {
    let s = Daemon::start(CONFIG);
    s.wait_state("plain:plain_00", "RUNNING");
    // The typed form (what `ctl` sends), and the words form (what a script sends).
    for request in [
        &b"{\"request\":{\"cmd\":\"hang_up\"}}\n"[..],
        b"{\"cmd\":\"hang_up\"}\n",
    ] {
        let reply = raw_request(&s.socket, request).expect("a reply");
        assert!(reply.contains("\"ok\":false"), "refused: {reply}");
    }
    let status = s.ctl(&["status", "plain:plain_00"]).out;
    assert!(status.contains("RUNNING"), "still running: {status}");
    let log = s.log_text();
    assert!(
        !log.contains("terminal hung up") && !log.contains("stopping"),
        "nothing shut down:\n{log}"
    );
}
