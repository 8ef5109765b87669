//! cgroup v2 containment (issue 13): with `cgroup = true` every process runs in a cgroup of
//! its own, so a stop — and taskmaster's own death — reaches descendants that the process
//! group and the subreaper cannot (setsid, double fork, redirected streams). Needs root and a
//! writable cgroup2 mount: elsewhere each test says why it skips, except the ones checking
//! the error a config asking for cgroups gets there.

use std::path::PathBuf;

use taskmaster::config;
use taskmaster::spawn::cgroup;
use taskmaster::supervisor::{Command, Options, Reply, StateName, Supervisor};

use crate::harness::binary::Daemon;
use crate::harness::file_pid;
use crate::harness::inprocess::Tm;
use crate::harness::procfs::alive;
use crate::harness::{LONG, wait_until};

/// Why cgroup tests cannot run here, if they cannot.
fn unusable() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("not running as root".to_string());
    }
    cgroup::locate().err()
}

macro_rules! need_cgroups {
    () => {
        if let Some(why) = unusable() {
            eprintln!("skipped: cgroup v2 is not usable here: {why}");
            return;
        }
    };
}

/// A setsid'd grandchild with its streams on /dev/null whose parent exits at once: outside
/// the process group, not in the leader's tree, holding none of its pipes — nothing but a
/// cgroup ties it to the program. It writes its pid to `DIR/gc`. `{trap}` may make it
/// ignore SIGTERM (an ignored signal survives exec).
const ESCAPER: &str = r#"
[programs.escaper]
cmd = "sh -c '(setsid sh -c \"{trap} echo \\$\\$ > {dir}/gc; exec sleep 1000\" </dev/null >/dev/null 2>&1 &); exec sleep 1000'"
starttime = 0
stoptime = 1
autorestart = false
cgroup = true
"#;

fn escaper(trap: bool, cgroup: bool) -> String {
    let text = ESCAPER.replace("{trap}", if trap { r#"trap \\\"\\\" TERM;"# } else { "" });
    if cgroup {
        text
    } else {
        text.replace("cgroup = true\n", "")
    }
}

/// The cgroup directory `pid` is in (cgroup v2), read from /proc.
fn cgroup_of(pid: u32) -> PathBuf {
    let here = cgroup::locate().expect("cgroups usable");
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let rel = text
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or("")
        .to_string();
    // taskmaster-<pid>/<process>.<n> under our own cgroup: the last two components.
    let parts: Vec<&str> = rel.rsplitn(3, '/').collect();
    match parts.as_slice() {
        [leaf, base, ..] => here.own.join(base).join(leaf),
        _ => PathBuf::from(rel),
    }
}

fn start_in_process(toml: &str) -> Result<Supervisor, String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("taskmaster.toml");
    std::fs::write(&path, toml).expect("write config");
    let config = config::load(&path).map_err(|e| e.to_string())?;
    Supervisor::start(
        config,
        Options {
            handle_signals: false,
            terminal: false,
        },
    )
    .map_err(|e| e.to_string())
}

#[test]
fn stop_kills_a_setsid_double_fork_the_subreaper_cannot_attribute() {
    need_cgroups!();
    let tm = Tm::start(&format!(
        "[taskmaster]\nsocket = false\n{}",
        escaper(false, true)
    ));
    let leader = tm.running_pid("escaper");
    let gc = file_pid(&tm.path("gc"));
    let cg = cgroup_of(leader);
    assert!(
        cg.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("escaper.")),
        "the leader runs in its own cgroup: {}",
        cg.display()
    );
    assert_eq!(
        cgroup_of(gc),
        cg,
        "the escaped grandchild is in the same cgroup"
    );
    tm.actions(Command::stop(vec!["escaper".into()]));
    wait_until(LONG, "the grandchild is dead", || !alive(gc));
    wait_until(LONG, "the emptied cgroup is removed", || !cg.exists());
}

