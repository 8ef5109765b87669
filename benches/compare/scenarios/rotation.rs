//! Log rotation and timestamps at full speed (taskmaster only). A 1 GiB source of distinct
//! 64-byte lines on tmpfs is `cat` through taskmaster three ways in the same run, alternating
//! with the plain pipe `cat SRC | cat > file`: into one file without rotation, into a file
//! rotated every 8 MB with 200 backups, and into one file with `timestamps = true`. Rotation
//! must keep the throughput (>= 0.9x the plain pipe) and the CPU per GiB (<= 1.1x the
//! no-rotation case); the kept files, read oldest first, must be the source byte for byte.
//! Throughput on a loaded machine says more about the load than about taskmaster, so the CPU
//! of the whole path (writer + copier) is compared with the plain pipe's too.

use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::daemon::{Daemon, Kind, Output, Program, wait_for};
use crate::procfs;
use crate::report::{Goal, Report};
use crate::{Ctx, Res};

const GIB: u64 = 1 << 30;
const LINE: u64 = 64;
const LINES: u64 = GIB / LINE;
/// `2026-11-27T13:45:01.123+01:00 `.
const STAMP: u64 = 30;
const BACKUPS: u32 = 200;

/// Writes the source: line `i` is `i` in 20 digits, padding, newline; 64 bytes each.
fn make_source(path: &Path) -> Res<()> {
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let pad = "-".repeat((LINE - 22) as usize);
    for i in 0..LINES {
        writeln!(w, "{i:020} {pad}")?;
    }
    w.flush()?;
    if std::fs::metadata(path)?.len() != GIB {
        return Err("the source is not 1 GiB".into());
    }
    Ok(())
}

fn numbered(path: &Path, n: u32) -> PathBuf {
    PathBuf::from(format!("{}.{n}", path.display()))
}

/// Bytes in `path` and its backups.
fn total(path: &Path) -> u64 {
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    (1..=BACKUPS).map(|n| size(&numbered(path, n))).sum::<u64>() + size(path)
}

fn remove_all(path: &Path) {
    let _ = std::fs::remove_file(path);
    for n in 1..=BACKUPS {
        let _ = std::fs::remove_file(numbered(path, n));
    }
}

/// Whether the kept files, oldest first, are `src` byte for byte.
fn concatenation_matches(path: &Path, src: &Path) -> Res<bool> {
    let mut want = std::io::BufReader::with_capacity(8 << 20, std::fs::File::open(src)?);
    let mut files: Vec<PathBuf> = (1..=BACKUPS)
        .rev()
        .map(|n| numbered(path, n))
        .filter(|p| p.exists())
        .collect();
    files.push(path.to_path_buf());
    let (mut a, mut b) = (vec![0u8; 8 << 20], vec![0u8; 8 << 20]);
    for f in files {
        let mut got = std::fs::File::open(&f)?;
        loop {
            let n = got.read(&mut a)?;
            if n == 0 {
                break;
            }
            want.read_exact(&mut b[..n])?;
            if a[..n] != b[..n] {
                return Ok(false);
            }
        }
    }
    Ok(want.read(&mut b)? == 0)
}

/// A run of the 1 GiB: wall seconds, the copier's CPU-seconds (the second `cat`, or
/// taskmaster) and the whole path's (the writing `cat` included).
#[derive(Clone, Copy)]
struct Run {
    secs: f64,
    cpu: f64,
    path_cpu: f64,
}

impl Run {
    fn mean(a: Run, b: Run) -> Run {
        Run {
            secs: (a.secs + b.secs) / 2.0,
            cpu: (a.cpu + b.cpu) / 2.0,
            path_cpu: (a.path_cpu + b.path_cpu) / 2.0,
        }
    }
}

