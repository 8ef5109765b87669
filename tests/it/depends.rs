//! `depends_on` (interface.md section 10) on real processes: WAITING with its reason,
//! release when met, independent branches in parallel, `start` starting dependencies, stops
//! in dependency order, groups, and a reload with a cycle changing nothing.

use std::time::{Duration, SystemTime};

use taskmaster::supervisor::{Command, Reply, StateName};

use crate::harness::inprocess::Tm;
use crate::harness::{LONG, wait_until};

fn position(lines: &[String], prefix: &str) -> usize {
    lines
        .iter()
        .position(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no event starting with {prefix:?} in {lines:#?}"))
}

#[test]
fn a_dependent_waits_with_its_reason_then_starts_once_met() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.db]
cmd = "sleep 1000"
starttime = 0.8
[programs.api]
cmd = "sleep 1000"
starttime = 0
depends_on = { db = "running" }
"#,
    );
    let api = tm.wait_state("api", StateName::Waiting);
    assert_eq!(
        api.status_line(SystemTime::now()),
        format!("{:<32} {:<9} waiting for db (running)", "api", "WAITING")
    );
    let running = tm.wait_state("api", StateName::Running);
    let db = tm.info("db");
    assert_eq!(db.state, StateName::Running);
    assert!(
        running.started_at >= db.started_at.map(|t| t + Duration::from_millis(800)),
        "api spawned only after db was RUNNING"
    );
    tm.shutdown();
}

#[test]
fn completed_waits_for_a_one_shot_to_exit_expected() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.migrate]
cmd = "sh -c 'sleep 0.4; exit 0'"
starttime = 0.1
autorestart = "never"
[programs.api]
cmd = "sleep 1000"
starttime = 0
depends_on = { migrate = "completed" }
"#,
    );
    assert_eq!(tm.info("api").state, StateName::Waiting);
    tm.wait_state("api", StateName::Running);
    assert_eq!(tm.info("migrate").state, StateName::Exited);
    tm.shutdown();
}

#[test]
fn independent_branches_start_in_parallel() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.base]
cmd = "sleep 1000"
starttime = 0.3
[programs.left]
cmd = "sleep 1000"
starttime = 0.5
depends_on = { base = "running" }
[programs.right]
cmd = "sleep 1000"
starttime = 0.5
depends_on = { base = "running" }
[programs.alone]
cmd = "sleep 1000"
starttime = 0
"#,
    );
    assert_eq!(
        tm.wait_state("alone", StateName::Running).state,
        StateName::Running,
        "a program without dependencies does not wait for others"
    );
    let left = tm.wait_state("left", StateName::Running).started_at;
    let right = tm.wait_state("right", StateName::Running).started_at;
    let (l, r) = (left.expect("left started"), right.expect("right started"));
    let gap = l
        .duration_since(r)
        .or_else(|_| r.duration_since(l))
        .unwrap_or_default();
    assert!(
        gap < Duration::from_millis(200),
        "left and right started together: {gap:?}"
    );
    tm.shutdown();
}

#[test]
fn start_starts_stopped_dependencies_first() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.db]
cmd = "sleep 1000"
starttime = 0.2
autostart = false
[programs.cache]
cmd = "sleep 1000"
starttime = 0
autostart = false
[programs.api]
cmd = "sleep 1000"
starttime = 0
autostart = false
depends_on = { db = "running", cache = "started" }
"#,
    );
    let r = tm.actions(Command::start(vec!["api".into()]));
    assert_eq!(
        r[0].render(),
        "api: started",
        "the reply comes once api runs"
    );
    assert_eq!(tm.info("db").state, StateName::Running);
    assert_eq!(tm.info("cache").state, StateName::Running);
    tm.shutdown();
}

#[test]
fn a_fatal_dependency_keeps_the_dependent_waiting_with_that_reason() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.db]
cmd = "sh -c 'exit 1'"
starttime = 1
startretries = 0
[programs.api]
cmd = "sleep 1000"
depends_on = { db = "running" }
"#,
    );
    tm.wait_state("db", StateName::Fatal);
    wait_until(LONG, "api blocked by the FATAL db", || {
        tm.info("api").reason == "waiting for db (running): db is FATAL"
    });
    let r = tm.actions(Command::start(vec!["api".into()]));
    assert_eq!(
        r[0].render(),
        "api: ERROR (waiting for db (running): db is FATAL)"
    );
    tm.shutdown();
}

#[test]
fn stop_all_stops_dependents_before_their_dependencies() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.db]
cmd = "sleep 1000"
starttime = 0
[programs.api]
cmd = "sh -c 'trap \"sleep 0.3; exit 0\" TERM; while :; do sleep 0.05; done'"
starttime = 0
depends_on = { db = "running" }
[programs.worker]
cmd = "sleep 1000"
numprocs = 2
starttime = 0
depends_on = { api = "running" }
"#,
    );
    wait_until(LONG, "all four running", || {
        tm.status().count(StateName::Running) == 4
    });
    let events = tm.event_lines();
    let r = tm.actions(Command::stop(vec!["all".into()]));
    assert!(r.iter().all(|a| a.outcome.is_ok()), "{r:?}");
    events.wait_for("db's stop in the event stream", |l| {
        l.starts_with("stopped: db")
    });
    let lines = events.lines();
    let worker = position(&lines, "stopped: worker:worker_01");
    let api_req = position(&lines, "stop requested: api");
    let api = position(&lines, "stopped: api");
    let db_req = position(&lines, "stop requested: db");
    assert!(worker < api_req, "the group stops before api: {lines:#?}");
    assert!(
        api < db_req,
        "api has stopped before db is asked: {lines:#?}"
    );
    tm.shutdown();
}

#[test]
fn a_group_dependency_means_every_process_of_it() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.worker]
cmd = "sleep 1000"
numprocs = 2
starttime = 0
[programs.fast]
cmd = "sleep 1000"
starttime = 0
[programs.api]
cmd = "sleep 1000"
starttime = 0
autostart = false
depends_on = { worker = "running" }
"#,
    );
    wait_until(LONG, "the group running", || {
        tm.status().count(StateName::Running) == 3
    });
    tm.actions(Command::stop(vec!["worker:worker_01".into()]));
    let _ = tm.call(Command::start(vec!["fast".into()]));
    let rx = tm.handle.send(Command::start(vec!["api".into()]));
    let r = rx.recv_timeout(LONG).expect("reply");
    assert!(
        matches!(&r, Ok(Reply::Actions(a)) if a[0].render() == "api: started"),
        "the stopped member was started first: {r:?}"
    );
    assert_eq!(tm.info("worker:worker_01").state, StateName::Running);
    tm.shutdown();
}

#[test]
fn a_reload_with_a_cycle_changes_nothing() {
    let base = r#"
[taskmaster]
socket = false
[programs.db]
cmd = "sleep 1000"
starttime = 0
[programs.api]
cmd = "sleep 1000"
starttime = 0
depends_on = { db = "running" }
"#;
    let tm = Tm::start(base);
    let api = tm.wait_state("api", StateName::Running).pid;
    tm.rewrite(&base.replace(
        "[programs.db]\ncmd = \"sleep 1000\"",
        "[programs.db]\ncmd = \"sleep 999\"\ndepends_on = [\"api\"]",
    ));
    match tm.call(Command::Reload) {
        Err(e) => assert!(
            e.to_string().contains("dependency cycle: api -> db -> api"),
            "the refusal names the whole path: {e}"
        ),
        other => panic!("the reload must be refused, got {other:?}"),
    }
    assert_eq!(tm.info("api").pid, api, "nothing changed");
    tm.shutdown();
}
