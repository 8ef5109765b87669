//! Abuse 3: twenty children each writing 100 MB as fast as they can, to files, while status,
//! tail and a reload are issued. Replies must stay quick, no byte may be lost or added, and
//! memory must stay bounded (output is streamed, not accumulated).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use taskmaster::supervisor::{Command, Reply, StateName};

use crate::harness::inprocess::Tm;
use crate::harness::procfs::rss_kib;
use crate::harness::wait_until;

const WRITERS: usize = 20;
const BYTES: u64 = 100_000_000;

fn config(extra: bool) -> String {
    let mut toml = String::from("[taskmaster]\nsocket = false\n");
    for i in 0..WRITERS {
        let _ = write!(
            toml,
            "[programs.flood{i:02}]\ncmd = \"head -c {BYTES} /dev/zero\"\nstarttime = 0\n\
             autorestart = \"never\"\nstdout = \"{{dir}}/flood{i:02}.out\"\nstdout_maxbytes = 0\n"
        );
    }
    if extra {
        toml.push_str("[programs.late]\ncmd = \"sleep 1000\"\nstarttime = 0\n");
    }
    toml
}

fn timed<T>(what: &str, worst: &mut Duration, f: impl FnOnce() -> T) -> T {
    let t0 = Instant::now();
    let out = f();
    let took = t0.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "{what} took {took:?} during the flood"
    );
    *worst = (*worst).max(took);
    out
}

#[test]
fn twenty_writers_of_100_mb_lose_nothing_and_replies_stay_quick() {
    let rss0 = rss_kib();
    let t0 = Instant::now();
    let tm = Tm::start(&config(false));
    let mut rss_max = rss0;
    let (mut worst_status, mut worst_tail, mut worst_reload) = Default::default();
    let mut rounds = 0;
    let mut reloaded = false;
    loop {
        let snap = timed("status", &mut worst_status, || tm.status());
        let name = format!("flood{:02}", rounds % WRITERS);
        timed("tail", &mut worst_tail, || {
            tm.handle.output().tail(&name, None, 64 * 1024)
        });
        rss_max = rss_max.max(rss_kib());
        let all_done = snap
            .processes
            .iter()
            .filter(|p| p.name.starts_with("flood"))
            .all(|p| p.state == StateName::Exited);
        if rounds == 20 {
            tm.rewrite(&config(true));
            let r = timed("reload", &mut worst_reload, || tm.call(Command::Reload));
            assert!(
                matches!(r, Ok(Reply::Reload(ref rep)) if rep.added == ["late"]),
                "{r:?}"
            );
            reloaded = true;
        }
        if all_done && reloaded {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(50),
            "writers still running"
        );
        rounds += 1;
        // Sampling pace, not a wait: status and reload are timed every 20 ms while the
        // writers flood (the worst latency under load is the measure).
        std::thread::sleep(Duration::from_millis(20));
    }
    let wrote = t0.elapsed();
    for i in 0..WRITERS {
        let name = format!("flood{i:02}");
        let info = tm.info(&name);
        assert_eq!(
            info.last_exit.map(|e| e.kind),
            Some(taskmaster::supervisor::ExitKind::Code(0)),
            "{name} finished cleanly"
        );
        let path = tm.path(&format!("{name}.out"));
        // The child is reaped before the I/O thread has drained its pipe: wait for the tail.
        wait_until(Duration::from_secs(20), "file complete", || {
            std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) >= BYTES
        });
        assert_eq!(
            std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0),
            BYTES,
            "{name}: every byte exactly once"
        );
    }
    rss_max = rss_max.max(rss_kib());
    let growth_mib = rss_max.saturating_sub(rss0) / 1024;
    eprintln!(
        "chaos_output: 20 x 100 MB in {wrote:?}, {rounds} rounds; worst status {worst_status:?}, \
         tail {worst_tail:?}, reload {worst_reload:?}; RSS +{growth_mib} MiB"
    );
    // RSS is the whole test binary's: other tests beside this one (log_files holds 64 MiB
    // streams several times over) grow it too. Buffering the flood would be ~2 GB.
    assert!(
        growth_mib < 512,
        "RSS grew by {growth_mib} MiB while 2 GB streamed through"
    );
    assert_eq!(tm.info("late").state, StateName::Running);
    tm.shutdown();
}
