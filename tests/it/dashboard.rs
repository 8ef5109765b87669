//! The dashboard end to end: the real binary in a real pty (tmux), driven by keys, checked on
//! the screen and through `taskmaster ctl`. Skipped, with a printed reason, without tmux.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::harness::procfs::alive;
use crate::harness::terminal::{self, Terminal};
use crate::harness::{LONG, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_taskmaster");

const CONFIG: &str = r#"
[taskmaster]
socket = "{dir}/tm.sock"
logfile = "{dir}/tm.log"

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

/// taskmaster running in a detached tmux session of its own tmux server. Drop kills
/// taskmaster (and its children's groups) before the tmux server, whose SIGHUP would mean
/// "reload" to it.
struct Session {
    /// Holds the config, socket and log until the session is dropped.
    _dir: tempfile::TempDir,
    term: Terminal,
    socket: PathBuf,
    taskmaster_pid: Option<u32>,
}

impl Session {
    fn start(width: u16, height: u16) -> Option<Session> {
        if !terminal::available() {
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("taskmaster.toml");
        std::fs::write(
            &config,
            CONFIG.replace("{dir}", &dir.path().display().to_string()),
        )
        .expect("write config");
        let server = format!(
            "tm-dash-{}-{}",
            std::process::id(),
            dir.path()
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default()
        );
        // After taskmaster exits, the shell prints its status and the tty modes, so the test
        // can see the terminal was given back (raw mode off: `icanon` and `echo`, no `-`).
        let script = format!(
            "XDG_STATE_HOME='{d}' NO_COLOR=1 '{BIN}' -c '{c}'; echo \"EXIT=$?\"; stty -a; exec sleep 600",
            d = dir.path().display(),
            c = config.display(),
        );
        let socket = dir.path().join("tm.sock");
        let mut term = Terminal::start(server, "dash", width, height, &script);
        term.socket = Some(socket.clone());
        Some(Session {
            socket,
            _dir: dir,
            term,
            taskmaster_pid: None,
        })
    }

    fn tmux(&self, args: &[&str]) -> Command {
        self.term.tmux(args)
    }

    fn keys(&self, keys: &[&str]) {
        self.term.keys(keys);
    }

    fn text(&self, text: &str) {
        self.term.text(text);
    }

    /// Waits until the screen satisfies `cond`; the failure message shows the last screen.
    fn wait_screen(&self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        self.term.wait_screen(what, cond)
    }

    fn ctl(&self, args: &[&str]) -> (i32, String) {
        let out = Command::new(BIN)
            .arg("ctl")
            .arg("-s")
            .arg(&self.socket)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run taskmaster ctl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.code().unwrap_or(-1), text)
    }

    /// `NAME -> (STATE, pid)` from `ctl status`.
    fn status(&self) -> Vec<(String, String, Option<u32>)> {
        let (_, text) = self.ctl(&["status"]);
        text.lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                let name = w.next()?.to_string();
                let state = w.next()?.to_string();
                let pid = match (w.next(), w.next()) {
                    (Some("pid"), Some(p)) => p.trim_end_matches(',').parse().ok(),
                    _ => None,
                };
                Some((name, state, pid))
            })
            .collect()
    }

    fn pid_of(&self, name: &str) -> Option<u32> {
        self.status()
            .into_iter()
            .find(|(n, s, _)| n == name && s == "RUNNING")
            .and_then(|(_, _, pid)| pid)
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // The socket may be gone (a test quit taskmaster): then its pid is the way.
        if let Some(pid) = self.taskmaster_pid.filter(|p| alive(*p)) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

fn row_of<'a>(screen: &'a str, name: &str) -> Option<&'a str> {
    screen
        .lines()
        .find(|l| l.trim_start_matches('│').starts_with(&format!("{name} ")))
}

