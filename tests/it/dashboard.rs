//! The dashboard end to end: the real binary in a real pty (tmux), driven by keys, checked on
//! the screen and through `taskmaster ctl`. Skipped, with a printed reason, without tmux.

use crate::harness::binary::Daemon;
use crate::harness::procfs::alive;
use crate::harness::terminal;
use crate::harness::{LONG, wait_until};

const CONFIG: &str = r#"
[programs.echo]
cmd = "cat"
starttime = 0.3

[programs.talk]
cmd = "sh -c 'echo hello-from-talk; echo err-from-talk >&2; exec sleep 1000'"
starttime = 0.3

[programs.web]
cmd = "sleep 1000"
starttime = 0.3
stoptime = 2

[programs.worker]
cmd = "sleep 1000"
numprocs = 2
starttime = 0.3
stoptime = 2
"#;

const NAMES: [&str; 5] = [
    "echo",
    "talk",
    "web",
    "worker:worker_00",
    "worker:worker_01",
];

/// taskmaster's dashboard on a tmux terminal of `width`x`height`, or `None` (the test
/// skips) without tmux.
fn start(width: u16, height: u16) -> Option<Daemon> {
    if !terminal::available() {
        return None;
    }
    let launch = Daemon::launch(CONFIG).env("NO_COLOR", "1");
    Some(launch.in_terminal(width, height).start())
}

fn row_of<'a>(screen: &'a str, name: &str) -> Option<&'a str> {
    screen
        .lines()
        .find(|l| l.trim_start_matches('│').starts_with(&format!("{name} ")))
}

fn scenario(width: u16, height: u16) {
    let Some(s) = start(width, height) else {
        return;
    };
    // 1. The table lists every process with its state.
    s.wait_screen("every process RUNNING", |scr| {
        NAMES
            .iter()
            .all(|n| row_of(scr, n).is_some_and(|r| r.contains("RUNNING")))
    });
    let child_pids: Vec<u32> = NAMES.iter().filter_map(|n| s.pid_of(n)).collect();
    assert_eq!(child_pids.len(), NAMES.len(), "ctl status shows every pid");

    // 2. `r` on the selected process restarts it with a new pid.
    s.keys(&["Home", "j", "j"]);
    s.wait_screen("the tail pane of web", |scr| scr.contains("output of web"));
    let old = s.pid_of("web").expect("web has a pid");
    s.keys(&["r"]);
    wait_until(LONG, "web restarted with a new pid", || {
        s.pid_of("web").is_some_and(|p| p != old)
    });
    s.wait_screen("the restart result", |scr| scr.contains("web: started"));

    // The tail pane shows both streams, stderr marked.
    s.keys(&["k"]);
    s.wait_screen("talk's stdout and stderr", |scr| {
        scr.contains("│  hello-from-talk") && scr.contains("│▌ err-from-talk")
    });

    // 3. Enter attaches; typed lines reach stdin; Ctrl-] detaches, the process keeps running.
    s.keys(&["Home"]);
    s.wait_screen("the tail pane of echo", |scr| {
        scr.contains("output of echo")
    });
    let echo_pid = s.pid_of("echo").expect("echo has a pid");
    s.keys(&["Enter"]);
    s.wait_screen("the attach view", |scr| scr.contains("attached to echo"));
    s.text("ping-42");
    s.keys(&["Enter"]);
    s.wait_screen("cat echoing the line", |scr| scr.contains("│  ping-42"));
    s.keys(&["C-]"]);
    s.wait_screen("the dashboard again", |scr| scr.contains("processes (5)"));
    assert_eq!(
        s.pid_of("echo"),
        Some(echo_pid),
        "echo still runs after detach"
    );

    // 4. The command bar: `stop all` stops everything.
    s.keys(&[":"]);
    s.text("stop all");
    s.keys(&["Enter"]);
    wait_until(LONG, "ctl status: every process STOPPED", || {
        let st = s.status_rows();
        st.len() == NAMES.len() && st.iter().all(|(_, state, _)| state == "STOPPED")
    });
    s.wait_screen("the reply overlay", |scr| scr.contains("web: stopped"));
    s.keys(&["Escape"]);
    s.wait_screen("the overlay closed", |scr| !scr.contains("web: stopped"));
    s.keys(&[":"]);
    s.text("start web");
    s.keys(&["Enter"]);
    wait_until(LONG, "web RUNNING again", || s.pid_of("web").is_some());
    let web_pid = s.pid_of("web").expect("web pid");

    // 5. q asks, y shuts down: no child left, the terminal given back.
    s.keys(&["q"]);
    s.wait_screen("the quit confirmation", |scr| {
        scr.contains("Quit taskmaster and stop every process?")
    });
    s.keys(&["y"]);
    let after = s.wait_screen("taskmaster exited and stty ran", |scr| {
        scr.contains("EXIT=") && scr.contains("icanon")
    });
    assert!(after.contains("EXIT=0"), "taskmaster exits 0:\n{after}");
    let modes = after.replace('\n', " ");
    assert!(
        modes.contains(" icanon") && modes.contains(" echo ") && !modes.contains("-icanon"),
        "raw mode is off after exit:\n{after}"
    );
    let alt = s
        .tmux(&["display-message", "-p", "-t", "dash", "#{alternate_on}"])
        .output();
    let alt = alt.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    assert_eq!(
        alt.ok().as_deref(),
        Some("0"),
        "the alternate screen is left"
    );
    wait_until(LONG, "no child left", || !alive(web_pid) && !alive(s.pid()));
    for pid in child_pids {
        assert!(!alive(pid), "child {pid} is gone");
    }
}

