//! The poller's shortcut for `tcp` checks to a local address (loopback, the unspecified
//! address, or an address of one of this host's interfaces): the kernel's listening table
//! (`diag.rs`) says whether a connect would be accepted, without making one. Only a *yes*
//! is taken from it; anything else (no listener seen, a full accept queue, a remote address,
//! no netlink) is left to the real connect. One dump serves every check within [`REUSE`].

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use super::diag::{self, Listener, Table};

/// How long one dump of the table answers checks: the checks of a batch arrive together.
pub const REUSE: Duration = Duration::from_millis(5);
/// How long the list of this host's addresses is trusted (re-read when a check needs it).
const ADDRS_TTL: Duration = Duration::from_secs(1);

pub struct Local {
    /// `None`: netlink could not be opened (said once in the log); every check connects.
    table: Option<Table>,
    listeners: Vec<Listener>,
    dumped: Option<Instant>,
    /// How long a dump is reused (a field so the tests can make a stale one).
    pub reuse: Duration,
    own: Vec<IpAddr>,
    own_read: Option<Instant>,
    /// A failed dump was logged already.
    warned: bool,
}

impl Local {
    pub fn new() -> Local {
        let table = match Table::open() {
            Ok(t) => Some(t),
            Err(e) => {
                log::info!(
                    "tcp checks: the kernel's socket table cannot be read ({e}); every check connects"
                );
                None
            }
        };
        Local {
            table,
            listeners: Vec::new(),
            dumped: None,
            reuse: REUSE,
            own: Vec::new(),
            own_read: None,
            warned: false,
        }
    }

    /// True when the table says a connect to `target` would be accepted now; false means
    /// "connect to know", never "down".
    pub fn accepts(&mut self, target: SocketAddr, now: Instant) -> bool {
        if self.table.is_none() || !self.is_local(target.ip(), now) {
            return false;
        }
        if self
            .dumped
            .is_none_or(|at| now.saturating_duration_since(at) > self.reuse)
        {
            let Some(table) = self.table.as_mut() else {
                return false;
            };
            if let Err(e) = table.dump(&mut self.listeners) {
                if !std::mem::replace(&mut self.warned, true) {
                    log::warn!(
                        "tcp checks: reading the kernel's socket table failed ({e}); those checks connect instead"
                    );
                }
                self.dumped = None;
                self.listeners.clear();
                return false;
            }
            self.dumped = Some(now);
        }
        diag::accepts(&self.listeners, target)
    }

    /// Loopback and unspecified addresses, and those of this host's interfaces: a connect
    /// to them stays on this host, so its listening table is the one that answers.
    fn is_local(&mut self, ip: IpAddr, now: Instant) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if ip.is_loopback() || ip.is_unspecified() {
            return true;
        }
        if self
            .own_read
            .is_none_or(|at| now.saturating_duration_since(at) > ADDRS_TTL)
        {
            self.own = own_addresses();
            self.own_read = Some(now);
        }
        self.own.contains(&ip)
    }
}

