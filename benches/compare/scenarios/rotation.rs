//! Log rotation and timestamps at full speed (taskmaster only). A 1 GiB source of distinct
//! 64-byte lines on tmpfs is `cat` through taskmaster three ways in the same run, alternating
//! with the plain pipe `cat SRC | cat > file`: into one file without rotation, into a file
//! rotated every 8 MB with 200 backups, and into one file with `timestamps = true`. Rotation
//! must keep the throughput (>= 0.9x the plain pipe) and the CPU per GiB (<= 1.1x the
//! no-rotation case); the kept files, read oldest first, must be the source byte for byte.

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

/// `cat SRC | cat > file`: seconds.
fn plain_pipe(src: &Path, out: &Path) -> Res<f64> {
    let t0 = Instant::now();
    let mut first = Command::new("cat")
        .arg(src)
        .stdout(Stdio::piped())
        .spawn()?;
    let pipe = first.stdout.take().ok_or("cat has no stdout")?;
    let mut second = Command::new("cat")
        .stdin(pipe)
        .stdout(std::fs::File::create(out)?)
        .spawn()?;
    let ok = second.wait()?.success() && first.wait()?.success();
    let secs = t0.elapsed().as_secs_f64();
    let len = std::fs::metadata(out).map_or(0, |m| m.len());
    std::fs::remove_file(out)?;
    if !ok || len != GIB {
        return Err(format!("plain pipe failed: {len} bytes").into());
    }
    Ok(secs)
}

/// Starts `name` and waits until `expected` bytes are in `out` and its backups: (seconds,
/// the daemon's CPU-seconds).
fn through(d: &mut dyn Daemon, name: &str, out: &Path, expected: u64) -> Res<(f64, f64)> {
    let cpu0 = procfs::cpu_seconds(d.pid()).ok_or("daemon gone")?;
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
    if total(out) != expected {
        return Err(format!("{name}: {} bytes, not {expected}", total(out)).into());
    }
    Ok((secs, cpu))
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

pub fn run(ctx: &Ctx, report: &mut Report) {
    const S: &str = "rotation";
    let (tput, ratio) = (
        "1 GiB rotated every 8 MB, throughput",
        "throughput ÷ plain pipe",
    );
    let (cpu, cpu_ratio) = ("CPU per GiB, rotating", "CPU ÷ no rotation (same run)");
    let plain_cpu = "CPU per GiB, no rotation";
    let check = "kept files == source (1 = yes)";
    let (ts_cpu, ts_ratio) = ("CPU per GiB, timestamps", "timestamps CPU ÷ none");
    let ts_tput = "timestamps throughput ÷ none";
    report.declare(S, tput, "MiB/s", Goal::None, None);
    report.bigger_is_better(S, tput);
    report.declare(S, ratio, "×", Goal::AtLeast(0.9), None);
    report.declare(S, plain_cpu, "CPU-s", Goal::None, None);
    report.declare(S, cpu, "CPU-s", Goal::None, None);
    report.declare(S, cpu_ratio, "×", Goal::AtMost(1.1), None);
    report.declare(S, check, "", Goal::Exactly(1.0), None);
    report.declare(S, ts_cpu, "CPU-s", Goal::None, None);
    report.declare(S, ts_ratio, "×", Goal::None, None);
    report.declare(S, ts_tput, "×", Goal::None, None);
    if !ctx.kinds.contains(&Kind::Taskmaster) {
        return;
    }
    if let Err(e) = measure(ctx, report) {
        report.note(format!("rotation: {e}"));
    }
}

fn measure(ctx: &Ctx, report: &mut Report) -> Res<()> {
    const S: &str = "rotation";
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
    for _ in 0..ctx.repeats(3) {
        let pipe = plain_pipe(&src, &pipe_out)?;
        let (_, plain_cpu) = through(d, "plain", &plain, GIB)?;
        remove_all(&plain);
        let (secs, cpu) = through(d, "rotating", &rot, GIB)?;
        let same = concatenation_matches(&rot, &src)?;
        remove_all(&rot);
        let (ts_secs, ts_cpu) = through(d, "stamped", &ts, GIB + LINES * STAMP)?;
        remove_all(&ts);
        let (plain_secs, plain_cpu2) = {
            let r = through(d, "plain", &plain, GIB)?;
            remove_all(&plain);
            r
        };
        let plain_cpu = (plain_cpu + plain_cpu2) / 2.0;
        report.add(
            S,
            "1 GiB rotated every 8 MB, throughput",
            "taskmaster",
            1024.0 / secs,
        );
        report.add(
            S,
            "1 GiB rotated every 8 MB, throughput",
            "baseline",
            1024.0 / pipe,
        );
        report.add(S, "throughput ÷ plain pipe", "taskmaster", pipe / secs);
        report.add(S, "CPU per GiB, no rotation", "taskmaster", plain_cpu);
        report.add(S, "CPU per GiB, rotating", "taskmaster", cpu);
        report.add(
            S,
            "CPU ÷ no rotation (same run)",
            "taskmaster",
            cpu / plain_cpu,
        );
        report.add(
            S,
            "kept files == source (1 = yes)",
            "taskmaster",
            f64::from(u8::from(same)),
        );
        report.add(S, "CPU per GiB, timestamps", "taskmaster", ts_cpu);
        report.add(S, "timestamps CPU ÷ none", "taskmaster", ts_cpu / plain_cpu);
        report.add(
            S,
            "timestamps throughput ÷ none",
            "taskmaster",
            plain_secs / ts_secs,
        );
    }
    Ok(())
}
