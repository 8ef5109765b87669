//! The kernel's table of listening TCP sockets, read through NETLINK_SOCK_DIAG (what `ss
//! -ltn` reads): the cheap answer to "would a connect to this local address succeed".
//!
//! Why: a real loopback connect and its reset cost ~30 µs of kernel time (the whole
//! handshake, the listener's side included, runs in the connecting thread's system call); a
//! thousand `tcp` checks a second spent 3 % of a core on that alone. One dump of the
//! listening table (two: AF_INET and AF_INET6) answers every check of a batch for a few µs.
//!
//! What the table can say: a socket listens on the target's port, at the target's address or
//! at the wildcard (`0.0.0.0`, `::`; an AF_INET6 wildcard without IPV6_V6ONLY also takes
//! IPv4), and its accept queue has room (`idiag_rqueue < idiag_wqueue`: the kernel would
//! complete the handshake). That is exactly what a connect to a local address checks, with
//! exceptions the table cannot see: a firewall rule (nftables/iptables) dropping or
//! rejecting loopback traffic, a listener bound to a device (`SO_BINDTODEVICE`, skipped here:
//! the connect decides), or a BPF program on the socket. So the table's *up* is trusted (for
//! local addresses only), and its *not up* is never reported as is: the poller confirms it with
//! a real connect, which also makes a listener opened a moment ago healthy at once. A dump is
//! reused for a few ms (`poller.rs`): a listener that closed within that window reads up once.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use nix::libc;

use crate::os::netlink::{self, HDR_LEN, NLMSG_DONE, NLMSG_ERROR, u16_at, u32_at};

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const TCP_LISTEN: u32 = 10;
const INET_DIAG_SKV6ONLY: u16 = 11;
/// `struct inet_diag_req_v2`.
const REQ_LEN: usize = 56;
/// `struct inet_diag_msg`, before its attributes.
const MSG_LEN: usize = 72;

/// One listening socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listener {
    pub addr: IpAddr,
    pub port: u16,
    /// An AF_INET6 socket that takes no IPv4 (`IPV6_V6ONLY`); false for AF_INET ones.
    pub v6only: bool,
    /// Connections waiting for `accept`, and the most that may wait (the backlog).
    pub rqueue: u32,
    pub wqueue: u32,
    /// The device it is bound to (0: none).
    pub ifindex: u32,
}

impl Listener {
    /// True when a connect to `target` would be accepted by this socket.
    fn accepts(&self, target: SocketAddr) -> bool {
        if self.port != target.port() || self.ifindex != 0 || self.rqueue >= self.wqueue {
            return false;
        }
        let ip = canonical(target.ip());
        match (self.addr, ip) {
            (IpAddr::V4(l), IpAddr::V4(t)) => l == t || l.is_unspecified(),
            (IpAddr::V6(l), IpAddr::V6(t)) => l == t || l.is_unspecified(),
            // An IPv6 socket takes IPv4 at `::` or at the mapped address, unless v6only.
            (IpAddr::V6(l), IpAddr::V4(t)) => {
                !self.v6only && (l.is_unspecified() || l.to_ipv4_mapped() == Some(t))
            }
            (IpAddr::V4(_), IpAddr::V6(_)) => false,
        }
    }
}

/// `::ffff:1.2.3.4` is 1.2.3.4 on the wire.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// True when `listeners` hold a socket a connect to `target` would reach and be accepted by.
/// Only meaningful for a local `target`: a wildcard listener says nothing about another host.
pub fn accepts(listeners: &[Listener], target: SocketAddr) -> bool {
    listeners.iter().any(|l| l.accepts(target))
}

/// A netlink socket for dumps, kept open.
pub struct Table {
    sock: netlink::Socket,
    seq: u32,
}

impl Table {
    pub fn open() -> io::Result<Table> {
        let sock = netlink::Socket::open(libc::NETLINK_SOCK_DIAG, 32 * 1024)?;
        // The kernel answers a dump at once; a second of silence is a broken socket, not
        // something to wait on with every check behind it.
        sock.set_timeout(Duration::from_secs(1))?;
        Ok(Table { sock, seq: 0 })
    }

    /// Every listening TCP socket, IPv4 and IPv6, in `out` (cleared first).
    pub fn dump(&mut self, out: &mut Vec<Listener>) -> io::Result<()> {
        out.clear();
        for family in [libc::AF_INET as u8, libc::AF_INET6 as u8] {
            self.seq = self.seq.wrapping_add(1);
            self.sock.send(&request(family, self.seq))?;
            while parse(self.sock.recv(true)?, self.seq, out)? == Parsed::More {}
        }
        Ok(())
    }
}

