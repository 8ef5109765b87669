//! Netlink, as taskmaster's two readers of the kernel speak it: the listening-socket table
//! (`health::diag`, NETLINK_SOCK_DIAG) and the process events (`spawn::proc_events`,
//! NETLINK_CONNECTOR). This owns what they share — the socket and its receive buffer, the
//! `nlmsghdr` framing and walking the messages of a datagram — so the readers keep only their
//! own payloads. Used by whichever thread owns the socket (a checker thread, the
//! process-events thread).
//!
//! Netlink is native-endian and every message is aligned to 4 bytes. The walk is strict
//! about lengths (a length below a header's or past the datagram's end stops it) because a
//! misread length would read the rest of the datagram out of frame.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use nix::errno::Errno;
use nix::libc;
use nix::sys::socket::{MsgFlags, NetlinkAddr, bind, recv, send, setsockopt, sockopt};
use nix::sys::time::TimeVal;

/// `struct nlmsghdr`: length (u32), type (u16), flags (u16), sequence (u32), port id (u32).
pub const HDR_LEN: usize = 16;
/// The message types every netlink family shares (`linux/netlink.h`).
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;

/// A native-endian `u16` at `at`, if `b` holds it.
pub fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

/// A native-endian `u32` at `at`, if `b` holds it.
pub fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The header of a message of `len` bytes in all (the header included).
pub fn header(len: usize, kind: u16, flags: u16, seq: u32, pid: u32) -> [u8; HDR_LEN] {
    let mut h = [0u8; HDR_LEN];
    h[0..4].copy_from_slice(&(len as u32).to_ne_bytes());
    h[4..6].copy_from_slice(&kind.to_ne_bytes());
    h[6..8].copy_from_slice(&flags.to_ne_bytes());
    h[8..12].copy_from_slice(&seq.to_ne_bytes());
    h[12..16].copy_from_slice(&pid.to_ne_bytes());
    h
}

/// One message of a datagram: the header fields the readers use, and the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    pub kind: u16,
    pub seq: u32,
    pub body: &'a [u8],
}

impl Message<'_> {
    /// The error an NLMSG_ERROR message carries (`struct nlmsgerr` starts with the negated
    /// errno); `None` when its body is too short to hold one.
    pub fn error(&self) -> Option<io::Error> {
        let code = u32_at(self.body, 0)? as i32;
        Some(io::Error::from_raw_os_error(-code))
    }
}

/// A message whose length is below a header's or past the end of its datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadLength;

/// The messages of one datagram, in order. A bad length is the last item; bytes after the
/// last message too few for a header are padding, not a message.
pub fn messages(datagram: &[u8]) -> Messages<'_> {
    Messages { rest: datagram }
}

pub struct Messages<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, BadLength>;

    fn next(&mut self) -> Option<Self::Item> {
        let b = self.rest;
        if b.len() < HDR_LEN {
            return None;
        }
        let (len, kind, seq) = (u32_at(b, 0)? as usize, u16_at(b, 4)?, u32_at(b, 8)?);
        if len < HDR_LEN || len > b.len() {
            self.rest = &[];
            return Some(Err(BadLength));
        }
        self.rest = b.get((len + 3) & !3..).unwrap_or_default();
        Some(Ok(Message {
            kind,
            seq,
            body: &b[HDR_LEN..len],
        }))
    }
}

/// A netlink socket and the buffer its datagrams are read into.
pub struct Socket {
    fd: OwnedFd,
    buf: Vec<u8>,
}

impl Socket {
    /// A socket of `protocol` (`NETLINK_*`) reading datagrams of up to `buf_len` bytes (a
    /// longer one is cut).
    pub fn open(protocol: libc::c_int, buf_len: usize) -> io::Result<Socket> {
        Ok(Socket {
            fd: super::netlink_socket(protocol)?,
            buf: vec![0; buf_len],
        })
    }

    /// A timeout on blocking reads (zero: none).
    pub fn set_timeout(&self, d: Duration) -> io::Result<()> {
        let tv = TimeVal::new(d.as_secs() as libc::time_t, d.subsec_micros().into());
        setsockopt(&self.fd, sockopt::ReceiveTimeout, &tv)?;
        Ok(())
    }

    /// Asks for a kernel receive buffer of `bytes`: past `rmem_max` where allowed (root,
    /// SO_RCVBUFFORCE), else as much as `rmem_max` grants. Best effort: the default buffer
    /// still works, it only overflows sooner.
    pub fn grow_rcvbuf(&self, bytes: usize) {
        if setsockopt(&self.fd, sockopt::RcvBufForce, &bytes).is_err() {
            let _ = setsockopt(&self.fd, sockopt::RcvBuf, &bytes);
        }
    }

    /// Joins the multicast `groups` (a bit mask), as the kernel's port.
    pub fn join(&self, groups: u32) -> io::Result<()> {
        bind(self.fd.as_raw_fd(), &NetlinkAddr::new(0, groups))?;
        Ok(())
    }

