//! 1 GiB from a child's stdout into a file through the supervisor, against the plain pipe
//! `head -c 1G /dev/zero | cat > file` measured in the same run; the supervisor's CPU-seconds
//! per GiB from /proc/PID/stat.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::each_kind;
use crate::daemon::{Output, Program, wait_for};
use crate::procfs;
use crate::report::{Goal, Report};
use crate::{Ctx, Res};

const GIB: u64 = 1 << 30;

fn size(p: &Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}

/// Seconds for the plain pipe; the file is removed after.
fn plain_pipe(dir: &Path) -> Res<f64> {
    let file = dir.join("pipe.out");
    let t0 = Instant::now();
    let st = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "head -c {GIB} /dev/zero | cat > '{}'",
            file.display()
        ))
        .status()?;
    let secs = t0.elapsed().as_secs_f64();
    let written = size(&file);
    std::fs::remove_file(&file)?;
    if !st.success() || written != GIB {
        return Err(format!("plain pipe failed: {st}, {written} bytes").into());
    }
    Ok(secs)
}

pub fn run(ctx: &Ctx, report: &mut Report) {
    const S: &str = "output";
    let tput = "1 GiB to file, throughput";
    let ratio = "throughput ÷ plain pipe";
    let cpu = "supervisor CPU per GiB";
    report.declare(S, tput, "MiB/s", Goal::None, None);
    report.declare(S, ratio, "×", Goal::AtLeast(0.9), Some("~0.61×"));
    report.declare(S, cpu, "CPU-s", Goal::AtMost(0.35), Some("0.74 CPU-s"));
    let n = ctx.repeats(2);
    let dir = match ctx.dir() {
        Ok(d) => d,
        Err(e) => return report.note(format!("output: {e}")),
    };
    let mut pipe_secs = Vec::new();
    for _ in 0..n {
        match plain_pipe(dir.path()) {
            Ok(s) => {
                report.add(S, tput, "baseline", 1024.0 / s);
                pipe_secs.push(s);
            }
            Err(e) => report.note(format!("output: {e}")),
        }
    }
    let Some(pipe) = crate::report::summarize(&pipe_secs).map(|s| s.median) else {
        return;
    };
    each_kind(ctx, report, S, |kind, report| {
        let mut r = ctx.launch(kind, |dir| {
            let mut p = Program::new("writer", &format!("head -c {GIB} /dev/zero"));
            p.autostart = false;
            p.autorestart = "never";
            p.starttime = 0.0;
            p.stdout = Output::File(dir.join("writer.out"));
            p.stderr = Output::Discard;
            vec![p]
        })?;
        let file = r.dir.path().join("writer.out");
        let d = r.d.as_mut();
        for _ in 0..n {
            let base = size(&file);
            let cpu0 = procfs::cpu_seconds(d.pid()).ok_or("daemon gone")?;
            let t0 = Instant::now();
            d.start("writer")?;
            wait_for(
                Duration::from_secs(120),
                Duration::from_micros(500),
                "1 GiB in the file",
                || Ok((size(&file) >= base + GIB).then_some(())),
            )?;
            let secs = t0.elapsed().as_secs_f64();
            let cpu1 = procfs::cpu_seconds(d.pid()).ok_or("daemon gone")?;
            report.add(S, tput, kind.name(), 1024.0 / secs);
            report.add(S, ratio, kind.name(), pipe / secs);
            report.add(S, cpu, kind.name(), cpu1 - cpu0);
            // The writer must be gone before the next start.
            wait_for(
                Duration::from_secs(30),
                Duration::from_millis(5),
                "writer to exit",
                || Ok(d.status()?.iter().all(|p| p.pid.is_none()).then_some(())),
            )?;
        }
        Ok(())
    });
}
