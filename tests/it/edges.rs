//! Regression tests for sharp edges found by reading the code and by trying taskmaster as a new
//! user would (issue 13): each names what broke.

use taskmaster::supervisor::{Command, Reply, StateName};

use crate::harness::inprocess::Tm;
use crate::harness::procfs::alive;
use crate::harness::{LONG, wait_until};

/// A write bigger than the pipe's room used to deliver its first 64 KiB and reply with an
/// error, so a retry sent those bytes twice. Now the rest is queued and delivered in order.
#[test]
fn a_write_larger_than_the_stdin_pipe_is_delivered_whole_and_once() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.slow]
cmd = "sh -c 'sleep 0.5; exec cat > {dir}/got'"
starttime = 0
stdout = "discard"
"#,
    );
    tm.wait_state("slow", StateName::Running);
    let data: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let reply = tm.call(Command::WriteStdin {
        name: "slow".into(),
        data: data.clone(),
    });
    assert!(
        matches!(reply, Ok(Reply::Done)),
        "a write the pipe cannot take at once is accepted whole, got {reply:?}"
    );
    let got = tm.path("got");
    wait_until(LONG, "cat has written every byte", || {
        std::fs::metadata(&got).map(|m| m.len()).unwrap_or(0) >= data.len() as u64
    });
    // Stopped: cat can write nothing more, so a duplicate would show now.
    tm.actions(Command::stop(vec!["slow".into()]));
    let written = std::fs::read(&got).expect("output file");
    assert_eq!(written.len(), data.len(), "every byte exactly once");
    assert!(written == data, "the bytes arrive in order");
}

/// A child that never reads: a write that cannot be queued is refused whole (nothing of it
/// was sent), so a retry is safe.
#[test]
fn a_write_to_a_stdin_nobody_reads_is_refused_whole() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.deaf]
cmd = "sleep 1000"
starttime = 0
"#,
    );
    tm.wait_state("deaf", StateName::Running);
    let chunk = vec![b'x'; 60_000];
    let mut refused = None;
    for i in 0..20 {
        match tm.call(Command::WriteStdin {
            name: "deaf".into(),
            data: chunk.clone(),
        }) {
            Ok(Reply::Done) => {}
            Err(e) => {
                let e = e.to_string();
                refused = Some((i, e));
                break;
            }
            other => panic!("unexpected reply {other:?}"),
        }
    }
    let (i, why) = refused.expect("a stdin nobody reads fills up");
    assert!(i >= 1, "the first 60 kB fit in the pipe");
    assert!(
        why.contains("nothing written"),
        "the refusal says nothing was sent: {why}"
    );
}

const ONE: &str = r#"
[taskmaster]
socket = false
[programs.stub]
cmd = "sleep 1000"
starttime = 0
stoptime = 5
"#;

/// numprocs 1 -> 2 used to SIGTERM `stub` and spawn two new processes in the same
/// millisecond (three copies alive for stoptime) while the reply said "updated in place".
/// Now `stub` becomes `stub:stub_00` with the same pid, and only `stub:stub_01` is spawned.
#[test]
fn numprocs_one_to_two_keeps_the_running_process_as_the_first_of_the_group() {
    let tm = Tm::start(ONE);
    let before = tm.wait_state("stub", StateName::Running);
    let pid = before.pid.expect("running has a pid");
    tm.rewrite(&ONE.replace("stoptime = 5", "stoptime = 5\nnumprocs = 2"));
    let reply = tm.call(Command::Reload);
    let Ok(Reply::Reload(report)) = reply else {
        panic!("reload replies with a report, got {reply:?}");
    };
    assert_eq!(report.updated, ["stub"], "{report:?}");
    let kept = tm.wait_state("stub:stub_00", StateName::Running);
    assert_eq!(
        kept.pid,
        Some(pid),
        "stub:stub_00 is the old stub, same pid"
    );
    assert!(alive(pid), "the old process was never stopped");
    tm.wait_state("stub:stub_01", StateName::Running);
    assert!(
        tm.status().get("stub").is_none(),
        "the single name is gone: {:?}",
        tm.status()
            .processes
            .iter()
            .map(|p| &p.name)
            .collect::<Vec<_>>()
    );
    let live = tm.pids();
    assert_eq!(
        live.len(),
        2,
        "exactly two processes alive, not three: {live:?}"
    );

    // And back: 2 -> 1 keeps stub_00 as `stub`; stub_01 is stopped.
    let second = tm.info("stub:stub_01").pid.expect("pid");
    tm.rewrite(ONE);
    assert!(matches!(tm.call(Command::Reload), Ok(Reply::Reload(_))));
    let back = tm.wait_state("stub", StateName::Running);
    assert_eq!(back.pid, Some(pid), "stub is stub:stub_00 again, same pid");
    wait_until(LONG, "stub:stub_01 stopped and removed", || {
        tm.status().get("stub:stub_01").is_none() && !alive(second)
    });
    assert_eq!(tm.pids(), [pid], "only the kept process remains");
}

/// A SIGSTOPped process showed RUNNING, and `stop` on it waited the whole stoptime because
/// nothing continued it after the stop signal. Now its status says it is stopped, and a stop
/// sends SIGCONT after the stop signal (as systemd does).
#[test]
fn a_sigstopped_process_shows_it_and_stops_without_waiting_for_stoptime() {
    use nix::sys::signal::{Signal, kill};
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.frozen]
cmd = "sleep 1000"
starttime = 0
stoptime = 30
"#,
    );
    let pid = tm.running_pid("frozen");
    let child = nix::unistd::Pid::from_raw(pid as i32);
    let described = |tm: &Tm| tm.info("frozen").status_line(std::time::SystemTime::now());
    kill(child, Signal::SIGSTOP).expect("SIGSTOP");
    wait_until(LONG, "status shows the stop", || {
        described(&tm).contains("RUNNING   (stopped by SIGSTOP) pid")
    });
    kill(child, Signal::SIGCONT).expect("SIGCONT");
    wait_until(LONG, "status shows it continued", || {
        !described(&tm).contains("stopped by")
    });
    kill(child, Signal::SIGSTOP).expect("SIGSTOP again");
    wait_until(LONG, "stopped again", || {
        described(&tm).contains("stopped by")
    });
    let t0 = std::time::Instant::now();
    tm.actions(Command::stop(vec!["frozen".into()]));
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(10),
        "the stop did not wait for stoptime (30 s): {:?}",
        t0.elapsed()
    );
    let last = tm.info("frozen").last_exit.expect("an exit");
    assert!(
        last.describe().contains("SIGTERM"),
        "ended by the stop signal, not SIGKILL: {}",
        last.describe()
    );
}
