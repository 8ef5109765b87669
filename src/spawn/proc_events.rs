//! The kernel's process events (the proc connector: NETLINK_CONNECTOR, CN_IDX_PROC), read on
//! a thread of their own, so the orphan lineage (see `supervisor::orphans`) follows every
//! fork and exit in the supervised trees as it happens instead of reading /proc on a timer.
//!
//! The kernel multicasts every fork and exit of the machine; the thread keeps the set of
//! taskmaster's own descendants (taskmaster's pid, then each process a member forks) and
//! forwards only their events, in batches, so the supervisor thread wakes for its own trees
//! and never for the rest of the machine. Events come in order, so a pid in the set is the
//! process that was forked under that pid until its exit event: no reuse can fool it.
//!
//! Only a process in the initial pid and user namespaces may listen (the kernel silently
//! ignores the others), so the thread first proves that events arrive: it starts a thread and
//! waits for that thread's own fork event. Until [`ProcEvent::Working`] the supervisor keeps
//! its /proc census; after [`ProcEvent::Lost`] (the socket's buffer overflowed) it runs one.

use std::collections::HashSet;
use std::time::Duration;

use crossbeam_channel::Sender;
use nix::libc;

use crate::os::netlink::{self, HDR_LEN, u32_at};

/// The connector's index and value for process events (`linux/connector.h`).
const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
/// `enum proc_cn_mcast_op` and the event kinds of `linux/cn_proc.h`.
const PROC_CN_MCAST_LISTEN: u32 = 1;
const PROC_EVENT_FORK: u32 = 0x0000_0001;
const PROC_EVENT_EXIT: u32 = 0x8000_0000;
/// `struct cn_msg`: id (idx, val), seq, ack, len (u16), flags (u16).
const CN_MSG_LEN: usize = 20;
/// The socket's receive buffer: a burst of forks (a `make -j`) must fit while the thread
/// catches up. Forced past rmem_max as root (SO_RCVBUFFORCE).
const RCVBUF: usize = 16 << 20;
/// How long the proof that events arrive may take.
const PROBE_WAIT: Duration = Duration::from_secs(2);
/// Datagrams read per batch at most: the supervisor takes a batch per wake-up.
const BATCH: usize = 4096;
/// How long events of other processes may wait to be read with the next ones.
const COALESCE: Duration = Duration::from_millis(20);

/// What the supervisor thread is told, about taskmaster's descendants only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcEvent {
    /// Events arrive: the thread saw its own probe's fork.
    Working,
    /// The kernel cannot give events (no connector, not allowed, nothing arrived); said once,
    /// then the thread ends.
    Unavailable(String),
    /// `parent` (a thread group id) created the process `child`; its start time when it
    /// could be read (it may be gone already).
    Fork {
        parent: i32,
        child: i32,
        start: Option<u64>,
    },
    /// The process `pid` ended (its children are reparented by now); `forked`: it created a
    /// process (else nothing can have been reparented).
    Exit { pid: i32, forked: bool },
    /// The socket's buffer overflowed: events were lost.
    Lost,
}

/// Opens and subscribes the socket now (so no fork of the first spawns is missed), then
/// reads it on a thread of its own; batches of events go to `tx`.
pub fn start(tx: Sender<Vec<ProcEvent>>) -> std::io::Result<()> {
    let sock = match subscribe() {
        Ok(s) => s,
        Err(e) => {
            let _ = tx.send(vec![ProcEvent::Unavailable(e.to_string())]);
            return Ok(());
        }
    };
    std::thread::Builder::new()
        .name("taskmaster-procev".to_string())
        .spawn(move || run(sock, tx))?;
    Ok(())
}

/// A netlink socket listening to process events.
fn subscribe() -> std::io::Result<netlink::Socket> {
    let sock = netlink::Socket::open(libc::NETLINK_CONNECTOR, 64 * 1024)?;
    sock.grow_rcvbuf(RCVBUF);
    sock.join(CN_IDX_PROC)?;
    // The listen request: nlmsghdr, cn_msg, then the op (and, for kernels that filter,
    // the event kinds wanted: fork and exit only; older kernels read the op alone).
    let payload: [u32; 2] = [PROC_CN_MCAST_LISTEN, PROC_EVENT_FORK | PROC_EVENT_EXIT];
    let total = HDR_LEN + CN_MSG_LEN + 8;
    let mut msg = Vec::with_capacity(total);
    msg.extend(netlink::header(
        total,
        netlink::NLMSG_DONE,
        0,
        0,
        std::process::id(),
    ));
    msg.extend(CN_IDX_PROC.to_ne_bytes());
    msg.extend(CN_VAL_PROC.to_ne_bytes());
    msg.extend(0u32.to_ne_bytes());
    msg.extend(0u32.to_ne_bytes());
    msg.extend(8u16.to_ne_bytes());
    msg.extend(0u16.to_ne_bytes());
    for p in payload {
        msg.extend(p.to_ne_bytes());
    }
    sock.send(&msg)?;
    Ok(sock)
}

