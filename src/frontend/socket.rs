//! The control-socket server: a UNIX stream socket (mode 0600) speaking [`crate::protocol`].
//!
//! Threads: `taskmaster-socket` accepts; each client gets a `taskmaster-client` thread (at most
//! [`MAX_CLIENTS`] at once, plus [`RESERVED_CLIENTS`] kept for one quick request) that reads
//! requests, takes each through the command path of [`crate::command`] (parse the words, or
//! take the typed request; call the shared [`Handle`]; render) and writes the reply with its
//! typed data. A client that sends garbage gets an error reply; one that sends an over-long
//! line, vanishes, or sends no complete request for [`IDLE_TIMEOUT`] is dropped; taskmaster
//! carries on either way. `tail -f` and `attach` stream until the client closes the
//! connection.

use std::fs;
use std::io::{self, BufReader};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, select};

use crate::command::{self, Line};
use crate::output::decode::StreamDecoders;
use crate::protocol::{self, ClientMsg, FrameError, ServerMsg};
use crate::supervisor::{Answer, Command, Fault, Follow, Handle, Reply};

/// Clients served at once; more are told so and dropped.
pub const MAX_CLIENTS: usize = 128;
/// Kept free beyond [`MAX_CLIENTS`] so `ctl` always gets in: for one request, not a stream.
pub const RESERVED_CLIENTS: usize = 1;
/// A client that has not sent a complete request for this long is dropped (streams excepted).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(5);
/// The same for the reserved slot.
const RESERVED_TIMEOUT: Duration = Duration::from_secs(1);

/// Why the server could not start.
#[derive(Debug)]
pub enum SocketError {
    /// Something answers on the path already.
    InUse(PathBuf),
    /// The path is a symlink or some other non-socket file: never replaced.
    NotASocket(PathBuf),
    Io(PathBuf, io::Error),
}

impl std::fmt::Display for SocketError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SocketError::InUse(p) => write!(
                f,
                "socket {} is in use by another taskmaster; stop it or pass --socket",
                p.display()
            ),
            SocketError::NotASocket(p) => write!(
                f,
                "{} exists and is not a socket (a symlink or a file); remove it or pass --socket",
                p.display()
            ),
            SocketError::Io(p, e) => write!(f, "cannot listen on socket {}: {e}", p.display()),
        }
    }
}

impl std::error::Error for SocketError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SocketError::Io(_, e) => Some(e),
            _ => None,
        }
    }
}

/// Binds the socket so that nobody else can ever connect to it: it is created inside a fresh
/// 0700 directory, made 0600 there, and only then renamed to `path`. (Changing the umask
/// instead would be process-wide and race with children being spawned.)
fn bind_private(path: &Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::DirBuilderExt;
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let private = parent.join(format!(".{name}.{}.tmp", std::process::id()));
    let _ = fs::remove_dir_all(&private);
    fs::DirBuilder::new().mode(0o700).create(&private)?;
    let staged = private.join("s");
    let result = UnixListener::bind(&staged).and_then(|listener| {
        fs::set_permissions(&staged, fs::Permissions::from_mode(0o600))?;
        fs::rename(&staged, path)?;
        Ok(listener)
    });
    let _ = fs::remove_dir_all(&private);
    result
}

/// The running server. Dropping it stops accepting and removes the socket file.
pub struct SocketServer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    busy: Arc<Busy>,
    thread: Option<JoinHandle<()>>,
}

impl SocketServer {
    /// Binds `path` (after checking what is there) and starts the accept thread.
    pub fn start(path: &Path, handle: Handle) -> Result<SocketServer, SocketError> {
        prepare_path(path)?;
        let io_err = |e| SocketError::Io(path.to_path_buf(), e);
        let listener = bind_private(path).map_err(io_err)?;
        let stop = Arc::new(AtomicBool::new(false));
        let busy = Arc::new(Busy::default());
        let thread = std::thread::Builder::new()
            .name("taskmaster-socket".into())
            .spawn({
                let stop = stop.clone();
                let busy = busy.clone();
                move || accept_loop(listener, handle, stop, busy)
            })
            .map_err(io_err)?;
        log::info!("control socket listening on {}", path.display());
        Ok(SocketServer {
            path: path.to_path_buf(),
            stop,
            busy,
            thread: Some(thread),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SocketServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept call so the thread sees the flag. If the file was removed behind our
        // back nothing can wake it: leave the thread, rather than hang the exit.
        if UnixStream::connect(&self.path).is_ok()
            && let Some(t) = self.thread.take()
        {
            let _ = t.join();
        }
        // A `shutdown` request is answered after the supervisor ended: let its reply out.
        self.busy.wait_idle(Duration::from_secs(2));
        let _ = fs::remove_file(&self.path);
    }
}

/// Requests being executed, so exit can wait for their replies.
#[derive(Default)]
struct Busy {
    count: Mutex<usize>,
    idle: Condvar,
}

impl Busy {
    fn enter(self: &Arc<Self>) -> BusyToken {
        *self.count.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        BusyToken(self.clone())
    }

    fn wait_idle(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut count = self.count.lock().unwrap_or_else(|p| p.into_inner());
        while *count > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            count = match self.idle.wait_timeout(count, left) {
                Ok((c, _)) => c,
                Err(p) => p.into_inner().0,
            };
        }
    }
}

struct BusyToken(Arc<Busy>);

impl Drop for BusyToken {
    fn drop(&mut self) {
        let mut count = self.0.count.lock().unwrap_or_else(|p| p.into_inner());
        *count = count.saturating_sub(1);
        self.0.idle.notify_all();
    }
}

/// Refuses symlinks, files and live sockets at `path`; removes a stale socket.
pub fn prepare_path(path: &Path) -> Result<(), SocketError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(SocketError::Io(path.to_path_buf(), e)),
    };
    if !meta.file_type().is_socket() {
        return Err(SocketError::NotASocket(path.to_path_buf()));
    }
    if UnixStream::connect(path).is_ok() {
        return Err(SocketError::InUse(path.to_path_buf()));
    }
    fs::remove_file(path).map_err(|e| SocketError::Io(path.to_path_buf(), e))
}

