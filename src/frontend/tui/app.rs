//! The dashboard's UI state, and what replies and events do to it (keys are in `keys.rs`).
//! Nothing here touches the terminal or the supervisor; the loop (`mod.rs`) performs the
//! [`Effect`]s. Owned by the dashboard thread.

use crate::supervisor::events::{Event, EventKind};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::attach::Attach;
use super::command_bar::CommandBar;
use super::stream::StreamView;
use super::tail::TailLines;
use super::term::TermPane;
use crate::command::{self, Exit};
use crate::spawn::TtySize;
use crate::supervisor::{Answer, Command, Follow, ProcessInfo, Reply, Snapshot};

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
    /// A long reply. Keys that do not scroll or close it close it and then act as usual, so
    /// nothing typed ahead is lost.
    Overlay(Overlay),
    ConfirmQuit,
    ShuttingDown,
    Attach(Box<Attach>),
    /// Attached raw to this pty program: every key goes to it, Ctrl-] detaches.
    Terminal(String),
}

/// What the loop must do after a key or a reply.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Send a command; the answer comes back to [`App::on_reply`] with this context.
    Send(Command, ReplyCtx),
    /// Attach to this process: sends `attach`, whose answer opens the view.
    Attach(String),
    /// The live output of the process to attach to: the loop follows it, the view opens.
    Follow(Follow),
    /// A stream that is no process's output (`events -f`), opened by this command line: the
    /// loop follows it, the output pane shows it.
    Stream(Follow, String),
    /// Back from the attach view to the dashboard, or the stream ended (Esc).
    Detach,
    /// Leave the dashboard now.
    Exit,
}

/// Why a command was sent, to show its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyCtx {
    /// A key (s/x/r): the result on one line.
    Action,
    Reload,
    Stdin,
    Shutdown,
    Attach,
    /// A line of the command bar: one line in the message area, or an overlay.
    Line(String),
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
    /// The emulated terminal of the pty program on show (selected or attached), if any.
    pub term: Option<TermPane>,
    /// `events -f` or `maintail -f` in the output pane, until Esc or another command.
    pub stream: Option<StreamView>,
    pub message: Message,
    /// A long reply that arrived while the user was typing in the bar: `o` shows it.
    pub held: Option<Overlay>,
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
            held: None,
            term: None,
            stream: None,
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

    pub(super) fn reselect(&mut self, keep: Option<String>) {
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
    pub fn on_event(&mut self, ev: &Event, now: Instant) {
        let line = ev.text.clone();
        // A refused reload (a SIGHUP with a broken file), a program giving up, an alert that
        // could not be delivered or a log file that cannot be written (a note from the I/O
        // thread) is news the user must see: it takes the line like a command result, in the
        // error style. Told by the event's kind, never by its words.
        if matches!(
            ev.kind,
            EventKind::ReloadFailed
                | EventKind::Fatal
                | EventKind::AlertFailed
                | EventKind::LogFailed
        ) {
            self.set_message(line, true, now);
            return;
        }
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

    /// Shows a stream in the output pane (the loop follows its receiver).
    pub fn open_stream(&mut self, title: String, lines: TailLines, now: Instant) {
        self.set_message(format!("{title}: following (Esc ends it)"), false, now);
        self.stream = Some(StreamView::new(title, lines));
    }

    /// Whether the loop must keep its follow receiver: a line attach or a stream is open.
    /// Anything that closes either (Esc, a detach, another command) drops the stream with it.
    pub fn follows(&self) -> bool {
        matches!(self.mode, Mode::Attach(_)) || self.stream.is_some()
    }

    pub fn leave_attach(&mut self) {
        if matches!(self.mode, Mode::Attach(_) | Mode::Terminal(_)) {
            self.mode = Mode::Normal;
        }
    }

    /// The size a raw-attached program gets: the whole terminal but the title line.
    pub fn terminal_view(&self) -> TtySize {
        TtySize::clamped(self.size.1.saturating_sub(1), self.size.0)
    }

    /// The pty program whose screen is on show, and the size its emulator must have: the
    /// attached one at the view's size, else the selected one at its terminal's size.
    pub fn shown_pty(&self) -> Option<(String, TtySize)> {
        if let Mode::Terminal(name) = &self.mode {
            return Some((name.clone(), self.terminal_view()));
        }
        let selected = self.selected_name()?;
        let size = self.snapshot.get(&selected)?.pty?;
        Some((selected, size))
    }

    /// Whether the process runs on a pty (attach is then raw).
    pub fn is_pty(&self, name: &str) -> bool {
        self.snapshot.get(name).is_some_and(|p| p.pty.is_some())
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

    /// The answer to a command sent by [`Effect::Send`], rendered by the one renderer
    /// ([`command::render`]). Returns `Some(Effect::Exit)` when the dashboard must leave.
    pub fn on_reply(&mut self, ctx: ReplyCtx, answer: Answer, now: Instant) -> Option<Effect> {
        if let Ok(Reply::Follow(f)) = answer {
            // A command line's stream is never a process's output: the dashboard's own
            // `tail -f` and attach do not go through here.
            return Some(match ctx {
                ReplyCtx::Line(line) => Effect::Stream(f, line),
                _ => Effect::Follow(f),
            });
        }
        let outcome = command::render(&answer);
        let error = matches!(outcome.exit(), Exit::Error | Exit::Unknown);
        match ctx {
            ReplyCtx::Shutdown => return Some(Effect::Exit),
            ReplyCtx::Stdin | ReplyCtx::Attach if !error => {}
            ReplyCtx::Action | ReplyCtx::Stdin | ReplyCtx::Attach => {
                let text: Vec<&str> = outcome.text.lines().collect();
                self.set_message(text.join(", "), error, now);
            }
            ReplyCtx::Reload => self.show_text("reload", outcome.text, error, now),
            ReplyCtx::Line(line) => {
                if outcome.quit {
                    self.mode = Mode::ShuttingDown;
                    self.set_message("shutting down…", false, now);
                    return None;
                }
                let text = if outcome.text.trim().is_empty() {
                    format!("{line}: done")
                } else {
                    outcome.text
                };
                self.show_text(&line, text, error, now);
            }
        }
        None
    }

    /// One line in the message area; several in a scrollable overlay — held back (`o` shows
    /// it) while the user is typing in the bar or another view is open, so no key typed ahead
    /// goes to it.
    fn show_text(&mut self, title: &str, text: String, error: bool, now: Instant) {
        let lines: Vec<String> = text.trim_end().lines().map(str::to_string).collect();
        if lines.len() <= 1 {
            self.set_message(text.trim_end().to_string(), error, now);
            return;
        }
        let overlay = Overlay {
            title: title.to_string(),
            lines,
            scroll: 0,
        };
        let n = overlay.lines.len();
        if matches!(self.mode, Mode::Normal) && self.focus != Focus::Bar {
            self.set_message(format!("{title}: {n} lines"), error, now);
            self.mode = Mode::Overlay(overlay);
        } else {
            self.set_message(format!("{title}: {n} lines (o shows them)"), error, now);
            self.held = Some(overlay);
        }
    }
}
