//! Abuse 4: a storm of reloads while processes flap, alternating two valid configs and an
//! invalid one. The end state must match the last valid config, unchanged programs must keep
//! their pids throughout, and the invalid config must change nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use nix::sys::signal::Signal;
use taskmaster::supervisor::{Command, Reply, StateName};

use crate::harness::binary::{Daemon, status_rows};
use crate::harness::inprocess::Tm;
use crate::harness::procfs::cmdline;
use crate::harness::rng::Rng;
use crate::harness::wait_until;

const COMMON: &str = r#"
[programs.stable]
cmd = "sleep 1000"
numprocs = 3
starttime = 0
stoptime = 1
[programs.flapper]
cmd = "sh -c 'sleep 0.05; exit 1'"
numprocs = 2
starttime = 0
autorestart = "always"
stoptime = 1
"#;

const A: &str = r#"
[programs.flip]
cmd = "sleep 1001"
starttime = 0
stoptime = 1
[programs.only_a]
cmd = "sleep 1002"
starttime = 0
stoptime = 1
"#;

const B: &str = r#"
[programs.flip]
cmd = "sleep 1003"
starttime = 0
stoptime = 1
[programs.only_b]
cmd = "sleep 1004"
numprocs = 2
starttime = 0
stoptime = 1
"#;

/// Parses, but fails validation (and leaves `only_bad`, which must never appear).
const BAD: &str = r#"
[programs.flip]
cmd = "sleep 1005"
autorestart = "sometimes"
[programs.only_bad]
cmd = "sleep 1006"
"#;

/// Config `which` after `header` (a `[taskmaster]` table, or nothing for a [`Daemon`]).
fn text(which: usize, header: &str) -> String {
    let body = [A, B, BAD][which];
    format!("{header}{COMMON}{body}")
}

const IN_PROCESS: &str = "[taskmaster]\nsocket = false\n";

/// What the end state must be under config A (0) or B (1): process name -> cmdline.
fn expected(which: usize) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for i in 0..3 {
        m.insert(format!("stable:stable_{i:02}"), "sleep 1000".to_string());
    }
    if which == 0 {
        m.insert("flip".into(), "sleep 1001".into());
        m.insert("only_a".into(), "sleep 1002".into());
    } else {
        m.insert("flip".into(), "sleep 1003".into());
        m.insert("only_b:only_b_00".into(), "sleep 1004".into());
        m.insert("only_b:only_b_01".into(), "sleep 1004".into());
    }
    m
}

#[test]
fn hundred_reloads_while_flapping_end_on_the_last_valid_config() {
    let tm = Tm::start(&text(0, IN_PROCESS));
    wait_until(Duration::from_secs(20), "stable running", || {
        tm.status().count(StateName::Running) >= 5
    });
    let stable_pids: Vec<Option<u32>> = (0..3)
        .map(|i| tm.info(&format!("stable:stable_{i:02}")).pid)
        .collect();
    let mut rng = Rng::new(0xbadc_0f16);
    let mut last_valid = 0;
    let mut refused = 0;
    for round in 0..100 {
        // Never the same config twice in a row, so every valid reload has work to do.
        let which = (last_valid + 1 + rng.below(2) as usize) % 3;
        let which = if round == 99 && which == 2 {
            1 - last_valid
        } else {
            which
        };
        let avail_before = tm.call(Command::Avail);
        tm.rewrite(&text(which, IN_PROCESS));
        let reply = tm.call(Command::Reload);
        if which == 2 {
            refused += 1;
            assert!(reply.is_err(), "bad config refused: {reply:?}");
            let avail_after = tm.call(Command::Avail);
            assert_eq!(
                format!("{avail_before:?}"),
                format!("{avail_after:?}"),
                "a refused reload changes nothing"
            );
        } else {
            assert!(matches!(reply, Ok(Reply::Reload(_))), "{reply:?}");
            last_valid = which;
        }
        let now: Vec<Option<u32>> = (0..3)
            .map(|i| tm.info(&format!("stable:stable_{i:02}")).pid)
            .collect();
        assert_eq!(
            now, stable_pids,
            "round {round}: unchanged programs keep their pids"
        );
        // Random gaps between reloads are the storm (seeded, so a failure replays).
        std::thread::sleep(Duration::from_millis(rng.below(30)));
    }
    let want = expected(last_valid);
    wait_until(
        Duration::from_secs(30),
        "end state of the last valid config",
        || {
            let snap = tm.status();
            let mut got = BTreeMap::new();
            for p in &snap.processes {
                if p.program == "flapper" {
                    continue;
                }
                match (p.state, p.pid) {
                    (StateName::Running, Some(pid)) => {
                        got.insert(p.name.clone(), cmdline(pid));
                    }
                    _ => return false,
                }
            }
            got == want
        },
    );
    assert_eq!(tm.status().processes.len(), want.len() + 2);
    eprintln!("chaos_reload: 100 reloads ({refused} refused), ended on config {last_valid}");
    tm.shutdown();
}

/// The same with real SIGHUPs to the binary. Signals coalesce, so only the last write must be
/// valid for the end state to be known.
#[test]
fn sighup_storm_on_the_binary_ends_on_the_last_config() {
    let mut bin = Daemon::start(&text(0, ""));
    let socket = bin.socket.clone();
    let stable = |rows: &[(String, String, Option<u32>)]| -> Vec<Option<u32>> {
        rows.iter()
            .filter(|r| r.0.starts_with("stable"))
            .map(|r| r.2)
            .collect()
    };
    wait_until(Duration::from_secs(20), "stable running", || {
        stable(&status_rows(&socket)).iter().all(Option::is_some)
    });
    let before = stable(&status_rows(&socket));
    let mut rng = Rng::new(42);
    let mut which = 0;
    for i in 0..100 {
        which = if i == 99 { 1 } else { rng.below(3) as usize };
        bin.rewrite(&text(which, ""));
        bin.signal(Signal::SIGHUP);
        // Random gaps between SIGHUPs are the storm (seeded, so a failure replays).
        std::thread::sleep(Duration::from_millis(rng.below(40)));
        assert!(bin.running(), "taskmaster survives SIGHUP {i}");
    }
    let want = expected(which);
    wait_until(
        Duration::from_secs(30),
        "end state of the last config",
        || {
            let rows = status_rows(&socket);
            let got: BTreeMap<String, String> = rows
                .iter()
                .filter(|r| !r.0.starts_with("flapper") && r.1 == "RUNNING")
                .filter_map(|r| r.2.map(|pid| (r.0.clone(), cmdline(pid))))
                .collect();
            got == want && rows.len() == want.len() + 2
        },
    );
    assert_eq!(
        stable(&status_rows(&socket)),
        before,
        "stable keeps its pids through 100 SIGHUPs"
    );
    bin.children();
}