fn accept_loop(listener: UnixListener, handle: Handle, stop: Arc<AtomicBool>, busy: Arc<Busy>) {
    let active = Arc::new(AtomicUsize::new(0));
    let reserved = Arc::new(AtomicUsize::new(0));
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let mut stream = match conn {
            Ok(s) => s,
            Err(e) => {
                log::warn!("control socket: accept failed: {e}");
                // EMFILE and friends: give the system a moment instead of spinning.
                std::thread::sleep(std::time::Duration::from_millis(50));
                continue;
            }
        };
        let slot = if active.load(Ordering::SeqCst) < MAX_CLIENTS {
            ClientSlot::take(&active, false)
        } else if reserved.load(Ordering::SeqCst) < RESERVED_CLIENTS {
            ClientSlot::take(&reserved, true)
        } else {
            let _ = protocol::write_msg(&mut stream, &ServerMsg::error("too many clients"));
            continue;
        };
        let handle = handle.clone();
        let busy = busy.clone();
        let spawned = std::thread::Builder::new()
            .name("taskmaster-client".into())
            .spawn(move || {
                let reserved = slot.reserved;
                let _slot = slot;
                serve_client(stream, &handle, &busy, reserved);
            });
        if let Err(e) = spawned {
            log::warn!("control socket: cannot start a client thread: {e}");
        }
    }
}

/// A client's place among [`MAX_CLIENTS`] (or the reserved ones); freed when its thread ends,
/// however it ends.
struct ClientSlot {
    count: Arc<AtomicUsize>,
    reserved: bool,
}

impl ClientSlot {
    fn take(count: &Arc<AtomicUsize>, reserved: bool) -> ClientSlot {
        count.fetch_add(1, Ordering::SeqCst);
        ClientSlot {
            count: count.clone(),
            reserved,
        }
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::SeqCst);
    }
}

fn serve_client(stream: UnixStream, handle: &Handle, busy: &Arc<Busy>, reserved: bool) {
    // A client must send each request within IDLE_TIMEOUT (the reserved slot: much sooner),
    // so idle connections cannot hold every slot; streams lift the limit below.
    let idle = if reserved {
        RESERVED_TIMEOUT
    } else {
        IDLE_TIMEOUT
    };
    if stream.set_read_timeout(Some(idle)).is_err() {
        return;
    }
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    loop {
        let msg = match protocol::read_msg::<ClientMsg>(&mut reader) {
            Ok(Some(m)) => m,
            Ok(None) | Err(FrameError::Io(_)) => return,
            Err(e @ FrameError::TooLong) => {
                let _ = protocol::write_msg(&mut writer, &ServerMsg::error(e.to_string()));
                let _ = writer.shutdown(std::net::Shutdown::Both);
                return;
            }
            Err(e @ FrameError::Invalid(_)) => {
                if protocol::write_msg(&mut writer, &ServerMsg::error(e.to_string())).is_err() {
                    return;
                }
                continue;
            }
        };
        let line = match (msg.request, msg.cmd) {
            (Some(cmd), _) => Ok(Line::Command(cmd)),
            (None, Some(cmd)) => {
                let mut words = vec![cmd];
                words.extend(msg.args);
                command::parse_words(&words)
            }
            (None, None) => Err(Fault::Usage(
                r#"expected {"cmd": "...", "args": [...]} or {"request": {...}}"#.to_string(),
            )),
        };
        let cmd = match line {
            Ok(Line::Command(cmd)) => cmd,
            // Nothing to run: answered as a blank line is in the shell.
            Ok(Line::Empty | Line::Quit) => {
                if write_answer(&mut writer, &Ok(Reply::Done)).is_err() {
                    return;
                }
                continue;
            }
            Err(fault) => {
                if write_answer(&mut writer, &Err(fault)).is_err() {
                    return;
                }
                continue;
            }
        };
        if reserved && cmd.is_streaming() {
            let _ = write_answer(&mut writer, &Err(Fault::Other("too many clients".into())));
            return;
        }
        let attach = matches!(cmd, Command::Attach { .. });
        let token = busy.enter();
        let answer = handle.call(cmd);
        drop(token);
        if let Ok(Reply::Follow(follow)) = answer {
            if writer.set_read_timeout(None).is_err() {
                return;
            }
            stream_to_client(reader, writer, handle, follow, attach);
            return;
        }
        if write_answer(&mut writer, &answer).is_err() {
            return;
        }
    }
}