#[test]
fn dashboard_end_to_end_at_120x40() {
    scenario(120, 40);
}

#[test]
fn dashboard_end_to_end_at_80x24() {
    scenario(80, 24);
}

#[test]
fn dashboard_too_small_shows_a_notice() {
    let Some(s) = start(60, 20) else {
        return;
    };
    s.wait_screen("the too-small notice", |scr| {
        scr.contains("terminal too small (need 80x24)")
    });
}

#[test]
fn dashboard_follows_resizes_and_leaves_cleanly_on_sigterm() {
    let Some(s) = start(100, 30) else {
        return;
    };
    s.wait_screen("the table", |scr| scr.contains("processes (5)"));
    let pid = s.pid();

    let _ = s
        .tmux(&["resize-window", "-t", "dash", "-x", "70", "-y", "20"])
        .status();
    s.wait_screen("the too-small notice", |scr| {
        scr.contains("terminal too small (need 80x24)")
    });
    let _ = s
        .tmux(&["resize-window", "-t", "dash", "-x", "90", "-y", "26"])
        .status();
    s.wait_screen("the table again", |scr| scr.contains("processes (5)"));

    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let after = s.wait_screen("taskmaster exited and stty ran", |scr| {
        scr.contains("EXIT=") && scr.contains("icanon")
    });
    assert!(
        !after.replace('\n', " ").contains("-icanon"),
        "raw mode is off after SIGTERM:\n{after}"
    );
    wait_until(LONG, "taskmaster gone after SIGTERM", || !alive(pid));
}

/// The terminal disappearing under the dashboard (window closed) shuts taskmaster down: it
/// must neither spin on the dead tty nor keep children nobody can see.
#[test]
fn dashboard_shuts_down_when_its_terminal_hangs_up() {
    let Some(s) = start(100, 30) else {
        return;
    };
    s.wait_screen("the table", |scr| scr.contains("processes (5)"));
    let pid = s.pid();
    wait_until(LONG, "web RUNNING", || s.pid_of("web").is_some());
    let child = s.pid_of("web").expect("web has a pid");
    let _ = s.tmux(&["kill-server"]).status();
    wait_until(LONG, "taskmaster gone once its terminal hung up", || {
        !alive(pid)
    });
    wait_until(LONG, "its children stopped", || !alive(child));
    // Regression: the SIGHUP of the hang-up was first taken as a reload.
    let log = s.log_text();
    assert!(
        !log.contains("config reloaded") && !log.contains("reload refused"),
        "a hang-up is not a reload:\n{log}"
    );
}

