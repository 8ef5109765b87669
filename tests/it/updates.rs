//! The update stream front ends subscribe to: events may be lost when a front end lags, the
//! news of a newer snapshot never.

use taskmaster::supervisor::{StateName, Update};

use crate::harness::inprocess::Tm;
use crate::harness::{LONG, wait_until};

/// Regression: a dashboard that subscribed after the last publish was never told to read the
/// snapshot, and showed every process STOPPED forever.
#[test]
fn a_late_subscriber_is_told_to_read_the_snapshot() {
    let tm = Tm::start(
        "[taskmaster]\nsocket = false\n[programs.s]\ncmd = \"sleep 1000\"\nnumprocs = 3\nstarttime = 0\n",
    );
    wait_until(LONG, "the published snapshot shows all RUNNING", || {
        tm.handle.snapshot().count(StateName::Running) == 3
    });
    let rx = tm.handle.subscribe();
    let got = rx.recv_timeout(LONG);
    assert!(
        matches!(got, Ok(Update::Snapshot)),
        "a new subscriber is told to read the snapshot, got {got:?}"
    );
}

/// Regression: a subscriber whose channel was full of events when the last snapshot was
/// published never heard of it.
#[test]
fn a_lagging_subscriber_still_hears_of_the_newest_snapshot() {
    let tm = Tm::start(
        "[taskmaster]\nsocket = false\n[programs.s]\ncmd = \"sleep 1000\"\nnumprocs = 300\nstarttime = 0.5\nautostart = false\n",
    );
    let rx = tm.handle.subscribe();
    // The subscription and the start travel on different channels: wait until it is
    // registered (it is told at once), or the start may be served first and fill nothing.
    assert!(
        matches!(rx.recv_timeout(LONG), Ok(Update::Snapshot)),
        "the subscription is registered"
    );
    // 300 spawns and 300 RUNNING lines: far more than the channel holds, unread meanwhile.
    let _ = tm
        .handle
        .send(taskmaster::supervisor::Command::start(vec!["all".into()]));
    wait_until(LONG, "a published snapshot with all RUNNING", || {
        tm.handle.snapshot().count(StateName::Running) == 300
    });
    // The channel filled up before that publish: drain it, then the owed notice must come.
    // It may come while the drain is under way: the channel held at most CAPACITY items when
    // the drain began (after that publish), so a notice past them was sent after it.
    const CAPACITY: usize = 256;
    let mut drained = 0;
    let mut owed_seen = false;
    for (i, u) in rx.try_iter().enumerate() {
        drained += 1;
        owed_seen |= i >= CAPACITY && matches!(u, Update::Snapshot);
    }
    assert!(
        drained >= CAPACITY,
        "the channel was full ({drained} queued)"
    );
    let seen_final = owed_seen || matches!(rx.recv_timeout(LONG), Ok(Update::Snapshot));
    assert!(
        seen_final,
        "a notice arrived with every process RUNNING in the snapshot"
    );
}
