//! Pure rendering of the process table, the tail pane and the attach view (the rest of the
//! dashboard is in `view.rs`). Called by the dashboard thread.

use std::time::SystemTime;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table, TableState};

use super::app::{App, Focus};
use super::attach::Attach;
use super::stream::StreamView;
use super::tail::TailLines;
use super::term::TermPane;
use super::term::render::render_screen;
use super::view::{error_style, focus_block, key_style, state_style};
use crate::config::Condition;
use crate::output::Stream;
use crate::supervisor::snapshot::HealthStatus;
use crate::supervisor::snapshot::format_uptime;
use crate::supervisor::{ProcessInfo, Snapshot, StateName};

/// The last column: how it last ended while it runs, supervisorctl's description otherwise.
pub fn detail(p: &ProcessInfo, now: SystemTime) -> String {
    match p.state {
        StateName::Running | StateName::Starting | StateName::Stopping => {
            let last = p.last_exit.map(|e| format!("last: {}", e.describe()));
            // Health first: it is the news about a running process.
            match (p.health.as_ref().map(|h| h.describe()), last) {
                (Some(h), Some(l)) => format!("{h}; {l}"),
                (Some(h), None) => h,
                (None, Some(l)) => l,
                (None, None) => String::new(),
            }
        }
        _ => p.description(now),
    }
}

fn uptime(p: &ProcessInfo, now: SystemTime) -> String {
    match (p.state, p.started_at) {
        (StateName::Running | StateName::Starting | StateName::Stopping, Some(s)) => {
            format_uptime(now.duration_since(s).unwrap_or_default())
        }
        _ => "-".to_string(),
    }
}

pub fn render_table(frame: &mut Frame, app: &App, area: Rect, now: SystemTime) {
    let visible = app.visible();
    let name_w = visible
        .iter()
        .map(|p| unicode_width::UnicodeWidthStr::width(p.name.as_str()))
        .max()
        .unwrap_or(4)
        .clamp(4, 24) as u16;
    // Only the rows on screen are built (10,000 processes must not cost 10,000 rows a
    // frame). The window is the one the table itself would scroll to from the top: the
    // selected row at the bottom once it is below the first screenful.
    let height = usize::from(area.height.saturating_sub(3)).max(1);
    let selected = app.selected.min(visible.len().saturating_sub(1));
    let first = (selected + 1).saturating_sub(height);
    let shown = &visible[first..visible.len().min(first + height)];
    let rows = shown.iter().map(|p| {
        Row::new(vec![
            Line::from(p.name.clone()),
            Line::from(Span::styled(
                format!("{:<8}", p.state.as_str()),
                state_style(p.state, app.color),
            )),
            Line::from(p.pid.map(|n| n.to_string()).unwrap_or_else(|| "-".into())),
            Line::from(uptime(p, now)),
            Line::from(format!("{:>8}", p.restarts)),
            Line::from(detail(p, now)),
        ])
    });
    let header = Row::new([
        "NAME",
        "STATE",
        "PID",
        "UPTIME",
        "RESTARTS",
        "LAST EXIT / INFO",
    ])
    .style(key_style());
    let widths = [
        Constraint::Length(name_w),
        Constraint::Length(8),
        Constraint::Length(7),
        Constraint::Length(9),
        Constraint::Length(8),
        Constraint::Fill(1),
    ];
    let mut title = format!(" processes ({}) ", visible.len());
    if !app.filter.is_empty() {
        title = format!(" processes ({}) filter: {} ", visible.len(), app.filter);
    }
    let table = Table::new(rows, widths)
        .header(header)
        .block(focus_block(title, app.focus == Focus::Table))
        .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED));
    let mut state =
        TableState::default().with_selected((!visible.is_empty()).then_some(selected - first));
    frame.render_stateful_widget(table, area, &mut state);
}

