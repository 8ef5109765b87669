//! `events -f` / `maintail -f` typed in the command bar: a stream in the output pane, ended by
//! Esc or by the next command, never an attach whose lines would go to a process's stdin.

use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent};

use super::{app, draw, dump};
use crate::frontend::tui::app::{App, Effect, Focus, Mode, ReplyCtx};
use crate::frontend::tui::tail::TailLines;
use crate::output::{Chunk, Stream};
use crate::supervisor::{Command, Follow, Reply};

fn follow(name: &str, backlog: &[&str]) -> Follow {
    let (_tx, rx) = crossbeam_channel::bounded(1);
    Follow {
        name: name.to_string(),
        stream: None,
        backlog: backlog
            .iter()
            .map(|l| Chunk {
                stream: Stream::Stdout,
                data: format!("{l}\n").as_bytes().into(),
            })
            .collect(),
        rx,
    }
}

fn press(a: &mut App, code: KeyCode) -> Option<Effect> {
    a.on_key(KeyEvent::from(code), Instant::now())
}

/// Types `line` in the command bar and submits it.
fn command(a: &mut App, line: &str) -> Option<Effect> {
    press(a, KeyCode::Char(':'));
    for c in line.chars() {
        press(a, KeyCode::Char(c));
    }
    press(a, KeyCode::Enter)
}

/// The stream the reply to `events -f` opens, as the loop would open it.
fn streaming() -> App {
    let mut a = app();
    let Some(Effect::Send(cmd, ctx)) = command(&mut a, "events -f") else {
        panic!("events -f is sent");
    };
    assert_eq!(cmd, Command::Events { follow: true });
    let reply = Ok(Reply::Follow(follow("events", &[r#"{"serial":1}"#])));
    let Some(Effect::Stream(f, title)) = a.on_reply(ctx, reply, Instant::now()) else {
        panic!("a command line's stream opens in the output pane");
    };
    a.open_stream(title, TailLines::from_chunks(&f.backlog), Instant::now());
    a
}

#[test]
fn a_command_line_stream_opens_in_the_output_pane_not_as_an_attach() {
    let mut a = streaming();
    assert!(matches!(a.mode, Mode::Normal), "no attach view");
    assert!(a.follows());
    let screen = dump(&draw(&mut a, 120, 40));
    assert!(
        screen.contains("events -f (following)") && screen.contains(r#"{"serial":1}"#),
        "{screen}"
    );
    assert!(!screen.contains("stdin"), "{screen}");
    // Attach's own reply still opens the attach view.
    let mut b = app();
    let reply = Ok(Reply::Follow(follow("web", &[])));
    assert!(matches!(
        b.on_reply(ReplyCtx::Attach, reply, Instant::now()),
        Some(Effect::Follow(_))
    ));
}

#[test]
fn esc_ends_the_stream() {
    let mut a = streaming();
    assert!(matches!(press(&mut a, KeyCode::Esc), Some(Effect::Detach)));
    assert!(a.stream.is_none() && !a.follows());
    let screen = dump(&draw(&mut a, 120, 40));
    assert!(
        screen.contains("output of") && !screen.contains("events -f"),
        "{screen}"
    );
}

#[test]
fn esc_in_the_bar_only_leaves_the_bar() {
    let mut a = streaming();
    press(&mut a, KeyCode::Char(':'));
    press(&mut a, KeyCode::Char('x'));
    press(&mut a, KeyCode::Esc);
    assert_eq!(a.focus, Focus::Table);
    assert!(a.stream.is_some(), "the stream stays");
}

#[test]
fn another_command_ends_the_stream_and_runs_as_a_command() {
    let mut a = streaming();
    let effect = command(&mut a, "start web");
    assert!(
        matches!(
            effect,
            Some(Effect::Send(Command::Start { .. }, ReplyCtx::Line(_)))
        ),
        "{effect:?}"
    );
    assert!(a.stream.is_none() && !a.follows());
}

#[test]
fn the_stream_scrolls_in_the_tail_pane_and_stays_put_as_lines_come() {
    let mut a = streaming();
    if let Some(s) = &mut a.stream {
        for i in 2..=200 {
            s.push(Stream::Stdout, format!("{{\"serial\":{i}}}\n").as_bytes());
        }
    }
    a.set_focus(Focus::Tail);
    press(&mut a, KeyCode::Home);
    let top = dump(&draw(&mut a, 120, 40));
    assert!(top.contains(r#"{"serial":1}"#), "{top}");
    if let Some(s) = &mut a.stream {
        s.push(Stream::Stdout, b"{\"serial\":201}\n");
    }
    let still = dump(&draw(&mut a, 120, 40));
    assert!(still.contains(r#"{"serial":1}"#), "{still}");
    press(&mut a, KeyCode::End);
    let end = dump(&draw(&mut a, 120, 40));
    assert!(end.contains(r#"{"serial":201}"#), "{end}");
}
