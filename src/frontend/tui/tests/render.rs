//! Render tests: hand-built state drawn into `TestBackend`, whole lines asserted.

use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::style::{Color, Modifier};

use super::*;
use crate::frontend::tui::app::{Mode, Overlay};
use crate::frontend::tui::tail::TailLines;
use crate::output::Stream;

fn key(c: KeyCode) -> KeyEvent {
    KeyEvent::from(c)
}

fn fifty_lines() -> TailLines {
    let mut t = TailLines::default();
    for i in 1..=50 {
        let stream = if i % 10 == 0 {
            Stream::Stderr
        } else {
            Stream::Stdout
        };
        t.push(stream, format!("line {i}\n").as_bytes());
    }
    t
}

fn trimmed(lines: &[String]) -> Vec<&str> {
    lines.iter().map(|l| l.trim_end()).collect()
}

#[test]
fn table_shows_every_state_with_pid_uptime_restarts_and_detail() {
    let mut a = app();
    let screen = draw(&mut a, 120, 40);
    let exited_at = crate::supervisor::snapshot::format_clock(now() - Duration::from_secs(30));
    let want = [
        "┌ processes (8) ─".to_string(),
        "│NAME             STATE    PID     UPTIME    RESTARTS LAST EXIT / INFO".to_string(),
        format!("│batch            EXITED   -       -                0 {exited_at} (exit status 2; expected)"),
        "│broken           FATAL    -       -                0 can't find command '/no/such/bin'".to_string(),
        "│cache            STOPPING 300     0:01:07          0".to_string(),
        "│db               STARTING 200     0:01:07          0".to_string(),
        "│ghost            UNKNOWN  -       -                0".to_string(),
        "│idle             STOPPED  -       -                0 Not started".to_string(),
        "│web              RUNNING  4242    0:01:07          2 last: exit status 1; not expected".to_string(),
        "│worker:worker_00 BACKOFF  -       -                0 Exited too quickly (process log may have details)".to_string(),
    ];
    for (i, w) in want.iter().enumerate() {
        let line = screen[1 + i].trim_end().trim_end_matches('│').trim_end();
        assert!(
            line.starts_with(w.as_str()),
            "table line {i} should be {w:?}, screen:\n{}",
            dump(&screen)
        );
    }
    assert!(
        screen[0].starts_with(" taskmaster …taskmaster.toml  1 STOPPED 1 STARTING 1 RUNNING")
            && screen[0].contains("1 FATAL 1 UNKNOWN"),
        "header names the config (shortened from the left when room is short) and counts \
         every state:\n{}",
        screen[0]
    );
    assert!(
        screen[0].trim_end().ends_with("up 1:02:05"),
        "header ends with taskmaster's uptime: {:?}",
        screen[0]
    );
}

#[test]
fn states_are_coloured_badges_or_bold_and_reverse_without_colour() {
    let mut a = app();
    let running = style_of(&mut a, 120, 40, "RUNNING  4242").expect("RUNNING row");
    assert_eq!(running.bg, Some(Color::Green), "RUNNING is a green badge");
    assert_eq!(running.fg, Some(Color::Black), "dark text on the badge");
    let fatal = style_of(&mut a, 120, 40, "FATAL    -").expect("FATAL row");
    assert_eq!(fatal.bg, Some(Color::Red), "FATAL is a red badge");

    a.color = false;
    let running = style_of(&mut a, 120, 40, "RUNNING  4242").expect("RUNNING row");
    let plain = |c: Option<Color>| matches!(c, None | Some(Color::Reset));
    assert!(
        plain(running.fg) && plain(running.bg),
        "NO_COLOR: no colours"
    );
    assert!(
        running.add_modifier.contains(Modifier::BOLD),
        "NO_COLOR: RUNNING is bold"
    );
    let fatal = style_of(&mut a, 120, 40, "FATAL    -").expect("FATAL row");
    assert!(
        fatal.add_modifier.contains(Modifier::REVERSED),
        "NO_COLOR: FATAL is reversed"
    );
}

#[test]
fn tail_pane_follows_the_newest_lines_with_stderr_marked() {
    let mut a = app();
    a.set_tail("batch".into(), 1, fifty_lines(), true);
    let screen = draw(&mut a, 80, 24);
    let s = trimmed(&screen);
    assert!(
        s[11].starts_with("┌ output of batch (following) ─"),
        "title: {}",
        s[11]
    );
    assert_eq!(
        s[12],
        "│  line 43                                                                     │"
    );
    assert_eq!(
        s[18],
        "│  line 49                                                                     │"
    );
    assert_eq!(
        s[19], "│▌ line 50                                                                     │",
        "stderr is marked"
    );
    let err = style_of(&mut a, 80, 24, "▌ line 50").expect("stderr line");
    assert_eq!(err.fg, Some(Color::Red), "stderr is red");
}

