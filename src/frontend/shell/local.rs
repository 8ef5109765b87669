//! The shell's backend for the supervisor running in this process.

use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, TryRecvError};

use super::{Backend, LiveStream, StreamEvent};
use crate::command::{self, Outcome};
use crate::supervisor::{Command, Follow, Handle, Reply, Update};

pub struct LocalBackend {
    handle: Handle,
    updates: Receiver<Update>,
    gone: bool,
}

impl LocalBackend {
    pub fn new(handle: Handle) -> LocalBackend {
        let updates = handle.subscribe();
        LocalBackend {
            handle,
            updates,
            gone: false,
        }
    }
}

impl Backend for LocalBackend {
    fn run(&mut self, cmd: Command) -> Outcome {
        command::run(&self.handle, cmd).1
    }

    fn open_stream(&mut self, cmd: Command) -> Result<Box<dyn LiveStream>, Outcome> {
        let follow = match self.handle.call(cmd) {
            Ok(Reply::Follow(f)) => f,
            other => return Err(command::render(&other)),
        };
        let mut backlog = follow.backlog.clone();
        backlog.reverse();
        Ok(Box::new(LocalStream {
            handle: self.handle.clone(),
            follow,
            backlog,
            decoders: Default::default(),
        }))
    }

    fn names(&mut self) -> Vec<String> {
        command::completion_names(&self.handle.snapshot())
    }

    fn is_local(&self) -> bool {
        true
    }

    fn is_gone(&mut self) -> bool {
        loop {
            match self.updates.try_recv() {
                Ok(Update::Gone) => self.gone = true,
                // Once the supervisor is gone the channel stays disconnected: stop asking.
                Err(TryRecvError::Disconnected) => {
                    self.gone = true;
                    return true;
                }
                Ok(_) => {}
                Err(TryRecvError::Empty) => return self.gone,
            }
        }
    }
}

struct LocalStream {
    handle: Handle,
    follow: Follow,
    /// Backlog still to hand out, newest first (popped from the end).
    backlog: Vec<crate::output::Chunk>,
    /// Holds a character cut at a chunk's end until the rest comes, per stream.
    decoders: crate::output::decode::StreamDecoders,
}

impl LiveStream for LocalStream {
    fn next(&mut self, timeout: Duration) -> StreamEvent {
        if let Some(chunk) = self.backlog.pop() {
            return StreamEvent::Data(self.decoders.feed_bytes(chunk.stream, &chunk.data));
        }
        match self.follow.rx.recv_timeout(timeout) {
            Ok(chunk) if self.follow.wants(&chunk) => {
                StreamEvent::Data(self.decoders.feed_bytes(chunk.stream, &chunk.data))
            }
            Ok(_) | Err(RecvTimeoutError::Timeout) => StreamEvent::Idle,
            Err(RecvTimeoutError::Disconnected) => StreamEvent::End(None),
        }
    }

    fn send_stdin(&mut self, text: &str) -> Result<(), String> {
        let cmd = Command::WriteStdin {
            name: self.follow.name.clone(),
            data: text.as_bytes().to_vec(),
        };
        match self.handle.call(cmd) {
            Ok(_) => Ok(()),
            Err(fault) => Err(fault.to_string()),
        }
    }
}