    /// Sends one datagram to the kernel.
    pub fn send(&self, datagram: &[u8]) -> io::Result<()> {
        send(self.fd.as_raw_fd(), datagram, MsgFlags::empty())?;
        Ok(())
    }

    /// The next datagram; without `wait`, EAGAIN when none is queued. ENOBUFS says the
    /// kernel dropped messages that did not fit in the receive buffer.
    pub fn recv(&mut self, wait: bool) -> io::Result<&[u8]> {
        let flags = if wait {
            MsgFlags::empty()
        } else {
            MsgFlags::MSG_DONTWAIT
        };
        loop {
            match recv(self.fd.as_raw_fd(), &mut self.buf, flags) {
                Ok(n) => return Ok(self.buf.get(..n).unwrap_or_default()),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// A message as the kernel frames it, padded to 4 bytes: built bytes for the readers' tests.
#[cfg(test)]
pub fn frame(kind: u16, flags: u16, seq: u32, body: &[u8]) -> Vec<u8> {
    let mut b = header(HDR_LEN + body.len(), kind, flags, seq, 0).to_vec();
    b.extend_from_slice(body);
    b.resize((b.len() + 3) & !3, 0);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    type Walked = Result<(u16, u32, Vec<u8>), BadLength>;

    fn walk(b: &[u8]) -> Vec<Walked> {
        messages(b)
            .map(|m| m.map(|m| (m.kind, m.seq, m.body.to_vec())))
            .collect()
    }

    #[test]
    fn the_header_holds_its_fields_in_native_order() {
        let h = header(72, 20, 0x301, 7, 42);
        assert_eq!(u32_at(&h, 0), Some(72), "length");
        assert_eq!(u16_at(&h, 4), Some(20), "type");
        assert_eq!(u16_at(&h, 6), Some(0x301), "flags");
        assert_eq!(u32_at(&h, 8), Some(7), "sequence");
        assert_eq!(u32_at(&h, 12), Some(42), "port id");
        assert_eq!(u32_at(&h, 14), None, "no word past the end");
    }

    #[test]
    fn messages_are_walked_in_order_across_their_padding() {
        let mut b = frame(20, 0, 1, &[1, 2, 3, 4, 5]);
        b.extend(frame(21, 0, 2, &[]));
        b.extend(frame(NLMSG_DONE, 0, 3, &0u32.to_ne_bytes()));
        assert_eq!(
            walk(&b),
            [
                Ok((20, 1, vec![1, 2, 3, 4, 5])),
                Ok((21, 2, vec![])),
                Ok((NLMSG_DONE, 3, vec![0; 4])),
            ],
            "three messages, the first padded from 21 to 24 bytes"
        );
    }

    #[test]
    fn a_truncated_message_is_a_bad_length_and_ends_the_walk() {
        let mut b = frame(20, 0, 1, &[9; 8]);
        b.extend(frame(20, 0, 2, &[9; 40]));
        assert_eq!(
            walk(&b[..b.len() - 4]),
            [Ok((20, 1, vec![9; 8])), Err(BadLength)],
            "the second message is cut"
        );
    }

    #[test]
    fn a_length_shorter_than_a_header_is_a_bad_length() {
        let mut b = frame(20, 0, 1, &[0; 8]);
        b[0..4].copy_from_slice(&8u32.to_ne_bytes());
        b.extend(frame(20, 0, 2, &[]));
        assert_eq!(
            walk(&b),
            [Err(BadLength)],
            "nothing after a length below 16 is read"
        );
        b[0..4].copy_from_slice(&0u32.to_ne_bytes());
        assert_eq!(walk(&b), [Err(BadLength)], "a zero length cannot loop");
    }

    #[test]
    fn bytes_too_few_for_a_header_are_not_a_message() {
        let b = frame(20, 0, 1, &[]);
        assert_eq!(walk(&b[..10]), [], "a cut header: nothing");
        assert_eq!(walk(&[]), [], "an empty datagram: nothing");
    }

    #[test]
    fn an_error_message_carries_the_errno() {
        let b = frame(NLMSG_ERROR, 0, 5, &(-libc::EPERM).to_ne_bytes());
        let m = messages(&b).next().and_then(Result::ok);
        assert_eq!(m.map(|m| (m.kind, m.seq)), Some((NLMSG_ERROR, 5)));
        let code = m.and_then(|m| m.error()).and_then(|e| e.raw_os_error());
        assert_eq!(
            code,
            Some(libc::EPERM),
            "the negated errno, as an io::Error"
        );
        let short = frame(NLMSG_ERROR, 0, 5, &[0, 0]);
        let m = messages(&short).next().and_then(Result::ok);
        assert!(
            m.is_some_and(|m| m.error().is_none()),
            "a body too short for an errno carries none"
        );
    }
}
