//! Capture throughput, by hand:
//! `cargo run --release --example output_throughput [MiB] [runs] [dir]` (dir: where the file
//! goes, default a temporary directory; `/dev/shm` takes the disk out of the figures).
//! With `ONLY_TASKMASTER=1` in the environment, `cat` is not run (for profiling).
//!
//! Compares `head -c N /dev/zero | cat > file` with `head -c N /dev/zero` whose stdout goes
//! through taskmaster's I/O thread into a file, and prints MB/s and CPU seconds per GiB for
//! `cat` and for this process (the I/O thread; `head` excluded in both).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::resource::{UsageWho, getrusage};
use taskmaster::output::{OutputHub, Pipe, pipe};

fn cpu(who: UsageWho) -> Duration {
    let u = getrusage(who).expect("getrusage");
    let t = |tv: nix::sys::time::TimeVal| {
        Duration::from_secs(tv.tv_sec() as u64) + Duration::from_micros(tv.tv_usec() as u64)
    };
    t(u.user_time()) + t(u.system_time())
}

struct Run {
    wall: Duration,
    cpu: Duration,
}

fn head(bytes: u64, out: Stdio) -> std::process::Child {
    Command::new("head")
        .arg("-c")
        .arg(bytes.to_string())
        .arg("/dev/zero")
        .stdout(out)
        .spawn()
        .expect("spawn head")
}

fn with_cat(bytes: u64, path: &std::path::Path) -> Run {
    let file = std::fs::File::create(path).expect("create");
    let start = Instant::now();
    let mut h = head(bytes, Stdio::piped());
    let mut cat = Command::new("cat")
        .stdin(h.stdout.take().expect("head stdout"))
        .stdout(file)
        .spawn()
        .expect("spawn cat");
    let before = cpu(UsageWho::RUSAGE_CHILDREN);
    cat.wait().expect("wait cat");
    let wall = start.elapsed();
    // Only cat is reaped so far, so the children's usage grew by cat's alone.
    let cpu = cpu(UsageWho::RUSAGE_CHILDREN) - before;
    h.wait().expect("wait head");
    Run { wall, cpu }
}

fn with_taskmaster(bytes: u64, path: &std::path::Path) -> Run {
    let (hub, reader) = OutputHub::start().expect("start");
    let file = taskmaster::output::LogSink::plain(path).expect("open");
    let (r, w) = pipe().expect("pipe");
    let before = cpu(UsageWho::RUSAGE_SELF);
    let start = Instant::now();
    let mut h = head(bytes, Stdio::from(w));
    hub.register(
        "bench",
        Some(Pipe {
            fd: r,
            file: Some(file),
        }),
        None,
    );
    h.wait().expect("wait head");
    hub.finish(Duration::from_secs(600));
    let wall = start.elapsed();
    let cpu = cpu(UsageWho::RUSAGE_SELF) - before;
    assert_eq!(reader.seq("bench"), bytes);
    Run { wall, cpu }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mib: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1024);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let bytes = mib * 1024 * 1024;
    let dir = match args.next() {
        Some(d) => tempfile::tempdir_in(d),
        None => tempfile::tempdir(),
    }
    .expect("tempdir");
    let path = dir.path().join("out");
    let gib = bytes as f64 / (1u64 << 30) as f64;
    let report = |what: &str, r: &Run| {
        let mbs = bytes as f64 / 1e6 / r.wall.as_secs_f64();
        let cpu = r.cpu.as_secs_f64() / gib;
        println!(
            "{what:<12} {mbs:8.0} MB/s  {cpu:.3} CPU-s/GiB  ({:.2?})",
            r.wall
        );
        (mbs, cpu)
    };
    let (mut best_cat, mut best_tm) = ((0f64, f64::MAX), (0f64, f64::MAX));
    let best = |b: &mut (f64, f64), (mbs, cpu): (f64, f64)| {
        *b = (b.0.max(mbs), b.1.min(cpu));
    };
    for _ in 0..runs {
        let _ = std::fs::remove_file(&path);
        if std::env::var_os("ONLY_TASKMASTER").is_none() {
            best(&mut best_cat, report("cat", &with_cat(bytes, &path)));
            assert_eq!(std::fs::metadata(&path).expect("stat").len(), bytes);
        }
        let _ = std::fs::remove_file(&path);
        best(
            &mut best_tm,
            report("taskmaster", &with_taskmaster(bytes, &path)),
        );
        assert_eq!(std::fs::metadata(&path).expect("stat").len(), bytes);
    }
    println!(
        "best of {runs}: cat {:.0} MB/s {:.3} CPU-s/GiB; taskmaster {:.0} MB/s {:.3} CPU-s/GiB; \
         throughput taskmaster/cat = {:.2}",
        best_cat.0,
        best_cat.1,
        best_tm.0,
        best_tm.1,
        best_tm.0 / best_cat.0
    );
}
