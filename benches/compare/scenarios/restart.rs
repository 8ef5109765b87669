//! Restart after SIGKILL, and how soon the death shows in `status`. One daemon per subject,
//! one program (`sleep`), starttime 0 so a spawned process is RUNNING at once.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::{each_kind, ms, spin_until};
use crate::daemon::{Program, wait_running};
use crate::guard::ChildGuard;
use crate::procfs::{self, NewChildWatch};
use crate::report::{Goal, Report};
use crate::{Ctx, Res};

const CMD: &str = "sleep 100000";
/// How long each child runs before it is killed: past the 1 s under which a restart waits.
const LIVED: Duration = Duration::from_millis(1100);

fn victim(autorestart: &'static str) -> Program {
    let mut p = Program::new("victim", CMD);
    p.starttime = 0.0;
    p.autorestart = autorestart;
    p.stdout = crate::daemon::Output::Discard;
    p.stderr = crate::daemon::Output::Discard;
    p
}

fn sigkill(pid: i32) -> Res<()> {
    Ok(kill(Pid::from_raw(pid), Signal::SIGKILL)?)
}

/// `sleep 100000` started by this process in its own process group, as under a supervisor:
/// with std's posix_spawn, which glibc implements with clone(CLONE_VM | CLONE_VFORK), the way
/// taskmaster spawns; or with `fork` + exec (a pre_exec hook makes std fork).
fn spawn_sleep(fork: bool) -> Res<ChildGuard> {
    let mut cmd = Command::new("sleep");
    if fork {
        // SAFETY: the hook does nothing, which is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| Ok(()));
        }
    }
    Ok(ChildGuard(
        cmd.arg("100000")
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    ))
}

/// The moment `child` is seen to have exec'd `sleep`.
fn execd(child: &ChildGuard) -> Res<Instant> {
    let pid = child.0.id() as i32;
    spin_until(Duration::from_secs(5), "sleep to exec", || {
        Ok(procfs::stat(pid).is_some_and(|s| s.comm == "sleep"))
    })
}

/// The baselines: this process spawning the same command itself, until it has exec'd.
fn direct_spawn(fork: bool) -> Res<f64> {
    let t0 = Instant::now();
    let child = spawn_sleep(fork)?;
    Ok(ms(execd(&child)? - t0))
}

/// The floor of any supervisor's restart on this machine: this process kills its own
/// posix_spawned child, reaps it (a blocking wait: no wake-up to hand over) and spawns the
/// same command again at once, until the new child has exec'd. The child's death alone costs
/// more than a spawn (its memory is torn down before the parent can know).
fn direct_restart() -> Res<f64> {
    let mut old = spawn_sleep(false)?;
    execd(&old)?;
    let t0 = Instant::now();
    sigkill(old.0.id() as i32)?;
    old.0.wait()?;
    let new = spawn_sleep(false)?;
    Ok(ms(execd(&new)? - t0))
}

