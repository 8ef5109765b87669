//! Pure rendering of the dashboard: `render(frame, app, now)` draws the [`App`] state and
//! changes nothing. Layout, colours and the overlays live here; the table and the attach view
//! are in `view_parts.rs`. Called by the dashboard thread.

use std::time::SystemTime;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::app::{App, Focus, Mode, Overlay};
use super::view_parts::{render_attach, render_table, render_tail, render_terminal};
use crate::supervisor::StateName;
use crate::supervisor::snapshot::format_uptime;

pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

/// Where each part of the dashboard goes on a terminal of `size` showing `rows` processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub header: Rect,
    pub table: Rect,
    pub tail: Rect,
    pub message: Rect,
    pub hint: Rect,
    pub bar: Rect,
}

pub fn layout(size: (u16, u16), rows: usize) -> Areas {
    let area = Rect::new(0, 0, size.0, size.1);
    let body = size.1.saturating_sub(4);
    let wanted = u16::try_from(rows).unwrap_or(u16::MAX).saturating_add(3);
    let table_h = wanted.min((body / 2).max(5)).max(4);
    let [header, table, tail, message, hint, bar] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(table_h),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    Areas {
        header,
        table,
        tail,
        message,
        hint,
        bar,
    }
}

/// Colours readable on dark and light backgrounds: dark text on a coloured badge.
/// Without colour (`NO_COLOR`), bold and reverse carry the meaning.
pub fn state_style(state: StateName, color: bool) -> Style {
    let badge = |bg: Color, fg: Color| Style::default().fg(fg).bg(bg);
    match (state, color) {
        (StateName::Running, true) => badge(Color::Green, Color::Black),
        (StateName::Starting, true) => badge(Color::Cyan, Color::Black),
        // Blue: held, not failing — it starts by itself once its dependencies are met.
        (StateName::Waiting, true) => badge(Color::Blue, Color::White),
        (StateName::Backoff | StateName::Stopping, true) => badge(Color::Yellow, Color::Black),
        (StateName::Exited, true) => badge(Color::Magenta, Color::Black),
        (StateName::Fatal | StateName::Unknown, true) => {
            badge(Color::Red, Color::White).add_modifier(Modifier::BOLD)
        }
        (StateName::Stopped, _) => Style::default(),
        (StateName::Running, false) => Style::default().add_modifier(Modifier::BOLD),
        (StateName::Fatal | StateName::Unknown | StateName::Backoff, false) => {
            Style::default().add_modifier(Modifier::REVERSED)
        }
        (_, false) => Style::default().add_modifier(Modifier::UNDERLINED),
    }
}

pub fn error_style(color: bool) -> Style {
    if color {
        Style::default().fg(Color::Red).add_modifier(Modifier::BOLD)
    } else {
        Style::default().add_modifier(Modifier::BOLD)
    }
}

pub fn key_style() -> Style {
    Style::default().add_modifier(Modifier::BOLD)
}

pub fn focus_block(title: String, focused: bool) -> Block<'static> {
    let style = if focused {
        Style::default().add_modifier(Modifier::BOLD)
    } else {
        Style::default()
    };
    Block::bordered().title(Span::styled(title, style))
}

pub fn render(frame: &mut Frame, app: &App, now: SystemTime) {
    let area = frame.area();
    // Raw attach works at any size, as in a terminal: the program gets the size there is.
    if let Mode::Terminal(name) = &app.mode
        && area.height >= 2
    {
        render_terminal(frame, app, name, now);
        return;
    }
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        render_too_small(frame, area);
        return;
    }
    if let Mode::Attach(a) = &app.mode {
        render_attach(frame, app, a, now);
        return;
    }
    let areas = layout((area.width, area.height), app.visible().len());
    render_header(frame, app, areas.header, now);
    render_table(frame, app, areas.table, now);
    render_tail(frame, app, areas.tail, now);
    render_message(frame, app, areas.message);
    render_hint(frame, app, areas.hint);
    render_bar(frame, app, areas.bar);
    match &app.mode {
        Mode::Help => render_help(frame, area),
        Mode::Overlay(o) => render_overlay(frame, area, o),
        Mode::ConfirmQuit => render_confirm(frame, area),
        _ => {}
    }
}