#[test]
fn tail_pane_scrolled_back_stays_and_says_how_to_follow() {
    let mut a = app();
    a.set_tail("batch".into(), 1, fifty_lines(), true);
    a.on_key(key(KeyCode::Tab), Instant::now());
    a.on_key(key(KeyCode::PageUp), Instant::now());
    assert_eq!(a.tail_scroll, 8, "PgUp scrolls one page (8 lines at 80x24)");
    let screen = draw(&mut a, 80, 24);
    let s = trimmed(&screen);
    assert!(
        s[11].starts_with("┌ output of batch (scrolled back 8 lines, End follows) ─"),
        "title: {}",
        s[11]
    );
    assert_eq!(
        s[12],
        "│  line 35                                                                     │"
    );
    assert_eq!(
        s[19],
        "│  line 42                                                                     │"
    );
    assert!(
        !a.tail_stale("batch", 2),
        "a scrolled-back pane is not re-read"
    );
    a.on_key(key(KeyCode::End), Instant::now());
    assert!(a.tail_stale("batch", 2), "End follows again");
}

#[test]
fn command_bar_shows_a_completion_and_the_candidates() {
    let mut a = app();
    a.on_key(key(KeyCode::Char(':')), Instant::now());
    for c in "st".chars() {
        a.on_key(key(KeyCode::Char(c)), Instant::now());
    }
    a.on_key(key(KeyCode::Tab), Instant::now());
    let screen = draw(&mut a, 80, 24);
    let s = trimmed(&screen);
    assert_eq!(
        s[21], " start  status  stop",
        "candidates in the message area"
    );
    assert_eq!(s[22], " Enter run  Tab complete  ↑↓ history  Esc back");
    assert_eq!(s[23], ": st", "the common prefix stays in the bar");
    for c in "op we".chars() {
        a.on_key(key(KeyCode::Char(c)), Instant::now());
    }
    a.on_key(key(KeyCode::Tab), Instant::now());
    let screen = draw(&mut a, 80, 24);
    assert_eq!(
        screen[23].trim_end(),
        ": stop web",
        "a unique process name is completed"
    );
}

#[test]
fn help_overlay_lists_the_keys() {
    let mut a = app();
    a.on_key(key(KeyCode::Char('?')), Instant::now());
    let screen = draw(&mut a, 80, 24);
    let s = trimmed(&screen);
    assert!(s[4].contains("┌ help ─"), "help box: {}", s[4]);
    assert!(
        s[8].contains("│ s / x / r           start / stop / restart the selected process"),
        "{}",
        s[8]
    );
    assert!(
        s[16].contains("│ q                   quit: stops every process after confirmation (y)"),
        "{}",
        s[16]
    );
    a.on_key(key(KeyCode::Esc), Instant::now());
    assert!(matches!(a.mode, Mode::Normal), "Esc closes the help");
}

#[test]
fn long_reply_overlay_scrolls() {
    let mut a = app();
    a.mode = Mode::Overlay(Overlay {
        title: "status".into(),
        lines: (1..=40).map(|i| format!("row {i}")).collect(),
        scroll: 0,
    });
    a.on_key(key(KeyCode::PageDown), Instant::now());
    let screen = draw(&mut a, 80, 24);
    let s = trimmed(&screen);
    assert!(s[2].starts_with("│N┌ status ─"), "title: {}", s[2]);
    assert!(s[3].contains("│row 17 "), "PgDn scrolled a page: {}", s[3]);
    assert!(
        s[21].contains("lines 17-34 of 40"),
        "position shown: {}",
        s[21]
    );
}

#[test]
fn attach_view_is_full_screen_with_the_stdin_line() {
    let mut a = app();
    a.enter_attach("web".into(), fifty_lines());
    let screen = draw(&mut a, 80, 24);
    let s = trimmed(&screen);
    assert_eq!(s[0], " attached to web  RUNNING  pid 4242, uptime 0:01:07");
    assert!(s[1].starts_with("┌ web (following) ─"), "{}", s[1]);
    assert_eq!(
        s[20],
        "│▌ line 50                                                                     │"
    );
    assert!(
        s[21].starts_with("└ Ctrl-] detach · Enter sends the line to stdin"),
        "{}",
        s[22]
    );
    assert!(s[23].starts_with("stdin>"), "{}", s[23]);
}

#[test]
fn too_small_terminal_shows_a_notice() {
    let mut a = app();
    for (w, h) in [(79, 24), (80, 23), (40, 10)] {
        let screen = draw(&mut a, w, h);
        assert!(
            screen
                .iter()
                .any(|l| l.trim() == "terminal too small (need 80x24)"),
            "{w}x{h} shows the notice:\n{}",
            dump(&screen)
        );
    }
}

#[test]
fn quit_asks_for_confirmation_then_shows_shutting_down() {
    let mut a = app();
    a.on_key(key(KeyCode::Char('q')), Instant::now());
    let screen = draw(&mut a, 80, 24);
    assert!(
        screen
            .iter()
            .any(|l| l.contains("Quit taskmaster and stop every process?")),
        "confirmation box:\n{}",
        dump(&screen)
    );
    a.on_key(key(KeyCode::Char('y')), Instant::now());
    let screen = draw(&mut a, 80, 24);
    assert_eq!(screen[21].trim_end(), " shutting down…");
}

