//! Reading /proc from the outside, as a user's monitoring would: a process's state, parent,
//! CPU time, RSS and thread count, and spotting a parent's newly forked children without a
//! full /proc scan (this kernel has no /proc/PID/task/TID/children).

use std::fs;
use std::time::{Duration, Instant};

/// The fields of /proc/PID/stat the bench uses.
pub struct Stat {
    pub comm: String,
    pub state: char,
    pub ppid: i32,
    /// utime + stime, in clock ticks.
    pub cpu_ticks: u64,
}

pub fn stat(pid: i32) -> Option<Stat> {
    stat_file(&format!("/proc/{pid}/stat"))
}

fn stat_file(path: &str) -> Option<Stat> {
    let text = fs::read_to_string(path).ok()?;
    // comm may hold spaces and parentheses: it ends at the last ')'.
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    let rest: Vec<&str> = text.get(close + 2..)?.split_whitespace().collect();
    // rest[0] is field 3 (state); field n is rest[n - 3].
    let field = |n: usize| rest.get(n - 3).and_then(|s| s.parse::<u64>().ok());
    Some(Stat {
        comm,
        state: rest.first()?.chars().next()?,
        ppid: rest.get(1)?.parse().ok()?,
        cpu_ticks: field(14)? + field(15)?,
    })
}

fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let t = unsafe { nix::libc::sysconf(nix::libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// User + system CPU seconds the process (all its threads) has used.
pub fn cpu_seconds(pid: i32) -> Option<f64> {
    Some(stat(pid)?.cpu_ticks as f64 / clock_ticks_per_sec())
}

/// CPU seconds of all of `pid`'s threads, in nanoseconds from the scheduler
/// (`/proc/PID/task/TID/schedstat`): a figure of a few tenths of a percent over 20 s is
/// 40–60 clock ticks, too coarse to tell 0.4 % from 0.6 %.
pub fn cpu_seconds_precise(pid: i32) -> Option<f64> {
    let mut ns = 0u64;
    for task in fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
        let text = fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        ns += text
            .split_whitespace()
            .next()
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Some(ns as f64 / 1e9)
}

/// User + system CPU seconds of the process's children it has reaped (cutime + cstime).
pub fn reaped_children_cpu_seconds(pid: i32) -> Option<f64> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let close = text.rfind(')')?;
    let rest: Vec<&str> = text.get(close + 2..)?.split_whitespace().collect();
    let field = |n: usize| rest.get(n - 3).and_then(|s| s.parse::<u64>().ok());
    Some((field(16)? + field(17)?) as f64 / clock_ticks_per_sec())
}

/// Reaps `pid` and returns (exited 0, its user+system CPU-seconds).
pub fn wait_with_cpu(pid: i32) -> crate::Res<(bool, f64)> {
    use nix::libc;
    let mut status = 0;
    // SAFETY: wait4 writes into the status and rusage we own; an all-zero rusage is valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if r != pid {
        return Err(format!("wait4 {pid}: {}", std::io::Error::last_os_error()).into());
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    Ok((ok, secs(usage.ru_utime) + secs(usage.ru_stime)))
}

/// User + system CPU seconds one thread of the process has used.
pub fn thread_cpu_seconds(pid: i32, tid: i32) -> Option<f64> {
    Some(
        stat_file(&format!("/proc/{pid}/task/{tid}/stat"))?.cpu_ticks as f64
            / clock_ticks_per_sec(),
    )
}

/// User + system CPU seconds of the process's threads whose name starts with `prefix`
/// (taskmaster names its threads: `taskmaster-supe…` is the supervisor thread).
pub fn named_threads_cpu_seconds(pid: i32, prefix: &str) -> Option<f64> {
    let mut ticks = 0;
    for task in fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
        let comm = fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.starts_with(prefix)
            && let Some(st) = stat_file(&task.path().join("stat").to_string_lossy())
        {
            ticks += st.cpu_ticks;
        }
    }
    Some(ticks as f64 / clock_ticks_per_sec())
}

/// VmRSS in KiB.
pub fn rss_kib(pid: i32) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub fn threads(pid: i32) -> Option<usize> {
    Some(fs::read_dir(format!("/proc/{pid}/task")).ok()?.count())
}

/// Dead as far as the process itself goes: a zombie awaiting its parent's wait, or gone.
pub fn is_dead(pid: i32) -> bool {
    stat(pid).is_none_or(|s| matches!(s.state, 'Z' | 'X' | 'x'))
}

/// Every process whose parent is `ppid` (a full /proc scan: for clean-up, not for timing).
pub fn children(ppid: i32) -> Vec<i32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| stat(pid).is_some_and(|s| s.ppid == ppid))
        .collect()
}

fn last_pid() -> i32 {
    fs::read_to_string("/proc/sys/kernel/ns_last_pid")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Watches for the next child of `parent` that has exec'd `comm`. Pids are handed out in
/// order, so only the pids allocated since the last look need checking: cheap enough to poll
/// in a tight loop with sub-millisecond resolution.
pub struct NewChildWatch {
    parent: i32,
    comm: String,
    checked_up_to: i32,
    /// Pids allocated but not yet in /proc: the kernel counts a pid as handed out a moment
    /// before the new task shows there. Rechecked until they show or `UNSEEN_FOR` passes.
    unseen: Vec<(i32, Instant)>,
    /// Children seen but not yet exec'd (still showing the parent's comm).
    forked: Vec<i32>,
}

const UNSEEN_FOR: Duration = Duration::from_millis(200);

impl NewChildWatch {
    pub fn new(parent: i32, program: &str) -> Self {
        let base = program.rsplit('/').next().unwrap_or(program);
        // The kernel keeps 15 bytes of comm.
        let comm: String = base.chars().take(15).collect();
        Self {
            parent,
            comm,
            checked_up_to: last_pid(),
            unseen: Vec::new(),
            forked: Vec::new(),
        }
    }

    /// A new child that has exec'd the program, if one exists now.
    pub fn poll(&mut self) -> Option<i32> {
        let now = Instant::now();
        let last = last_pid();
        self.unseen
            .extend((self.checked_up_to + 1..=last).map(|pid| (pid, now)));
        self.checked_up_to = self.checked_up_to.max(last);
        let (parent, forked) = (self.parent, &mut self.forked);
        self.unseen.retain(|&(pid, since)| match stat(pid) {
            Some(s) => {
                if s.ppid == parent {
                    forked.push(pid);
                }
                false
            }
            None => now.duration_since(since) < UNSEEN_FOR,
        });
        let comm = &self.comm;
        self.forked.retain(|&pid| stat(pid).is_some());
        self.forked
            .iter()
            .copied()
            .find(|&pid| stat(pid).is_some_and(|s| &s.comm == comm))
    }
}