#[test]
fn a_grandchild_ignoring_the_stop_signal_is_killed_with_the_cgroup_after_stoptime() {
    need_cgroups!();
    let tm = Tm::start(&format!(
        "[taskmaster]\nsocket = false\n{}",
        escaper(true, true)
    ));
    let events = tm.event_lines();
    tm.wait_state("escaper", StateName::Running);
    let gc = file_pid(&tm.path("gc"));
    tm.actions(Command::stop(vec!["escaper".into()]));
    wait_until(LONG, "the grandchild is dead", || !alive(gc));
    events.wait_for(
        &format!("the cgroup kill as an event naming the pid {gc}"),
        |l| {
            l.contains("killing: 1 process(es) left in the cgroup of escaper")
                && l.contains(&gc.to_string())
        },
    );
}

#[test]
fn the_leaders_death_stops_what_is_left_in_its_cgroup() {
    need_cgroups!();
    let tm = Tm::start(&format!(
        "[taskmaster]\nsocket = false\n{}",
        escaper(false, true)
    ));
    let leader = tm.running_pid("escaper");
    let gc = file_pid(&tm.path("gc"));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(leader as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the leader");
    tm.wait_state("escaper", StateName::Exited);
    wait_until(LONG, "the grandchild is dead", || !alive(gc));
}

/// Taskmaster SIGKILLed: PR_SET_PDEATHSIG takes its direct children along, not a setsid'd
/// grandchild (its parent is gone and nothing signals it) — without a cgroup it survives.
#[test]
fn a_sigkilled_taskmaster_leaves_a_setsid_grandchild_alive_without_a_cgroup() {
    let tm = Daemon::start(&escaper(false, false));
    tm.wait_state("escaper", "RUNNING");
    let leader: u32 = tm.ctl(&["pid", "escaper"]).out.trim().parse().expect("pid");
    let gc = file_pid(&tm.path("gc"));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(tm.pid() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill taskmaster");
    wait_until(LONG, "the leader dies with taskmaster (PDEATHSIG)", || {
        !alive(leader)
    });
    let survived = alive(gc);
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(gc as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    assert!(
        survived,
        "documented: the setsid'd grandchild outlives taskmaster"
    );
}

#[test]
fn a_sigkilled_taskmaster_leaves_nothing_alive_with_cgroup_true() {
    need_cgroups!();
    let tm = Daemon::start(&escaper(true, true));
    tm.wait_state("escaper", "RUNNING");
    let leader: u32 = tm.ctl(&["pid", "escaper"]).out.trim().parse().expect("pid");
    let gc = file_pid(&tm.path("gc"));
    let cg = cgroup_of(leader);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(tm.pid() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill taskmaster");
    wait_until(LONG, "the leader and the grandchild are dead", || {
        !alive(leader) && !alive(gc)
    });
    wait_until(LONG, "the cgroup is empty", || {
        std::fs::read_to_string(cg.join("cgroup.procs")).map_or(true, |t| t.trim().is_empty())
    });
    // The next taskmaster would sweep these; the test leaves nothing behind itself.
    let _ = std::fs::remove_dir(&cg);
    if let Some(base) = cg.parent() {
        let _ = std::fs::remove_dir(base);
    }
}

#[test]
fn limits_are_written_or_refused_by_name_when_their_controller_is_off() {
    need_cgroups!();
    let here = cgroup::locate().expect("usable");
    let toml = "[taskmaster]\nsocket = false\n[programs.capped]\ncmd = \"sleep 1000\"\n\
                starttime = 0\ncgroup = true\nmemory_max = \"64M\"\n";
    if !cgroup::controller_available(&here, "memory") {
        let err = start_in_process(toml).err().expect("refused");
        assert!(
            err.contains("program 'capped': key 'memory_max'") && err.contains("memory controller"),
            "a clear error naming program and key: {err}"
        );
        eprintln!("memory controller off here: checked the error ({err})");
        return;
    }
    let tm = Tm::start(toml);
    let leader = tm.running_pid("capped");
    let max = std::fs::read_to_string(cgroup_of(leader).join("memory.max")).unwrap_or_default();
    assert_eq!(max.trim(), (64u64 << 20).to_string());
}

#[test]
fn cgroup_true_runs_or_is_a_clear_startup_error() {
    let toml = "[taskmaster]\nsocket = false\n[programs.boxed]\ncmd = \"sleep 1000\"\n\
                cgroup = true\n";
    match cgroup::locate().err() {
        Some(why) => {
            let err = start_in_process(toml).err().expect("refused");
            assert!(
                err.contains("program 'boxed': key 'cgroup'"),
                "names program and key: {err}"
            );
            eprintln!("cgroups not usable here ({why}): checked the error");
        }
        None => {
            let tm = Tm::start(toml);
            tm.wait_state("boxed", StateName::Running);
            match tm.call(Command::Avail) {
                Ok(Reply::Avail(programs)) => assert_eq!(
                    programs[0].cgroup.as_deref(),
                    Some("no limits"),
                    "avail shows the cgroup"
                ),
                other => panic!("avail: {other:?}"),
            }
        }
    }
}

#[test]
fn limits_without_cgroup_and_leave_with_cgroup_are_config_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("t.toml");
    let cases = [
        ("memory_max = \"1G\"", "memory_max needs cgroup = true"),
        ("cpu_max = \"50000 100000\"", "cpu_max needs cgroup = true"),
        ("cgroup = true\norphans = \"leave\"", "contradicts"),
        (
            "cgroup = true\nmemory_max = \"lots\"",
            "bad memory_max 'lots'",
        ),
        ("cgroup = true\ncpu_max = \"half\"", "bad cpu_max 'half'"),
    ];
    for (keys, want) in cases {
        std::fs::write(&path, format!("[programs.p]\ncmd = \"sleep 1\"\n{keys}\n")).expect("write");
        let err = config::load(&path)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains(want), "{keys}: expected '{want}' in '{err}'");
    }
}

/// Three levels of setsid'd descendants with their streams on /dev/null, each keeping its
/// parent alive; level N writes its pid to `DIR/lN`.
const DEEP_SCRIPT: &str = r#"lvl=$1; dir=$2
if [ "$lvl" -gt 0 ]; then echo $$ > "$dir/l$lvl"; fi
if [ "$lvl" -lt 3 ]; then setsid sh "$0" $((lvl+1)) "$dir" </dev/null >/dev/null 2>&1 & fi
exec sleep 1000
"#;

/// In-process (no subreaper here): the leader's death, then a restart and the shutdown,
/// leave none of the three levels alive.
#[test]
fn three_setsid_levels_die_with_the_leader_the_restart_and_the_shutdown() {
    need_cgroups!();
    let scripts = tempfile::tempdir().expect("temp dir");
    let script = scripts.path().join("deep.sh");
    std::fs::write(&script, DEEP_SCRIPT).expect("write script");
    let tm = Tm::start(&format!(
        "[taskmaster]\nsocket = false\n[programs.deep]\ncmd = \"sh {} 0 {{dir}}\"\n\
         starttime = 0\nstoptime = 1\nautorestart = false\ncgroup = true\n",
        script.display()
    ));
    let levels = |tm: &Tm| -> Vec<u32> {
        let pids = ["l1", "l2", "l3"].map(|f| file_pid(&tm.path(f)));
        for f in ["l1", "l2", "l3"] {
            let _ = std::fs::remove_file(tm.path(f));
        }
        pids.to_vec()
    };
    let leader = tm.running_pid("deep");
    let first = levels(&tm);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(leader as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the leader");
    wait_until(LONG, "every level dies with the leader", || {
        first.iter().all(|&p| !alive(p))
    });
    tm.actions(Command::start(vec!["deep".into()]));
    let second = levels(&tm);
    tm.actions(Command::restart(vec!["deep".into()]));
    wait_until(LONG, "every level dies with the restart", || {
        second.iter().all(|&p| !alive(p))
    });
    let third = levels(&tm);
    tm.shutdown();
    assert!(
        third.iter().all(|&p| !alive(p)),
        "the shutdown returns with every level dead"
    );
}