/// `cat SRC | cat > file`.
fn plain_pipe(src: &Path, out: &Path) -> Res<Run> {
    let t0 = Instant::now();
    let mut first = Command::new("cat")
        .arg(src)
        .stdout(Stdio::piped())
        .spawn()?;
    let pipe = first.stdout.take().ok_or("cat has no stdout")?;
    let second = Command::new("cat")
        .stdin(pipe)
        .stdout(std::fs::File::create(out)?)
        .spawn()?;
    let (ok2, cpu2) = procfs::wait_with_cpu(second.id() as i32)?;
    let (ok1, cpu1) = procfs::wait_with_cpu(first.id() as i32)?;
    let secs = t0.elapsed().as_secs_f64();
    let len = std::fs::metadata(out).map_or(0, |m| m.len());
    std::fs::remove_file(out)?;
    if !ok1 || !ok2 || len != GIB {
        return Err(format!("plain pipe failed: {len} bytes").into());
    }
    Ok(Run {
        secs,
        cpu: cpu2,
        path_cpu: cpu1 + cpu2,
    })
}

/// Starts `name` and waits until `expected` bytes are in `out` and its backups.
fn through(d: &mut dyn Daemon, name: &str, out: &Path, expected: u64) -> Res<Run> {
    let cpu0 = procfs::cpu_seconds(d.pid()).ok_or("daemon gone")?;
    let reaped0 = procfs::reaped_children_cpu_seconds(d.pid()).ok_or("daemon gone")?;
    let t0 = Instant::now();
    d.start(name)?;
    let pid = d
        .status()?
        .into_iter()
        .find(|p| p.name == name)
        .and_then(|p| p.pid);
    // Polling the files would cost as much as what is measured: wait for the writer to be
    // gone (a cheap kill 0), then for its last bytes to land.
    if let Some(pid) = pid {
        let pid = nix::unistd::Pid::from_raw(pid);
        wait_for(
            Duration::from_secs(300),
            Duration::from_millis(1),
            "cat to end",
            || Ok(nix::sys::signal::kill(pid, None).is_err().then_some(())),
        )?;
    }
    wait_for(
        Duration::from_secs(60),
        Duration::from_micros(500),
        "every byte",
        || Ok((total(out) >= expected).then_some(())),
    )?;
    let secs = t0.elapsed().as_secs_f64();
    let cpu = procfs::cpu_seconds(d.pid()).ok_or("daemon gone")? - cpu0;
    // The writer was reaped by taskmaster (it is gone): its CPU is in the daemon's cutime.
    let writer = procfs::reaped_children_cpu_seconds(d.pid()).ok_or("daemon gone")? - reaped0;
    if total(out) != expected {
        return Err(format!("{name}: {} bytes, not {expected}", total(out)).into());
    }
    Ok(Run {
        secs,
        cpu,
        path_cpu: cpu + writer,
    })
}

fn program(name: &str, src: &Path, out: &Path, extra: &str) -> Program {
    let mut p = Program::new(name, &format!("cat {}", src.display()));
    p.autostart = false;
    p.autorestart = "never";
    p.starttime = 0.0;
    p.stdout = Output::File(out.to_path_buf());
    p.stderr = Output::Discard;
    p.tm_extra = extra.to_string();
    p
}

const S: &str = "rotation";
const TPUT: &str = "1 GiB rotated every 8 MB, throughput";
const RATIO: &str = "throughput ÷ plain pipe";
const PLAIN_RATIO: &str = "no rotation: throughput ÷ plain pipe";
const PLAIN_CPU: &str = "CPU per GiB, no rotation";
const CPU: &str = "CPU per GiB, rotating";
const CPU_RATIO: &str = "CPU ÷ no rotation (same run)";
const CAT_RATIO: &str = "rotating: CPU ÷ the plain pipe's cat";
const PATH_RATIO: &str = "rotating: whole path CPU ÷ plain pipe's";
const PLAIN_PATH_RATIO: &str = "no rotation: whole path CPU ÷ plain pipe's";
const CHECK: &str = "kept files == source (1 = yes)";
const TS_CPU: &str = "CPU per GiB, timestamps";
const TS_RATIO: &str = "timestamps CPU ÷ none";
const TS_TPUT: &str = "timestamps throughput ÷ none";

