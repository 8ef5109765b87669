//! `tcp` and `http` checks: std sockets with every step bounded by the check's timeout.
//! HTTP is a minimal HTTP/1.1 GET; only the status line is read, and redirects are not
//! followed (a redirect loop is one failed check, not a loop).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::config::HttpTarget;

/// At most this much of a reply is read: the status line is all a check needs.
const MAX_REPLY: usize = 4096;

fn resolve(addr: &str) -> Result<Vec<SocketAddr>, String> {
    // Name resolution is the one step without a timeout of ours (getaddrinfo has none);
    // addresses in checks are usually IPs or localhost.
    let addrs: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {addr}: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("{addr} has no address"));
    }
    Ok(addrs)
}

fn connect(addr: &str, deadline: Instant) -> Result<TcpStream, String> {
    let mut last = String::from("no address");
    for a in resolve(addr)? {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match TcpStream::connect_timeout(&a, left) {
            Ok(s) => return Ok(s),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                last = "no connection within the timeout".to_string();
            }
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(last)
}

pub fn tcp(addr: &str, timeout: Duration) -> Result<(), String> {
    connect(addr, Instant::now() + timeout).map(drop)
}

pub fn http(t: &HttpTarget, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let mut s = connect(&t.addr, deadline)?;
    let left = || {
        let d = deadline.saturating_duration_since(Instant::now());
        // A zero timeout means "none" to std: never pass it.
        (!d.is_zero()).then_some(d)
    };
    let no_answer = || "no answer within the timeout".to_string();
    s.set_write_timeout(Some(left().ok_or_else(no_answer)?))
        .map_err(|e| e.to_string())?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: taskmaster-health\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        t.path, t.host
    );
    s.write_all(request.as_bytes())
        .map_err(|e| format!("cannot send the request: {e}"))?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 1024];
    while !reply.contains(&b'\n') && reply.len() < MAX_REPLY {
        s.set_read_timeout(Some(left().ok_or_else(no_answer)?))
            .map_err(|e| e.to_string())?;
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(no_answer());
            }
            Err(e) => return Err(format!("reading the reply: {e}")),
        }
    }
    status(&reply)
}

/// `HTTP/1.1 200 OK` -> Ok; any other code or no status line -> why.
fn status(reply: &[u8]) -> Result<(), String> {
    let line = reply.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut words = line.split_whitespace();
    let code = match (words.next(), words.next()) {
        (Some(v), Some(code)) if v.starts_with("HTTP/") => code.parse::<u16>().ok(),
        _ => None,
    };
    match code {
        Some(c) if (200..300).contains(&c) => Ok(()),
        Some(c) if (300..400).contains(&c) => Err(format!("HTTP {c} (redirects are not followed)")),
        Some(c) => Err(format!("HTTP {c}")),
        None if reply.is_empty() => Err("the connection closed without a reply".to_string()),
        None => Err("not an HTTP reply".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::status;

    #[test]
    fn status_lines() {
        assert_eq!(status(b"HTTP/1.1 204 No Content\r\n"), Ok(()));
        assert_eq!(status(b"HTTP/1.0 500 Oops\r\n"), Err("HTTP 500".into()));
        assert!(status(b"HTTP/1.1 302 Found\r\n").is_err_and(|e| e.contains("not followed")));
        assert!(status(b"SSH-2.0-x\r\n").is_err());
        assert!(status(b"").is_err());
    }
}
