//! `taskmaster ctl`: the control-socket client. One command (`ctl status web`) prints the reply
//! and gives the exit code (0 ok, 1 error, 2 socket unreachable, 3 status not all RUNNING);
//! without a command it runs the line shell against the remote taskmaster ([`RemoteBackend`]).
//! Every request uses a fresh connection, so a cancelled stream never disturbs the next one.
//! Runs on the main thread, plus a reader thread per stream.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::shell::{self, Backend, LiveStream, StreamEvent};
use crate::command::{self, Outcome, Request};
use crate::protocol::{self, ClientMsg, FrameError, ServerMsg};

/// Exit code when the socket cannot be reached.
pub const EXIT_UNREACHABLE: i32 = 2;

/// Why a request got no reply.
#[derive(Debug)]
pub enum CtlError {
    Unreachable(PathBuf, io::Error),
    /// The connection broke or the reply made no sense.
    Protocol(PathBuf, String),
}

impl std::fmt::Display for CtlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CtlError::Unreachable(p, e) => write!(
                f,
                "cannot reach taskmaster at {}: {e} (is it running? pass -s PATH)",
                p.display()
            ),
            CtlError::Protocol(p, why) => write!(f, "taskmaster at {}: {why}", p.display()),
        }
    }
}

impl std::error::Error for CtlError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CtlError::Unreachable(_, e) => Some(e),
            CtlError::Protocol(..) => None,
        }
    }
}

/// A connection factory for one socket path.
#[derive(Debug, Clone)]
pub struct Client {
    path: PathBuf,
}

impl Client {
    pub fn new(path: &Path) -> Client {
        Client {
            path: path.to_path_buf(),
        }
    }

    fn send(&self, words: &[String]) -> Result<(UnixStream, BufReader<UnixStream>), CtlError> {
        let mut stream = UnixStream::connect(&self.path)
            .map_err(|e| CtlError::Unreachable(self.path.clone(), e))?;
        let reader = stream
            .try_clone()
            .map(BufReader::new)
            .map_err(|e| CtlError::Protocol(self.path.clone(), e.to_string()))?;
        let msg = match words.split_first() {
            Some((cmd, args)) => ClientMsg::command(cmd, args),
            None => ClientMsg::command("", &[]),
        };
        protocol::write_msg(&mut stream, &msg)
            .map_err(|e| CtlError::Protocol(self.path.clone(), e.to_string()))?;
        Ok((stream, reader))
    }

    /// Sends one command and waits for its final reply.
    pub fn request(&self, words: &[String]) -> Result<ServerMsg, CtlError> {
        let (_stream, mut reader) = self.send(words)?;
        match protocol::read_msg_capped::<ServerMsg>(&mut reader, protocol::MAX_REPLY_LINE) {
            Ok(Some(msg)) => Ok(msg),
            Ok(None) => Err(CtlError::Protocol(
                self.path.clone(),
                "connection closed before a reply".into(),
            )),
            Err(e) => Err(CtlError::Protocol(self.path.clone(), e.to_string())),
        }
    }

    /// Starts a streaming command; the first message must be a chunk or the final reply.
    pub fn open_stream(&self, words: &[String]) -> Result<RemoteStream, CtlError> {
        let (stream, reader) = self.send(words)?;
        Ok(RemoteStream {
            rx: spawn_reader(reader),
            stream,
        })
    }
}

fn spawn_reader(mut reader: BufReader<UnixStream>) -> Receiver<Result<ServerMsg, String>> {
    let (tx, rx) = crossbeam_channel::bounded(64);
    let _ = std::thread::Builder::new()
        .name("taskmaster-ctl-rd".into())
        .spawn(move || {
            loop {
                let msg = match protocol::read_msg_capped::<ServerMsg>(
                    &mut reader,
                    protocol::MAX_REPLY_LINE,
                ) {
                    Ok(Some(m)) => Ok(m),
                    Ok(None) | Err(FrameError::Io(_)) => return,
                    Err(e) => Err(e.to_string()),
                };
                if tx.send(msg).is_err() {
                    return;
                }
            }
        });
    rx
}

/// A stream from the server; dropping it closes the connection, which ends it server-side.
pub struct RemoteStream {
    stream: UnixStream,
    rx: Receiver<Result<ServerMsg, String>>,
}

impl LiveStream for RemoteStream {
    fn next(&mut self, timeout: Duration) -> StreamEvent {
        match self.rx.recv_timeout(timeout) {
            Ok(Ok(msg)) if msg.is_chunk() => StreamEvent::Data(msg.data.unwrap_or_default()),
            Ok(Ok(msg)) => {
                let text = msg.text().to_string();
                StreamEvent::End((!text.is_empty()).then_some(text))
            }
            Ok(Err(e)) => StreamEvent::End(Some(format!("Error: {e}"))),
            Err(RecvTimeoutError::Timeout) => StreamEvent::Idle,
            Err(RecvTimeoutError::Disconnected) => StreamEvent::End(None),
        }
    }

    fn send_stdin(&mut self, text: &str) -> Result<(), String> {
        protocol::write_msg(&mut self.stream, &ClientMsg::stdin(text)).map_err(|e| e.to_string())
    }
}

