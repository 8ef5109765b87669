//! No death by stray signal (interface.md section 8), on the real binary: every signal whose
//! default would end or stop taskmaster is ignored and logged, in every mode; QUIT shuts down
//! like TERM; USR2 reopens the logs — what a supervisord user's logrotate `postrotate` sends.

use nix::libc;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::harness::binary::Daemon;
use crate::harness::{LONG, wait_until};

/// Every signal the test sends, with the name the event log gives it.
pub fn strays() -> Vec<(i32, String)> {
    let mut list: Vec<(i32, String)> = [
        (libc::SIGUSR1, "SIGUSR1"),
        (libc::SIGALRM, "SIGALRM"),
        (libc::SIGVTALRM, "SIGVTALRM"),
        (libc::SIGPROF, "SIGPROF"),
        (libc::SIGPOLL, "SIGIO"),
        (libc::SIGTSTP, "SIGTSTP"),
        (libc::SIGTTIN, "SIGTTIN"),
        (libc::SIGTTOU, "SIGTTOU"),
        (libc::SIGXCPU, "SIGXCPU"),
        (libc::SIGXFSZ, "SIGXFSZ"),
        (libc::SIGPWR, "SIGPWR"),
        (libc::SIGSTKFLT, "SIGSTKFLT"),
        (libc::SIGSYS, "SIGSYS"),
        (libc::SIGTRAP, "SIGTRAP"),
        (libc::SIGABRT, "SIGABRT"),
        // Ignored without a line (taskmaster's own EPIPE writes raise it too).
        (libc::SIGPIPE, ""),
        // Reopens the logs.
        (libc::SIGUSR2, "SIGUSR2: reopened"),
    ]
    .into_iter()
    .map(|(n, s)| (n, s.to_string()))
    .collect();
    list.push((libc::SIGRTMIN(), "SIGRTMIN+0".into()));
    list.push((libc::SIGRTMIN() + 3, "SIGRTMIN+3".into()));
    list.push((
        libc::SIGRTMAX(),
        format!("SIGRTMIN+{}", libc::SIGRTMAX() - libc::SIGRTMIN()),
    ));
    list
}

/// Sends each stray signal to `pid` and checks that taskmaster is still there, not stopped,
/// logged the signal, and still answers `status` with the same processes and pids.
pub fn survive_every_stray_signal(
    pid: u32,
    status: &dyn Fn() -> Vec<(String, Option<u32>)>,
    log: &dyn Fn() -> String,
) -> Vec<String> {
    let before = status();
    assert!(
        before.iter().all(|(_, p)| p.is_some()),
        "every process running first: {before:?}"
    );
    let mut survived = Vec::new();
    for (sig, logged) in strays() {
        // SAFETY: kill(2) with a plain signal number; no memory involved.
        let sent = unsafe { libc::kill(pid as i32, sig) };
        assert_eq!(sent, 0, "signal {sig} sent");
        if !logged.is_empty() {
            let want = if logged.contains(':') {
                logged.clone()
            } else {
                format!("ignored {logged}:")
            };
            wait_until(LONG, &format!("the event log to show {want:?}"), || {
                log().contains(&want)
            });
        }
        // The logged line proves the handler took the signal; SIGPIPE is discarded by the
        // kernel at once (SIG_IGN). Either way a default action would have acted by now.
        let state = crate::harness::procfs::stat(pid).map(|s| s.state);
        assert!(
            state.is_some_and(|s| s != 'T' && s != 'Z'),
            "taskmaster alive and not stopped after signal {sig}: {state:?}"
        );
        assert_eq!(
            status(),
            before,
            "same processes and pids after signal {sig}"
        );
        survived.push(if logged.is_empty() {
            "SIGPIPE".to_string()
        } else {
            logged
        });
    }
    survived
}

/// `(name, pid)` per process from `ctl status` output.
pub fn pids_of(text: &str) -> Vec<(String, Option<u32>)> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let name = w.next()?.to_string();
            let _state = w.next()?;
            let pid = match (w.next(), w.next()) {
                (Some("pid"), Some(p)) => p.trim_end_matches(',').parse().ok(),
                _ => None,
            };
            Some((name, pid))
        })
        .collect()
}

const PROGRAMS: &str = r#"
[programs.web]
cmd = "sleep 1000"
starttime = 0.2

[programs.worker]
cmd = "sleep 1000"
numprocs = 2
starttime = 0.2
"#;

fn in_mode(flags: &[&str]) {
    let mut d = Daemon::launch(PROGRAMS).flags(flags).start();
    for name in ["web", "worker:worker_00", "worker:worker_01"] {
        d.wait_state(name, "RUNNING");
    }
    let survived =
        survive_every_stray_signal(d.pid(), &|| pids_of(&d.ctl(&["status"]).out), &|| {
            d.log_text()
        });
    assert_eq!(survived.len(), strays().len());
    // QUIT shuts down like TERM: every child stopped, the socket removed, exit 0.
    let children = pids_of(&d.ctl(&["status"]).out);
    kill(Pid::from_raw(d.pid() as i32), Signal::SIGQUIT).expect("send QUIT");
    assert_eq!(d.wait_exit(), 0, "QUIT exits 0");
    assert!(!d.socket.exists(), "the socket file is removed");
    for (name, pid) in children {
        let pid = pid.expect("pid");
        assert!(
            crate::harness::procfs::stat(pid).map(|s| s.state).is_none(),
            "{name} ({pid}) stopped at shutdown"
        );
    }
    assert!(d.log_text().contains("taskmaster stopping"));
}

#[test]
fn headless_survives_every_stray_signal_and_quits_on_sigquit() {
    in_mode(&["--headless"]);
}

#[test]
fn the_line_shell_survives_every_stray_signal_and_quits_on_sigquit() {
    in_mode(&["--no-tui"]);
}