pub fn tail_lines<'a>(
    lines: &'a TailLines,
    height: usize,
    back: usize,
    color: bool,
) -> Vec<Line<'a>> {
    lines
        .window(height, back)
        .map(|l| match l.stream {
            Stream::Stdout => Line::from(vec![Span::raw("  "), Span::raw(l.text.as_str())]),
            Stream::Stderr => {
                let style = if color {
                    Style::default().fg(Color::Red)
                } else {
                    Style::default()
                };
                Line::from(vec![
                    Span::styled("▌ ", style.add_modifier(Modifier::BOLD)),
                    Span::styled(l.text.as_str(), style),
                ])
            }
        })
        .collect()
}

fn follow_note(back: usize) -> String {
    if back == 0 {
        "following".to_string()
    } else {
        format!("scrolled back {back} lines, End follows")
    }
}

/// The tail pane of a pty program: its emulated screen at the terminal's size (cut to the
/// pane when the pane is smaller).
fn render_term_pane(frame: &mut Frame, app: &App, pane: &TermPane, area: Rect) {
    let size = pane.size();
    let back = pane.scrolled();
    let note = if back == 0 {
        "Enter attaches".to_string()
    } else {
        format!("scrolled back {back} lines, End follows")
    };
    let title = format!(
        " {} (terminal {}x{}, {note}) ",
        pane.name, size.cols, size.rows
    );
    let block = focus_block(title, app.focus == Focus::Tail);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let top = pane.first_row(inner.height);
    render_screen(pane.screen(), top, inner, frame.buffer_mut(), app.color);
}

/// An attached process's state and, after `gap`, its description, for a title line; or that
/// it does not exist (any more).
fn state_spans(
    p: Option<&ProcessInfo>,
    gap: &str,
    color: bool,
    now: SystemTime,
) -> Vec<Span<'static>> {
    match p {
        Some(p) => vec![
            Span::styled(p.state.as_str(), state_style(p.state, color)),
            Span::raw(format!("{gap}{}", p.description(now))),
        ],
        None => vec![Span::styled("no such process", error_style(color))],
    }
}

/// Attached raw to a pty program: a title line, then its whole screen.
pub fn render_terminal(frame: &mut Frame, app: &App, name: &str, now: SystemTime) {
    let [top, body] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(frame.area());
    let mut spans = vec![
        Span::styled(
            format!(" {name} "),
            key_style().add_modifier(Modifier::REVERSED),
        ),
        Span::raw(" "),
    ];
    spans.extend(state_spans(app.snapshot.get(name), " ", app.color, now));
    spans.push(Span::styled("  Ctrl-] detaches", key_style()));
    frame.render_widget(Paragraph::new(Line::from(spans)), top);
    if let Some(pane) = app.term.as_ref().filter(|t| t.name == name)
        && let Some(cursor) = render_screen(
            pane.screen(),
            pane.first_row(body.height),
            body,
            frame.buffer_mut(),
            app.color,
        )
    {
        frame.set_cursor_position(cursor);
    }
}

/// The selected process's stack details: its dependencies and their state (`✓` when met),
/// its health, its next start of its own. Empty for a process with none of them.
pub fn details(p: &ProcessInfo, snap: &Snapshot, now: SystemTime) -> String {
    let mut parts = Vec::new();
    if !p.depends_on.is_empty() {
        let deps: Vec<String> = p
            .depends_on
            .iter()
            .map(|(dep, cond)| {
                let members: Vec<&ProcessInfo> = snap
                    .processes
                    .iter()
                    .filter(|q| q.program == *dep)
                    .collect();
                let met = !members.is_empty() && members.iter().all(|q| meets(q, *cond));
                let state = match members.as_slice() {
                    [one] => one.state.as_str().to_string(),
                    _ => format!("{} processes", members.len()),
                };
                let mark = if met { "✓" } else { "…" };
                format!("{dep} {state} {mark} ({})", cond.as_str())
            })
            .collect();
        parts.push(format!("needs {}", deps.join(", ")));
    }
    if let Some(h) = &p.health {
        parts.push(h.describe());
    }
    if let Some(at) = p.retry_at {
        let left = at.duration_since(now).unwrap_or_default();
        parts.push(format!(
            "next start in {}",
            crate::supervisor::process::format_delay(left)
        ));
    }
    parts.join(" · ")
}

