//! The line shell: driven on a pipe (plain text, EOF shuts down) and on a real terminal under
//! tmux (line editing, history recall with Up, Tab completion, quit confirmation).

use std::path::Path;

use crate::harness::binary::{Daemon, ctl_at};
use crate::harness::procfs::gone;
use crate::harness::terminal;
use crate::harness::{LONG, wait_until};

const PROGRAMS: &str = r#"
[programs.web]
cmd = "sleep 1000"
starttime = 0.2

[programs.idle]
cmd = "sleep 1000"
autostart = false
"#;

#[test]
fn pipe_shell_prints_plain_replies_and_shuts_down_at_eof() {
    // No front-end flag: stdin is a pipe, so the line shell runs.
    let mut tm = Daemon::launch(PROGRAMS).flags(&[]).start();
    tm.wait_state("web", "RUNNING");
    tm.send_line("status web");
    tm.send_line("bogus words");
    tm.send_line("");
    tm.send_line("start idle");
    tm.send_line("pid");
    wait_until(LONG, "replies printed", || {
        tm.stdout_text().lines().count() >= 4
    });
    tm.close_stdin();
    assert_eq!(
        tm.wait_exit(),
        1,
        "EOF on a pipe shuts down, exiting with the last failure's code (bogus words)"
    );
    let out = tm.stdout_text();
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("web ") && lines[0].contains("RUNNING"),
        "{out}"
    );
    assert_eq!(lines[1], "*** Unknown syntax: bogus words", "{out}");
    assert_eq!(lines[2], "idle: started", "{out}");
    assert_eq!(
        lines[3],
        tm.pid().to_string(),
        "pid prints taskmaster's pid: {out}"
    );
    assert_eq!(lines[4], "Shut down", "EOF means shutdown: {out}");
    assert!(!out.contains("taskmaster>"), "no prompt on a pipe: {out}");
    assert!(!tm.socket.exists(), "socket removed at exit");
}

#[test]
fn quit_on_a_pipe_shuts_down_without_asking() {
    let mut tm = Daemon::launch(PROGRAMS).flags(&["--no-tui"]).start();
    tm.send_line("quit");
    assert_eq!(tm.wait_exit(), 0, "quit exits");
    assert_eq!(
        tm.stdout_text().trim(),
        "Shut down",
        "no confirmation on a pipe"
    );
}

#[test]
fn remote_shell_over_ctl_on_a_pipe() {
    let tm = Daemon::start(PROGRAMS);
    tm.wait_state("web", "RUNNING");
    let mut child = tm
        .ctl_command(&[])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("ctl shell starts");
    {
        use std::io::Write;
        let stdin = child.stdin.as_mut().expect("stdin");
        writeln!(stdin, "status web\nstop idle\nquit\nversion").expect("lines written");
    }
    let out = child.wait_with_output().expect("ctl ends");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the last failure's code (stop of a stopped process): {text}"
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "quit leaves before `version`: {text}");
    assert!(lines[0].contains("RUNNING"), "{text}");
    assert_eq!(lines[1], "idle: ERROR (not running)", "{text}");
    assert_eq!(
        tm.ctl(&["status", "web"]).code,
        0,
        "remote quit leaves taskmaster running"
    );
}

fn last_prompt(screen: &str) -> &str {
    screen
        .lines()
        .rev()
        .find(|l| l.starts_with("taskmaster>"))
        .unwrap_or("")
        .trim_end()
}

/// The line shell on a tmux terminal (history under `state/` in its dir), once its prompt
/// is up and `web` is RUNNING.
fn terminal_shell() -> Daemon {
    let launch = Daemon::launch(PROGRAMS).flags(&["--no-tui"]);
    let tm = launch.in_terminal(120, 30).start();
    // capture-pane drops trailing blanks: the prompt shows as `taskmaster>`.
    tm.wait_screen("the prompt", |s| s.contains("taskmaster>"));
    tm.wait_state("web", "RUNNING");
    tm
}

#[test]
fn terminal_shell_recalls_history_and_completes_names() {
    if !terminal::available() {
        return;
    }
    let tmux = terminal_shell();
    let socket = tmux.socket.clone();
    let state = tmux.path("state");

    tmux.keys(&["status", "Enter"]);
    // Raw mode is on for the whole session: output lines must still start at column 0.
    tmux.wait_screen("status output at column 0", |s| {
        s.lines()
            .any(|l| l.starts_with("web ") && l.contains("RUNNING"))
    });
    tmux.keys(&["Up"]);
    tmux.wait_screen("Up recalls `status`", |s| {
        last_prompt(s) == "taskmaster> status"
    });
    tmux.keys(&["C-u", "stop we", "Tab"]);
    tmux.wait_screen("Tab completes `web`", |s| {
        last_prompt(s) == "taskmaster> stop web"
    });
    tmux.keys(&["Enter"]);
    tmux.wait_screen("web stopped", |s| s.contains("web: stopped"));
    tmux.keys(&["start ", "Tab", "Tab"]);
    tmux.wait_screen("ambiguous Tab lists candidates", |s| {
        s.contains("all  idle  web")
    });
    tmux.keys(&["C-c"]);
    let history = std::fs::read_to_string(state.join("taskmaster/history")).unwrap_or_default();
    assert_eq!(
        history, "status\nstop web\n",
        "history file keeps the commands"
    );

    tmux.keys(&["tail -f web", "Enter"]);
    tmux.wait_screen("tail -f runs", |s| s.contains("Press Ctrl-C to exit"));
    tmux.keys(&["C-c"]);
    tmux.wait_screen("Ctrl-C ends tail -f", |s| {
        s.trim_end().lines().last() == Some("taskmaster>")
    });

    tmux.keys(&["quit", "Enter"]);
    tmux.wait_screen("confirmation asked", |s| {
        s.contains("Really shut down? [y/N]")
    });
    tmux.keys(&["y", "Enter"]);
    wait_until(LONG, "taskmaster gone", || !Path::new(&socket).exists());
}

/// Regression: when its terminal hung up (window closed, tmux killed), the line shell spun at
/// full CPU on a dead tty, forever. It must shut taskmaster down instead.
#[test]
fn closing_the_terminal_shuts_the_local_shell_down() {
    if !terminal::available() {
        return;
    }
    let tmux = terminal_shell();
    let socket = tmux.socket.clone();
    let pid: u32 = ctl_at(&socket, &["pid"])
        .out
        .trim()
        .parse()
        .expect("taskmaster pid");
    let child: u32 = ctl_at(&socket, &["pid", "web"])
        .out
        .trim()
        .parse()
        .expect("web pid");
    let _ = tmux.tmux(&["kill-server"]).status();
    wait_until(LONG, "taskmaster exits once its terminal is gone", || {
        gone(pid)
    });
    assert!(gone(child), "its child was stopped and reaped");
}