pub fn run(ctx: &Ctx, report: &mut Report) {
    report.declare(S, TPUT, "MiB/s", Goal::None, None);
    report.bigger_is_better(S, TPUT);
    report.declare(S, RATIO, "×", Goal::AtLeast(0.9), None);
    report.declare(S, PLAIN_RATIO, "×", Goal::None, None);
    report.declare(S, PLAIN_CPU, "CPU-s", Goal::None, None);
    report.declare(S, CPU, "CPU-s", Goal::None, None);
    report.declare(S, CPU_RATIO, "×", Goal::AtMost(1.1), None);
    report.declare(S, CAT_RATIO, "×", Goal::None, None);
    report.declare(S, PATH_RATIO, "×", Goal::None, None);
    report.declare(S, PLAIN_PATH_RATIO, "×", Goal::None, None);
    report.declare(S, CHECK, "", Goal::Exactly(1.0), None);
    report.declare(S, TS_CPU, "CPU-s", Goal::None, None);
    report.declare(S, TS_RATIO, "×", Goal::None, None);
    report.declare(S, TS_TPUT, "×", Goal::None, None);
    if !ctx.kinds.contains(&Kind::Taskmaster) {
        return;
    }
    if let Err(e) = measure(ctx, report) {
        report.note(format!("rotation: {e}"));
    }
}

fn measure(ctx: &Ctx, report: &mut Report) -> Res<()> {
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::Builder::new()
            .prefix("tm-bench-")
            .tempdir_in(shm)?
    } else {
        tempfile::tempdir()?
    };
    crate::guard::register_dir(dir.path());
    let src = dir.path().join("source");
    make_source(&src)?;
    let plain = dir.path().join("plain.out");
    let rot = dir.path().join("rot.out");
    let ts = dir.path().join("ts.out");
    let pipe_out = dir.path().join("pipe.out");
    let mut r = ctx.launch(Kind::Taskmaster, |_| {
        vec![
            program("plain", &src, &plain, ""),
            program(
                "rotating",
                &src,
                &rot,
                &format!("stdout_maxbytes = \"8MB\"\nstdout_backups = {BACKUPS}\n"),
            ),
            program("stamped", &src, &ts, "timestamps = true\n"),
        ]
    })?;
    let d = r.d.as_mut();
    let add = |report: &mut Report, what: &str, v: f64| report.add(S, what, "taskmaster", v);
    for _ in 0..ctx.repeats(3) {
        // Each taskmaster run is compared with the plain pipe measured just before and just
        // after it: on a shared machine the load drifts within a repeat.
        let p0 = plain_pipe(&src, &pipe_out)?;
        let plain1 = through(d, "plain", &plain, GIB)?;
        remove_all(&plain);
        let p1 = plain_pipe(&src, &pipe_out)?;
        let rotating = through(d, "rotating", &rot, GIB)?;
        let same = concatenation_matches(&rot, &src)?;
        remove_all(&rot);
        let p2 = plain_pipe(&src, &pipe_out)?;
        let stamped = through(d, "stamped", &ts, GIB + LINES * STAMP)?;
        remove_all(&ts);
        let plain2 = through(d, "plain", &plain, GIB)?;
        remove_all(&plain);
        let (pipe_plain, pipe_rot) = (Run::mean(p0, p1), Run::mean(p1, p2));
        let plain_mean = Run::mean(plain1, plain2);
        report.add(S, TPUT, "taskmaster", 1024.0 / rotating.secs);
        report.add(S, TPUT, "baseline", 1024.0 / pipe_rot.secs);
        add(report, RATIO, pipe_rot.secs / rotating.secs);
        add(report, PLAIN_RATIO, pipe_plain.secs / plain1.secs);
        add(report, PLAIN_CPU, plain_mean.cpu);
        add(report, CPU, rotating.cpu);
        add(report, CPU_RATIO, rotating.cpu / plain_mean.cpu);
        add(report, CAT_RATIO, rotating.cpu / pipe_rot.cpu.max(1e-3));
        add(
            report,
            PATH_RATIO,
            rotating.path_cpu / pipe_rot.path_cpu.max(1e-3),
        );
        add(
            report,
            PLAIN_PATH_RATIO,
            plain1.path_cpu / pipe_plain.path_cpu.max(1e-3),
        );
        add(report, CHECK, f64::from(u8::from(same)));
        add(report, TS_CPU, stamped.cpu);
        add(report, TS_RATIO, stamped.cpu / plain_mean.cpu);
        add(report, TS_TPUT, plain2.secs / stamped.secs);
    }
    Ok(())
}
