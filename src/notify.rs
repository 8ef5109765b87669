//! systemd's readiness protocol (`sd_notify(3)`) without libsystemd: one datagram per state
//! change to the socket named by `$NOTIFY_SOCKET` (a path, or `@name` in the abstract
//! namespace). Headless taskmaster calls [`init_from_env`] once; the supervisor thread then
//! reports `READY=1` after the autostart spawns, `RELOADING=1`/`READY=1` around a reload and
//! `STOPPING=1` at shutdown. Without `init_from_env` (the dashboard, the tests' in-process
//! supervisors) [`send`] does nothing.
//!
//! Process-wide on purpose: `$NOTIFY_SOCKET` is the manager's channel to this process, and
//! the engine reaches it without a handle threaded through every constructor. Children
//! inherit the variable, as under supervisord; systemd's default `NotifyAccess=main` ignores
//! their messages.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::OnceLock;

struct Notifier {
    socket: UnixDatagram,
    addr: SocketAddr,
}

static NOTIFIER: OnceLock<Notifier> = OnceLock::new();

/// Opens the channel named by `$NOTIFY_SOCKET`, if set. `Ok(false)`: not under systemd.
pub fn init_from_env() -> io::Result<bool> {
    let Some(name) = std::env::var_os("NOTIFY_SOCKET").filter(|v| !v.is_empty()) else {
        return Ok(false);
    };
    let addr = address(name.as_encoded_bytes())?;
    let socket = UnixDatagram::unbound()?;
    // A second call keeps the first channel; there is only one manager.
    let _ = NOTIFIER.set(Notifier { socket, addr });
    Ok(true)
}

/// `@name`: the abstract namespace (the `@` stands for the leading NUL byte); else a path.
fn address(name: &[u8]) -> io::Result<SocketAddr> {
    match name.strip_prefix(b"@") {
        Some(abstract_name) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(abstract_name)
        }
        None if name.starts_with(b"/") => {
            use std::os::unix::ffi::OsStrExt;
            SocketAddr::from_pathname(std::ffi::OsStr::from_bytes(name))
        }
        None => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "NOTIFY_SOCKET={} is neither a path nor an @abstract name",
                String::from_utf8_lossy(name)
            ),
        )),
    }
}

/// Sends `state` (`READY=1`, ...) when running under systemd. A failure is logged, never
/// fatal: supervision goes on whether or not the manager listens.
pub fn send(state: &str) {
    if let Some(n) = NOTIFIER.get()
        && let Err(e) = n.socket.send_to_addr(state.as_bytes(), &n.addr)
    {
        log::warn!("cannot notify systemd ({state:?}): {e}");
    }
}

/// `RELOADING=1` with the `MONOTONIC_USEC=` that systemd wants beside it.
pub fn reloading() {
    if NOTIFIER.get().is_none() {
        return;
    }
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC) {
        Ok(t) => {
            let usec = t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1_000;
            send(&format!("RELOADING=1\nMONOTONIC_USEC={usec}"));
        }
        Err(_) => send("RELOADING=1"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_abstract_names_are_addresses_and_other_words_are_not() {
        let path = address(b"/run/systemd/notify").expect("a path");
        assert_eq!(
            path.as_pathname(),
            Some(std::path::Path::new("/run/systemd/notify"))
        );
        use std::os::linux::net::SocketAddrExt;
        let abs = address(b"@sd-notify/1").expect("an abstract name");
        assert_eq!(abs.as_abstract_name(), Some(&b"sd-notify/1"[..]));
        assert!(address(b"vsock:2:1234").is_err(), "vsock is not supported");
    }
}