/// A dump request for `family`'s listening TCP sockets: `nlmsghdr` + `inet_diag_req_v2`.
pub fn request(family: u8, seq: u32) -> [u8; HDR_LEN + REQ_LEN] {
    let mut b = [0u8; HDR_LEN + REQ_LEN];
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16;
    // nlmsg_pid 0: to the kernel.
    b[..HDR_LEN].copy_from_slice(&netlink::header(
        HDR_LEN + REQ_LEN,
        SOCK_DIAG_BY_FAMILY,
        flags,
        seq,
        0,
    ));
    b[16] = family;
    b[17] = libc::IPPROTO_TCP as u8;
    // idiag_ext 0, pad 0; the states wanted; the socket id all zero (no filter).
    b[20..24].copy_from_slice(&(1u32 << TCP_LISTEN).to_ne_bytes());
    b
}

#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// The dump goes on in the next datagram.
    More,
    Done,
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("sock_diag: {what}"))
}

/// One datagram of a dump's answer: its listeners are added to `out`. Messages of another
/// sequence (a dump abandoned earlier) are skipped.
pub fn parse(b: &[u8], seq: u32, out: &mut Vec<Listener>) -> io::Result<Parsed> {
    for m in netlink::messages(b) {
        let m = m.map_err(|_| bad("bad message length"))?;
        if m.seq != seq {
            continue;
        }
        match m.kind {
            NLMSG_DONE => return Ok(Parsed::Done),
            NLMSG_ERROR => return Err(m.error().unwrap_or_else(|| bad("short error"))),
            SOCK_DIAG_BY_FAMILY => out.extend(listener(m.body)?),
            _ => {}
        }
    }
    Ok(Parsed::More)
}

