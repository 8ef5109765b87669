//! The full-screen dashboard (ratatui): lifecycle and main loop.
//!
//! Threads: the dashboard thread (the caller of [`run`]) owns the terminal and all UI state and
//! waits in one `crossbeam::Select` over: terminal events (from the input thread in
//! `terminal.rs`), supervisor updates, the output "new bytes" notice, the follow stream of an
//! attached process, the answers to commands sent with `Handle::send` (keys and command-bar
//! lines alike: parsed, sent and rendered by the one command path of [`crate::command`]; no
//! thread per command), a 1 Hz tick for uptimes and the next frame deadline. Redraws are coalesced: a change marks the screen dirty and
//! it is drawn at most once per [`FRAME`]; nothing is drawn while idle except the tick.

mod app;
mod attach;
mod command_bar;
mod keybytes;
mod keys;
mod stream;
mod tail;
mod term;
mod terminal;
mod view;
mod view_parts;

#[cfg(test)]
mod tests;

use std::io;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, Select, after, never, tick};
use crossterm::event::Event;

use crate::command;
use crate::frontend::tty;
use crate::output::{Chunk, OutputReader};
use crate::supervisor::{Answer, Command, Fault, Handle, Target, Update};
use app::{App, Effect, ReplyCtx};
use command_bar::CommandBar;
use tail::TailLines;
use term::TermPane;
use terminal::{Input, Term};

/// At most ~30 frames a second, however fast children write.
pub const FRAME: Duration = Duration::from_millis(34);
/// How much captured output the attach view and a scrolled-back tail pane start from.
const TAIL_BYTES: usize = 64 * 1024;
/// What a following tail pane re-reads at each frame: a few screens, so a flooding child
/// costs little.
const FOLLOW_BYTES: usize = 16 * 1024;

/// Runs the dashboard until the user quits (after confirming) or the supervisor ends.
/// Returns after restoring the terminal. Quitting asks the supervisor to shut down.
pub fn run(handle: Handle, config_path: &Path) -> io::Result<()> {
    let updates = handle.subscribe();
    let mut term = Term::enter()?;
    let input = Input::spawn()?;
    let mut dash = Dashboard::new(handle, config_path, updates);
    let size = term.terminal.size()?;
    dash.app.size = (size.width, size.height);
    let result = dash.run(&mut term, &input.rx);
    drop(input);
    drop(term);
    result
}

enum Incoming {
    Term(Option<Event>),
    Update(Option<Update>),
    Output,
    Follow(Option<Chunk>),
    Reply(usize, Option<Answer>),
    Tick,
    Frame,
}

struct Dashboard {
    handle: Handle,
    reader: OutputReader,
    app: App,
    updates: Receiver<Update>,
    watch: Receiver<()>,
    follow: Option<Receiver<Chunk>>,
    pending: Vec<(ReplyCtx, Receiver<Answer>)>,
    ticker: Receiver<Instant>,
    dirty: bool,
    last_draw: Option<Instant>,
    input_lost: bool,
    /// The terminal hung up: no more frames; the shutdown was asked for.
    hung_up: bool,
}

impl Dashboard {
    fn new(handle: Handle, config_path: &Path, updates: Receiver<Update>) -> Dashboard {
        let reader = handle.output().clone();
        let bar = CommandBar::new(command::History::load_default());
        let app = App::new(handle.snapshot(), config_path.to_path_buf(), bar);
        Dashboard {
            watch: reader.watch(),
            reader,
            handle,
            app,
            updates,
            follow: None,
            pending: Vec::new(),
            ticker: tick(Duration::from_secs(1)),
            dirty: true,
            last_draw: None,
            input_lost: false,
            hung_up: false,
        }
    }