fn scenario(width: u16, height: u16) {
    let Some(mut s) = Session::start(width, height) else {
        return;
    };
    // 1. The table lists every process with its state.
    s.wait_screen("every process RUNNING", |scr| {
        NAMES
            .iter()
            .all(|n| row_of(scr, n).is_some_and(|r| r.contains("RUNNING")))
    });
    let (_, pid_text) = s.ctl(&["pid"]);
    s.taskmaster_pid = pid_text.trim().parse().ok();
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
        let st = s.status();
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
    wait_until(LONG, "no child left", || {
        !alive(web_pid) && s.taskmaster_pid.is_none_or(|p| !alive(p))
    });
    for pid in child_pids {
        assert!(!alive(pid), "child {pid} is gone");
    }
    s.taskmaster_pid = None;
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
    let Some(mut s) = Session::start(60, 20) else {
        return;
    };
    s.wait_screen("the too-small notice", |scr| {
        scr.contains("terminal too small (need 80x24)")
    });
    let (_, pid_text) = s.ctl(&["pid"]);
    s.taskmaster_pid = pid_text.trim().parse().ok();
}

#[test]
fn dashboard_follows_resizes_and_leaves_cleanly_on_sigterm() {
    let Some(mut s) = Session::start(100, 30) else {
        return;
    };
    s.wait_screen("the table", |scr| scr.contains("processes (5)"));
    let (_, pid_text) = s.ctl(&["pid"]);
    s.taskmaster_pid = pid_text.trim().parse().ok();
    let pid = s.taskmaster_pid.expect("ctl pid gives taskmaster's pid");

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
    s.taskmaster_pid = None;
}

/// The terminal disappearing under the dashboard (window closed) shuts taskmaster down: it
/// must neither spin on the dead tty nor keep children nobody can see.
#[test]
fn dashboard_shuts_down_when_its_terminal_hangs_up() {
    let Some(mut s) = Session::start(100, 30) else {
        return;
    };
    s.wait_screen("the table", |scr| scr.contains("processes (5)"));
    let (_, pid_text) = s.ctl(&["pid"]);
    let pid: u32 = pid_text
        .trim()
        .parse()
        .expect("ctl pid gives taskmaster's pid");
    wait_until(LONG, "web RUNNING", || s.pid_of("web").is_some());
    let child = s.pid_of("web").expect("web has a pid");
    let _ = s.tmux(&["kill-server"]).status();
    wait_until(LONG, "taskmaster gone once its terminal hung up", || {
        !alive(pid)
    });
    wait_until(LONG, "its children stopped", || !alive(child));
    s.taskmaster_pid = None;
    // Regression: the SIGHUP of the hang-up was first taken as a reload.
    let log = std::fs::read_to_string(s.socket.with_file_name("tm.log")).unwrap_or_default();
    assert!(
        !log.contains("config reloaded") && !log.contains("reload refused"),
        "a hang-up is not a reload:\n{log}"
    );
}

/// Every stray signal leaves the dashboard running with the same processes; QUIT shuts it
/// down like TERM and gives the terminal back.
#[test]
fn dashboard_survives_every_stray_signal_and_quits_on_sigquit() {
    let Some(mut s) = Session::start(100, 30) else {
        return;
    };
    s.wait_screen("the table", |scr| scr.contains("processes (5)"));
    let (_, pid_text) = s.ctl(&["pid"]);
    s.taskmaster_pid = pid_text.trim().parse().ok();
    let pid = s.taskmaster_pid.expect("ctl pid gives taskmaster's pid");
    wait_until(LONG, "every process RUNNING", || {
        s.status()
            .iter()
            .filter(|(_, st, _)| st == "RUNNING")
            .count()
            == NAMES.len()
    });
    let log = s._dir.path().join("tm.log");
    let status = || {
        s.status()
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
    s.taskmaster_pid = None;
}

/// `events -f` typed in the command bar streams into the output pane while the bar stays
/// usable (typed lines are commands, never a process's stdin); Esc ends the stream, and so
/// does another command, whose result shows. Wide, so a long host name cannot push the
/// event kind off the pane.
#[test]
fn events_follow_in_the_command_bar_streams_into_the_output_pane_until_esc() {
    let Some(s) = Session::start(300, 40) else {
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
    assert_eq!(s.ctl(&["stop", "web"]).0, 0);
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
