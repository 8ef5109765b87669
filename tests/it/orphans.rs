//! Orphans (issue 13): descendants that leave their process group and lose their parent are
//! adopted by taskmaster (the child subreaper), attributed to their process, and stopped with
//! it — or left running with `orphans = "leave"`. Never a survivor, never a zombie. Adoption
//! needs the binary (only it becomes the subreaper); descendants still in a process's tree
//! are stopped by in-process supervisors too.

use taskmaster::supervisor::{Command, StateName};

use crate::harness::binary::Daemon;
use crate::harness::file_pid;
use crate::harness::inprocess::{EventLines, Tm};
use crate::harness::procfs::{alive, gone};
use crate::harness::{LONG, wait_until, wait_until_showing};

/// The pid a test program wrote into the file `DIR/file`.
fn pid_in(tm: &Tm, file: &str) -> u32 {
    file_pid(&tm.path(file))
}

/// A classic double fork: the subshell starts a setsid'd sleep and exits at once, so the
/// sleep is reparented to taskmaster (the binary is the child subreaper) while the leader
/// lives; it still holds the leader's stdout pipe, which tells where it came from.
const DOUBLE_FORK: &str = r#"
[programs.daemonish]
cmd = "sh -c '(setsid sh -c \"echo \\$\\$ > {dir}/orphan; exec sleep 1000\" &); exec sleep 1000'"
starttime = 0
stoptime = 2
"#;

/// The log says `pid` was adopted as `process`'s. Its command is what it was then: with the
/// kernel's events the orphan is adopted as its parent exits, maybe before its own exec.
fn adopted(log: &str, pid: u32, process: &str) -> bool {
    log.lines().any(|l| {
        l.contains(&format!("adopted: orphan pid {pid} ("))
            && l.ends_with(&format!(" of {process}"))
    })
}

#[test]
fn stop_takes_a_double_forked_setsid_orphan_along() {
    let tm = Daemon::start(DOUBLE_FORK);
    tm.wait_state("daemonish", "RUNNING");
    let orphan = file_pid(&tm.path("orphan"));
    wait_until(LONG, "the orphan is adopted", || {
        adopted(&tm.log_text(), orphan, "daemonish")
    });
    assert_eq!(tm.ctl(&["stop", "daemonish"]).code, 0);
    wait_until(LONG, "the orphan is dead and reaped", || gone(orphan));
    let log = tm.log_text();
    assert!(
        log.lines().any(
            |l| l.contains(&format!("stopping orphan: daemonish's pid {orphan} ("))
                && l.ends_with(" with SIGTERM")
        ),
        "the orphan's stop is an event-log line: {log}"
    );
    wait_until(LONG, "its end is logged", || {
        tm.log_text()
            .contains(&format!("orphan exited: pid {orphan} of daemonish"))
    });
}

