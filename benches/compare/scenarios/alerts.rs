//! Alerts (taskmaster only; supervisord has no equivalent without an event listener):
//! how soon an exec alert starts and a webhook is received after a SIGKILL, and whether a
//! webhook that never answers slows the restart down (compared in the same run with the
//! same program and no alert, the two daemons killed in turn). Kills of one victim are 1.2 s
//! apart: a run shorter than 1 s is followed by a restart delay (the never-spin rule), which
//! would otherwise be what is measured.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::{ms, spin_until};
use crate::daemon::{Daemon, Program, wait_running};
use crate::procfs::NewChildWatch;
use crate::report::{Goal, Report};
use crate::taskmaster::Taskmaster;
use crate::{Ctx, Res};

const S: &str = "alerts";
const GAP: Duration = Duration::from_millis(1_200);

fn victim() -> Program {
    let mut p = Program::new("victim", "sleep 100000");
    p.starttime = 0.0;
    p.autorestart = "always";
    p.stdout = crate::daemon::Output::Discard;
    p.stderr = crate::daemon::Output::Discard;
    p
}

fn launch(ctx: &Ctx, extra: &str) -> Res<(Taskmaster, tempfile::TempDir)> {
    let dir = ctx.dir()?;
    let tm = Taskmaster::launch_with(&ctx.tm_bin, dir.path(), &[victim()], extra)?;
    Ok((tm, dir))
}

fn victim_pid(d: &mut dyn Daemon) -> Res<i32> {
    Ok(wait_running(d, 1, Duration::from_secs(10))?[0]
        .running_pid()
        .ok_or("no pid")?)
}

type Done<'a> = dyn FnMut(Instant, &mut NewChildWatch) -> Res<Instant> + 'a;

/// Kills the victim `pid` once: the time until `done(kill instant)` holds, and the new
/// victim's pid once it is RUNNING.
fn kill_once(d: &mut dyn Daemon, pid: i32, done: &mut Done) -> Res<(f64, i32)> {
    let mut watch = NewChildWatch::new(d.pid(), "sleep");
    let t0 = Instant::now();
    kill(Pid::from_raw(pid), Signal::SIGKILL)?;
    let t1 = done(t0, &mut watch)?;
    spin_until(Duration::from_secs(10), "the new victim", || {
        Ok(d.status()?
            .iter()
            .any(|p| p.running_pid().is_some_and(|p| p != pid)))
    })?;
    Ok((ms(t1 - t0), victim_pid(d)?))
}

/// Kills the victim `n` times, [`GAP`] apart; `each` gets every time.
fn kills(d: &mut dyn Daemon, n: usize, done: &mut Done, mut each: impl FnMut(f64)) -> Res<()> {
    let mut pid = victim_pid(d)?;
    for _ in 0..n {
        std::thread::sleep(GAP);
        let (v, next) = kill_once(d, pid, done)?;
        each(v);
        pid = next;
    }
    Ok(())
}

/// kill → the replacement child has exec'd.
fn restart(watch: &mut NewChildWatch) -> Res<Instant> {
    spin_until(Duration::from_secs(10), "the replacement child", || {
        Ok(watch.poll().is_some())
    })
}

pub fn run(ctx: &Ctx, report: &mut Report) {
    let exec = "kill → exec alert started";
    let hook = "kill → webhook received";
    let plain = "restart, no alert";
    let holed = "restart, blackholed webhook";
    let ratio = "blackholed ÷ no alert";
    report.declare(S, exec, "ms", Goal::None, None);
    report.declare(S, hook, "ms", Goal::None, None);
    report.declare(S, plain, "ms", Goal::None, None);
    report.declare(S, holed, "ms", Goal::None, None);
    report.declare(S, ratio, "×", Goal::AtMost(1.2), None);
    let n = ctx.repeats(8);
    let mut run = |what: &str, f: &mut dyn FnMut(&mut Report) -> Res<()>| {
        if let Err(e) = f(report) {
            report.note(format!("alerts: {what} failed: {e}"));
        }
    };
    // The exec alert is `tail -f /dev/null` (killed at its 1 s timeout): a child of
    // taskmaster with its own name, seen by the same /proc watch as a restart.
    run("exec", &mut |report| {
        let extra = "[alerts.probe]\non = [\"exited_unexpected\"]\n\
                     exec = \"tail -f /dev/null\"\ntimeout = 1\n";
        let (mut tm, _dir) = launch(ctx, extra)?;
        let tm_pid = tm.pid();
        kills(
            &mut tm,
            n,
            &mut |_, _| {
                let mut w = NewChildWatch::new(tm_pid, "tail");
                spin_until(Duration::from_secs(10), "the alert command", || {
                    Ok(w.poll().is_some())
                })
            },
            |v| report.add(S, exec, "taskmaster", v),
        )
    });
    run("webhook", &mut |report| {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let (tx, rx) = crossbeam_channel::unbounded();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let mut r = BufReader::new(conn);
                let mut line = String::new();
                if r.read_line(&mut line).is_ok() {
                    let _ = tx.send(Instant::now());
                }
                let _ = std::io::Write::write_all(
                    r.get_mut(),
                    b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n",
                );
            }
        });
        let extra = format!(
            "[alerts.hook]\non = [\"exited_unexpected\"]\nwebhook = \"http://127.0.0.1:{port}/x\"\n"
        );
        let (mut tm, _dir) = launch(ctx, &extra)?;
        kills(
            &mut tm,
            n,
            &mut |_, _| Ok(rx.recv_timeout(Duration::from_secs(10))?),
            |v| report.add(S, hook, "taskmaster", v),
        )
    });
    run("restart", &mut |report| {
        // Both daemons run side by side and are killed in turn, so they see the same load;
        // the hole is bound but never accepts: connections complete in the kernel and no
        // answer ever comes.
        let hole = TcpListener::bind("127.0.0.1:0")?;
        let extra = format!(
            "[alerts.hole]\non = [\"exited\", \"spawned\", \"running\", \"recovered\"]\n\
             webhook = \"http://127.0.0.1:{}/x\"\ntimeout = 30\n",
            hole.local_addr()?.port()
        );
        let (mut bare, _d1) = launch(ctx, "")?;
        let (mut holed_tm, _d2) = launch(ctx, &extra)?;
        let mut pids = [victim_pid(&mut bare)?, victim_pid(&mut holed_tm)?];
        let mut values = [Vec::new(), Vec::new()];
        // The first victims must have run a full second too (launching the second daemon
        // takes a moment), or the first kill of the first daemon meets the restart delay.
        std::thread::sleep(GAP);
        for _ in 0..n {
            for (i, d) in [&mut bare as &mut dyn Daemon, &mut holed_tm]
                .into_iter()
                .enumerate()
            {
                std::thread::sleep(GAP / 2);
                let (v, pid) = kill_once(d, pids[i], &mut |_, watch| restart(watch))?;
                pids[i] = pid;
                values[i].push(v);
                report.add(S, [plain, holed][i], "taskmaster", v);
            }
        }
        let median = |v: &[f64]| crate::report::summarize(v).map(|s| s.median);
        if let (Some(a), Some(b)) = (median(&values[0]), median(&values[1])) {
            report.add(S, ratio, "taskmaster", b / a);
        }
        drop(hole);
        Ok(())
    });
}
