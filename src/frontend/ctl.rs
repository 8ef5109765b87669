//! `taskmaster ctl`: the control-socket client. One command (`ctl status web`) is parsed here,
//! sent typed, and its typed reply rendered here (the command path of [`crate::command`]);
//! the exit code is an [`Exit`] (0 ok, 1 error, 2 socket unreachable, 3 status not all
//! RUNNING, 4 unknown name). `--json` prints the reply's data instead. Without a command it
//! runs the line shell against the remote taskmaster ([`RemoteBackend`]).
//! Every request uses a fresh connection, so a cancelled stream never disturbs the next one.
//! Runs on the main thread, plus a reader thread per stream.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::shell::{self, Backend, LiveStream, StreamEvent};
use crate::command::{self, Exit, Line, Outcome};
use crate::protocol::{self, ClientMsg, FrameError, ServerMsg};
use crate::supervisor::{Command, Fault, ProcessStatus, Reply, StatusEntry};

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

    fn send(&self, cmd: Command) -> Result<(UnixStream, BufReader<UnixStream>), CtlError> {
        let mut stream = UnixStream::connect(&self.path)
            .map_err(|e| CtlError::Unreachable(self.path.clone(), e))?;
        let reader = stream
            .try_clone()
            .map(BufReader::new)
            .map_err(|e| CtlError::Protocol(self.path.clone(), e.to_string()))?;
        protocol::write_msg(&mut stream, &ClientMsg::request(cmd))
            .map_err(|e| CtlError::Protocol(self.path.clone(), e.to_string()))?;
        Ok((stream, reader))
    }

    /// Sends one command and waits for its final reply.
    pub fn request(&self, cmd: Command) -> Result<ServerMsg, CtlError> {
        let (_stream, mut reader) = self.send(cmd)?;
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
    pub fn open_stream(&self, cmd: Command) -> Result<RemoteStream, CtlError> {
        let (stream, reader) = self.send(cmd)?;
        Ok(RemoteStream {
            rx: spawn_reader(reader),
            stream,
        })
    }

    /// The processes of the running taskmaster, from its typed `status` reply.
    pub fn processes(&self) -> Result<Vec<ProcessStatus>, CtlError> {
        let msg = self.request(Command::Status { targets: vec![] })?;
        match msg.answer() {
            Some(Ok(Reply::Status(entries))) => Ok(entries
                .into_iter()
                .filter_map(|e| match e {
                    StatusEntry::Process(p) => Some(p),
                    StatusEntry::Unknown { .. } => None,
                })
                .collect()),
            _ => Err(CtlError::Protocol(
                self.path.clone(),
                "unexpected reply to status".into(),
            )),
        }
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
            Ok(Ok(msg)) if msg.is_chunk() => StreamEvent::Data(msg.chunk_bytes()),
            Ok(Ok(msg)) => {
                let text = outcome_of(&msg).text;
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

/// Step 3 on the client: the text rendered from the typed answer, as the local shell would;
/// the server's own text when the reply is of a kind this client does not know.
fn outcome_of(msg: &ServerMsg) -> Outcome {
    match msg.answer() {
        Some(answer) => command::render(&answer),
        None => Outcome {
            text: msg.text().to_string(),
            code: if msg.ok { msg.code } else { msg.code.max(1) },
            quit: msg.quit,
        },
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

    fn failed(&mut self, e: CtlError) -> Outcome {
        if let CtlError::Unreachable(..) = e {
            self.gone = true;
        }
        Outcome::error(format!("Error: {e}"))
    }
}

impl Backend for RemoteBackend {
    fn run(&mut self, cmd: Command) -> Outcome {
        match self.client.request(cmd) {
            Ok(msg) => outcome_of(&msg),
            Err(e) => self.failed(e),
        }
    }

    fn open_stream(&mut self, cmd: Command) -> Result<Box<dyn LiveStream>, Outcome> {
        match self.client.open_stream(cmd) {
            Ok(s) => Ok(Box::new(s)),
            Err(e) => Err(self.failed(e)),
        }
    }

    fn names(&mut self) -> Vec<String> {
        self.client
            .processes()
            .map(|p| command::completion_names_of(&p))
            .unwrap_or_default()
    }

    fn is_local(&self) -> bool {
        false
    }

    fn is_gone(&mut self) -> bool {
        self.gone
    }
}

/// The socket `ctl` talks to: `-s`, else the `socket` of the config (`-c` or the lookup),
/// else the default. `Err` when a config given with `-c` cannot be read (a bad argument).
pub fn socket_path(socket: Option<PathBuf>, config: Option<PathBuf>) -> Result<PathBuf, String> {
    if let Some(s) = socket {
        return Ok(s);
    }
    let path = match crate::config::find(config.as_deref()) {
        Ok(p) => p,
        Err(_) if config.is_none() => return Ok(PathBuf::from(crate::config::DEFAULT_SOCKET)),
        Err(e) => return Err(e.to_string()),
    };
    let loaded = crate::config::load(&path).map_err(|e| e.to_string())?;
    loaded.socket.ok_or_else(|| {
        format!(
            "the control socket is disabled in {} (socket = false)",
            path.display()
        )
    })
}

/// How `ctl` prints replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// The text supervisorctl would print.
    #[default]
    Text,
    /// The reply's structured `data` as JSON (`ctl --json`).
    Json,
}

/// Runs `ctl` with the words after the options; returns the exit code.
pub fn run(socket: &Path, words: &[String], format: Format) -> Exit {
    let client = Client::new(socket);
    if words.is_empty() {
        // Say early that nobody answers, rather than at the first command.
        if let Err(e) = UnixStream::connect(socket) {
            print_err(&CtlError::Unreachable(socket.to_path_buf(), e).to_string());
            return Exit::Unreachable;
        }
        let mut backend = RemoteBackend::new(client);
        return match shell::run(&mut backend) {
            Ok(exit) => exit,
            Err(e) => {
                print_err(&format!("taskmaster ctl: {e}"));
                Exit::Error
            }
        };
    }
    // `ctl status --help`: the command's help, here, rather than a process named `--help`.
    if let Some((first, rest)) = words.split_first()
        && rest.iter().any(|w| w == "--help" || w == "-h")
        && let Some(text) = command::help(Some(first))
    {
        print_text(&text);
        return Exit::Ok;
    }
    let cmd = match command::parse_args(words) {
        Ok(Line::Command(cmd)) => cmd,
        Ok(Line::Quit | Line::Empty) => return Exit::Ok,
        Err(fault) => {
            print_text(&command::render(&Err(fault)).text);
            return Exit::Error;
        }
    };
    if cmd.is_streaming() {
        return run_stream(&client, cmd);
    }
    // Help is the client's own, as supervisorctl's: it works with no taskmaster running.
    if let (Command::Help { topic }, Format::Text) = (&cmd, format) {
        let answer = command::help(topic.as_deref())
            .map(Reply::Text)
            .ok_or_else(|| Fault::Usage(format!("no help on {}", topic.as_deref().unwrap_or(""))));
        let outcome = command::render(&answer);
        print_text(&outcome.text);
        return outcome.exit();
    }
    match client.request(cmd) {
        Ok(msg) => print_reply(&msg, format),
        Err(e) => {
            print_err(&e.to_string());
            match e {
                CtlError::Unreachable(..) => Exit::Unreachable,
                CtlError::Protocol(..) => Exit::Error,
            }
        }
    }
}

/// Prints a final reply as text or as its JSON data; returns its exit code.
fn print_reply(msg: &ServerMsg, format: Format) -> Exit {
    let outcome = outcome_of(msg);
    let exit = outcome.exit();
    match format {
        Format::Json => {
            let structured = msg.answer().is_some_and(|a| a.is_ok_and(|r| r.has_data()));
            let Some(data) = msg.data.as_ref().filter(|_| structured) else {
                let why = if msg.ok {
                    "this command has no data to print as JSON".to_string()
                } else {
                    outcome.text
                };
                print_err(&why);
                return exit.max(Exit::Error);
            };
            let text = serde_json::to_string_pretty(data).unwrap_or_default();
            print_text(&text);
        }
        Format::Text => match msg.answer() {
            // Output is bytes: written as they are, with a final newline like the shell's.
            Some(Ok(Reply::Output(bytes))) => print_bytes(&bytes),
            _ => print_text(&outcome.text),
        },
    }
    exit
}

/// Prints a reply; a closed stdout (`ctl status | head -1`) is not an error worth a panic.
fn print_text(text: &str) {
    if !text.is_empty() {
        let mut out = io::stdout().lock();
        let _ = writeln!(out, "{text}").and_then(|_| out.flush());
    }
}

/// An error line on stderr. `eprintln!` would panic when stderr is gone (the terminal of
/// `ctl attach` closed): then nobody can read the message anyway.
fn print_err(text: &str) {
    let _ = writeln!(io::stderr().lock(), "{text}");
}

fn print_bytes(bytes: &[u8]) {
    let mut out = io::stdout().lock();
    let _ = out.write_all(bytes);
    if !bytes.is_empty() && !bytes.ends_with(b"\n") {
        let _ = out.write_all(b"\n");
    }
    let _ = out.flush();
}

/// `ctl tail -f NAME` / `ctl attach NAME`: print the stream until it ends or Ctrl-C kills ctl;
/// for attach, lines of stdin go to the process (EOF of stdin detaches).
fn run_stream(client: &Client, cmd: Command) -> Exit {
    let attach = matches!(cmd, Command::Attach { .. });
    let mut raw = false;
    if let Command::Attach {
        target: crate::supervisor::Target::Process(name),
    } = &cmd
    {
        match attachable(client, name) {
            Ok(pty) => {
                use std::io::IsTerminal;
                raw = pty && io::stdin().is_terminal() && io::stdout().is_terminal();
            }
            Err(exit) => return exit,
        }
    }
    let mut stream = match client.open_stream(cmd) {
        Ok(s) => s,
        Err(e) => {
            print_err(&e.to_string());
            return match e {
                CtlError::Unreachable(..) => Exit::Unreachable,
                CtlError::Protocol(..) => Exit::Error,
            };
        }
    };
    if raw {
        return run_raw(stream);
    }
    let stdin_rx = attach.then(stdin_lines);
    let mut out = io::stdout();
    loop {
        match stream.rx.recv_timeout(Duration::from_millis(50)) {
            Ok(Ok(msg)) if msg.is_chunk() => {
                // Whoever read our output is gone (`ctl tail -f web | head`): so are we.
                if out
                    .write_all(&msg.chunk_bytes())
                    .and_then(|_| out.flush())
                    .is_err()
                {
                    return Exit::Ok;
                }
            }
            Ok(Ok(msg)) => {
                let outcome = outcome_of(&msg);
                print_text(&outcome.text);
                return outcome.exit();
            }
            Ok(Err(e)) => {
                print_err(&format!("Error: {e}"));
                return Exit::Error;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Exit::Ok,
        }
        if let Some(rx) = &stdin_rx {
            match rx.try_recv() {
                Ok(line) => {
                    if stream.send_stdin(&format!("{line}\n")).is_err() {
                        return Exit::Error;
                    }
                }
                Err(crossbeam_channel::TryRecvError::Empty) => {}
                Err(crossbeam_channel::TryRecvError::Disconnected) => return Exit::Ok,
            }
        }
    }
}

/// Whether `name` can be attached to, and runs on a pty; a process that is not running (or
/// not known) is an error said here, with exit code 1: there would be nothing to attach to.
fn attachable(client: &Client, name: &str) -> Result<bool, Exit> {
    let procs = match client.processes() {
        Ok(p) => p,
        Err(e) => {
            print_err(&e.to_string());
            return Err(match e {
                CtlError::Unreachable(..) => Exit::Unreachable,
                CtlError::Protocol(..) => Exit::Error,
            });
        }
    };
    let Some(p) = procs.iter().find(|p| p.name == name) else {
        // A program's name stands for its processes: the server resolves it.
        return Ok(false);
    };
    if p.pid.is_none() {
        print_text(&format!(
            "{name}: ERROR (not running: {} {})",
            p.state, p.description
        ));
        return Err(Exit::Error);
    }
    Ok(p.pty)
}

/// `ctl attach` on a pty program from a terminal: raw, like `tmux attach` (see
/// [`super::attach_raw`]).
fn run_raw(stream: RemoteStream) -> Exit {
    use super::attach_raw::{self, Ended, Incoming, RawMode};
    let (socket, rx) = match stream.stream.try_clone() {
        Ok(s) => (s, stream.rx.clone()),
        Err(e) => {
            print_err(&format!("Error: {e}"));
            return Exit::Error;
        }
    };
    let (tx, incoming) = crossbeam_channel::bounded(64);
    let relay = std::thread::Builder::new()
        .name("taskmaster-ctl-relay".into())
        .spawn(move || {
            for msg in rx {
                let item = match msg {
                    Ok(m) if m.is_chunk() && m.stream.as_deref() == Some("error") => {
                        Incoming::Notice(String::from_utf8_lossy(&m.chunk_bytes()).trim().into())
                    }
                    Ok(m) if m.is_chunk() => Incoming::Bytes(m.chunk_bytes()),
                    Ok(m) => Incoming::End(outcome_of(&m).text),
                    Err(e) => Incoming::End(e),
                };
                if tx.send(item).is_err() {
                    return;
                }
            }
        });
    if let Err(e) = relay {
        print_err(&format!("Error: {e}"));
        return Exit::Error;
    }
    let mut wire = SocketWire(socket);
    let ended = match RawMode::enter() {
        Ok(raw) => {
            // A fresh screen: the backlog that follows redraws what the program showed.
            let _ = io::stdout().write_all(b"\x1b[H\x1b[2J");
            let ended = attach_raw::run(&mut wire, &incoming);
            drop(raw);
            ended
        }
        Err(e) => Err(e),
    };
    let _ = wire.0.shutdown(std::net::Shutdown::Both);
    drop(stream);
    match ended {
        Ok(Ended::Detached) => {
            print_text("\r\n[detached]");
            Exit::Ok
        }
        Ok(Ended::Stream(why)) => {
            print_text(&format!("\r\n[{}]", why.trim()));
            Exit::Ok
        }
        Ok(Ended::Signal(_)) => {
            print_text("\r\n[detached: signal]");
            Exit::Error
        }
        Err(e) => {
            print_err(&format!("Error: {e}"));
            Exit::Error
        }
    }
}

/// Raw attach over the control socket: input as base64 chunks, sizes as resize messages.
struct SocketWire(UnixStream);

impl super::attach_raw::Wire for SocketWire {
    fn send_input(&mut self, bytes: &[u8]) -> io::Result<()> {
        // Kept well under the server's line limit once in base64 and JSON.
        for piece in bytes.chunks(16 * 1024) {
            protocol::write_msg(&mut self.0, &ClientMsg::input(piece))?;
        }
        Ok(())
    }

    fn send_resize(&mut self, size: crate::spawn::TtySize) -> io::Result<()> {
        protocol::write_msg(&mut self.0, &ClientMsg::resize(size))
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