/// Every stray signal leaves the dashboard running with the same processes; QUIT shuts it
/// down like TERM and gives the terminal back.
#[test]
fn dashboard_survives_every_stray_signal_and_quits_on_sigquit() {
    let Some(s) = start(100, 30) else {
        return;
    };
    s.wait_screen("the table", |scr| scr.contains("processes (5)"));
    let pid = s.pid();
    wait_until(LONG, "every process RUNNING", || {
        s.status_rows()
            .iter()
            .filter(|(_, st, _)| st == "RUNNING")
            .count()
            == NAMES.len()
    });
    let log = s.log.clone();
    let status = || {
        s.status_rows()
            .into_iter()
            .map(|(n, _, p)| (n, p))
            .collect::<Vec<_>>()
    };
    crate::signals::survive_every_stray_signal(pid, &status, &|| {
        std::fs::read_to_string(&log).unwrap_or_default()
    });
    s.wait_screen("the table still drawn", |scr| scr.contains("processes (5)"));
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGQUIT,
    );
    let after = s.wait_screen("taskmaster exited and stty ran", |scr| {
        scr.contains("EXIT=") && scr.contains("icanon")
    });
    assert!(after.contains("EXIT=0"), "QUIT exits 0:\n{after}");
    assert!(
        !after.replace('\n', " ").contains("-icanon"),
        "raw mode is off after SIGQUIT:\n{after}"
    );
    wait_until(LONG, "taskmaster gone after SIGQUIT", || !alive(pid));
}

/// `events -f` typed in the command bar streams into the output pane while the bar stays
/// usable (typed lines are commands, never a process's stdin); Esc ends the stream, and so
/// does another command, whose result shows. Wide, so a long host name cannot push the
/// event kind off the pane.
#[test]
fn events_follow_in_the_command_bar_streams_into_the_output_pane_until_esc() {
    let Some(s) = start(300, 40) else {
        return;
    };
    s.wait_screen("the table", |scr| scr.contains("processes (5)"));
    wait_until(LONG, "web RUNNING", || s.pid_of("web").is_some());
    s.keys(&[":"]);
    s.text("events -f");
    s.keys(&["Enter"]);
    s.wait_screen("the backlog in the output pane", |scr| {
        scr.contains("events -f (following)") && scr.contains(r#""event":"started""#)
    });
    // Live: what happens after the stream opened shows too.
    assert_eq!(s.ctl(&["stop", "web"]).code, 0);
    s.wait_screen("the live stopped event", |scr| {
        scr.contains(r#""event":"stopped","program":"web""#)
    });
    s.keys(&["Escape"]);
    // All three in one wait: a screen can show the new title before the rest is redrawn.
    s.wait_screen(
        "the process output back, and the stream's end said",
        |scr| {
            !scr.contains("events -f (following)")
                && scr.contains("output of")
                && scr.contains("stream ended")
        },
    );

    s.keys(&[":"]);
    s.text("events -f");
    s.keys(&["Enter"]);
    s.wait_screen("the stream again", |scr| {
        scr.contains("events -f (following)")
    });
    // Another command ends it and runs as a command (not as input to some process).
    s.keys(&[":"]);
    s.text("start web");
    s.keys(&["Enter"]);
    let after = s.wait_screen("the command's result and the process output back", |scr| {
        scr.contains("web: started") && !scr.contains("events -f (following)")
    });
    assert!(!after.contains("no such process"), "{after}");
    wait_until(LONG, "web RUNNING again", || s.pid_of("web").is_some());
}