/// One datagram's events, as (what, the four words of the event's data). A message cut
/// short ends the datagram: it is dropped, not misread.
fn parse(buf: &[u8], out: &mut Vec<(u32, [u32; 4])>) {
    for msg in netlink::messages(buf).map_while(Result::ok) {
        // cn_msg, then proc_event: what, cpu, timestamp (u64), then the event's data.
        let (m, ev) = (msg.body, CN_MSG_LEN);
        if let (Some(what), Some(a), Some(b), Some(c), Some(d)) = (
            u32_at(m, ev),
            u32_at(m, ev + 16),
            u32_at(m, ev + 20),
            u32_at(m, ev + 24),
            u32_at(m, ev + 28),
        ) {
            out.push((what, [a, b, c, d]));
        }
    }
}

/// The next events into `raw` (waiting for them with `wait`); `Err(true)` when events were
/// lost, `Err(false)` on any other failure (none queued, without `wait`).
fn recv(
    sock: &mut netlink::Socket,
    raw: &mut Vec<(u32, [u32; 4])>,
    wait: bool,
) -> Result<(), bool> {
    match sock.recv(wait) {
        Ok(datagram) => {
            parse(datagram, raw);
            Ok(())
        }
        Err(e) => Err(e.raw_os_error() == Some(libc::ENOBUFS)),
    }
}

/// The tree of taskmaster's descendants, kept from the events.
struct Reader {
    /// Taskmaster and its descendants (thread group ids).
    tree: HashSet<i32>,
    /// The members that created a process.
    parents: HashSet<i32>,
    me: i32,
}

impl Reader {
    /// The descendants of taskmaster now in /proc, after events were lost.
    fn rebuild(&mut self) {
        self.tree.clear();
        self.tree.insert(self.me);
        for p in super::procfs::descendants(nix::unistd::Pid::from_raw(self.me), usize::MAX) {
            self.tree.insert(p.as_raw());
        }
        // Who forked what meanwhile is unknown: every member may have.
        self.parents = self.tree.clone();
    }

    /// Keeps the tree and turns raw events into the supervisor's (its descendants only).
    fn filter(&mut self, raw: &mut Vec<(u32, [u32; 4])>, out: &mut Vec<ProcEvent>) {
        for (what, [a, b, c, d]) in raw.drain(..) {
            match what {
                // parent pid, parent tgid, child pid, child tgid; a thread is not a process.
                PROC_EVENT_FORK if c == d && self.tree.contains(&(b as i32)) => {
                    let (parent, child) = (b as i32, c as i32);
                    self.tree.insert(child);
                    // Taskmaster's own children (leaders, check and alert commands) are
                    // known to it already; their own forks are what it wants.
                    if parent == self.me {
                        continue;
                    }
                    self.parents.insert(parent);
                    let start =
                        super::procfs::stat(nix::unistd::Pid::from_raw(child)).map(|s| s.start);
                    out.push(ProcEvent::Fork {
                        parent,
                        child,
                        start,
                    });
                }
                // pid, tgid: only a whole process's end.
                PROC_EVENT_EXIT if a == b && self.tree.remove(&(a as i32)) => {
                    let pid = a as i32;
                    let forked = self.parents.remove(&pid);
                    out.push(ProcEvent::Exit { pid, forked });
                }
                _ => {}
            }
        }
    }
}

/// Proves events arrive: a thread started now must be seen forked, within `PROBE_WAIT`.
/// The events read meanwhile are kept, filtered (the first spawns may be among them).
fn probe(sock: &mut netlink::Socket, reader: &mut Reader) -> Result<Vec<ProcEvent>, String> {
    let tid = std::thread::Builder::new()
        .name("taskmaster-probe".to_string())
        .spawn(|| nix::unistd::gettid().as_raw())
        .map_err(|e| e.to_string())?
        .join()
        .map_err(|_| "the probe thread failed".to_string())?;
    let _ = sock.set_timeout(PROBE_WAIT);
    let deadline = std::time::Instant::now() + PROBE_WAIT;
    let mut raw = Vec::new();
    let mut out = Vec::new();
    let mut found = false;
    while !found && std::time::Instant::now() < deadline {
        match recv(sock, &mut raw, true) {
            Ok(()) => {}
            // The tree may have missed a fork: read again from /proc.
            Err(true) => {
                reader.rebuild();
                out.push(ProcEvent::Lost);
            }
            Err(false) => break,
        }
        // A thread's fork event names the process's own parent as its parent: it is known
        // by its id and its thread group.
        found = raw.iter().any(|(what, w)| {
            *what == PROC_EVENT_FORK && w[2] as i32 == tid && w[3] as i32 == reader.me
        });
        reader.filter(&mut raw, &mut out);
    }
    let _ = sock.set_timeout(Duration::ZERO);
    if !found {
        return Err(format!(
            "no event from the kernel within {} s (another pid namespace?)",
            PROBE_WAIT.as_secs()
        ));
    }
    out.push(ProcEvent::Working);
    Ok(out)
}