/// This host's interface addresses (an error: none, so every check connects).
fn own_addresses() -> Vec<IpAddr> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    addrs
        .filter_map(|a| a.address)
        .filter_map(|a| {
            if let Some(v4) = a.as_sockaddr_in() {
                Some(IpAddr::V4(v4.ip()))
            } else {
                // A link-local IPv6 address needs its scope: the connect decides.
                a.as_sockaddr_in6()
                    .filter(|v6| v6.scope_id() == 0)
                    .map(|v6| IpAddr::V6(v6.ip()))
            }
        })
        .collect()
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use nix::libc;
    use std::net::TcpListener;

    /// A probe that dumps the table at every check; `None` (said on stderr) where the
    /// kernel or a sandbox has no NETLINK_SOCK_DIAG at all: there every check connects, which
    /// the poller's tests cover.
    fn fresh() -> Option<Local> {
        if let Err(e) = Table::open() {
            let missing = [
                libc::EPROTONOSUPPORT,
                libc::EAFNOSUPPORT,
                libc::EPERM,
                libc::EACCES,
            ];
            assert!(
                e.raw_os_error().is_some_and(|code| missing.contains(&code)),
                "NETLINK_SOCK_DIAG: {e}"
            );
            eprintln!("skipped: no NETLINK_SOCK_DIAG here ({e})");
            return None;
        }
        let mut l = Local::new();
        assert!(l.table.is_some());
        l.reuse = Duration::ZERO;
        Some(l)
    }

    fn up(local: &mut Local, target: SocketAddr) -> bool {
        // A new `now` each time, past the reuse window: a fresh dump.
        std::thread::yield_now();
        local.accepts(target, Instant::now() + Duration::from_secs(1))
    }

    #[test]
    fn a_listener_on_loopback_the_wildcard_or_dual_stack_reads_up() {
        let Some(mut local) = fresh() else {
            return;
        };
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let at = l.local_addr().expect("addr");
        assert!(up(&mut local, at), "127.0.0.1");
        let any = TcpListener::bind("0.0.0.0:0").expect("bind");
        let port = any.local_addr().expect("addr").port();
        assert!(
            up(&mut local, SocketAddr::from(([127, 0, 0, 1], port))),
            "0.0.0.0"
        );
        assert!(
            !up(
                &mut local,
                SocketAddr::from(([0u16, 0, 0, 0, 0, 0, 0, 1], port))
            ),
            "an IPv4 wildcard takes no IPv6"
        );
        // std's IPv6 sockets keep the system default (IPV6_V6ONLY off on Linux): dual stack.
        let v6 = TcpListener::bind("[::]:0").expect("bind [::]");
        let port = v6.local_addr().expect("addr").port();
        assert!(
            up(
                &mut local,
                SocketAddr::from(([0u16, 0, 0, 0, 0, 0, 0, 1], port))
            ),
            "[::]"
        );
        assert!(
            up(&mut local, SocketAddr::from(([127, 0, 0, 1], port))),
            "[::] takes IPv4"
        );
        let only = v6only_listener();
        let port = only.local_addr().expect("addr").port();
        assert!(
            up(
                &mut local,
                SocketAddr::from(([0u16, 0, 0, 0, 0, 0, 0, 1], port))
            ),
            "v6only"
        );
        assert!(
            !up(&mut local, SocketAddr::from(([127, 0, 0, 1], port))),
            "a v6only [::] takes no IPv4"
        );
        // An address of this host's own interfaces (not loopback) is local too.
        if let Some(own) = own_addresses()
            .into_iter()
            .find(|ip| ip.is_ipv4() && !ip.is_loopback())
        {
            let port = any.local_addr().expect("addr").port();
            assert!(
                up(&mut local, SocketAddr::new(own, port)),
                "{own} to 0.0.0.0"
            );
        }
    }

    /// A TCP socket bound to a free loopback port, not listening.
    pub fn bound() -> (std::os::fd::OwnedFd, u16) {
        use nix::sys::socket::{
            AddressFamily, SockFlag, SockType, SockaddrIn, bind, getsockname, socket,
        };
        let fd = socket(
            AddressFamily::Inet,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .expect("socket");
        let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
        bind(raw, &SockaddrIn::new(127, 0, 0, 1, 0)).expect("bind");
        let port = getsockname::<SockaddrIn>(raw).expect("name").port();
        (fd, port)
    }

    fn v6only_listener() -> TcpListener {
        use nix::sys::socket::{
            AddressFamily, Backlog, SockFlag, SockType, SockaddrIn6, bind, listen, setsockopt,
            socket, sockopt,
        };
        let fd = socket(
            AddressFamily::Inet6,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .expect("socket");
        setsockopt(&fd, sockopt::Ipv6V6Only, &true).expect("v6only");
        let any = SockaddrIn6::from(std::net::SocketAddrV6::new(
            std::net::Ipv6Addr::UNSPECIFIED,
            0,
            0,
            0,
        ));
        bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &any).expect("bind");
        listen(&fd, Backlog::new(16).expect("backlog")).expect("listen");
        TcpListener::from(fd)
    }

    #[test]
    fn nothing_listening_reads_not_up() {
        let Some(mut local) = fresh() else {
            return;
        };
        // Bound, not listening: the port is ours and nobody listens on it.
        let (_socket, port) = bound();
        assert!(!up(&mut local, SocketAddr::from(([127, 0, 0, 1], port))));
    }

    #[test]
    fn a_remote_address_is_never_answered_by_the_table() {
        let Some(mut local) = fresh() else {
            return;
        };
        // A wildcard listener here says nothing about the same port on another host.
        let any = TcpListener::bind("0.0.0.0:0").expect("bind");
        let port = any.local_addr().expect("addr").port();
        assert!(up(&mut local, SocketAddr::from(([127, 0, 0, 1], port))));
        // TEST-NET-3 (RFC 5737): not an address of this host.
        let remote = std::net::Ipv4Addr::new(203, 0, 113, 1);
        assert!(
            !own_addresses().contains(&IpAddr::V4(remote)),
            "{remote} is ours"
        );
        assert!(!up(&mut local, SocketAddr::from((remote, port))));
    }
}