/// Renders an answer (steps 3 of the command path) and writes it with its typed data.
fn write_answer(writer: &mut UnixStream, answer: &Answer) -> io::Result<()> {
    let outcome = command::render(answer);
    protocol::write_msg(writer, &ServerMsg::reply(answer, &outcome))
}

/// Runs `tail -f` / `attach` for a client until it closes the connection (or the process is
/// removed). A reader thread turns the client's side into messages so both can be awaited.
fn stream_to_client(
    reader: BufReader<UnixStream>,
    mut writer: UnixStream,
    handle: &Handle,
    follow: Follow,
    attach: bool,
) {
    let client_rx = spawn_client_reader(reader);
    let ended = pump(&follow, &client_rx, &mut writer, handle, attach);
    if ended {
        let _ = write_answer(&mut writer, &Ok(Reply::Done));
    }
    // Wakes the reader thread, which holds a clone of this socket.
    let _ = writer.shutdown(std::net::Shutdown::Both);
}

/// Forwards output until the client leaves (false) or the output ends (true).
fn pump(
    follow: &Follow,
    client_rx: &Receiver<ClientMsg>,
    writer: &mut UnixStream,
    handle: &Handle,
    attach: bool,
) -> bool {
    // Chunks go out ending on whole characters and escape sequences, per stream: a client
    // showing both streams never gets half a character with the other stream's bytes after it.
    let mut decoders = StreamDecoders::default();
    for chunk in &follow.backlog {
        if write_chunk(writer, chunk, &mut decoders).is_err() {
            return false;
        }
    }
    loop {
        select! {
            recv(follow.rx) -> chunk => match chunk {
                Ok(chunk) if follow.wants(&chunk) => {
                    if write_chunk(writer, &chunk, &mut decoders).is_err() {
                        return false;
                    }
                }
                Ok(_) => {}
                Err(_) => return true,
            },
            recv(client_rx) -> msg => match msg {
                Ok(ClientMsg { stdin: Some(text), .. }) if attach => {
                    let cmd = Command::WriteStdin {
                        name: follow.name.clone(),
                        data: text.into_bytes(),
                    };
                    if let Err(fault) = handle.call(cmd) {
                        let text = command::render(&Err(fault)).text;
                        let reply = ServerMsg::chunk("error", text.as_bytes());
                        if protocol::write_msg(writer, &reply).is_err() {
                            return false;
                        }
                    }
                }
                Ok(_) => {}
                Err(_) => return false,
            },
        }
    }
}

fn write_chunk(
    writer: &mut UnixStream,
    chunk: &crate::output::Chunk,
    decoders: &mut StreamDecoders,
) -> io::Result<()> {
    let data = decoders.feed_bytes(chunk.stream, &chunk.data);
    if data.is_empty() {
        return Ok(());
    }
    let msg = ServerMsg::chunk(command::stream_name(chunk.stream), &data);
    protocol::write_msg(writer, &msg)
}

/// Client messages during a stream; the channel closes when the client does.
fn spawn_client_reader(mut reader: BufReader<UnixStream>) -> Receiver<ClientMsg> {
    let (tx, rx) = crossbeam_channel::bounded(16);
    let spawned = std::thread::Builder::new()
        .name("taskmaster-client-rd".into())
        .spawn(move || {
            loop {
                match protocol::read_msg::<ClientMsg>(&mut reader) {
                    Ok(Some(msg)) => {
                        if tx.send(msg).is_err() {
                            return;
                        }
                    }
                    Ok(None) | Err(FrameError::Io(_)) | Err(FrameError::TooLong) => return,
                    Err(FrameError::Invalid(_)) => {}
                }
            }
        });
    if spawned.is_err() {
        // Without a reader the stream could never notice the client leaving: end it now.
        let (_tx, rx) = crossbeam_channel::bounded(0);
        return rx;
    }
    rx
}