    fn run(&mut self, term: &mut Term, input: &Receiver<Event>) -> io::Result<()> {
        let no_input = never();
        loop {
            let now = Instant::now();
            let next_frame = self.last_draw.map(|t| t + FRAME).unwrap_or(now);
            if self.dirty && !self.hung_up && now >= next_frame {
                match self.draw(term) {
                    Ok(()) => {
                        self.last_draw = Some(now);
                        self.dirty = false;
                    }
                    // A hung-up terminal fails every write (EIO) and every size query
                    // (crossterm then reports whatever errno its `tput` fallback left, such
                    // as ENOENT): the hang-up, not a dashboard error to print.
                    Err(_) if tty::let_go_if_dead() => {
                        if let Some(effect) = self.hang_up() {
                            self.perform(effect);
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
            let frame = if self.dirty && !self.hung_up {
                after(next_frame.saturating_duration_since(now))
            } else {
                never()
            };
            let input = if self.input_lost { &no_input } else { input };
            let incoming = self.wait(input, &frame);
            if self.on_incoming(incoming) {
                return Ok(());
            }
        }
    }

    fn draw(&mut self, term: &mut Term) -> io::Result<()> {
        term.retake_if_lost()?;
        self.sync_term();
        self.sync_tail();
        term.terminal
            .draw(|f| view::render(f, &self.app, SystemTime::now()))?;
        Ok(())
    }

    /// The terminal is gone (window closed, tmux killed): nothing more is read or drawn, and
    /// taskmaster shuts down as `shutdown` does, since nobody can confirm anything. The
    /// effect comes once; the supervisor writes the one event-log line about it.
    fn hang_up(&mut self) -> Option<Effect> {
        tty::let_go_if_dead();
        self.input_lost = true;
        if std::mem::replace(&mut self.hung_up, true) {
            return None;
        }
        self.app.mode = app::Mode::ShuttingDown;
        Some(Effect::Send(Command::HangUp, ReplyCtx::Shutdown))
    }

    fn wait(&self, input: &Receiver<Event>, frame: &Receiver<Instant>) -> Incoming {
        let no_chunk = never();
        let follow = self.follow.as_ref().unwrap_or(&no_chunk);
        let mut sel = Select::new();
        let i_term = sel.recv(input);
        let i_upd = sel.recv(&self.updates);
        let i_watch = sel.recv(&self.watch);
        let i_follow = sel.recv(follow);
        let i_tick = sel.recv(&self.ticker);
        let i_frame = sel.recv(frame);
        let base = i_frame + 1;
        for (_, rx) in &self.pending {
            sel.recv(rx);
        }
        let op = sel.select();
        match op.index() {
            i if i == i_term => Incoming::Term(op.recv(input).ok()),
            i if i == i_upd => Incoming::Update(op.recv(&self.updates).ok()),
            i if i == i_watch => {
                let _ = op.recv(&self.watch);
                Incoming::Output
            }
            i if i == i_follow => Incoming::Follow(op.recv(follow).ok()),
            i if i == i_tick => {
                let _ = op.recv(&self.ticker);
                Incoming::Tick
            }
            i if i == i_frame => {
                let _ = op.recv(frame);
                Incoming::Frame
            }
            i => {
                let k = i - base;
                Incoming::Reply(k, op.recv(&self.pending[k].1).ok())
            }
        }
    }

    /// Handles one message; true when the dashboard must leave.
    fn on_incoming(&mut self, incoming: Incoming) -> bool {
        let now = Instant::now();
        let effect = match incoming {
            Incoming::Term(Some(ev)) => self.on_term(ev, now),
            // The input thread ended: the terminal cannot be read any more.
            Incoming::Term(None) => self.hang_up(),
            Incoming::Update(Some(Update::Snapshot)) => {
                let mut gone = false;
                // Several notices may be queued: one snapshot read serves them all.
                for u in self.updates.try_iter() {
                    match u {
                        Update::Snapshot => {}
                        Update::Event(ev) => self.app.on_event(&ev, now),
                        Update::Gone => gone = true,
                    }
                }
                self.app.on_snapshot(self.handle.snapshot());
                gone.then_some(Effect::Exit)
            }
            Incoming::Update(Some(Update::Event(ev))) => {
                self.app.on_event(&ev, now);
                None
            }
            Incoming::Update(Some(Update::Gone) | None) => Some(Effect::Exit),
            Incoming::Output => {
                if self.output_changed() {
                    self.dirty = true;
                }
                return false;
            }
            Incoming::Follow(Some(chunk)) => {
                self.on_chunk(chunk);
                None
            }
            Incoming::Follow(None) => {
                self.follow = None;
                if let Some(s) = &mut self.app.stream {
                    s.ended = true;
                }
                None
            }
            Incoming::Reply(k, reply) => {
                let (ctx, _) = self.pending.remove(k);
                let answer = reply.unwrap_or(Err(Fault::ShuttingDown));
                self.app.on_reply(ctx, answer, now)
            }
            Incoming::Tick => None,
            Incoming::Frame => return false,
        };
        self.dirty = true;
        let leave = match effect {
            Some(e) => self.perform(e),
            None => false,
        };
        // Whatever closed the attach view or the stream (Esc, a detach, another command),
        // the follow receiver goes with it: the supervisor then drops its sender.
        if !self.app.follows() {
            self.follow = None;
        }
        leave
    }

    fn on_term(&mut self, ev: Event, now: Instant) -> Option<Effect> {
        match ev {
            Event::Key(key) => self.app.on_key(key, now),
            Event::Mouse(m) => {
                self.app.on_mouse(m);
                None
            }
            Event::Resize(w, h) => {
                self.app.size = (w, h);
                // The attached program follows the view (it gets SIGWINCH).
                match &self.app.mode {
                    app::Mode::Terminal(name) => Some(Effect::Send(
                        Command::Resize {
                            name: name.clone(),
                            size: self.app.terminal_view(),
                        },
                        ReplyCtx::Stdin,
                    )),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn on_chunk(&mut self, chunk: Chunk) {
        let follow = self.follow.clone();
        if let Some(s) = &mut self.app.stream {
            s.push(chunk.stream, &chunk.data);
            if let Some(rx) = follow {
                for c in rx.try_iter().take(1024) {
                    s.push(c.stream, &c.data);
                }
            }
        } else if let Some(a) = self.app.attached() {
            a.push(chunk.stream, &chunk.data);
            // Drain what else is queued: one redraw for a burst.
            if let Some(rx) = follow {
                for c in rx.try_iter().take(1024) {
                    a.push(c.stream, &c.data);
                }
            }
        }
    }

    /// Whether the shown process's output moved since its pane read it.
    fn output_changed(&self) -> bool {
        if let Some((name, _)) = self.app.shown_pty() {
            return match &self.app.term {
                Some(t) if t.name == name => t.behind(&self.reader),
                _ => true,
            };
        }
        match self.app.selected_name() {
            Some(name) => self.app.tail_stale(&name, self.reader.seq(&name)),
            None => false,
        }
    }

    /// Brings the emulated terminal of the pty program on show up to date (a bounded slice
    /// of its new output), or drops it when none is on show.
    fn sync_term(&mut self) {
        let Some((name, size)) = self.app.shown_pty() else {
            self.app.term = None;
            return;
        };
        let mut pane = match self.app.term.take() {
            Some(p) if p.name == name => p,
            _ => TermPane::open(&name, size, &self.reader),
        };
        pane.resize(size);
        pane.sync(&self.reader);
        let back = match self.app.mode {
            app::Mode::Terminal(_) => 0,
            _ => self.app.tail_scroll,
        };
        let went = pane.scroll_to(back);
        if !matches!(self.app.mode, app::Mode::Terminal(_)) {
            self.app.tail_scroll = went;
        }
        if pane.behind(&self.reader) {
            // Still more than a slice behind: another frame parses the newest of it.
            self.dirty = true;
        }
        self.app.term = Some(pane);
    }

    fn sync_tail(&mut self) {
        let Some(name) = self.app.selected_name() else {
            return;
        };
        if self.app.is_pty(&name) {
            return;
        }
        let seq = self.reader.seq(&name);
        if !self.app.tail_stale(&name, seq) {
            return;
        }
        let full = self.app.tail_scroll > 0;
        let bytes = if full { TAIL_BYTES } else { FOLLOW_BYTES };
        let chunks = self.reader.tail(&name, None, bytes).unwrap_or_default();
        self.app
            .set_tail(name, seq, TailLines::from_chunks(&chunks), full);
    }

    /// Performs an effect; true when the dashboard must leave.
    fn perform(&mut self, effect: Effect) -> bool {
        match effect {
            Effect::Send(cmd, ctx) => self.pending.push((ctx, self.handle.send(cmd))),
            Effect::Attach(name) if self.app.is_pty(&name) => {
                let size = self.app.terminal_view();
                self.app.mode = app::Mode::Terminal(name.clone());
                self.perform(Effect::Send(
                    Command::Resize { name, size },
                    ReplyCtx::Stdin,
                ));
            }
            Effect::Attach(name) => {
                let cmd = Command::Attach {
                    target: Target::parse(&name),
                };
                self.pending.push((ReplyCtx::Attach, self.handle.send(cmd)));
            }
            Effect::Follow(f) => {
                self.app.stream = None;
                self.follow = Some(f.rx);
                self.app
                    .enter_attach(f.name, TailLines::from_chunks(&f.backlog));
            }
            Effect::Stream(f, title) => {
                self.follow = Some(f.rx);
                let lines = TailLines::from_chunks(&f.backlog);
                self.app.open_stream(title, lines, Instant::now());
            }
            Effect::Detach => {
                self.follow = None;
                self.app.leave_attach();
            }
            Effect::Exit => return true,
        }
        false
    }
}
