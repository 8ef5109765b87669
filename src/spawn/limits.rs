//! Descriptors: taskmaster's limit and what its children cost. Each running child holds a few
//! of taskmaster's descriptors (its stdin's write end, its output pipes' read ends, log files),
//! so the limit on open files is what bounds how many processes it can run.
//!
//! At start the soft limit is raised to the hard one, and the hard one to the kernel's
//! ceiling (`fs.nr_open`) where taskmaster has the privilege (root, CAP_SYS_RESOURCE). Children
//! get the soft limit taskmaster was started with back (see `fork.rs`): programs that close
//! every descriptor up to the limit, or use `select`, expect a modest one.
//!
//! Before each spawn the [`Budget`] checks that the new child's descriptors fit with a reserve
//! left for everything else (control clients, health checks, log rotation). When they do not,
//! the spawn is not attempted: the process fails to start with a reason saying so, and the
//! event log says it once, until there is room again.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::libc;
use nix::sys::resource::{Resource, getrlimit, setrlimit};
use nix::unistd::Pid;

use crate::config::{OutputTarget, ProgramConfig};

/// Descriptors always left free for the rest of taskmaster.
const RESERVE: u64 = 64;
/// The exact count of open descriptors is read at most this often (it lists /proc/self/fd).
const RECOUNT: Duration = Duration::from_millis(200);

/// The limit taskmaster was started with (the first call to `raise` records it).
static STARTED_WITH: OnceLock<(u64, u64)> = OnceLock::new();

/// Raises the soft limit on open files to the hard one, and the hard one to `fs.nr_open`
/// where allowed. Returns the soft limit now in force.
pub fn raise() -> u64 {
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 1024;
    };
    STARTED_WITH.get_or_init(|| (soft, hard));
    let ceiling = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(hard);
    // Without the privilege this fails with EPERM; then the hard limit is as high as it goes.
    if ceiling > hard && setrlimit(Resource::RLIMIT_NOFILE, ceiling, ceiling).is_ok() {
        return ceiling;
    }
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        return hard;
    }
    soft
}

/// What a child gets: the soft limit taskmaster was started with (under the hard limit now in
/// force), or `None` when taskmaster's own is that already.
pub(super) fn for_child() -> Option<libc::rlimit> {
    let (started_soft, _) = *STARTED_WITH.get()?;
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    (soft != started_soft).then_some(libc::rlimit {
        rlim_cur: started_soft.min(hard),
        rlim_max: hard,
    })
}

/// Descriptors taskmaster holds for one running process of `prog`.
pub fn per_process(prog: &ProgramConfig) -> u64 {
    let file = |t: &OutputTarget| u64::from(matches!(t, OutputTarget::File(_)));
    if prog.pty {
        // The master (read by the I/O thread) and its duplicate (input, resizing).
        return 2 + file(&prog.stdout);
    }
    let stream = |t: &OutputTarget| match t {
        OutputTarget::Discard => 0,
        t => 1 + file(t),
    };
    1 + stream(&prog.stdout) + stream(&prog.stderr)
}

/// More held for a moment while spawning: the child's ends and the failure pipe.
fn during_spawn(prog: &ProgramConfig) -> u64 {
    per_process(prog) + 5
}

/// The soft limit on open files now.
pub fn current() -> u64 {
    getrlimit(Resource::RLIMIT_NOFILE).map_or(1024, |(soft, _)| soft)
}

/// Open descriptors of this process, counted exactly.
fn count_open() -> Option<u64> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count() as u64)
}

/// Running children's descriptors, and whether they leave room for another.
pub struct Budget {
    limit: u64,
    /// Estimated from the children spawned and reaped, corrected by an exact count whenever
    /// the estimate says there is no room.
    held: HashMap<Pid, u64>,
    held_total: u64,
    /// Open descriptors not held for children (sockets, threads' pipes, the event log...).
    baseline: u64,
    last_count: Option<Instant>,
    /// A shortage was announced and has not passed yet.
    short: bool,
}

/// Why a spawn was not attempted; `announce` is set on the first refusal of a shortage, for
/// the event log.
pub struct Refusal {
    pub why: String,
    pub announce: Option<String>,
}

impl Budget {
    pub fn new() -> Budget {
        Budget {
            limit: current(),
            held: HashMap::new(),
            held_total: 0,
            baseline: count_open().unwrap_or(16),
            last_count: None,
            short: false,
        }
    }

