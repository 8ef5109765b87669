//! Key-handling tests: a key event in, an effect (or a state change) out.

use crate::supervisor::events::EventKind;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::*;
use crate::frontend::tui::app::{Effect, Focus, Mode, ReplyCtx};
use crate::supervisor::{ActionResult, Command, Fault, Reply, Target};

fn press(a: &mut App, code: KeyCode) -> Option<Effect> {
    a.on_key(KeyEvent::from(code), Instant::now())
}

fn ctrl(a: &mut App, c: char) -> Option<Effect> {
    a.on_key(
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL),
        Instant::now(),
    )
}

fn type_str(a: &mut App, s: &str) {
    for c in s.chars() {
        press(a, KeyCode::Char(c));
    }
}

fn sent_names(e: Option<Effect>) -> (String, Vec<String>) {
    let names = |t: Vec<Target>| t.iter().map(|t| t.to_string()).collect();
    match e {
        Some(Effect::Send(Command::Start { targets }, ReplyCtx::Action)) => {
            ("start".into(), names(targets))
        }
        Some(Effect::Send(Command::Stop { targets }, ReplyCtx::Action)) => {
            ("stop".into(), names(targets))
        }
        Some(Effect::Send(Command::Restart { targets }, ReplyCtx::Action)) => {
            ("restart".into(), names(targets))
        }
        other => panic!("expected a start/stop/restart, got {other:?}"),
    }
}

#[test]
fn key_release_is_ignored() {
    let mut a = app();
    let mut release = KeyEvent::from(KeyCode::Char('j'));
    release.kind = KeyEventKind::Release;
    assert!(a.on_key(release, Instant::now()).is_none());
    assert_eq!(a.selected, 0, "a release does not move the selection");
}

#[test]
fn selection_keys_move_within_the_table() {
    let mut a = app();
    press(&mut a, KeyCode::Char('j'));
    press(&mut a, KeyCode::Down);
    assert_eq!(
        a.selected_name().as_deref(),
        Some("cache"),
        "j and Down go down"
    );
    press(&mut a, KeyCode::Char('k'));
    assert_eq!(a.selected_name().as_deref(), Some("broken"), "k goes up");
    press(&mut a, KeyCode::End);
    assert_eq!(
        a.selected_name().as_deref(),
        Some("worker:worker_00"),
        "End: last"
    );
    press(&mut a, KeyCode::Down);
    assert_eq!(a.selected, 7, "Down stops at the last row");
    press(&mut a, KeyCode::Home);
    assert_eq!(a.selected, 0, "Home: first");
    a.size = (80, 24);
    press(&mut a, KeyCode::PageDown);
    assert_eq!(a.selected, 7, "PgDn moves a page (7 rows at 80x24)");
    press(&mut a, KeyCode::PageUp);
    assert_eq!(a.selected, 0, "PgUp moves a page back");
}

#[test]
fn s_x_r_act_on_the_selected_process() {
    let mut a = app();
    press(&mut a, KeyCode::End);
    press(&mut a, KeyCode::Up);
    let web = vec!["web".to_string()];
    assert_eq!(
        sent_names(press(&mut a, KeyCode::Char('s'))),
        ("start".into(), web.clone())
    );
    assert_eq!(
        sent_names(press(&mut a, KeyCode::Char('x'))),
        ("stop".into(), web.clone())
    );
    assert_eq!(
        sent_names(press(&mut a, KeyCode::Char('r'))),
        ("restart".into(), web)
    );
    assert_eq!(
        a.message.text, "web: restarting…",
        "the message says what is under way"
    );
    let reply = Reply::Actions(vec![ActionResult::new(
        "web",
        Err(Fault::Spawn("boom".into())),
    )]);
    assert!(
        a.on_reply(ReplyCtx::Action, Ok(reply), Instant::now())
            .is_none()
    );
    assert_eq!(a.message.text, "web: ERROR (spawn error: boom)");
    assert!(a.message.error, "an action error is shown as an error");
}

#[test]
fn reload_enter_and_focus_keys() {
    let mut a = app();
    assert!(matches!(
        press(&mut a, KeyCode::Char('R')),
        Some(Effect::Send(Command::Reload, ReplyCtx::Reload))
    ));
    assert!(matches!(press(&mut a, KeyCode::Enter), Some(Effect::Attach(n)) if n == "batch"));
    press(&mut a, KeyCode::Tab);
    assert_eq!(a.focus, Focus::Tail, "Tab focuses the tail pane");
    press(&mut a, KeyCode::Tab);
    assert_eq!(a.focus, Focus::Table, "Tab again: back to the table");
    press(&mut a, KeyCode::Char('?'));
    assert!(matches!(a.mode, Mode::Help), "? opens the help");
}

