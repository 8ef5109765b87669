//! The dashboard's UI state and its key handling: a key event in, an [`Effect`] out. Nothing
//! here touches the terminal or the supervisor; the loop (`mod.rs`) performs the effects.
//! Owned by the dashboard thread.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent};

use super::attach::{Attach, AttachKey};
use super::command_bar::{BarOutcome, CommandBar};
use super::tail::TailLines;
use crate::command::{self, Outcome, Request};
use crate::supervisor::{Command, ProcessInfo, Reply, Snapshot};

/// Which part of the dashboard takes keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Table,
    Tail,
    Bar,
}

/// A scrollable text shown over the dashboard (long command replies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlay {
    pub title: String,
    pub lines: Vec<String>,
    pub scroll: usize,
}

pub enum Mode {
    Normal,
    /// Typing the table filter after `/`.
    Filter,
    Help,
    Overlay(Overlay),
    ConfirmQuit,
    ShuttingDown,
    Attach(Box<Attach>),
}

/// What the loop must do after a key or a reply.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Send a command; the reply comes back to [`App::on_reply`] with this context.
    Send(Command, ReplyCtx),
    /// Run a command line of the command language on a worker thread.
    Run(String),
    /// Open the attach view on this process (the loop follows its output).
    Attach(String),
    /// Back from the attach view to the dashboard.
    Detach,
    /// Leave the dashboard now.
    Exit,
}

/// Why a command was sent, to render its reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyCtx {
    Action,
    Reload,
    Stdin,
    Shutdown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub text: String,
    pub error: bool,
    /// Event lines do not hide a command result younger than this.
    pub at: Option<Instant>,
}

pub const MESSAGE_HOLD: Duration = Duration::from_secs(3);

pub struct App {
    pub snapshot: Arc<Snapshot>,
    pub config_path: PathBuf,
    pub mode: Mode,
    pub focus: Focus,
    pub filter: String,
    /// Index into [`App::visible`].
    pub selected: usize,
    pub tail: TailLines,
    /// Whose output `tail` holds, and the output counter it was read at.
    pub tail_of: Option<(String, u64)>,
    /// Whether `tail` holds the long backlog (read once the user scrolls back) or only
    /// the few screens that following needs (cheap to re-read at every frame).
    pub tail_full: bool,
    /// Lines the tail pane is scrolled back from the newest; 0 follows new output.
    pub tail_scroll: usize,
    pub bar: CommandBar,
    pub message: Message,
    pub color: bool,
    /// Terminal size, for page sizes and mouse hits.
    pub size: (u16, u16),
}

impl App {
    pub fn new(snapshot: Arc<Snapshot>, config_path: PathBuf, bar: CommandBar) -> App {
        App {
            snapshot,
            config_path,
            mode: Mode::Normal,
            focus: Focus::Table,
            filter: String::new(),
            selected: 0,
            tail: TailLines::default(),
            tail_of: None,
            tail_full: false,
            tail_scroll: 0,
            bar,
            message: Message {
                text: "Welcome to taskmaster. Press ? for help.".to_string(),
                error: false,
                at: None,
            },
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
            size: (80, 24),
        }
    }

    /// The processes the table shows (after the filter), in snapshot order.
    pub fn visible(&self) -> Vec<&ProcessInfo> {
        self.snapshot
            .processes
            .iter()
            .filter(|p| self.filter.is_empty() || p.name.contains(self.filter.as_str()))
            .collect()
    }

    pub fn selected_name(&self) -> Option<String> {
        self.visible().get(self.selected).map(|p| p.name.clone())
    }

    pub fn on_snapshot(&mut self, snapshot: Arc<Snapshot>) {
        let keep = self.selected_name();
        self.snapshot = snapshot;
        self.reselect(keep);
    }

    fn reselect(&mut self, keep: Option<String>) {
        let visible = self.visible();
        self.selected = keep
            .and_then(|n| visible.iter().position(|p| p.name == n))
            .unwrap_or(self.selected)
            .min(visible.len().saturating_sub(1));
    }

    pub fn set_message(&mut self, text: impl Into<String>, error: bool, now: Instant) {
        self.message = Message {
            text: text.into(),
            error,
            at: Some(now),
        };
    }

    /// An event-log line; it does not hide a fresh command result.
    pub fn on_event(&mut self, line: String, now: Instant) {
        let fresh = self
            .message
            .at
            .is_some_and(|at| now.duration_since(at) < MESSAGE_HOLD);
        if !fresh {
            self.message = Message {
                text: line,
                error: false,
                at: None,
            };
        }
    }