    fn free(&self) -> u64 {
        self.limit
            .saturating_sub(self.baseline + self.held_total + RESERVE)
    }

    /// Whether one more process of `prog` fits; `now` rate-limits the exact recount.
    pub fn admit(&mut self, prog: &ProgramConfig, now: Instant) -> Result<(), Refusal> {
        let need = during_spawn(prog);
        if self.free() < need && self.last_count.is_none_or(|t| now >= t + RECOUNT) {
            self.last_count = Some(now);
            self.limit = current();
            if let Some(open) = count_open() {
                self.baseline = open.saturating_sub(self.held_total);
            }
        }
        if self.free() >= need {
            if self.short && self.free() >= need * 16 {
                self.short = false;
            }
            return Ok(());
        }
        let running = self.held.len();
        let announce = (!self.short).then(|| {
            format!(
                "descriptor limit reached: {running} running processes and taskmaster hold \
                 about {} of the {} files taskmaster may open; processes that need more do not \
                 start until others stop (raise the limit: `ulimit -Hn` before starting \
                 taskmaster, or run it as root)",
                self.baseline + self.held_total,
                self.limit
            )
        });
        self.short = true;
        Err(Refusal {
            why: format!(
                "not started: the limit of {} open files is reached ({running} processes running)",
                self.limit
            ),
            announce,
        })
    }

    pub fn spawned(&mut self, pid: Pid, prog: &ProgramConfig) {
        let n = per_process(prog);
        if let Some(old) = self.held.insert(pid, n) {
            self.held_total -= old;
        }
        self.held_total += n;
    }

    pub fn reaped(&mut self, pid: Pid) {
        if let Some(n) = self.held.remove(&pid) {
            self.held_total -= n;
        }
    }

    /// Before the first spawn: a warning when the processes to start cannot all fit.
    pub fn forecast<'a>(
        &self,
        starting: impl Iterator<Item = &'a ProgramConfig>,
    ) -> Option<String> {
        let (count, need) = starting.fold((0u64, 0u64), |(c, n), p| (c + 1, n + per_process(p)));
        let room = self.free();
        (need > room).then(|| {
            let each = need.div_ceil(count.max(1)).max(1);
            format!(
                "descriptor limit too low: {count} processes to start need about {need} \
                 descriptors and {room} of the limit of {} are free, so about {} of them can \
                 run (raise the limit: `ulimit -Hn` before starting taskmaster, or run it as \
                 root)",
                self.limit,
                room / each
            )
        })
    }
}

impl Default for Budget {
    fn default() -> Self {
        Budget::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(toml: &str) -> ProgramConfig {
        let text = format!("[programs.p]\ncmd = \"sleep 1\"\n{toml}");
        let config =
            crate::config::parse(std::path::Path::new("/etc/tm/t.toml"), &text).expect("config");
        config.programs["p"].clone()
    }

    #[test]
    fn a_child_costs_its_stdin_and_each_captured_stream() {
        assert_eq!(per_process(&program("")), 3);
        assert_eq!(per_process(&program("stdout = false\nstderr = false")), 1);
        assert_eq!(per_process(&program("stdout = \"/tmp/x.log\"")), 4);
        assert_eq!(per_process(&program("pty = true")), 2);
    }

    #[test]
    fn a_shortage_is_announced_once_then_refused_quietly() {
        let p = program("");
        let mut b = Budget::new();
        // A limit just above what is open: nothing more fits. (Just counted: the real limit
        // is not read back during this test.)
        b.limit = b.baseline + RESERVE + 2;
        let now = Instant::now();
        b.last_count = Some(now);
        let first = b.admit(&p, now).expect_err("refused");
        assert!(first.announce.is_some(), "the first refusal is announced");
        assert!(first.why.contains("limit"), "{}", first.why);
        let second = b.admit(&p, now).expect_err("refused");
        assert!(second.announce.is_none(), "announced once");
        b.limit += 10_000;
        assert!(b.admit(&p, now).is_ok(), "room again");
        assert!(!b.short, "the shortage has passed");
    }

    #[test]
    fn the_forecast_says_how_many_fit() {
        let p = program("");
        let mut b = Budget::new();
        b.limit = b.baseline + RESERVE + 30;
        let many = vec![&p; 20];
        let text = b.forecast(many.into_iter()).expect("a warning");
        assert!(text.contains("20 processes"), "{text}");
        assert!(text.contains("about 10 of them"), "{text}");
        let few = vec![&p; 5];
        assert!(b.forecast(few.into_iter()).is_none());
    }
}