fn render_too_small(frame: &mut Frame, area: Rect) {
    let text = vec![
        Line::from("terminal too small (need 80x24)"),
        Line::from(format!("now {}x{}", area.width, area.height)),
    ];
    let y = area.height.saturating_sub(2) / 2;
    let rect = Rect::new(area.x, area.y + y, area.width, area.height.min(2));
    frame.render_widget(Paragraph::new(text).centered(), rect);
}

fn render_header(frame: &mut Frame, app: &App, area: Rect, now: SystemTime) {
    let snap = &app.snapshot;
    let up = now
        .duration_since(snap.taskmaster_started)
        .unwrap_or_default();
    let up = format!(" up {} ", format_uptime(up));
    let [left, right] = Layout::horizontal([
        Constraint::Fill(1),
        Constraint::Length(up.chars().count() as u16),
    ])
    .areas(area);
    let mut counts = Vec::new();
    for state in StateName::ALL {
        let n = snap.count(state);
        if n == 0 {
            continue;
        }
        if !counts.is_empty() {
            counts.push(Span::raw(" "));
        }
        counts.push(Span::styled(
            format!("{n} {state}"),
            state_style(state, app.color),
        ));
    }
    if counts.is_empty() {
        counts.push(Span::raw("no processes"));
    }
    // The counts matter more than the path: on a narrow terminal the path gives way, from
    // the left, so the file name stays.
    let title = " taskmaster ";
    let counts_width: usize = counts.iter().map(|s| s.content.chars().count()).sum();
    let room = usize::from(left.width).saturating_sub(title.len() + counts_width + 2);
    let mut spans = vec![
        Span::styled(title, key_style()),
        Span::raw(format!(
            "{}  ",
            shorten_left(&app.config_path.display().to_string(), room)
        )),
    ];
    spans.extend(counts);
    frame.render_widget(Paragraph::new(Line::from(spans)), left);
    frame.render_widget(Paragraph::new(up), right);
}

/// `text`, or its end behind `…` when longer than `room` characters.
fn shorten_left(text: &str, room: usize) -> String {
    let len = text.chars().count();
    if len <= room {
        return text.to_string();
    }
    if room == 0 {
        return String::new();
    }
    let tail: String = text.chars().skip(len - (room - 1)).collect();
    format!("…{tail}")
}

fn render_message(frame: &mut Frame, app: &App, area: Rect) {
    let style = if app.message.error {
        error_style(app.color)
    } else {
        Style::default()
    };
    let text = if app.is_shutting_down() {
        "shutting down…".to_string()
    } else {
        app.message.text.replace('\n', " ")
    };
    frame.render_widget(
        Paragraph::new(Span::styled(format!(" {text}"), style)),
        area,
    );
}

/// The keys that work now, as `key description` pairs.
pub fn hints(app: &App) -> &'static [(&'static str, &'static str)] {
    match (&app.mode, app.focus) {
        (Mode::ConfirmQuit, _) => &[("y", "quit and stop every process"), ("other", "cancel")],
        (Mode::ShuttingDown, _) => &[("", "waiting for every process to stop")],
        (Mode::Filter, _) => &[
            ("type", "filter by name"),
            ("Enter", "keep"),
            ("Esc", "clear"),
        ],
        (Mode::Help | Mode::Overlay(_), _) => &[("↑↓ PgUp PgDn", "scroll"), ("Esc", "close")],
        (Mode::Terminal(_), _) => &[("Ctrl-]", "detach"), ("keys", "go to the program")],
        (_, Focus::Bar) => &[
            ("Enter", "run"),
            ("Tab", "complete"),
            ("↑↓", "history"),
            ("Esc", "back"),
        ],
        (_, Focus::Tail) => &[
            ("PgUp PgDn ↑↓", "scroll"),
            ("End", "follow"),
            ("Tab", "table"),
            ("?", "help"),
        ],
        _ => &[
            ("s/x/r", "start/stop/restart"),
            ("R", "reload"),
            ("⏎", "attach"),
            (":", "cmd"),
            ("/", "filter"),
            ("?", "help"),
            ("q", "quit"),
        ],
    }
}

