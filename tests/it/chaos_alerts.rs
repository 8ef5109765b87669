//! Abuse: an event storm (fifty programs restarting twice a second, plus 10,000 events in a
//! burst) with alerts whose endpoint never answers. Supervision must not notice: a killed canary comes back at once,
//! `status` answers, the binary's memory stays flat, and the alert queues drop (and count)
//! what they cannot hold.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use taskmaster::supervisor::{Command, Reply, StateName};

use crate::harness::binary::{Daemon, status_rows};
use crate::harness::inprocess::alert_counters;
use crate::harness::webhook::{Answer, Hook};
use crate::harness::{LONG, kill_group, wait_until};

fn scrape(port: u16) -> String {
    let Ok(mut conn) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = write!(conn, "GET /metrics HTTP/1.0\r\n\r\n");
    let mut text = String::new();
    let _ = conn.read_to_string(&mut text);
    text
}

fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

fn events_total(text: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with("taskmaster_events_total{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

#[test]
fn an_event_storm_with_a_hung_webhook_leaves_supervision_alone() {
    let hook = Hook::http(Answer::Never);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let mut toml = format!(
        "[programs.canary]\ncmd = \"sleep 1000\"\nstarttime = 0\n\
         [alerts.hook]\non = [\"exited\", \"spawned\", \"running\"]\nwebhook = \"{}\"\ntimeout = 60\n\
         [alerts.digest]\non = [\"exited\"]\ndigest = 60\nexec = \"true\"\n",
        hook.url("http")
    );
    for i in 0..50 {
        let _ = write!(
            toml,
            "[programs.loop{i:02}]\ncmd = \"sleep 0.5\"\nstarttime = 0\nautorestart = \"always\"\n"
        );
    }
    let bin = Daemon::launch(&toml)
        .extra(&format!("metrics = \"127.0.0.1:{port}\"\n"))
        .start();
    let socket = bin.socket.clone();
    wait_until(Duration::from_secs(10), "metrics answer", || {
        !scrape(port).is_empty()
    });
    // The storm under way before the baseline: the webhook holds its one delivery and the
    // loops have made their first hundred events.
    wait_until(LONG, "the storm under way", || {
        hook.received().len() == 1 && events_total(&scrape(port)) >= 100.0
    });
    let rss_before = crate::harness::procfs::rss_kib_of(&bin.pid().to_string());
    let t0 = Instant::now();
    let before = events_total(&scrape(port));
    let mut worst_status = Duration::ZERO;
    let mut worst_restart = Duration::ZERO;
    for _ in 0..5 {
        let started = Instant::now();
        let rows = status_rows(&socket);
        worst_status = worst_status.max(started.elapsed());
        let Some(pid) = rows
            .iter()
            .find(|r| r.0 == "canary" && r.1 == "RUNNING")
            .and_then(|r| r.2)
        else {
            continue;
        };
        let killed = Instant::now();
        kill_group(pid);
        wait_until(
            Duration::from_secs(5),
            "the canary back with a new pid",
            || {
                status_rows(&socket)
                    .iter()
                    .any(|r| r.0 == "canary" && r.1 == "RUNNING" && r.2.is_some_and(|p| p != pid))
            },
        );
        worst_restart = worst_restart.max(killed.elapsed());
        bin.children();
    }
    let after = scrape(port);
    let rate = (events_total(&after) - before) / t0.elapsed().as_secs_f64();
    let dropped = sample(&after, "taskmaster_alerts_dropped_total{alert=\"hook\"}");
    let digest_dropped = sample(&after, "taskmaster_alerts_dropped_total{alert=\"digest\"}");
    let rss_after = crate::harness::procfs::rss_kib_of(&bin.pid().to_string());
    eprintln!(
        "chaos_alerts: {rate:.0} events/s, hook dropped {dropped}, digest dropped {digest_dropped}, \
         status worst {worst_status:?}, canary restart worst {worst_restart:?}, \
         RSS {rss_before} -> {rss_after} KiB"
    );
    assert!(rate > 50.0, "a storm of events ({rate:.0}/s)");
    assert!(dropped > 0.0, "the hung webhook's queue drops, and counts");
    // Generous bounds: the machine running the tests may be loaded; a supervisor blocked by
    // the hung webhook would take the whole webhook timeout (60 s).
    assert!(
        worst_status < Duration::from_secs(10),
        "status answers ({worst_status:?})"
    );
    assert!(
        worst_restart < Duration::from_secs(10),
        "the canary restarts at once ({worst_restart:?})"
    );
    assert!(
        rss_after < rss_before + 32 * 1024,
        "memory stays bounded: {rss_before} -> {rss_after} KiB"
    );
    assert_eq!(
        hook.received().len(),
        1,
        "one delivery hangs, nothing piles up"
    );
}

#[test]
fn ten_thousand_events_at_once_are_dropped_and_counted_not_queued() {
    let hook = Hook::http(Answer::Never);
    let tm = crate::harness::inprocess::Tm::start(&format!(
        "[programs.canary]\ncmd = \"sleep 1000\"\nstarttime = 0\n\
         [alerts.hook]\nwebhook = \"{}\"\ntimeout = 60\n",
        hook.url("http")
    ));
    let pid = tm.running_pid("canary");
    let t0 = Instant::now();
    let replies: Vec<_> = (0..10_000)
        .map(|_| {
            tm.handle.send(Command::AlertTest {
                name: "hook".into(),
            })
        })
        .collect();
    for r in replies {
        assert!(matches!(
            r.recv_timeout(Duration::from_secs(20)),
            Ok(Ok(Reply::Text(_)))
        ));
    }
    let burst = t0.elapsed();
    let killed = Instant::now();
    kill_group(pid);
    wait_until(Duration::from_secs(5), "the canary back", || {
        let p = tm.info("canary");
        p.state == StateName::Running && p.pid.is_some_and(|p| p != pid)
    });
    let restart = killed.elapsed();
    hook.wait_for(1, Duration::from_secs(10));
    let (sent, failed, dropped) = alert_counters(&tm.handle, "hook");
    eprintln!(
        "chaos_alerts: 10,000 events queued in {burst:?}; dropped {dropped}; restart after \
         the burst {restart:?}"
    );
    assert!(
        burst < Duration::from_secs(10),
        "the burst is absorbed ({burst:?})"
    );
    assert!(
        restart < Duration::from_secs(2),
        "supervision unaffected ({restart:?})"
    );
    assert_eq!((sent, failed), (0, 0), "the one delivery in flight hangs");
    // One in the worker's hands, QUEUE_CAP waiting, every other one dropped and counted.
    let held = taskmaster::alerts::QUEUE_CAP as u64 + 1;
    assert!(
        dropped >= 10_000 - held && dropped <= 10_000,
        "memory bounded by the queue: {dropped} dropped"
    );
}