#[test]
fn orphans_leave_keeps_them_running_and_reaps_them_later() {
    let tm =
        Daemon::start(&DOUBLE_FORK.replace("stoptime = 2", "stoptime = 2\norphans = \"leave\""));
    tm.wait_state("daemonish", "RUNNING");
    let orphan = file_pid(&tm.path("orphan"));
    wait_until(LONG, "the orphan is adopted", || {
        tm.log_text()
            .contains(&format!("adopted: orphan pid {orphan}"))
    });
    assert_eq!(tm.ctl(&["stop", "daemonish"]).code, 0);
    assert!(
        alive(orphan),
        "orphans = leave: the daemon outlives the stop"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(orphan as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the left orphan");
    wait_until(
        LONG,
        "the left orphan is reaped by taskmaster, not a zombie",
        || gone(orphan),
    );
}

/// Three levels of setsid'd descendants, each keeping its parent alive, all with their
/// standard streams on /dev/null (so only the tree tells where they come from). Level N writes
/// its pid to `DIR/lN`.
const DEEP_SCRIPT: &str = r#"lvl=$1; dir=$2
if [ "$lvl" -gt 0 ]; then echo $$ > "$dir/l$lvl"; fi
if [ "$lvl" -lt 3 ]; then setsid sh "$0" $((lvl+1)) "$dir" </dev/null >/dev/null 2>&1 & fi
exec sleep 1000
"#;

/// The `deep` program (DEEP_SCRIPT) for an in-process supervisor, with `extra` lines.
fn deep(extra: &str) -> (tempfile::TempDir, String) {
    let (scripts, program) = deep_program();
    let toml = format!("[taskmaster]\nsocket = false\n{program}{extra}\n");
    (scripts, toml)
}

/// The `deep` program's section alone (the binary's tests add their own `[taskmaster]`); the
/// script lives in the returned directory.
fn deep_program() -> (tempfile::TempDir, String) {
    let scripts = tempfile::tempdir().expect("temp dir");
    let script = scripts.path().join("deep.sh");
    std::fs::write(&script, DEEP_SCRIPT).expect("write script");
    let program = format!(
        "[programs.deep]\ncmd = \"sh {} 0 {{dir}}\"\n\
         starttime = 0\nstoptime = 2\nautorestart = false\n",
        script.display()
    );
    (scripts, program)
}

fn levels(tm: &Tm) -> Vec<u32> {
    ["l1", "l2", "l3"].iter().map(|f| pid_in(tm, f)).collect()
}

fn assert_all_stopped_and_logged(events: &EventLines, pids: &[u32]) {
    wait_until_showing(
        LONG,
        "every level dead and reaped",
        || pids.iter().all(|&p| gone(p)),
        || {
            let left: Vec<String> = pids
                .iter()
                .filter_map(|&p| crate::harness::procfs::stat(p).map(|s| format!("{p}: {s:?}")))
                .collect();
            format!("left {left:#?}; events {:#?}", events.lines())
        },
    );
    for p in pids {
        events.wait_for(&format!("orphan {p} stopped and logged"), |l| {
            l.contains(&format!("orphan: deep's pid {p} "))
        });
    }
}

/// In the binary (the only supervisor in its process), where a dead leader's setsid'd
/// children are attributed to it as they are adopted, before any census saw them.
#[test]
fn leader_death_stops_three_levels_of_setsid_descendants() {
    let (_scripts, program) = deep_program();
    let tm = Daemon::start(&program);
    tm.wait_state("deep", "RUNNING");
    let pids: Vec<u32> = ["l1", "l2", "l3"]
        .iter()
        .map(|f| file_pid(&tm.path(f)))
        .collect();
    let leader: i32 = tm.ctl(&["pid", "deep"]).out.trim().parse().expect("pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(leader),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the leader");
    wait_until(LONG, "every level is dead and reaped", || {
        pids.iter().all(|&p| gone(p))
    });
    let log = tm.log_text();
    for p in &pids {
        assert!(
            log.contains(&format!("orphan: deep's pid {p} ")),
            "orphan {p} stopped and logged: {log}"
        );
    }
}

#[test]
fn stop_and_restart_stop_three_levels_of_setsid_descendants() {
    let (_scripts, toml) = deep("");
    let tm = Tm::start(&toml);
    let events = tm.event_lines();
    tm.wait_state("deep", StateName::Running);
    let first = levels(&tm);
    for f in ["l1", "l2", "l3"] {
        std::fs::remove_file(tm.path(f)).expect("remove pid file");
    }
    tm.actions(Command::restart(vec!["deep".into()]));
    assert_all_stopped_and_logged(&events, &first);
    let second = levels(&tm);
    tm.actions(Command::stop(vec!["deep".into()]));
    assert_all_stopped_and_logged(&events, &second);
}

#[test]
fn reload_removal_and_shutdown_stop_three_levels_of_setsid_descendants() {
    let (_scripts, toml) = deep("");
    let tm = Tm::start(&toml);
    let events = tm.event_lines();
    tm.wait_state("deep", StateName::Running);
    let first = levels(&tm);
    for f in ["l1", "l2", "l3"] {
        std::fs::remove_file(tm.path(f)).expect("remove pid file");
    }
    tm.rewrite("[taskmaster]\nsocket = false\n");
    assert!(tm.call(Command::Reload).is_ok(), "the reload is accepted");
    assert_all_stopped_and_logged(&events, &first);

    let tm = Tm::start(&toml);
    tm.wait_state("deep", StateName::Running);
    let second = levels(&tm);
    tm.shutdown();
    // Dead when the shutdown returns; reaped by whoever is their parent now. An in-process
    // supervisor is no subreaper: they went to init, which may reap a moment later (this
    // machine's init reaps every ~2 s, about the stoptime the shutdown waits for them).
    assert!(
        second.iter().all(|&p| !alive(p)),
        "a shutdown leaves no orphan alive"
    );
    wait_until(LONG, "no orphan left, not even a zombie", || {
        second.iter().all(|&p| gone(p))
    });
}

/// The leader lives on; a middle process starts a grandchild that calls setsid with its
/// streams on /dev/null, and exits at once. Nothing of the grandchild names the program: only
/// a record of the fork made while the middle lived does, which the kernel's process events
/// give and a census every second almost never sees. The grandchild writes its pid to
/// `DIR/grandchild`.
const QUICK_SCRIPT: &str = r#"dir=$1
sh -c 'setsid sh -c "echo \$\$ > \"$0/grandchild\"; exec sleep 1000" </dev/null >/dev/null 2>&1 &' "$dir"
exec sleep 1000
"#;

/// Kills a pid on drop, so a failed test leaves no orphan running.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if alive(self.0) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.0 as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

/// Which lineage the daemon says it uses: true for the kernel's process events, false for
/// the census (it says so at start-up either way, within the probe's 2 s).
fn follows_events(tm: &Daemon) -> bool {
    wait_until(LONG, "the daemon says where its lineage comes from", || {
        tm.log_text().contains("process events")
    });
    tm.log_text()
        .contains("process events: orphan lineage follows")
}

#[test]
fn a_setsid_grandchild_whose_parent_exits_at_once_is_stopped_with_its_process() {
    let scripts = tempfile::tempdir().expect("temp dir");
    let script = scripts.path().join("quick.sh");
    std::fs::write(&script, QUICK_SCRIPT).expect("write script");
    let tm = Daemon::start(&format!(
        "[programs.quick]\ncmd = \"sh {} {{dir}}\"\nstarttime = 0\nstoptime = 2\n\
         autorestart = false\n",
        script.display()
    ));
    if !follows_events(&tm) {
        eprintln!(
            "skipped: no kernel process events here (not root, or another pid namespace): {}",
            tm.log_text()
        );
        return;
    }
    tm.wait_state("quick", "RUNNING");
    let grandchild = file_pid(&tm.path("grandchild"));
    let _cleanup = KillOnDrop(grandchild);
    wait_until(LONG, "the grandchild is adopted", || {
        tm.log_text()
            .contains(&format!("adopted: orphan pid {grandchild} ("))
    });
    let log = tm.log_text();
    assert!(
        adopted(&log, grandchild, "quick"),
        "attributed to its program, not of unknown origin: {log}"
    );
    assert_eq!(tm.ctl(&["stop", "quick"]).code, 0);
    wait_until(LONG, "the grandchild is dead and reaped", || {
        gone(grandchild)
    });
    assert!(
        tm.log_text()
            .contains(&format!("stopping orphan: quick's pid {grandchild} ")),
        "its stop is logged: {}",
        tm.log_text()
    );
}

/// The census, where the kernel gives no process events, still stops a classic double fork
/// (its stdout pipe names it) and three levels whose leader dies (adopted at the death).
#[test]
fn with_the_census_only_double_forks_and_a_dead_leaders_descendants_are_still_stopped() {
    let census = |programs: &str| {
        Daemon::launch(programs)
            .env("TASKMASTER_NO_PROC_EVENTS", "1")
            .start()
    };
    let tm = census(DOUBLE_FORK);
    assert!(
        !follows_events(&tm),
        "the census is forced: {}",
        tm.log_text()
    );
    tm.wait_state("daemonish", "RUNNING");
    let orphan = file_pid(&tm.path("orphan"));
    let _cleanup = KillOnDrop(orphan);
    wait_until(LONG, "the orphan is adopted", || {
        adopted(&tm.log_text(), orphan, "daemonish")
    });
    assert_eq!(tm.ctl(&["stop", "daemonish"]).code, 0);
    wait_until(LONG, "the orphan is dead and reaped", || gone(orphan));

    let (_scripts, program) = deep_program();
    let tm = census(&program);
    tm.wait_state("deep", "RUNNING");
    let pids: Vec<u32> = ["l1", "l2", "l3"]
        .iter()
        .map(|f| file_pid(&tm.path(f)))
        .collect();
    let _cleanup: Vec<KillOnDrop> = pids.iter().map(|&p| KillOnDrop(p)).collect();
    let leader: i32 = tm.ctl(&["pid", "deep"]).out.trim().parse().expect("pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(leader),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the leader");
    wait_until(LONG, "every level is dead and reaped", || {
        pids.iter().all(|&p| gone(p))
    });
}