    /// Replaces the tail pane's content. The loop does not call it while the pane is scrolled
    /// back, so what the user reads stays put.
    pub fn set_tail(&mut self, name: String, seq: u64, lines: TailLines, full: bool) {
        if self.tail_of.as_ref().is_none_or(|(n, _)| *n != name) {
            self.tail_scroll = 0;
        }
        self.tail = lines;
        self.tail_of = Some((name, seq));
        self.tail_full = full;
    }

    /// Whether the tail pane must be read again: another process is selected, its output
    /// counter moved and the pane follows, or the user scrolled back past the short tail.
    pub fn tail_stale(&self, name: &str, seq: u64) -> bool {
        match &self.tail_of {
            Some((n, s)) if n == name => {
                (*s != seq && self.tail_scroll == 0) || (self.tail_scroll > 0 && !self.tail_full)
            }
            _ => true,
        }
    }

    pub fn enter_attach(&mut self, name: String, lines: TailLines) {
        self.mode = Mode::Attach(Box::new(Attach::new(name, lines)));
    }

    pub fn leave_attach(&mut self) {
        if matches!(self.mode, Mode::Attach(_)) {
            self.mode = Mode::Normal;
        }
    }

    pub fn attached(&mut self) -> Option<&mut Attach> {
        match &mut self.mode {
            Mode::Attach(a) => Some(a),
            _ => None,
        }
    }

    pub fn is_shutting_down(&self) -> bool {
        matches!(self.mode, Mode::ShuttingDown)
    }

    /// Rows of the process table that fit on screen: the page for PgUp/PgDn.
    fn table_page(&self) -> usize {
        let areas = super::view::layout(self.size, self.visible().len());
        (areas.table.height.saturating_sub(3) as usize).max(1)
    }

    fn tail_page(&self) -> usize {
        let areas = super::view::layout(self.size, self.visible().len());
        (areas.tail.height.saturating_sub(2) as usize).max(1)
    }

