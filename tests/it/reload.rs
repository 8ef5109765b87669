//! Every reload rule of interface.md section 4.

use taskmaster::supervisor::{Command, ReloadReport, Reply, StateName};

use crate::harness::inprocess::Tm;
use crate::harness::{LONG, wait_until};

const BASE: &str = r#"
[taskmaster]
socket = false
[programs.keep]
cmd = "sleep 1000"
starttime = 0
[programs.gone]
cmd = "sleep 1000"
starttime = 0
[programs.launch]
cmd = "sleep 1000"
starttime = 0
[programs.monitor]
cmd = "sleep 1000"
starttime = 0
stoptime = 10
[programs.group]
cmd = "sleep 1000"
numprocs = 3
starttime = 0
"#;

const NEXT: &str = r#"
[taskmaster]
socket = false
[programs.keep]
cmd = "sleep 1000"
starttime = 0
[programs.fresh]
cmd = "sleep 1000"
starttime = 0
[programs.launch]
cmd = "sleep 1001"
starttime = 0
[programs.monitor]
cmd = "sleep 1000"
starttime = 0
stoptime = 3
autorestart = "always"
[programs.group]
cmd = "sleep 1000"
numprocs = 2
starttime = 0
"#;

fn all_running(tm: &Tm) -> bool {
    tm.status()
        .processes
        .iter()
        .all(|p| p.state == StateName::Running)
}

fn pid(tm: &Tm, name: &str) -> Option<u32> {
    tm.info(name).pid
}

#[test]
fn reload_applies_only_the_difference() {
    let tm = Tm::start(BASE);
    wait_until(LONG, "all running", || all_running(&tm));
    let keep = pid(&tm, "keep");
    let launch = pid(&tm, "launch");
    let monitor = pid(&tm, "monitor");
    let g0 = pid(&tm, "group:group_00");
    let g1 = pid(&tm, "group:group_01");
    let g2 = pid(&tm, "group:group_02");
    let gone = pid(&tm, "gone").expect("gone pid");

    tm.rewrite(NEXT);
    let report = match tm.call(Command::Reload) {
        Ok(Reply::Reload(r)) => r,
        other => panic!("reload should report, got {other:?}"),
    };
    assert_eq!(
        report,
        ReloadReport {
            added: vec!["fresh".into()],
            changed: vec!["launch".into()],
            updated: vec!["group".into(), "monitor".into()],
            removed: vec!["gone".into()],
        }
    );
    wait_until(LONG, "all running after reload", || all_running(&tm));
    let snap = tm.status();
    let names: Vec<&str> = snap.processes.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "fresh",
            "group:group_00",
            "group:group_01",
            "keep",
            "launch",
            "monitor"
        ],
        "gone and group_02 dropped, fresh added"
    );
    assert_eq!(pid(&tm, "keep"), keep, "unchanged program keeps its pid");
    assert_eq!(
        pid(&tm, "monitor"),
        monitor,
        "monitoring-only change does not restart"
    );
    assert_eq!(tm.info("monitor").restarts, 0);
    assert_ne!(
        pid(&tm, "launch"),
        launch,
        "launch-settings change restarts"
    );
    assert_eq!(
        pid(&tm, "group:group_00"),
        g0,
        "numprocs lowered: kept process untouched"
    );
    assert_eq!(
        pid(&tm, "group:group_01"),
        g1,
        "numprocs lowered: kept process untouched"
    );
    wait_until(LONG, "removed processes are dead", || {
        crate::harness::procfs::group_members(gone).is_empty()
            && g2.is_none_or(|p| crate::harness::procfs::group_members(p).is_empty())
    });
}

#[test]
fn monitoring_change_applies_in_place() {
    let tm = Tm::start(BASE);
    wait_until(LONG, "all running", || all_running(&tm));
    tm.rewrite(NEXT);
    let _ = tm.call(Command::Reload);
    let before = pid(&tm, "monitor").expect("pid");
    // autorestart became "always": an expected exit (SIGTERM is not, but exit 0 would be)
    // is restarted now, which the old "unexpected" policy would not do for exit 0.
    crate::harness::kill_group(before);
    wait_until(LONG, "monitor restarted under the new policy", || {
        let i = tm.info("monitor");
        i.state == StateName::Running && i.pid != Some(before)
    });
}

#[test]
fn numprocs_raised_starts_only_the_new_processes() {
    let tm = Tm::start(BASE);
    wait_until(LONG, "all running", || all_running(&tm));
    let before: Vec<Option<u32>> = (0..3)
        .map(|i| pid(&tm, &format!("group:group_0{i}")))
        .collect();
    tm.rewrite(&BASE.replace("numprocs = 3", "numprocs = 5"));
    let _ = tm.call(Command::Reload);
    wait_until(LONG, "all running", || all_running(&tm));
    for (i, p) in before.iter().enumerate() {
        assert_eq!(
            &pid(&tm, &format!("group:group_0{i}")),
            p,
            "group_0{i} untouched"
        );
    }
    assert!(pid(&tm, "group:group_04").is_some(), "group_04 started");
}

#[test]
fn invalid_config_changes_nothing() {
    let tm = Tm::start(BASE);
    wait_until(LONG, "all running", || all_running(&tm));
    let before = tm.status();
    tm.rewrite("[programs.x]\ncmd = \"sleep 1\"\nbogus_key = 1\n");
    match tm.call(Command::Reload) {
        Err(e) => assert!(
            e.to_string().contains("bogus_key"),
            "error names the key: {e}"
        ),
        other => panic!("a bad config should be refused, got {other:?}"),
    }
    let after = tm.status();
    let pids = |s: &taskmaster::supervisor::Snapshot| {
        s.processes
            .iter()
            .map(|p| (p.name.clone(), p.pid))
            .collect::<Vec<_>>()
    };
    assert_eq!(pids(&before), pids(&after), "nothing changed");
    // And the next good config still applies against the original.
    tm.rewrite(NEXT);
    assert!(matches!(tm.call(Command::Reload), Ok(Reply::Reload(_))));
}

#[test]
fn reload_without_changes_touches_nothing() {
    let tm = Tm::start(BASE);
    wait_until(LONG, "all running", || all_running(&tm));
    let before = tm.pids();
    match tm.call(Command::Reload) {
        Ok(Reply::Reload(r)) => assert_eq!(
            taskmaster::command::render(&Ok(Reply::Reload(r))).text,
            "No config updates to processes"
        ),
        other => panic!("reload should report, got {other:?}"),
    }
    assert_eq!(tm.pids(), before, "same pids");
}
