//! Abuse 2: fifty programs crash-looping at once. Each must reach FATAL after exactly
//! startretries + 1 attempts, with the growing delay (attempts at 0, 1, 3 and 6 s), and the
//! supervisor must not burn CPU while they loop.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use taskmaster::supervisor::StateName;

use crate::harness::binary::Daemon;
use crate::harness::inprocess::Tm;
use crate::harness::procfs::stat;
use crate::harness::{read, wait_until};

const PROGRAMS: usize = 50;

/// The programs, after `header` (a `[taskmaster]` table or nothing).
fn crash_config(header: &str) -> String {
    let mut toml = header.to_string();
    for i in 0..PROGRAMS {
        let cmd = if i % 2 == 0 {
            "false"
        } else {
            "sh -c 'exit 1'"
        };
        let _ = write!(
            toml,
            "[programs.crash{i:02}]\ncmd = \"{cmd}\"\nstartretries = 3\nstarttime = 1\n\
             autorestart = \"always\"\n"
        );
    }
    toml
}

#[test]
fn fifty_crash_loops_reach_fatal_after_exactly_four_attempts() {
    let t0 = Instant::now();
    let tm = Tm::start(&crash_config("[taskmaster]\nsocket = false\n"));
    wait_until(Duration::from_secs(40), "all 50 FATAL", || {
        tm.status().count(StateName::Fatal) == PROGRAMS
    });
    let took = t0.elapsed();
    // Backoffs of 1, 2 and 3 s between the four attempts.
    assert!(
        took >= Duration::from_millis(5_900),
        "FATAL must come after the 1+2+3 s backoffs, came after {took:?}"
    );
    for p in &tm.status().processes {
        assert_eq!(p.retries, 4, "{}: startretries 3 means 4 attempts", p.name);
        assert_eq!(p.restarts, 0, "{}: quick exits are retries", p.name);
        assert!(p.reason.starts_with("Exited too quickly"), "{p:?}");
    }
    eprintln!("chaos_crashloop: 50 programs FATAL after {took:?}");
}

/// The binary alone in its process: its CPU time is the supervisor's (children's time is
/// counted apart, in cutime/cstime).
#[test]
fn fifty_crash_loops_cost_little_supervisor_cpu() {
    let mut bin = Daemon::start(&crash_config(""));
    let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    let t0 = Instant::now();
    let log = bin.log.clone();
    wait_until(Duration::from_secs(40), "50 'gave up' lines", || {
        read(&log).matches("gave up: ").count() == PROGRAMS
    });
    let wall = t0.elapsed();
    let cpu = stat(bin.pid()).expect("taskmaster is alive").cpu_ticks as f64 / ticks;
    assert!(bin.running(), "taskmaster survives the crash loops");
    let text = read(&log);
    for i in 0..PROGRAMS {
        let spawned = text.matches(&format!("spawned: 'crash{i:02}' ")).count();
        assert_eq!(spawned, 4, "crash{i:02}: exactly 4 attempts");
    }
    let share = cpu / wall.as_secs_f64();
    eprintln!(
        "chaos_crashloop: binary used {cpu:.2} s CPU over {wall:?} ({:.1} % of a core)",
        share * 100.0
    );
    // Measured: about 1 %; a supervisor that spins on its timer shows about 25 %.
    assert!(
        share < 0.10,
        "supervisor CPU {:.1} % of a core while 50 programs crash-loop",
        share * 100.0
    );
}
