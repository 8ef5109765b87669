//! The terminal's lifecycle: raw mode, alternate screen and mouse capture on entry; restored on
//! drop, and by a panic hook (which then calls the previous hook, so the message is seen).
//! Also the input thread: crossterm events read in a thread of their own and forwarded over a
//! channel, so the dashboard loop waits on one `select!`.

use std::io::{self, Stdout};
use std::panic::PanicHookInfo;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::frontend::tty;
use crossbeam_channel::Receiver;
use crossterm::event::{self, DisableMouseCapture, EnableMouseCapture, Event};
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

type Hook = dyn Fn(&PanicHookInfo<'_>) + Sync + Send + 'static;

/// Set by the panic hook: the screen was given back (a panic on any thread). The loop then
/// takes it again if the dashboard itself is still alive.
static RESTORED: AtomicBool = AtomicBool::new(false);

pub struct Term {
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
    prev_hook: Arc<Hook>,
}

impl Term {
    pub fn enter() -> io::Result<Term> {
        let prev_hook: Arc<Hook> = Arc::from(std::panic::take_hook());
        let chained = prev_hook.clone();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            RESTORED.store(true, Ordering::SeqCst);
            chained(info);
        }));
        RESTORED.store(false, Ordering::SeqCst);
        if let Err(e) = setup() {
            restore();
            return Err(e);
        }
        let terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
        Ok(Term {
            terminal,
            prev_hook,
        })
    }

    /// After a panic on another thread gave the screen back: take it again and repaint all.
    pub fn retake_if_lost(&mut self) -> io::Result<bool> {
        if !RESTORED.swap(false, Ordering::SeqCst) {
            return Ok(false);
        }
        setup()?;
        self.terminal.clear()?;
        Ok(true)
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        // Before `terminal` drops: on a hung-up terminal its drop would `eprintln!` a
        // failure to show the cursor, and that panics (see `tty::let_go_if_dead`).
        tty::let_go_if_dead();
        restore();
        // Setting a hook while unwinding aborts; the process is going down then anyway.
        if !std::thread::panicking() {
            let prev = self.prev_hook.clone();
            std::panic::set_hook(Box::new(move |info| prev(info)));
        }
    }
}

fn setup() -> io::Result<()> {
    enable_raw_mode()?;
    crossterm::execute!(io::stdout(), EnterAlternateScreen, EnableMouseCapture)
}

/// Best effort: each step is tried even when another failed.
fn restore() {
    let _ = disable_raw_mode();
    let mut out = io::stdout();
    let _ = crossterm::execute!(out, DisableMouseCapture);
    let _ = crossterm::execute!(out, LeaveAlternateScreen);
    let _ = crossterm::execute!(out, crossterm::cursor::Show);
}

/// The input thread. It stops within a poll interval once dropped; the channel disconnects
/// when the terminal cannot be read any more.
pub struct Input {
    pub rx: Receiver<Event>,
    stop: Arc<AtomicBool>,
}

impl Input {
    pub fn spawn() -> io::Result<Input> {
        let (tx, rx) = crossbeam_channel::bounded(256);
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("taskmaster-tui-input".into())
            .spawn(move || {
                // poll with a timeout, not a bare read, so the thread notices it should stop
                // and never eats a key typed after the dashboard left.
                while !flag.load(Ordering::SeqCst) {
                    // A hung-up terminal ends the thread: the dropped sender tells the
                    // dashboard its terminal is gone.
                    match tty::poll_event(Duration::from_millis(200)) {
                        Ok(false) => {}
                        Ok(true) => match event::read() {
                            Ok(ev) => {
                                if tx.send(ev).is_err() {
                                    break;
                                }
                            }
                            Err(_) => break,
                        },
                        Err(_) => break,
                    }
                }
            })?;
        Ok(Input { rx, stop })
    }
}

impl Drop for Input {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}
