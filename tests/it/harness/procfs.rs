//! What /proc says about processes: the one /proc/PID/stat parser and the questions the
//! tests ask of it (alive, reaped, children, group members, descriptors, memory).

use std::path::Path;

/// The fields of /proc/PID/stat that the tests need.
#[derive(Debug, Clone)]
pub struct Stat {
    /// `R`, `S`, `T` (stopped), `Z` (zombie)...
    pub state: char,
    pub ppid: u32,
    pub pgrp: u32,
    pub session: u32,
    pub tty_nr: i64,
    /// utime + stime, in clock ticks.
    pub cpu_ticks: u64,
}

pub fn stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command may hold spaces and parentheses: the fields start after the last ')'.
    let (_, rest) = text.rsplit_once(')')?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // [0] state, [1] ppid, [2] pgrp, [3] session, [4] tty_nr, ... [11] utime, [12] stime.
    Some(Stat {
        state: f.first()?.chars().next()?,
        ppid: f.get(1)?.parse().ok()?,
        pgrp: f.get(2)?.parse().ok()?,
        session: f.get(3)?.parse().ok()?,
        tty_nr: f.get(4)?.parse().ok()?,
        cpu_ticks: f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?,
    })
}

/// True when `pid` exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    stat(pid).is_some_and(|s| s.state != 'Z')
}

/// True when /proc has no entry for `pid` at all (reaped).
pub fn gone(pid: u32) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
}

/// Every pid on the system with its stat.
pub fn all_procs() -> Vec<(u32, Stat)> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
        .filter_map(|pid| stat(pid).map(|s| (pid, s)))
        .collect()
}

/// Live (non-zombie) children of `parent`.
pub fn children_of(parent: u32) -> Vec<u32> {
    live_where(|s| s.ppid == parent)
}

/// Live (non-zombie) members of process group `pgid`.
pub fn group_members(pgid: u32) -> Vec<u32> {
    live_where(|s| s.pgrp == pgid)
}

fn live_where(keep: impl Fn(&Stat) -> bool) -> Vec<u32> {
    all_procs()
        .into_iter()
        .filter(|(_, s)| s.state != 'Z' && keep(s))
        .map(|(pid, _)| pid)
        .collect()
}

/// Number of open descriptors of `pid`.
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The open descriptor numbers of `pid`, sorted.
pub fn fds(pid: u32) -> Vec<u32> {
    let mut v: Vec<u32> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_string_lossy().parse().ok())
                .collect()
        })
        .unwrap_or_default();
    v.sort_unstable();
    v
}

/// The open descriptors of `pid` with what each is (`pipe:[…]`, a path), sorted.
pub fn fd_links(pid: u32) -> Vec<(u32, String)> {
    fds(pid)
        .into_iter()
        .map(|fd| {
            let link = std::fs::read_link(format!("/proc/{pid}/fd/{fd}"));
            (
                fd,
                link.map(|l| l.display().to_string()).unwrap_or_default(),
            )
        })
        .collect()
}

pub fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .replace('\0', " ")
                .trim()
                .to_string()
        })
        .unwrap_or_default()
}

/// VmRSS of `pid` (`"self"` for this test process), in KiB.
pub fn rss_kib_of(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// VmRSS of this test process, in KiB.
pub fn rss_kib() -> u64 {
    rss_kib_of("self")
}

/// The command name of `pid` (`comm`: the executable's name, 15 bytes at most).
pub fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|c| c.trim().to_string())
        .unwrap_or_default()
}

/// True when `pid` runs `name` and sleeps in a timed sleep (`sleep`, `time.sleep`): past its
/// exec and start-up, where the dynamic loader may still hold a file open.
pub fn sleeping_in(pid: u32, name: &str) -> bool {
    comm(pid) == name
        && std::fs::read_to_string(format!("/proc/{pid}/wchan"))
            .is_ok_and(|w| w.contains("nanosleep"))
}

/// How many threads of `pid` have a name starting with `prefix` (the kernel keeps 15 bytes).
pub fn threads_named(pid: u32, prefix: &str) -> usize {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.starts_with(prefix))
        })
        .count()
}