fn render_hint(frame: &mut Frame, app: &App, area: Rect) {
    let mut spans = vec![Span::raw(" ")];
    for (key, what) in hints(app) {
        spans.push(Span::styled(*key, key_style()));
        spans.push(Span::raw(format!(" {what}  ")));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn render_bar(frame: &mut Frame, app: &App, area: Rect) {
    let [prompt, rest] =
        Layout::horizontal([Constraint::Length(2), Constraint::Min(1)]).areas(area);
    if matches!(app.mode, Mode::Filter) {
        frame.render_widget(Span::styled("/", key_style()), prompt);
        let text = Line::from(vec![
            Span::raw(app.filter.clone()),
            Span::styled(" ", Style::default().add_modifier(Modifier::REVERSED)),
        ]);
        frame.render_widget(Paragraph::new(text), rest);
        return;
    }
    let focused = app.focus == Focus::Bar;
    let style = if focused {
        key_style()
    } else {
        Style::default()
    };
    frame.render_widget(Span::styled(":", style), prompt);
    frame.render_widget(&app.bar.textarea, rest);
}

pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let w = width.min(area.width);
    let h = height.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

const HELP: &[(&str, &str)] = &[
    ("Up/Down k/j", "select a process"),
    (
        "PgUp/PgDn Home/End",
        "select a process (by page, first, last)",
    ),
    ("s / x / r", "start / stop / restart the selected process"),
    ("R", "reload the config file"),
    (
        "Enter",
        "attach: full screen; lines (pty program: every key) go to it",
    ),
    ("Ctrl-]", "detach (back from the attach view)"),
    (":", "command bar (Tab completes, Up/Down: history)"),
    ("/", "filter the table by name (Esc clears)"),
    ("Tab", "focus the output pane (PgUp/PgDn scroll it)"),
    ("?", "this help"),
    ("q", "quit: stops every process after confirmation (y)"),
];

fn render_help(frame: &mut Frame, area: Rect) {
    let rect = centered(area, 76, HELP.len() as u16 + 4);
    let mut lines = vec![Line::from("")];
    for (key, what) in HELP {
        lines.push(Line::from(vec![
            Span::styled(format!(" {key:<20}"), key_style()),
            Span::raw(*what),
        ]));
    }
    let block = Block::bordered()
        .title(" help ")
        .title_bottom(" Esc closes ");
    frame.render_widget(Clear, rect);
    frame.render_widget(Paragraph::new(lines).block(block), rect);
}

fn render_overlay(frame: &mut Frame, area: Rect, o: &Overlay) {
    let rect = centered(
        area,
        area.width.saturating_sub(4),
        area.height.saturating_sub(4),
    );
    let height = rect.height.saturating_sub(2) as usize;
    let scroll = o.scroll.min(o.lines.len().saturating_sub(height));
    let lines: Vec<Line> = o
        .lines
        .iter()
        .skip(scroll)
        .take(height)
        .map(|l| Line::from(l.as_str()))
        .collect();
    let last = (scroll + height).min(o.lines.len());
    let block = Block::bordered()
        .title(format!(" {} ", o.title))
        .title_bottom(format!(
            " lines {}-{} of {}  ↑↓ PgUp PgDn scroll  Esc/q close ",
            scroll + 1,
            last,
            o.lines.len()
        ));
    frame.render_widget(Clear, rect);
    frame.render_widget(Paragraph::new(lines).block(block), rect);
}

fn render_confirm(frame: &mut Frame, area: Rect) {
    let rect = centered(area, 50, 5);
    let lines = vec![
        Line::from("Quit taskmaster and stop every process?"),
        Line::from(vec![
            Span::styled("y", key_style()),
            Span::raw(" quit    any other key: cancel"),
        ]),
    ];
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .centered()
            .block(Block::bordered().title(" quit ")),
        rect,
    );
}