#[test]
fn command_bar_runs_a_line_and_returns_to_the_table() {
    let mut a = app();
    press(&mut a, KeyCode::Char(':'));
    assert_eq!(a.focus, Focus::Bar);
    type_str(&mut a, "stop all");
    assert!(matches!(
        press(&mut a, KeyCode::Enter),
        Some(Effect::Send(Command::Stop { targets }, ReplyCtx::Line(l)))
            if l == "stop all" && targets == [Target::All]
    ));
    assert_eq!(a.focus, Focus::Table, "Enter gives focus back to the table");
    press(&mut a, KeyCode::Char(':'));
    type_str(&mut a, "xyz");
    press(&mut a, KeyCode::Esc);
    assert_eq!(a.focus, Focus::Table, "Esc leaves the bar");
    assert_eq!(a.bar.line(), "", "Esc drops the half-typed line");
}

#[test]
fn quit_and_exit_in_the_bar_ask_for_confirmation() {
    let mut a = app();
    press(&mut a, KeyCode::Char(':'));
    type_str(&mut a, "quit");
    assert!(press(&mut a, KeyCode::Enter).is_none());
    assert!(matches!(a.mode, Mode::ConfirmQuit), "quit asks first");
}

#[test]
fn quit_needs_y_then_sends_shutdown_and_leaves_on_the_reply() {
    let mut a = app();
    press(&mut a, KeyCode::Char('q'));
    assert!(press(&mut a, KeyCode::Char('n')).is_none());
    assert!(matches!(a.mode, Mode::Normal), "any other key cancels");
    press(&mut a, KeyCode::Char('q'));
    let e = press(&mut a, KeyCode::Char('y'));
    assert!(matches!(
        e,
        Some(Effect::Send(Command::Shutdown, ReplyCtx::Shutdown))
    ));
    assert!(a.is_shutting_down());
    assert!(
        press(&mut a, KeyCode::Char('q')).is_none(),
        "keys are ignored meanwhile"
    );
    let e = a.on_reply(ReplyCtx::Shutdown, Ok(Reply::Shutdown), Instant::now());
    assert!(
        matches!(e, Some(Effect::Exit)),
        "the reply ends the dashboard"
    );
}

#[test]
fn filter_narrows_the_table_and_esc_clears_it() {
    let mut a = app();
    press(&mut a, KeyCode::Char('/'));
    type_str(&mut a, "wor");
    assert_eq!(a.visible().len(), 1, "only worker:worker_00 matches");
    assert_eq!(a.selected_name().as_deref(), Some("worker:worker_00"));
    press(&mut a, KeyCode::Enter);
    assert_eq!(a.filter, "wor", "Enter keeps the filter");
    press(&mut a, KeyCode::Char('/'));
    press(&mut a, KeyCode::Esc);
    assert_eq!(a.visible().len(), 8, "Esc clears the filter");
    assert_eq!(
        a.selected_name().as_deref(),
        Some("worker:worker_00"),
        "selection kept"
    );
}

#[test]
fn attach_sends_typed_lines_to_stdin_and_ctrl_bracket_detaches() {
    let mut a = app();
    a.enter_attach("web".into(), Default::default());
    type_str(&mut a, "hi q");
    match press(&mut a, KeyCode::Enter) {
        Some(Effect::Send(Command::WriteStdin { name, data }, ReplyCtx::Stdin)) => {
            assert_eq!((name.as_str(), data.as_slice()), ("web", &b"hi q\n"[..]));
        }
        other => panic!("expected a WriteStdin, got {other:?}"),
    }
    assert!(
        matches!(ctrl(&mut a, ']'), Some(Effect::Detach)),
        "Ctrl-] detaches"
    );
    assert!(
        matches!(ctrl(&mut a, '5'), Some(Effect::Detach)),
        "0x1d read as Ctrl-5"
    );
}

fn line_reply(a: &mut App, line: &str, results: &[(&str, &str)]) {
    let results = results
        .iter()
        .map(|(n, w)| ActionResult::new(n, Ok(w.to_string())))
        .collect();
    let ctx = ReplyCtx::Line(line.to_string());
    a.on_reply(ctx, Ok(Reply::Actions(results)), Instant::now());
}

#[test]
fn long_answers_open_an_overlay_short_ones_the_message_area() {
    let mut a = app();
    line_reply(&mut a, "stop web", &[("web", "stopped")]);
    assert_eq!(a.message.text, "web: stopped");
    assert!(matches!(a.mode, Mode::Normal));
    line_reply(&mut a, "stop all", &[("a", "stopped"), ("b", "stopped")]);
    assert!(matches!(&a.mode, Mode::Overlay(o) if o.lines.len() == 2 && o.title == "stop all"));
    press(&mut a, KeyCode::Char('q'));
    assert!(
        matches!(a.mode, Mode::Normal),
        "q closes the overlay (and does not quit)"
    );
}