    pub fn on_key(&mut self, key: KeyEvent, now: Instant) -> Option<Effect> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        match &mut self.mode {
            Mode::ShuttingDown => None,
            Mode::ConfirmQuit => self.on_confirm_key(key, now),
            Mode::Help => {
                if matches!(
                    key.code,
                    KeyCode::Esc | KeyCode::Char('q') | KeyCode::Char('?') | KeyCode::Enter
                ) {
                    self.mode = Mode::Normal;
                }
                None
            }
            Mode::Overlay(o) => {
                let page = self.size.1.saturating_sub(8).max(1) as usize;
                if overlay_key(o, key, page) {
                    self.mode = Mode::Normal;
                }
                None
            }
            Mode::Attach(a) => {
                let page = self.size.1.saturating_sub(6).max(1) as usize;
                match a.on_key(key, page) {
                    AttachKey::Nothing => None,
                    AttachKey::Detach => Some(Effect::Detach),
                    AttachKey::Stdin(bytes) => Some(Effect::Send(
                        Command::WriteStdin(a.name.clone(), bytes),
                        ReplyCtx::Stdin,
                    )),
                }
            }
            Mode::Filter => {
                self.on_filter_key(key);
                None
            }
            Mode::Normal => match self.focus {
                Focus::Bar => self.on_bar_key(key, now),
                Focus::Tail => self.on_tail_key(key, now),
                Focus::Table => self.on_table_key(key, now),
            },
        }
    }

    fn on_confirm_key(&mut self, key: KeyEvent, now: Instant) -> Option<Effect> {
        if matches!(key.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
            self.mode = Mode::ShuttingDown;
            self.set_message("shutting down…", false, now);
            return Some(Effect::Send(Command::Shutdown, ReplyCtx::Shutdown));
        }
        self.mode = Mode::Normal;
        self.set_message("quit cancelled", false, now);
        None
    }

    fn on_filter_key(&mut self, key: KeyEvent) {
        let keep = self.selected_name();
        match key.code {
            KeyCode::Enter => self.mode = Mode::Normal,
            KeyCode::Esc => {
                self.filter.clear();
                self.mode = Mode::Normal;
            }
            KeyCode::Backspace => {
                self.filter.pop();
            }
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                self.filter.push(c)
            }
            _ => {}
        }
        self.reselect(keep);
    }

    fn on_bar_key(&mut self, key: KeyEvent, now: Instant) -> Option<Effect> {
        let names = command::completion_names(&self.snapshot);
        match self.bar.on_key(key, &names) {
            BarOutcome::Edited => None,
            BarOutcome::Leave => {
                self.set_focus(Focus::Table);
                None
            }
            BarOutcome::Candidates(c) => {
                self.set_message(c.join("  "), false, now);
                None
            }
            BarOutcome::Submit(line) => {
                self.set_focus(Focus::Table);
                self.on_line(line, now)
            }
        }
    }

    /// A line from the command bar. Streaming commands and `quit` are the dashboard's own.
    fn on_line(&mut self, line: String, now: Instant) -> Option<Effect> {
        match command::parse(&line) {
            Ok(Request::Quit) => {
                self.mode = Mode::ConfirmQuit;
                None
            }
            Ok(Request::Attach(name)) => Some(Effect::Attach(name)),
            Ok(Request::Tail {
                name, follow: true, ..
            }) => {
                self.select_name(&name);
                self.set_focus(Focus::Tail);
                self.tail_scroll = 0;
                None
            }
            Ok(Request::Shutdown) => {
                self.mode = Mode::ShuttingDown;
                self.set_message("shutting down…", false, now);
                Some(Effect::Send(Command::Shutdown, ReplyCtx::Shutdown))
            }
            Ok(_) => {
                self.set_message(format!("running: {line}"), false, now);
                Some(Effect::Run(line))
            }
            Err(e) => {
                self.set_message(e.to_string(), true, now);
                None
            }
        }
    }

    fn select_name(&mut self, name: &str) {
        if let Some(i) = self.visible().iter().position(|p| p.name == name) {
            self.selected = i;
        }
    }

    pub fn set_focus(&mut self, focus: Focus) {
        self.focus = focus;
        self.bar.set_focused(focus == Focus::Bar);
    }

    fn on_tail_key(&mut self, key: KeyEvent, now: Instant) -> Option<Effect> {
        let page = self.tail_page();
        let max = self.tail.len().saturating_sub(1);
        match key.code {
            KeyCode::PageUp => self.tail_scroll = (self.tail_scroll + page).min(max),
            KeyCode::PageDown => self.tail_scroll = self.tail_scroll.saturating_sub(page),
            KeyCode::Up | KeyCode::Char('k') => self.tail_scroll = (self.tail_scroll + 1).min(max),
            KeyCode::Down | KeyCode::Char('j') => {
                self.tail_scroll = self.tail_scroll.saturating_sub(1)
            }
            KeyCode::Home => self.tail_scroll = max,
            KeyCode::End => self.tail_scroll = 0,
            KeyCode::Esc => self.set_focus(Focus::Table),
            _ => return self.on_table_key(key, now),
        }
        None
    }

    fn on_table_key(&mut self, key: KeyEvent, now: Instant) -> Option<Effect> {
        let n = self.visible().len();
        let page = self.table_page();
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Up | KeyCode::Char('k') => self.selected = self.selected.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => {
                self.selected = (self.selected + 1).min(n.saturating_sub(1))
            }
            KeyCode::PageUp => self.selected = self.selected.saturating_sub(page),
            KeyCode::PageDown => self.selected = (self.selected + page).min(n.saturating_sub(1)),
            KeyCode::Home => self.selected = 0,
            KeyCode::End => self.selected = n.saturating_sub(1),
            KeyCode::Char('c') if ctrl => self.mode = Mode::ConfirmQuit,
            KeyCode::Char(c @ ('s' | 'x' | 'r')) if !ctrl => return self.act(c, now),
            KeyCode::Char('R') => {
                self.set_message("reloading…", false, now);
                return Some(Effect::Send(Command::Reload, ReplyCtx::Reload));
            }
            KeyCode::Enter => return self.selected_name().map(Effect::Attach),
            KeyCode::Char(':') => self.set_focus(Focus::Bar),
            KeyCode::Char('/') => self.mode = Mode::Filter,
            KeyCode::Char('?') => self.mode = Mode::Help,
            KeyCode::Char('q') => self.mode = Mode::ConfirmQuit,
            KeyCode::Tab | KeyCode::BackTab => {
                let next = if self.focus == Focus::Table {
                    Focus::Tail
                } else {
                    Focus::Table
                };
                self.set_focus(next);
            }
            _ => {}
        }
        None
    }

    fn act(&mut self, key: char, now: Instant) -> Option<Effect> {
        let name = self.selected_name()?;
        let (verb, cmd) = match key {
            's' => ("starting", Command::Start(vec![name.clone()])),
            'x' => ("stopping", Command::Stop(vec![name.clone()])),
            _ => ("restarting", Command::Restart(vec![name.clone()])),
        };
        self.set_message(format!("{name}: {verb}…"), false, now);
        Some(Effect::Send(cmd, ReplyCtx::Action))
    }

    pub fn on_mouse(&mut self, ev: MouseEvent) {
        use crossterm::event::{MouseButton, MouseEventKind};
        let areas = super::view::layout(self.size, self.visible().len());
        let hit = |r: ratatui::layout::Rect| {
            ev.column >= r.x && ev.column < r.right() && ev.row >= r.y && ev.row < r.bottom()
        };
        match ev.kind {
            MouseEventKind::Down(MouseButton::Left) if hit(areas.table) => {
                // Border, then the header row, then the rows from the first visible one.
                let first_row = areas.table.y + 2;
                let rows = areas.table.height.saturating_sub(3) as usize;
                let offset = (self.selected + 1).saturating_sub(rows);
                if ev.row >= first_row {
                    let i = offset + (ev.row - first_row) as usize;
                    if i < self.visible().len() {
                        self.selected = i;
                    }
                }
            }
            MouseEventKind::ScrollUp if hit(areas.tail) => {
                self.tail_scroll = (self.tail_scroll + 3).min(self.tail.len().saturating_sub(1))
            }
            MouseEventKind::ScrollDown if hit(areas.tail) => {
                self.tail_scroll = self.tail_scroll.saturating_sub(3)
            }
            _ => {}
        }
    }

    /// The reply to a command sent by [`Effect::Send`]. Returns `Some(Effect::Exit)` when
    /// the dashboard must leave.
    pub fn on_reply(&mut self, ctx: ReplyCtx, reply: Reply, now: Instant) -> Option<Effect> {
        match (ctx, reply) {
            (ReplyCtx::Shutdown, _) => return Some(Effect::Exit),
            (ReplyCtx::Stdin, Reply::Done) => {}
            (_, Reply::Error(e)) => self.set_message(e, true, now),
            (_, Reply::Actions(results)) => {
                let error = results.iter().any(|r| r.outcome.is_err());
                let text: Vec<String> = results.iter().map(|r| r.render()).collect();
                self.set_message(text.join(", "), error, now);
            }
            (_, Reply::Reload(report)) => self.show_text("reload", report.render(), false, now),
            (_, other) => self.set_message(format!("{other:?}"), false, now),
        }
        None
    }

    /// The outcome of a command line run by [`Effect::Run`].
    pub fn on_outcome(&mut self, line: &str, outcome: Outcome, now: Instant) -> Option<Effect> {
        if outcome.quit {
            self.mode = Mode::ShuttingDown;
            self.set_message("shutting down…", false, now);
            return None;
        }
        let error = outcome.code == 1;
        let text = if outcome.text.trim().is_empty() {
            format!("{line}: done")
        } else {
            outcome.text
        };
        self.show_text(line, text, error, now);
        None
    }

    /// One line in the message area; several in a scrollable overlay.
    fn show_text(&mut self, title: &str, text: String, error: bool, now: Instant) {
        let lines: Vec<String> = text.trim_end().lines().map(str::to_string).collect();
        if lines.len() <= 1 {
            self.set_message(text.trim_end().to_string(), error, now);
        } else {
            self.set_message(format!("{title}: {} lines", lines.len()), error, now);
            if matches!(self.mode, Mode::Normal) {
                self.mode = Mode::Overlay(Overlay {
                    title: title.to_string(),
                    lines,
                    scroll: 0,
                });
            }
        }
    }
}

/// Scrolls an overlay; true when the key closes it.
fn overlay_key(o: &mut Overlay, key: KeyEvent, page: usize) -> bool {
    let max = o.lines.len().saturating_sub(1);
    match key.code {
        KeyCode::Esc | KeyCode::Char('q') | KeyCode::Enter => return true,
        KeyCode::Up | KeyCode::Char('k') => o.scroll = o.scroll.saturating_sub(1),
        KeyCode::Down | KeyCode::Char('j') => o.scroll = (o.scroll + 1).min(max),
        KeyCode::PageUp => o.scroll = o.scroll.saturating_sub(page),
        KeyCode::PageDown => o.scroll = (o.scroll + page).min(max),
        KeyCode::Home => o.scroll = 0,
        KeyCode::End => o.scroll = max,
        _ => {}
    }
    false
}
