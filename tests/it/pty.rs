//! `pty = true` programs at the supervisor level: a real terminal as controlling terminal in a
//! session of their own, every byte captured (ring and file), input and terminal signals,
//! window size (kept across restarts), stop to the group, EOF on the master.

use taskmaster::spawn::TtySize;
use taskmaster::supervisor::{Command, Reply, StateName};

use crate::harness::inprocess::Tm;
use crate::harness::procfs::{alive, group_members};
use crate::harness::{LONG, read, wait_until};

fn tail_text(tm: &Tm, name: &str) -> String {
    tm.handle
        .output()
        .tail(name, None, 64 * 1024)
        .unwrap_or_default()
        .iter()
        .map(|c| String::from_utf8_lossy(&c.data).into_owned())
        .collect()
}

#[test]
fn a_pty_program_has_a_terminal_in_a_session_of_its_own() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.term]
cmd = "sh -c 'test -t 0 && test -t 1 && test -t 2 && echo all-ttys; stty size; exec sleep 1000'"
pty = true
starttime = 0
stdout = "{dir}/term.log"
"#,
    );
    let info = tm.wait_state("term", StateName::Running);
    assert_eq!(
        info.pty,
        Some(TtySize::DEFAULT),
        "status says the process runs on a pty, and its size"
    );
    wait_until(LONG, "the program saw terminals and their size", || {
        read(&tm.path("term.log")) == "all-ttys\r\n24 80\r\n"
    });
    assert_eq!(
        tail_text(&tm, "term"),
        "all-ttys\r\n24 80\r\n",
        "the ring has the same bytes as the file"
    );
    let pid = info.pid.expect("running has a pid");
    let st = crate::harness::procfs::stat(pid).expect("the pty program is alive");
    assert_eq!(st.pgrp, pid, "it leads its process group");
    assert_eq!(st.session, pid, "it leads its session");
    assert_ne!(st.tty_nr, 0, "it has a controlling terminal");
}

#[test]
fn pty_output_is_captured_whole_and_the_exit_is_seen() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.counter]
cmd = "seq 1 200000"
pty = true
starttime = 0
autorestart = false
stdout = "{dir}/seq.log"
"#,
    );
    tm.wait_state("counter", StateName::Exited);
    let expected: String = (1..=200_000).map(|i| format!("{i}\r\n")).collect();
    wait_until(LONG, "every line in the file", || {
        read(&tm.path("seq.log")).len() == expected.len()
    });
    assert!(
        read(&tm.path("seq.log")) == expected,
        "the file has every byte, in order"
    );
    assert!(
        expected.ends_with(&tail_text(&tm, "counter")),
        "the ring holds the newest bytes"
    );
}

#[test]
fn input_reaches_a_pty_program_and_ctrl_c_is_its_sigint() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.shell]
cmd = "sh -c 'trap \"echo got-INT\" INT; while :; do read line && echo \"echo:$line\"; done'"
pty = true
starttime = 0
"#,
    );
    let pid = tm.wait_state("shell", StateName::Running).pid.expect("pid");
    let reply = tm.call(Command::WriteStdin {
        name: "shell".into(),
        data: b"hello\r".to_vec(),
    });
    assert!(matches!(reply, Ok(Reply::Done)), "write: {reply:?}");
    wait_until(LONG, "the line echoed back", || {
        tail_text(&tm, "shell").contains("echo:hello")
    });
    let _ = tm.call(Command::WriteStdin {
        name: "shell".into(),
        data: b"\x03".to_vec(),
    });
    wait_until(LONG, "Ctrl-C became SIGINT", || {
        tail_text(&tm, "shell").contains("got-INT")
    });
    assert!(alive(pid), "the program handled SIGINT and lives on");
    assert_eq!(tm.info("shell").pid, Some(pid));
}