/// Regression: names were measured in characters, so `[programs."日本語プログラム"]` (16
/// columns, 8 characters) was cut in the table.
#[test]
fn wide_names_are_measured_in_columns() {
    let mut a = app();
    let mut snap = super::snapshot();
    snap.processes = vec![
        super::process("日本語プログラム", StateName::Stopped, None),
        super::process("db", StateName::Running, Some(200)),
    ];
    a.on_snapshot(std::sync::Arc::new(snap));
    let screen = draw(&mut a, 100, 24);
    // A wide character's second cell reads as a space in the test buffer.
    let rows: Vec<String> = screen.iter().map(|l| l.replace(' ', "")).collect();
    let row = rows
        .iter()
        .find(|l| l.contains("日本"))
        .unwrap_or_else(|| panic!("the wide name is shown:\n{}", dump(&screen)));
    assert!(
        row.contains("日本語プログラムSTOPPED"),
        "the whole name, then its state: {row}"
    );
}

#[test]
fn details_show_dependencies_health_and_the_next_start() {
    use crate::config::Condition;
    use crate::frontend::tui::view_parts::details;
    use crate::supervisor::snapshot::HealthStatus;
    let mut db = process("db", StateName::Running, Some(10));
    db.health = Some(HealthStatus::Healthy);
    let mut api = process("api", StateName::Waiting, None);
    api.depends_on = vec![
        ("db".into(), Condition::Healthy),
        ("migrate".into(), Condition::Completed),
    ];
    let migrate = process("migrate", StateName::Running, Some(11));
    let mut crash = process("crash", StateName::Exited, None);
    crash.retry_at = Some(now() + std::time::Duration::from_secs(4));
    let snap = Snapshot {
        processes: vec![api.clone(), db.clone(), migrate, crash.clone()],
        ..snapshot()
    };
    assert_eq!(
        details(&api, &snap, now()),
        "needs db RUNNING ✓ (healthy), migrate RUNNING … (completed)"
    );
    assert_eq!(details(&db, &snap, now()), "healthy");
    assert_eq!(details(&crash, &snap, now()), "next start in 4 s");
    assert_eq!(
        details(&process("x", StateName::Stopped, None), &snap, now()),
        ""
    );
}

#[test]
fn waiting_has_a_colour_of_its_own() {
    let mut a = app();
    let mut waiting = process("api", StateName::Waiting, None);
    waiting.reason = "waiting for db (healthy)".into();
    let snap = Snapshot {
        processes: vec![waiting],
        ..snapshot()
    };
    a.on_snapshot(std::sync::Arc::new(snap));
    let style = style_of(&mut a, 120, 40, "WAITING").expect("WAITING is drawn");
    assert_eq!(style.bg, Some(Color::Blue));
    let screen = draw(&mut a, 120, 40).join("\n");
    assert!(screen.contains("waiting for db (healthy)"), "{screen}");
}

#[test]
fn a_table_of_ten_thousand_shows_the_screenful_around_the_selection() {
    let mut snap = snapshot();
    snap.processes = (0..10_000)
        .map(|i| {
            process(
                &format!("sleeper:sleeper_{i:04}"),
                StateName::Running,
                Some(i + 1),
            )
        })
        .collect();
    let mut a = app();
    a.on_snapshot(Arc::new(snap));
    let top = draw(&mut a, 120, 40);
    assert!(top[1].contains("processes (10000)"), "{}", top[1]);
    assert!(top[3].contains("sleeper:sleeper_0000"), "{}", dump(&top));
    // Selecting far down scrolls as the table would: the selection on the last row shown.
    a.selected = 5_000;
    let screen = draw(&mut a, 120, 40);
    let rows: Vec<&String> = screen
        .iter()
        .filter(|l| l.starts_with("│sleeper:sleeper_"))
        .collect();
    let last = rows.last().expect("rows shown");
    assert!(last.contains("sleeper:sleeper_5000"), "{}", dump(&screen));
    assert!(
        rows[0].contains(&format!("sleeper:sleeper_{:04}", 5001 - rows.len())),
        "a full screenful up to the selection:\n{}",
        dump(&screen)
    );
    let style = style_of(&mut a, 120, 40, "sleeper:sleeper_5000").expect("selected row");
    assert!(
        style.add_modifier.contains(Modifier::REVERSED),
        "the selection is highlighted"
    );
}

#[test]
fn the_raw_terminal_title_says_the_state_or_that_the_process_is_gone() {
    let mut a = app();
    a.mode = Mode::Terminal("web".into());
    let screen = draw(&mut a, 80, 5);
    assert_eq!(
        trimmed(&screen)[0],
        " web  RUNNING pid 4242, uptime 0:01:07  Ctrl-] detaches",
        "name, state, description, the way out"
    );
    a.mode = Mode::Terminal("gone".into());
    let screen = draw(&mut a, 80, 5);
    assert_eq!(
        trimmed(&screen)[0],
        " gone  no such process  Ctrl-] detaches",
        "a process removed meanwhile"
    );
}