/// The snapshot's view of a condition (the supervisor decides; this only shows it).
fn meets(q: &ProcessInfo, cond: Condition) -> bool {
    match cond {
        Condition::Started => matches!(q.state, StateName::Starting | StateName::Running),
        Condition::Running => q.state == StateName::Running,
        Condition::Healthy => {
            q.state == StateName::Running && q.health == Some(HealthStatus::Healthy)
        }
        Condition::Completed => {
            q.state == StateName::Exited
                && q.retry_at.is_none()
                && q.last_exit.is_some_and(|e| e.expected())
        }
    }
}

pub fn render_tail(frame: &mut Frame, app: &App, area: Rect, now: SystemTime) {
    if let Some(s) = &app.stream {
        render_stream(frame, app, s, area);
        return;
    }
    let name = app.selected_name();
    if let Some(pane) = app.term.as_ref().filter(|t| Some(&t.name) == name.as_ref()) {
        render_term_pane(frame, app, pane, area);
        return;
    }
    let height = area.height.saturating_sub(2) as usize;
    let back = app.tail_scroll.min(app.tail.len().saturating_sub(height));
    let title = match &name {
        Some(n) => format!(" output of {n} ({}) ", follow_note(back)),
        None => " output ".to_string(),
    };
    let showing = app.tail_of.as_ref().map(|(n, _)| n) == name.as_ref();
    let lines = if showing && !app.tail.is_empty() {
        tail_lines(&app.tail, height, back, app.color)
    } else {
        vec![Line::styled(
            "  (no output yet)",
            Style::default().add_modifier(Modifier::DIM),
        )]
    };
    let mut block = focus_block(title, app.focus == Focus::Tail).title_bottom(" stdout  ▌ stderr ");
    let selected = name.as_deref().and_then(|n| app.snapshot.get(n));
    if let Some(d) = selected
        .map(|p| details(p, &app.snapshot, now))
        .filter(|d| !d.is_empty())
    {
        block = block.title_top(Line::from(format!(" {d} ")).right_aligned());
    }
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// `events -f` (or `maintail -f`) in the output pane.
fn render_stream(frame: &mut Frame, app: &App, s: &StreamView, area: Rect) {
    let height = area.height.saturating_sub(2) as usize;
    let back = s.scroll.min(s.lines.len().saturating_sub(height));
    let state = if s.ended {
        "ended".to_string()
    } else {
        follow_note(back)
    };
    let lines = if s.lines.is_empty() {
        vec![Line::styled(
            "  (nothing yet)",
            Style::default().add_modifier(Modifier::DIM),
        )]
    } else {
        tail_lines(&s.lines, height, back, app.color)
    };
    let block = focus_block(format!(" {} ({state}) ", s.title), app.focus == Focus::Tail)
        .title_bottom(" Esc ends the stream · another command too ");
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

pub fn render_attach(frame: &mut Frame, app: &App, a: &Attach, now: SystemTime) {
    let [top, body, message, input] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let state = app.snapshot.get(&a.name);
    let mut spans = vec![
        Span::styled(" attached to ", key_style()),
        Span::styled(a.name.clone(), key_style()),
        Span::raw("  "),
    ];
    spans.extend(state_spans(state, "  ", app.color, now));
    frame.render_widget(Paragraph::new(Line::from(spans)), top);

    let height = body.height.saturating_sub(2) as usize;
    let back = a.scroll.min(a.lines.len().saturating_sub(height));
    let block = focus_block(format!(" {} ({}) ", a.name, follow_note(back)), true).title_bottom(
        " Ctrl-] detach · Enter sends the line to stdin · Ctrl-D EOF · PgUp/PgDn scroll ",
    );
    frame.render_widget(
        Paragraph::new(tail_lines(&a.lines, height, back, app.color)).block(block),
        body,
    );

    let style = if app.message.error {
        error_style(app.color)
    } else {
        Style::default()
    };
    frame.render_widget(
        Paragraph::new(Span::styled(format!(" {}", app.message.text), style)),
        message,
    );
    let [prompt, rest] =
        Layout::horizontal([Constraint::Length(7), Constraint::Min(1)]).areas(input);
    frame.render_widget(Span::styled("stdin>", key_style()), prompt);
    frame.render_widget(&a.input, rest);
}