pub fn run_restart(ctx: &Ctx, report: &mut Report) {
    const S: &str = "restart";
    let exec = "kill → new child exec'd";
    let running = "kill → new pid RUNNING in status";
    let ratio = "kill → new child ÷ direct spawn";
    let vfork = "direct vfork spawn (posix_spawn) → exec'd";
    let vratio = "kill → new child ÷ direct vfork spawn";
    let floor = "direct restart: kill → reaped → posix_spawn → exec'd";
    let fratio = "kill → new child ÷ direct restart";
    report.declare(S, exec, "ms", Goal::AtMost(2.0), Some("~1007 ms"));
    report.declare(S, ratio, "×", Goal::AtMost(2.5), None);
    report.declare(S, vfork, "ms", Goal::None, None);
    report.declare(S, vratio, "×", Goal::AtMost(1.3), None);
    report.declare(S, floor, "ms", Goal::None, None);
    report.declare(S, fratio, "×", Goal::None, None);
    report.declare(S, running, "ms", Goal::None, None);
    let n = ctx.repeats(10);
    let mut direct = Vec::new();
    let mut direct_vfork = Vec::new();
    let mut restarts = Vec::new();
    // Cheap and noisy: more samples than the daemons get; the two kinds interleaved.
    for _ in 0..n.max(20) {
        match (direct_spawn(true), direct_spawn(false)) {
            (Ok(f), Ok(v)) => {
                direct.push(f);
                direct_vfork.push(v);
            }
            (Err(e), _) | (_, Err(e)) => report.note(format!("restart: direct spawn failed: {e}")),
        }
        match direct_restart() {
            Ok(v) => restarts.push(v),
            Err(e) => report.note(format!("restart: direct restart failed: {e}")),
        }
    }
    for &v in &restarts {
        report.add(S, floor, "baseline", v);
    }
    let floor_median = crate::report::summarize(&restarts).map(|s| s.median);
    for &v in &direct {
        report.add(S, exec, "baseline", v);
    }
    for &v in &direct_vfork {
        report.add(S, vfork, "baseline", v);
    }
    let direct_median = crate::report::summarize(&direct).map(|s| s.median);
    let vfork_median = crate::report::summarize(&direct_vfork).map(|s| s.median);
    each_kind(ctx, report, S, |kind, report| {
        let mut r = ctx.launch(kind, |_| vec![victim("always")])?;
        let d = r.d.as_mut();
        let mut pid = wait_running(d, 1, Duration::from_secs(10))?[0]
            .running_pid()
            .ok_or("no pid")?;
        let mut born = Instant::now();
        for _ in 0..n {
            // taskmaster delays the restart of a run shorter than 1 s (its never-spin rule,
            // docs/stack.md): each child is killed after a full second, as a crash would be.
            std::thread::sleep((born + LIVED).saturating_duration_since(Instant::now()));
            let mut watch = NewChildWatch::new(d.pid(), "sleep");
            let t0 = Instant::now();
            sigkill(pid)?;
            let mut new_pid = 0;
            let t1 = spin_until(Duration::from_secs(10), "the replacement child", || {
                new_pid = watch.poll().unwrap_or(0);
                Ok(new_pid != 0)
            })?;
            let t2 = spin_until(Duration::from_secs(10), "the new pid RUNNING", || {
                Ok(d.status()?.iter().any(|p| p.running_pid() == Some(new_pid)))
            })?;
            report.add(S, exec, kind.name(), ms(t1 - t0));
            report.add(S, running, kind.name(), ms(t2 - t0));
            if let Some(base) = direct_median {
                report.add(S, ratio, kind.name(), ms(t1 - t0) / base);
            }
            if let Some(base) = vfork_median {
                report.add(S, vratio, kind.name(), ms(t1 - t0) / base);
            }
            if let Some(base) = floor_median {
                report.add(S, fratio, kind.name(), ms(t1 - t0) / base);
            }
            pid = new_pid;
            born = t1;
        }
        Ok(())
    });
}

pub fn run_death(ctx: &Ctx, report: &mut Report) {
    const S: &str = "death";
    let visible = "death → not RUNNING in status";
    let from_kill = "kill → not RUNNING in status";
    let rtt = "status round trip";
    report.declare(S, visible, "ms", Goal::AtMost(1.0), Some("~2 ms"));
    report.declare(S, from_kill, "ms", Goal::None, None);
    report.declare(S, rtt, "ms", Goal::None, None);
    let n = ctx.repeats(10);
    each_kind(ctx, report, S, |kind, report| {
        let mut r = ctx.launch(kind, |_| vec![victim("never")])?;
        let d = r.d.as_mut();
        wait_running(d, 1, Duration::from_secs(10))?;
        for _ in 0..n {
            let t = Instant::now();
            let pid = d.status()?[0].running_pid();
            report.add(S, rtt, kind.name(), ms(t.elapsed()));
            let pid = match pid {
                Some(p) => p,
                None => {
                    d.start("victim")?;
                    wait_running(d, 1, Duration::from_secs(10))?[0]
                        .running_pid()
                        .ok_or("no pid after start")?
                }
            };
            let t0 = Instant::now();
            sigkill(pid)?;
            let dead = spin_until(Duration::from_secs(5), "the child to die", || {
                Ok(procfs::is_dead(pid))
            })?;
            let seen = spin_until(Duration::from_secs(10), "status to show the death", || {
                Ok(!d.status()?.iter().any(|p| p.running_pid() == Some(pid)))
            })?;
            report.add(S, visible, kind.name(), ms(seen - dead));
            report.add(S, from_kill, kind.name(), ms(seen - t0));
            d.start("victim")?;
            wait_running(d, 1, Duration::from_secs(10))?;
        }
        Ok(())
    });
}