/// One `inet_diag_msg` and its attributes; `None` for a socket that is not listening.
fn listener(m: &[u8]) -> io::Result<Option<Listener>> {
    if m.len() < MSG_LEN {
        return Err(bad("short inet_diag_msg"));
    }
    let (family, state) = (m[0], m[1]);
    if u32::from(state) != TCP_LISTEN {
        return Ok(None);
    }
    // idiag_sport is in network order, at the start of the socket id (offset 4).
    let port = u16::from_be_bytes([m[4], m[5]]);
    // idiag_src at offset 8, 16 bytes (an IPv4 address in the first 4).
    let addr = match i32::from(family) {
        libc::AF_INET => IpAddr::V4(Ipv4Addr::new(m[8], m[9], m[10], m[11])),
        libc::AF_INET6 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&m[8..24]);
            IpAddr::V6(Ipv6Addr::from(a))
        }
        _ => return Ok(None),
    };
    let at = |o: usize| u32_at(m, o).unwrap_or_default();
    // idiag_if at 40; then expires 52, rqueue 56, wqueue 60.
    let (ifindex, rqueue, wqueue) = (at(40), at(56), at(60));
    let mut v6only = false;
    let mut attrs = &m[MSG_LEN..];
    while attrs.len() >= 4 {
        let len = usize::from(u16_at(attrs, 0).unwrap_or_default());
        let kind = u16_at(attrs, 2).unwrap_or_default();
        if len < 4 || len > attrs.len() {
            return Err(bad("bad attribute length"));
        }
        if kind == INET_DIAG_SKV6ONLY {
            v6only = attrs.get(4).is_some_and(|v| *v != 0);
        }
        attrs = attrs.get((len + 3) & !3..).unwrap_or_default();
    }
    Ok(Some(Listener {
        addr,
        port,
        v6only,
        rqueue,
        wqueue,
        ifindex,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer message as the kernel builds it.
    fn msg(
        seq: u32,
        family: u8,
        addr: &[u8],
        port: u16,
        queues: (u32, u32),
        v6only: Option<u8>,
    ) -> Vec<u8> {
        let mut m = vec![0u8; MSG_LEN];
        m[0] = family;
        m[1] = TCP_LISTEN as u8;
        m[4..6].copy_from_slice(&port.to_be_bytes());
        m[8..8 + addr.len()].copy_from_slice(addr);
        m[56..60].copy_from_slice(&queues.0.to_ne_bytes());
        m[60..64].copy_from_slice(&queues.1.to_ne_bytes());
        // INET_DIAG_SHUTDOWN first, as the kernel puts it: an attribute to skip (5 bytes,
        // padded to 8).
        m.extend_from_slice(&5u16.to_ne_bytes());
        m.extend_from_slice(&8u16.to_ne_bytes());
        m.extend_from_slice(&[0, 0, 0, 0]);
        if let Some(v) = v6only {
            m.extend_from_slice(&5u16.to_ne_bytes());
            m.extend_from_slice(&INET_DIAG_SKV6ONLY.to_ne_bytes());
            m.extend_from_slice(&[v, 0, 0, 0]);
        }
        frame(seq, SOCK_DIAG_BY_FAMILY, &m)
    }

    fn frame(seq: u32, kind: u16, body: &[u8]) -> Vec<u8> {
        netlink::frame(kind, 2, seq, body)
    }

    #[test]
    fn the_request_asks_for_listening_tcp_sockets() {
        let r = request(libc::AF_INET6 as u8, 7);
        assert_eq!(u32_at(&r, 0), Some(72));
        assert_eq!(u16_at(&r, 4), Some(SOCK_DIAG_BY_FAMILY));
        assert_eq!(u16_at(&r, 6), Some(0x301), "NLM_F_REQUEST | NLM_F_DUMP");
        assert_eq!(u32_at(&r, 8), Some(7));
        assert_eq!((r[16], r[17]), (libc::AF_INET6 as u8, 6));
        assert_eq!(u32_at(&r, 20), Some(1 << 10));
    }

    #[test]
    fn a_dump_is_read_into_listeners_until_done() {
        let mut b = msg(
            3,
            libc::AF_INET as u8,
            &[127, 0, 0, 1],
            5432,
            (0, 128),
            None,
        );
        b.extend(msg(3, libc::AF_INET6 as u8, &[0; 16], 80, (2, 4), Some(1)));
        // A message of an abandoned dump in between: skipped.
        b.extend(msg(2, libc::AF_INET as u8, &[10, 0, 0, 1], 9, (0, 1), None));
        let mut out = Vec::new();
        assert_eq!(parse(&b, 3, &mut out).ok(), Some(Parsed::More));
        assert_eq!(
            out,
            [
                Listener {
                    addr: "127.0.0.1".parse().unwrap(),
                    port: 5432,
                    v6only: false,
                    rqueue: 0,
                    wqueue: 128,
                    ifindex: 0,
                },
                Listener {
                    addr: "::".parse().unwrap(),
                    port: 80,
                    v6only: true,
                    rqueue: 2,
                    wqueue: 4,
                    ifindex: 0,
                },
            ]
        );
        let done = frame(3, NLMSG_DONE, &0u32.to_ne_bytes());
        assert_eq!(parse(&done, 3, &mut out).ok(), Some(Parsed::Done));
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn an_error_or_a_truncated_message_is_an_error() {
        let mut out = Vec::new();
        let err = frame(1, NLMSG_ERROR, &(-libc::EPERM).to_ne_bytes());
        let e = parse(&err, 1, &mut out).err();
        assert_eq!(e.and_then(|e| e.raw_os_error()), Some(libc::EPERM));
        let whole = msg(1, libc::AF_INET as u8, &[127, 0, 0, 1], 1, (0, 1), None);
        assert!(
            parse(&whole[..40], 1, &mut out).is_err(),
            "cut in the message"
        );
        let mut short = frame(1, SOCK_DIAG_BY_FAMILY, &[0; 20]);
        assert!(
            parse(&short, 1, &mut out).is_err(),
            "body shorter than inet_diag_msg"
        );
        short.truncate(10);
        assert_eq!(
            parse(&short, 1, &mut out).ok(),
            Some(Parsed::More),
            "no header: nothing"
        );
        assert!(out.is_empty());
    }

    #[test]
    fn which_listener_takes_which_target() {
        let l = |addr: &str, port, v6only, rq, wq| Listener {
            addr: addr.parse().unwrap(),
            port,
            v6only,
            rqueue: rq,
            wqueue: wq,
            ifindex: 0,
        };
        let t = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(l("127.0.0.1", 80, false, 0, 1).accepts(t("127.0.0.1:80")));
        assert!(
            !l("127.0.0.1", 80, false, 0, 1).accepts(t("127.0.0.1:81")),
            "port"
        );
        assert!(
            !l("127.0.0.2", 80, false, 0, 1).accepts(t("127.0.0.1:80")),
            "address"
        );
        assert!(
            l("0.0.0.0", 80, false, 0, 1).accepts(t("127.0.0.1:80")),
            "wildcard"
        );
        assert!(
            !l("127.0.0.1", 80, false, 1, 1).accepts(t("127.0.0.1:80")),
            "queue full"
        );
        assert!(
            l("::", 80, false, 0, 1).accepts(t("127.0.0.1:80")),
            "dual stack"
        );
        assert!(
            !l("::", 80, true, 0, 1).accepts(t("127.0.0.1:80")),
            "v6only"
        );
        assert!(l("::", 80, true, 0, 1).accepts(t("[::1]:80")));
        assert!(l("::1", 80, true, 0, 1).accepts(t("[::1]:80")));
        assert!(
            !l("0.0.0.0", 80, false, 0, 1).accepts(t("[::1]:80")),
            "v4 takes no v6"
        );
        assert!(
            l("127.0.0.1", 80, false, 0, 1).accepts(t("[::ffff:127.0.0.1]:80")),
            "mapped"
        );
        assert!(l("::ffff:127.0.0.1", 80, false, 0, 1).accepts(t("127.0.0.1:80")));
        let mut bound = l("0.0.0.0", 80, false, 0, 1);
        bound.ifindex = 2;
        assert!(
            !bound.accepts(t("127.0.0.1:80")),
            "bound to a device: the connect decides"
        );
    }
}
