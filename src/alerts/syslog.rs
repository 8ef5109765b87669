//! The `syslog` sink: one RFC 5424 datagram per event to `/dev/log` (or the configured
//! socket), facility daemon, severity by event kind.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::supervisor::events::{Event, hostname};

/// RFC 5424's facility 3, "system daemons".
const FACILITY_DAEMON: u8 = 3;

pub fn send(socket: &Path, batch: &[Arc<Event>], timeout: Duration) -> Result<(), String> {
    let sock = UnixDatagram::unbound().map_err(|e| format!("cannot make a socket: {e}"))?;
    let _ = sock.set_write_timeout(Some(timeout));
    for ev in batch {
        sock.send_to(line(ev).as_bytes(), socket)
            .map_err(|e| format!("cannot write to {}: {e}", socket.display()))?;
    }
    Ok(())
}

/// `<PRI>1 TIMESTAMP HOST taskmaster PID MSGID - MSG`.
pub fn line(ev: &Event) -> String {
    let pri = FACILITY_DAEMON * 8 + ev.kind.severity();
    format!(
        "<{pri}>1 {} {} taskmaster {} {} - {}",
        ev.time,
        hostname(),
        std::process::id(),
        ev.kind.as_str(),
        ev.text
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::events::EventKind;

    #[test]
    fn fatal_is_daemon_critical() {
        let ev = Event::new(EventKind::Fatal, "gave up: web");
        let l = line(&ev);
        assert!(l.starts_with("<26>1 "), "daemon.crit is 3*8+2: {l}");
        assert!(l.ends_with(" fatal - gave up: web"), "{l}");
    }
}