impl Drop for RemoteStream {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

fn outcome_of(msg: &ServerMsg) -> Outcome {
    Outcome {
        text: msg.text().to_string(),
        code: if msg.ok { msg.code } else { msg.code.max(1) },
        quit: msg.quit,
    }
}

/// The shell's backend for a taskmaster reached over its socket.
pub struct RemoteBackend {
    client: Client,
    gone: bool,
}

impl RemoteBackend {
    pub fn new(client: Client) -> RemoteBackend {
        RemoteBackend {
            client,
            gone: false,
        }
    }
}

/// Words of a line, split as the local shell splits them; its error when they cannot be.
fn split(line: &str) -> Result<Vec<String>, Outcome> {
    shell_words::split(line).map_err(|_| {
        let e = command::CommandError::Usage("unbalanced quotes".to_string());
        Outcome::error(e.to_string())
    })
}

impl Backend for RemoteBackend {
    fn run(&mut self, line: &str) -> Outcome {
        let words = match split(line) {
            Ok(w) => w,
            Err(outcome) => return outcome,
        };
        match self.client.request(&words) {
            Ok(msg) => outcome_of(&msg),
            Err(e) => {
                if let CtlError::Unreachable(..) = e {
                    self.gone = true;
                }
                Outcome::error(format!("Error: {e}"))
            }
        }
    }

    fn open_stream(&mut self, _req: &Request, line: &str) -> Result<Box<dyn LiveStream>, Outcome> {
        match self.client.open_stream(&split(line)?) {
            Ok(s) => Ok(Box::new(s)),
            Err(e) => Err(Outcome::error(format!("Error: {e}"))),
        }
    }

    fn names(&mut self) -> Vec<String> {
        let Ok(msg) = self.client.request(&["status".to_string()]) else {
            return Vec::new();
        };
        let mut names = vec!["all".to_string()];
        for name in msg
            .text()
            .lines()
            .filter_map(|l| l.split_whitespace().next())
        {
            if let Some((program, _)) = name.split_once(':') {
                let group = format!("{program}:*");
                if !names.contains(&group) {
                    names.push(program.to_string());
                    names.push(group);
                }
            }
            names.push(name.to_string());
        }
        names
    }

    fn is_local(&self) -> bool {
        false
    }

    fn is_gone(&mut self) -> bool {
        self.gone
    }
}

/// Runs `ctl` with the words after the options; returns the exit code.
pub fn run(socket: &Path, words: &[String]) -> i32 {
    let client = Client::new(socket);
    if words.is_empty() {
        // Say early that nobody answers, rather than at the first command.
        if let Err(e) = UnixStream::connect(socket) {
            eprintln!("{}", CtlError::Unreachable(socket.to_path_buf(), e));
            return EXIT_UNREACHABLE;
        }
        let mut backend = RemoteBackend::new(client);
        return match shell::run(&mut backend) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("taskmaster ctl: {e}");
                1
            }
        };
    }
    match command::parse_words(words) {
        Ok(Request::Quit) => 0,
        Ok(req) if req.is_streaming() => run_stream(&client, words, &req),
        _ => match client.request(words) {
            Ok(msg) => {
                let outcome = outcome_of(&msg);
                print_text(&outcome.text);
                outcome.code
            }
            Err(e) => {
                eprintln!("{e}");
                match e {
                    CtlError::Unreachable(..) => EXIT_UNREACHABLE,
                    CtlError::Protocol(..) => 1,
                }
            }
        },
    }
}

/// Prints a reply; a closed stdout (`ctl status | head -1`) is not an error worth a panic.
fn print_text(text: &str) {
    if !text.is_empty() {
        let mut out = io::stdout().lock();
        let _ = writeln!(out, "{text}").and_then(|_| out.flush());
    }
}

/// `ctl tail -f NAME` / `ctl attach NAME`: print the stream until it ends or Ctrl-C kills ctl;
/// for attach, lines of stdin go to the process (EOF of stdin detaches).
fn run_stream(client: &Client, words: &[String], req: &Request) -> i32 {
    let mut stream = match client.open_stream(words) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return match e {
                CtlError::Unreachable(..) => EXIT_UNREACHABLE,
                CtlError::Protocol(..) => 1,
            };
        }
    };
    let stdin_rx = matches!(req, Request::Attach(_)).then(stdin_lines);
    let mut out = io::stdout();
    loop {
        match stream.rx.recv_timeout(Duration::from_millis(50)) {
            Ok(Ok(msg)) if msg.is_chunk() => {
                let data = msg.data.unwrap_or_default();
                // Whoever read our output is gone (`ctl tail -f web | head`): so are we.
                if out
                    .write_all(data.as_bytes())
                    .and_then(|_| out.flush())
                    .is_err()
                {
                    return 0;
                }
            }
            Ok(Ok(msg)) => {
                let outcome = outcome_of(&msg);
                print_text(&outcome.text);
                return outcome.code;
            }
            Ok(Err(e)) => {
                eprintln!("Error: {e}");
                return 1;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return 0,
        }
        if let Some(rx) = &stdin_rx {
            match rx.try_recv() {
                Ok(line) => {
                    if stream.send_stdin(&format!("{line}\n")).is_err() {
                        return 1;
                    }
                }
                Err(crossbeam_channel::TryRecvError::Empty) => {}
                Err(crossbeam_channel::TryRecvError::Disconnected) => return 0,
            }
        }
    }
}

fn stdin_lines() -> Receiver<String> {
    let (tx, rx) = crossbeam_channel::unbounded();
    let _ = std::thread::Builder::new()
        .name("taskmaster-ctl-stdin".into())
        .spawn(move || {
            for line in io::stdin().lock().lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a line with an unbalanced quote was split on whitespace and sent; the local
    /// shell reports `unbalanced quotes`, and so does the remote one now, without sending.
    #[test]
    fn remote_backend_refuses_unbalanced_quotes_like_the_local_one() {
        let mut backend = RemoteBackend::new(Client::new(Path::new("/nonexistent/tm.sock")));
        let outcome = backend.run("stop 'web");
        assert_eq!(outcome.code, 1, "{outcome:?}");
        assert_eq!(outcome.text, "Error: unbalanced quotes");
        assert!(!backend.is_gone(), "nothing was sent to the socket");
    }
}