/// Regression: a reply overlay that popped up while the user typed the next command took
/// the keys (`:start all` right after `:stop all` was lost).
#[test]
fn an_overlay_does_not_swallow_keys_typed_ahead() {
    let mut a = app();
    press(&mut a, KeyCode::Char(':'));
    type_str(&mut a, "sta");
    line_reply(&mut a, "stop all", &[("a", "stopped"), ("b", "stopped")]);
    assert!(
        matches!(a.mode, Mode::Normal),
        "no overlay while typing in the bar"
    );
    assert!(a.message.text.contains("o shows"), "{}", a.message.text);
    type_str(&mut a, "rt all");
    let e = press(&mut a, KeyCode::Enter);
    assert!(
        matches!(e, Some(Effect::Send(Command::Start { .. }, _))),
        "the typed line runs: {e:?}"
    );
    press(&mut a, KeyCode::Char('o'));
    assert!(
        matches!(&a.mode, Mode::Overlay(o) if o.title == "stop all"),
        "o shows it"
    );
    // An overlay open in the table: a key that is not the overlay's closes it and acts.
    press(&mut a, KeyCode::Char(':'));
    assert!(matches!(a.mode, Mode::Normal), "':' closes the overlay");
    assert_eq!(a.focus, Focus::Bar, "... and focuses the bar");
}

#[test]
fn event_lines_do_not_hide_a_fresh_command_result() {
    let mut a = app();
    let t0 = Instant::now();
    a.set_message("web: started", false, t0);
    a.on_event(
        &ev(
            EventKind::ExitedUnexpected,
            "exited: db (exit status 1; not expected)",
        ),
        t0,
    );
    assert_eq!(a.message.text, "web: started", "a fresh result stays");
    a.on_event(
        &ev(EventKind::Exited, "exited: db"),
        t0 + Duration::from_secs(4),
    );
    assert_eq!(a.message.text, "exited: db", "an older one gives way");
}

#[test]
fn a_refused_reload_shows_even_over_a_fresh_result() {
    let mut a = app();
    let t0 = Instant::now();
    a.set_message("web: started", false, t0);
    a.on_event(
        &ev(
            EventKind::ReloadFailed,
            "reload refused, nothing changed: x.toml:3:1: bad",
        ),
        t0,
    );
    assert!(
        a.message.text.starts_with("reload refused") && a.message.error,
        "a refused reload (SIGHUP with a broken file) is shown as an error at once"
    );
}

#[test]
fn a_failed_alert_shows_as_an_error_at_once() {
    let mut a = app();
    let t0 = Instant::now();
    a.set_message("web: started", false, t0);
    a.on_event(
        &ev(
            EventKind::AlertFailed,
            "alert chat: event 7 not delivered: webhook https://h: HTTP 500",
        ),
        t0,
    );
    assert!(
        a.message
            .text
            .starts_with("alert chat: event 7 not delivered")
            && a.message.error,
        "a failed delivery is news: {:?}",
        a.message.text
    );
}

#[test]
fn a_log_file_that_cannot_be_written_shows_as_an_error_at_once() {
    let mut a = app();
    let t0 = Instant::now();
    a.set_message("web: started", false, t0);
    a.on_event(
        &ev(
            EventKind::LogFailed,
            "log error: web's stdout log /full/web.out: cannot write: No space left on device",
        ),
        t0,
    );
    assert!(
        a.message.text.contains("No space left") && a.message.error,
        "a full disk is news: {:?}",
        a.message
    );
}

#[test]
fn a_note_is_never_an_error_whatever_its_words() {
    // The kind decides, not a prefix: a note that happens to read like a failure (a
    // `signalled:` line naming a program called `log`) stays plain, and does not hide a
    // fresh command result.
    let mut a = app();
    let t0 = Instant::now();
    a.set_message("web: started", false, t0);
    a.on_event(
        &ev(EventKind::Note, "log error: looks bad but is a note"),
        t0,
    );
    assert_eq!(
        (a.message.text.as_str(), a.message.error),
        ("web: started", false)
    );
    let later = t0 + Duration::from_secs(60);
    a.on_event(&ev(EventKind::Note, "log error: still a note"), later);
    assert!(
        !a.message.error,
        "a note is never an error: {:?}",
        a.message
    );
}

fn ev(kind: EventKind, text: &str) -> crate::supervisor::events::Event {
    crate::supervisor::events::Event::new(kind, text)
}

#[test]
fn a_click_selects_a_row_and_the_wheel_scrolls_the_tail() {
    use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    let mut a = app();
    a.size = (120, 40);
    let mouse = |kind, row| MouseEvent {
        kind,
        column: 5,
        row,
        modifiers: KeyModifiers::NONE,
    };
    // Header line, table border, column header: the third row is on screen row 5.
    a.on_mouse(mouse(MouseEventKind::Down(MouseButton::Left), 5));
    assert_eq!(
        a.selected_name().as_deref(),
        Some("cache"),
        "click selects the row"
    );
    let mut lines = crate::frontend::tui::tail::TailLines::default();
    for i in 0..100 {
        lines.push(crate::output::Stream::Stdout, format!("{i}\n").as_bytes());
    }
    a.set_tail("cache".into(), 1, lines, true);
    a.on_mouse(mouse(MouseEventKind::ScrollUp, 20));
    assert_eq!(
        a.tail_scroll, 3,
        "the wheel over the tail pane scrolls it back"
    );
}
