//! The signal thread: signal-hook turns SIGCHLD (and, for the taskmaster binary, SIGHUP,
//! SIGTERM and SIGINT) into messages for the supervisor thread. Handlers do nothing else.

use std::thread::JoinHandle;

use crossbeam_channel::Sender;
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

pub struct SignalThread {
    handle: signal_hook::iterator::Handle,
    thread: Option<JoinHandle<()>>,
}

/// Starts forwarding signals as their numbers. `control` adds HUP/TERM/INT, which only the
/// binary wants (a test process keeps its own handling of those).
pub fn start(tx: Sender<i32>, control: bool) -> std::io::Result<SignalThread> {
    let mut wanted = vec![SIGCHLD];
    if control {
        wanted.extend([SIGHUP, SIGTERM, SIGINT]);
    }
    let mut signals = Signals::new(&wanted)?;
    let handle = signals.handle();
    let thread = std::thread::Builder::new()
        .name("taskmaster-signals".to_string())
        .spawn(move || {
            for sig in signals.forever() {
                if tx.send(sig).is_err() {
                    break;
                }
            }
        })?;
    Ok(SignalThread {
        handle,
        thread: Some(thread),
    })
}

impl Drop for SignalThread {
    fn drop(&mut self) {
        self.handle.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
