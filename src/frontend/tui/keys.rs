//! Key and mouse handling of the dashboard: a key event in, an [`Effect`] (or a state change)
//! out. Key-release events are ignored. Owned by the dashboard thread.

use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent};

use super::app::{App, Effect, Focus, Mode, Overlay, ReplyCtx};
use super::attach::AttachKey;
use super::command_bar::BarOutcome;
use crate::command::{self, Line};
use crate::supervisor::{Command, Target};

impl App {
    /// Rows of the process table that fit on screen: the page for PgUp/PgDn.
    fn table_page(&self) -> usize {
        let areas = super::view::layout(self.size, self.visible().len());
        (areas.table.height.saturating_sub(3) as usize).max(1)
    }

    fn tail_page(&self) -> usize {
        let areas = super::view::layout(self.size, self.visible().len());
        (areas.tail.height.saturating_sub(2) as usize).max(1)
    }

    /// How far the tail pane may scroll back: a pty pane's scrollback is clamped by its
    /// emulator when it is next drawn.
    fn tail_rows(&self) -> usize {
        if self.term.is_some() {
            return super::term::MAX_SCROLLBACK;
        }
        self.tail.len().saturating_sub(1)
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
                match overlay_key(o, key, page) {
                    OverlayKey::Scrolled => None,
                    OverlayKey::Close => {
                        self.mode = Mode::Normal;
                        None
                    }
                    // Typed ahead (`:start all` while the overlay popped up): not lost.
                    OverlayKey::PassThrough => {
                        self.mode = Mode::Normal;
                        self.on_key(key, now)
                    }
                }
            }
            Mode::Attach(a) => {
                let page = self.size.1.saturating_sub(6).max(1) as usize;
                match a.on_key(key, page) {
                    AttachKey::Nothing => None,
                    AttachKey::Detach => Some(Effect::Detach),
                    AttachKey::Eof => Some(Effect::Send(
                        Command::CloseStdin {
                            name: a.name.clone(),
                        },
                        ReplyCtx::Stdin,
                    )),
                    AttachKey::Stdin(data) => Some(Effect::Send(
                        Command::WriteStdin {
                            name: a.name.clone(),
                            data,
                        },
                        ReplyCtx::Stdin,
                    )),
                }
            }
            Mode::Terminal(name) => {
                if super::attach::is_detach(&key) {
                    return Some(Effect::Detach);
                }
                let name = name.clone();
                let app_cursor = self
                    .term
                    .as_ref()
                    .is_some_and(|t| t.name == name && t.screen().application_cursor());
                let bytes = super::keybytes::encode(&key, app_cursor)?;
                Some(Effect::Send(
                    Command::WriteStdin { name, data: bytes },
                    ReplyCtx::Stdin,
                ))
            }
            Mode::Filter => {
                self.on_filter_key(key);
                None
            }
            // Esc out of the bar leaves the bar; elsewhere it ends a stream on show.
            Mode::Normal
                if key.code == KeyCode::Esc
                    && self.focus != Focus::Bar
                    && self.stream.is_some() =>
            {
                self.stream = None;
                self.set_message("stream ended", false, now);
                Some(Effect::Detach)
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

    /// A line from the command bar: parsed here, sent by the loop, its answer rendered by
    /// [`App::on_reply`]. `quit` and `tail -f` (the tail pane) are the dashboard's own.
    fn on_line(&mut self, line: String, now: Instant) -> Option<Effect> {
        let parsed = command::parse(&line);
        // Another command ends a stream on show (a new `events -f` replaces it).
        if matches!(parsed, Ok(Line::Command(_) | Line::Quit)) {
            self.stream = None;
        }
        let cmd = match parsed {
            Ok(Line::Command(cmd)) => cmd,
            Ok(Line::Empty) => return None,
            Ok(Line::Quit) => {
                self.mode = Mode::ConfirmQuit;
                return None;
            }
            Err(fault) => {
                let text = command::render(&Err(fault)).text.replace('\n', " ");
                self.set_message(text, true, now);
                return None;
            }
        };
        match cmd {
            // Raw (pty) or line attach: the loop decides, as for Enter.
            Command::Attach { target } => Some(Effect::Attach(target.to_string())),
            Command::Follow { target, .. } => {
                self.select_name(&target.to_string());
                self.set_focus(Focus::Tail);
                self.tail_scroll = 0;
                None
            }
            Command::Shutdown => {
                self.mode = Mode::ShuttingDown;
                self.set_message("shutting down…", false, now);
                Some(Effect::Send(Command::Shutdown, ReplyCtx::Shutdown))
            }
            cmd => {
                self.set_message(format!("running: {line}"), false, now);
                Some(Effect::Send(cmd, ReplyCtx::Line(line)))
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
        // The pane shows a stream instead of the process's output: it scrolls the stream.
        let (scroll, max) = match &mut self.stream {
            Some(s) => (&mut s.scroll, s.lines.len().saturating_sub(1)),
            None => {
                let max = self.tail_rows();
                (&mut self.tail_scroll, max)
            }
        };
        match key.code {
            KeyCode::PageUp => *scroll = (*scroll + page).min(max),
            KeyCode::PageDown => *scroll = scroll.saturating_sub(page),
            KeyCode::Up | KeyCode::Char('k') => *scroll = (*scroll + 1).min(max),
            KeyCode::Down | KeyCode::Char('j') => *scroll = scroll.saturating_sub(1),
            KeyCode::Home => *scroll = max,
            KeyCode::End => *scroll = 0,
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
            KeyCode::Char('o') => {
                if let Some(o) = self.held.take() {
                    self.mode = Mode::Overlay(o);
                }
            }
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
        let targets = vec![Target::Process(name.clone())];
        let (verb, cmd) = match key {
            's' => ("starting", Command::Start { targets }),
            'x' => ("stopping", Command::Stop { targets }),
            _ => ("restarting", Command::Restart { targets }),
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
                self.tail_scroll = (self.tail_scroll + 3).min(self.tail_rows())
            }
            MouseEventKind::ScrollDown if hit(areas.tail) => {
                self.tail_scroll = self.tail_scroll.saturating_sub(3)
            }
            _ => {}
        }
    }
}

/// What a key does to an overlay.
enum OverlayKey {
    Scrolled,
    Close,
    /// Not an overlay key: close it and handle the key as usual.
    PassThrough,
}

fn overlay_key(o: &mut Overlay, key: KeyEvent, page: usize) -> OverlayKey {
    let max = o.lines.len().saturating_sub(1);
    match key.code {
        KeyCode::Esc | KeyCode::Char('q') | KeyCode::Enter => return OverlayKey::Close,
        KeyCode::Up | KeyCode::Char('k') => o.scroll = o.scroll.saturating_sub(1),
        KeyCode::Down | KeyCode::Char('j') => o.scroll = (o.scroll + 1).min(max),
        KeyCode::PageUp => o.scroll = o.scroll.saturating_sub(page),
        KeyCode::PageDown => o.scroll = (o.scroll + page).min(max),
        KeyCode::Home => o.scroll = 0,
        KeyCode::End => o.scroll = max,
        _ => return OverlayKey::PassThrough,
    }
    OverlayKey::Scrolled
}