fn run(mut sock: netlink::Socket, tx: Sender<Vec<ProcEvent>>) {
    let me = std::process::id() as i32;
    let mut reader = Reader {
        tree: HashSet::from([me]),
        parents: HashSet::new(),
        me,
    };
    match probe(&mut sock, &mut reader) {
        Ok(first) => {
            if tx.send(first).is_err() {
                return;
            }
        }
        Err(why) => {
            let _ = tx.send(vec![ProcEvent::Unavailable(why)]);
            return;
        }
    }
    let mut raw = Vec::new();
    let mut out = Vec::new();
    loop {
        // One blocking read, then whatever else is queued, as one batch.
        let mut lost = false;
        match recv(&mut sock, &mut raw, true) {
            Ok(()) => {}
            Err(true) => lost = true,
            Err(false) => return,
        }
        reader.filter(&mut raw, &mut out);
        // Only the rest of the machine's forks and exits: they are let pile up a moment,
        // so a busy machine wakes this thread fifty times a second at most.
        if out.is_empty() && !lost {
            std::thread::sleep(COALESCE);
        }
        let mut more = 0;
        while !lost && more < BATCH {
            match recv(&mut sock, &mut raw, false) {
                Ok(()) => more += 1,
                Err(true) => lost = true,
                Err(false) => break,
            }
        }
        reader.filter(&mut raw, &mut out);
        if lost {
            reader.rebuild();
            out.push(ProcEvent::Lost);
        }
        if !out.is_empty() && tx.send(std::mem::take(&mut out)).is_err() {
            // The supervisor is gone.
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One datagram as the kernel sends it: nlmsghdr, cn_msg, proc_event.
    fn datagram(what: u32, data: [u32; 4]) -> Vec<u8> {
        let mut m = vec![0u8; CN_MSG_LEN];
        m.extend(what.to_ne_bytes());
        m.extend(0u32.to_ne_bytes());
        m.extend(0u64.to_ne_bytes());
        for w in data {
            m.extend(w.to_ne_bytes());
        }
        m.extend([0u8; 8]);
        netlink::frame(netlink::NLMSG_DONE, 0, 0, &m)
    }

    fn reader(me: i32) -> Reader {
        Reader {
            tree: HashSet::from([me]),
            parents: HashSet::new(),
            me,
        }
    }

    #[test]
    fn a_datagram_parses_into_its_kind_and_pids() {
        let mut raw = Vec::new();
        let mut two = datagram(PROC_EVENT_FORK, [1, 2, 3, 4]);
        two.extend(datagram(PROC_EVENT_EXIT, [5, 5, 0, 9]));
        parse(&two, &mut raw);
        assert_eq!(
            raw,
            [
                (PROC_EVENT_FORK, [1, 2, 3, 4]),
                (PROC_EVENT_EXIT, [5, 5, 0, 9])
            ]
        );
        raw.clear();
        parse(&two[..40], &mut raw);
        assert!(raw.is_empty(), "a cut message is dropped, not misread");
    }

    #[test]
    fn only_the_descendants_of_taskmaster_are_followed() {
        let me = 100;
        let mut r = reader(me);
        let mut out = Vec::new();
        let fork = |parent_tid: u32, parent: u32, child: u32, tgid: u32| {
            (PROC_EVENT_FORK, [parent_tid, parent, child, tgid])
        };
        let exit = |pid: u32, tgid: u32| (PROC_EVENT_EXIT, [pid, tgid, 0, 0]);
        let mut raw = vec![
            // A leader of ours: followed, not told (taskmaster knows its own children).
            fork(101, 100, 200, 200),
            // The leader forks: told. Someone else's fork: not.
            fork(200, 200, 300, 300),
            fork(7, 7, 8, 8),
            // A thread of the leader: not a process.
            fork(200, 200, 201, 200),
            // The grandchild forks in turn, then the middle exits, then a thread.
            fork(300, 300, 400, 400),
            exit(300, 300),
            exit(201, 200),
            // A leader that never forked ends: told, with nothing to adopt.
            fork(101, 100, 500, 500),
            exit(500, 500),
            exit(8, 8),
        ];
        r.filter(&mut raw, &mut out);
        let told: Vec<ProcEvent> = out
            .into_iter()
            .map(|e| match e {
                ProcEvent::Fork { parent, child, .. } => ProcEvent::Fork {
                    parent,
                    child,
                    start: None,
                },
                e => e,
            })
            .collect();
        let f = |parent, child| ProcEvent::Fork {
            parent,
            child,
            start: None,
        };
        assert_eq!(
            told,
            [
                f(200, 300),
                f(300, 400),
                ProcEvent::Exit {
                    pid: 300,
                    forked: true
                },
                ProcEvent::Exit {
                    pid: 500,
                    forked: false
                },
            ]
        );
        assert_eq!(
            r.tree,
            HashSet::from([100, 200, 400]),
            "the tree follows forks and exits"
        );
    }
}