#[test]
fn resize_sets_the_terminal_size_and_a_restart_keeps_it() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.sized]
cmd = "sh -c 'trap \"stty size\" WINCH; stty size; while :; do sleep 0.05; done'"
pty = true
starttime = 0
"#,
    );
    tm.wait_state("sized", StateName::Running);
    wait_until(LONG, "the first size", || {
        tail_text(&tm, "sized").contains("24 80")
    });
    let size = TtySize {
        rows: 30,
        cols: 100,
    };
    let reply = tm.call(Command::Resize {
        name: "sized".into(),
        size,
    });
    assert!(matches!(reply, Ok(Reply::Done)), "resize: {reply:?}");
    wait_until(LONG, "SIGWINCH and the new size", || {
        tail_text(&tm, "sized").contains("30 100")
    });
    assert_eq!(
        tm.info("sized").pty,
        Some(size),
        "status shows the new size"
    );
    tm.handle.output().clear("sized");
    tm.actions(Command::restart(vec!["sized".into()]));
    wait_until(
        LONG,
        "the restarted program starts at the last size",
        || tail_text(&tm, "sized").starts_with("30 100"),
    );
}

#[test]
fn resize_of_a_pipe_program_or_an_unknown_name_is_an_error() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.piped]
cmd = "sleep 1000"
"#,
    );
    let size = TtySize {
        rows: 30,
        cols: 100,
    };
    match tm.call(Command::Resize {
        name: "piped".into(),
        size,
    }) {
        Err(e) => assert!(e.to_string().contains("does not run on a pty"), "{e}"),
        other => panic!("a pipe program cannot be resized: {other:?}"),
    }
    match tm.call(Command::Resize {
        name: "nope".into(),
        size,
    }) {
        Err(e) => assert!(e.to_string().contains("no such process"), "{e}"),
        other => panic!("unknown name: {other:?}"),
    }
}

#[test]
fn stop_reaches_the_whole_group_of_a_pty_program() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.tree]
cmd = "sh -c 'sleep 1000 & sleep 1000 & wait'"
pty = true
starttime = 0
stoptime = 5
"#,
    );
    let pid = tm.wait_state("tree", StateName::Running).pid.expect("pid");
    wait_until(LONG, "both children started", || {
        group_members(pid).len() == 3
    });
    let members = group_members(pid);
    tm.actions(Command::stop(vec!["tree".into()]));
    wait_until(LONG, "every member gone", || {
        members.iter().all(|m| !alive(*m))
    });
}

#[test]
fn close_stdin_gives_a_pipe_program_eof_and_a_pty_program_ctrl_d() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.piped]
cmd = "sh -c 'cat; echo cat-ended; sleep 1000'"
starttime = 0
[programs.term]
cmd = "sh -c 'cat; echo cat-ended; sleep 1000'"
pty = true
starttime = 0
"#,
    );
    tm.wait_state("piped", StateName::Running);
    tm.wait_state("term", StateName::Running);
    for name in ["piped", "term"] {
        let reply = tm.call(Command::CloseStdin { name: name.into() });
        assert!(matches!(reply, Ok(Reply::Done)), "{name}: {reply:?}");
        wait_until(LONG, &format!("{name}: cat saw EOF"), || {
            tail_text(&tm, name).contains("cat-ended")
        });
    }
}

#[test]
fn a_pty_setting_change_is_a_launch_change() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.p]
cmd = "sleep 1000"
starttime = 0
"#,
    );
    let before = tm.wait_state("p", StateName::Running).pid;
    tm.rewrite(
        r#"
[taskmaster]
socket = false
[programs.p]
cmd = "sleep 1000"
starttime = 0
pty = true
"#,
    );
    match tm.call(Command::Reload) {
        Ok(Reply::Reload(r)) => assert_eq!(r.changed, vec!["p".to_string()]),
        other => panic!("reload: {other:?}"),
    }
    wait_until(LONG, "restarted on a pty", || {
        let i = tm.info("p");
        i.state == StateName::Running && i.pid != before && i.pty.is_some()
    });
}
