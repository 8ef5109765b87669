//! 1 GiB from a child's stdout into a file through the supervisor, against the plain pipe
//! `head -c 1G /dev/zero | cat > file` measured in the same run (alternating, so both see the
//! same machine); the supervisor's CPU-seconds per GiB from /proc/PID/stat. Files live on
//! tmpfs (/dev/shm) where there is one, so the disk's writeback does not drown the figures.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::daemon::{Kind, Output, Program, wait_for};
use crate::procfs;
use crate::report::{Goal, Report};
use crate::{Ctx, Res, Running};

const GIB: u64 = 1 << 30;

/// Bytes actually stored: counts right even if a writer without O_APPEND leaves a hole.
fn stored(p: &Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.blocks() * 512)
}

fn truncate(p: &Path) -> Res<()> {
    Ok(std::fs::File::options().write(true).open(p)?.set_len(0)?)
}

/// The plain pipe `head -c 1G /dev/zero | cat > file`: (seconds, cat's own CPU-seconds);
/// the file is removed after.
fn plain_pipe(dir: &Path) -> Res<(f64, f64)> {
    let file = dir.join("pipe.out");
    let t0 = Instant::now();
    let mut head = Command::new("head")
        .args(["-c", &GIB.to_string(), "/dev/zero"])
        .stdout(Stdio::piped())
        .spawn()?;
    let head_out = head.stdout.take().ok_or("head has no stdout")?;
    let cat = Command::new("cat")
        .stdin(head_out)
        .stdout(std::fs::File::create(&file)?)
        .spawn()?;
    let (cat_ok, cat_cpu) = procfs::wait_with_cpu(cat.id() as i32)?;
    let head_ok = head.wait()?.success();
    let secs = t0.elapsed().as_secs_f64();
    let written = std::fs::metadata(&file).map_or(0, |m| m.len());
    std::fs::remove_file(&file)?;
    if !cat_ok || !head_ok || written != GIB {
        return Err(format!("plain pipe failed: {written} bytes").into());
    }
    Ok((secs, cat_cpu))
}

fn launch(ctx: &Ctx, kind: Kind, out: PathBuf) -> Res<Running> {
    ctx.launch(kind, |_| {
        let mut p = Program::new("writer", &format!("head -c {GIB} /dev/zero"));
        p.autostart = false;
        p.autorestart = "never";
        p.starttime = 0.0;
        p.stdout = Output::File(out.clone());
        p.stderr = Output::Discard;
        vec![p]
    })
}

/// One GiB through the daemon: (seconds, daemon CPU-seconds).
fn through_daemon(r: &mut Running, file: &Path) -> Res<(f64, f64)> {
    let d = r.d.as_mut();
    let cpu0 = procfs::cpu_seconds(d.pid()).ok_or("daemon gone")?;
    let t0 = Instant::now();
    d.start("writer")?;
    wait_for(
        Duration::from_secs(120),
        Duration::from_micros(500),
        "1 GiB in the file",
        || Ok((stored(file) >= GIB).then_some(())),
    )?;
    let secs = t0.elapsed().as_secs_f64();
    let cpu1 = procfs::cpu_seconds(d.pid()).ok_or("daemon gone")?;
    // The writer must be gone before the next start.
    wait_for(
        Duration::from_secs(30),
        Duration::from_millis(5),
        "writer to exit",
        || Ok(d.status()?.iter().all(|p| p.pid.is_none()).then_some(())),
    )?;
    truncate(file)?;
    Ok((secs, cpu1 - cpu0))
}

pub fn run(ctx: &Ctx, report: &mut Report) {
    const S: &str = "output";
    let tput = "1 GiB to file, throughput";
    let ratio = "throughput ÷ plain pipe";
    let cpu = "supervisor CPU per GiB";
    let cpu_ratio = "CPU per GiB ÷ cat's (plain pipe)";
    report.declare(S, tput, "MiB/s", Goal::None, None);
    report.bigger_is_better(S, tput);
    report.declare(S, ratio, "×", Goal::AtLeast(0.9), Some("~0.61×"));
    report.declare(S, cpu, "CPU-s", Goal::AtMost(0.35), Some("0.74 CPU-s"));
    report.declare(S, cpu_ratio, "×", Goal::None, None);
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::Builder::new().prefix("tm-bench-").tempdir_in(shm)
    } else {
        tempfile::tempdir()
    };
    let dir = match dir {
        Ok(d) => d,
        Err(e) => return report.note(format!("output: {e}")),
    };
    crate::guard::register_dir(dir.path());
    let mut daemons = Vec::new();
    for &kind in &ctx.kinds {
        let file = dir.path().join(format!("{}.out", kind.name()));
        match launch(ctx, kind, file.clone()) {
            Ok(r) => daemons.push((kind, r, file)),
            Err(e) => report.note(format!("output: {} failed: {e}", kind.name())),
        }
    }
    for _ in 0..ctx.repeats(3) {
        let (pipe, cat_cpu) = match plain_pipe(dir.path()) {
            Ok(s) => s,
            Err(e) => return report.note(format!("output: {e}")),
        };
        report.add(S, tput, "baseline", 1024.0 / pipe);
        report.add(S, cpu, "baseline", cat_cpu);
        for (kind, r, file) in daemons.iter_mut() {
            match through_daemon(r, file) {
                Ok((secs, cpu_s)) => {
                    report.add(S, tput, kind.name(), 1024.0 / secs);
                    report.add(S, ratio, kind.name(), pipe / secs);
                    report.add(S, cpu, kind.name(), cpu_s);
                    report.add(S, cpu_ratio, kind.name(), cpu_s / cat_cpu.max(1e-3));
                }
                Err(e) => report.note(format!("output: {} failed: {e}", kind.name())),
            }
        }
    }
}
