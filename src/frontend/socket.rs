//! The control-socket server: a UNIX stream socket (mode 0600) speaking [`crate::protocol`].
//!
//! Threads: `taskmaster-socket` accepts; each client gets a `taskmaster-client` thread (at most
//! [`MAX_CLIENTS`] at once) that reads requests, runs them through [`crate::command`] on the
//! shared [`Handle`] and writes replies. A client that sends garbage gets an error reply; one
//! that sends an over-long line or vanishes is dropped; taskmaster carries on either way.
//! `tail -f` and `attach` stream until the client closes the connection.

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

use crate::command::{self, Follow, Request};
use crate::protocol::{self, ClientMsg, FrameError, ServerMsg};
use crate::supervisor::Handle;

/// Clients served at once; more are told so and dropped.
pub const MAX_CLIENTS: usize = 128;

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
        let listener = UnixListener::bind(path).map_err(io_err)?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(io_err)?;
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
        if active.load(Ordering::SeqCst) >= MAX_CLIENTS {
            let _ = protocol::write_msg(&mut stream, &ServerMsg::error("too many clients"));
            continue;
        }
        active.fetch_add(1, Ordering::SeqCst);
        let guard = ClientSlot(active.clone());
        let handle = handle.clone();
        let busy = busy.clone();
        let spawned = std::thread::Builder::new()
            .name("taskmaster-client".into())
            .spawn(move || {
                let _slot = guard;
                serve_client(stream, &handle, &busy);
            });
        if let Err(e) = spawned {
            log::warn!("control socket: cannot start a client thread: {e}");
        }
    }
}

/// Frees a client slot when its thread ends, however it ends.
struct ClientSlot(Arc<AtomicUsize>);

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn serve_client(stream: UnixStream, handle: &Handle, busy: &Arc<Busy>) {
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
        let Some(cmd) = msg.cmd else {
            let reply = ServerMsg::error(r#"expected {"cmd": "...", "args": [...]}"#);
            if protocol::write_msg(&mut writer, &reply).is_err() {
                return;
            }
            continue;
        };
        let mut words = vec![cmd];
        words.extend(msg.args);
        let req = match command::parse_words(&words) {
            Ok(req) => req,
            Err(e) => {
                if protocol::write_msg(&mut writer, &ServerMsg::error(e.to_string())).is_err() {
                    return;
                }
                continue;
            }
        };
        if req.is_streaming() {
            stream_to_client(reader, writer, handle, &req);
            return;
        }
        let _token = busy.enter();
        let reply = ServerMsg::from_outcome(command::execute_request(handle, &req));
        if protocol::write_msg(&mut writer, &reply).is_err() {
            return;
        }
    }
}

/// Runs `tail -f` / `attach` for a client until it closes the connection (or the process is
/// removed). A reader thread turns the client's side into messages so both can be awaited.
fn stream_to_client(
    reader: BufReader<UnixStream>,
    mut writer: UnixStream,
    handle: &Handle,
    req: &Request,
) {
    let (follow, attach) = match req {
        Request::Tail {
            name,
            stream,
            bytes,
            ..
        } => (command::open_follow(handle, name, *stream, *bytes), false),
        Request::Attach(name) => (
            command::open_follow(handle, name, None, command::TAIL_BYTES),
            true,
        ),
        _ => return,
    };
    let follow = match follow {
        Ok(f) => f,
        Err(outcome) => {
            let _ = protocol::write_msg(&mut writer, &ServerMsg::from_outcome(outcome));
            return;
        }
    };
    let client_rx = spawn_client_reader(reader);
    let ended = pump(&follow, &client_rx, &mut writer, handle, attach);
    if ended {
        let _ = protocol::write_msg(&mut writer, &ServerMsg::output(String::new(), 0, false));
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
    for chunk in &follow.backlog {
        if write_chunk(writer, chunk).is_err() {
            return false;
        }
    }
    loop {
        select! {
            recv(follow.rx) -> chunk => match chunk {
                Ok(chunk) if follow.wants(&chunk) => {
                    if write_chunk(writer, &chunk).is_err() {
                        return false;
                    }
                }
                Ok(_) => {}
                Err(_) => return true,
            },
            recv(client_rx) -> msg => match msg {
                Ok(ClientMsg { stdin: Some(text), .. }) if attach => {
                    if let Err(e) = command::write_stdin(handle, &follow.name, text.as_bytes()) {
                        let reply = ServerMsg::chunk("error", format!("Error: {e}"));
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

fn write_chunk(writer: &mut UnixStream, chunk: &crate::output::Chunk) -> io::Result<()> {
    let data = String::from_utf8_lossy(&chunk.data).into_owned();
    let msg = ServerMsg::chunk(command::stream_name(chunk.stream), data);
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
