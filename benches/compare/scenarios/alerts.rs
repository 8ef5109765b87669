//! Alerts (taskmaster only; supervisord has no equivalent without an event listener):
//! how soon an exec alert starts and a webhook is received after a SIGKILL, and whether a
//! webhook that never answers slows the restart down (compared in the same run with the
//! same program and no alert). Kills are 1.2 s apart: a run shorter than 1 s is followed by
//! a restart delay (the never-spin rule), which would otherwise be what is measured.

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

/// Kills the victim `n` times; per kill, the time until `done(kill instant)` holds.
fn kills(
    d: &mut dyn Daemon,
    n: usize,
    mut done: impl FnMut(Instant, &mut NewChildWatch) -> Res<Instant>,
    mut each: impl FnMut(f64),
) -> Res<()> {
    let mut pid = victim_pid(d)?;
    for _ in 0..n {
        std::thread::sleep(GAP);
        let mut watch = NewChildWatch::new(d.pid(), "sleep");
        let t0 = Instant::now();
        kill(Pid::from_raw(pid), Signal::SIGKILL)?;
        let t1 = done(t0, &mut watch)?;
        each(ms(t1 - t0));
        pid = spin_until(Duration::from_secs(10), "the new victim", || {
            Ok(d.status()?
                .iter()
                .any(|p| p.running_pid().is_some_and(|p| p != pid)))
        })
        .and_then(|_| victim_pid(d))?;
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
            |_, _| {
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
            |_, _| Ok(rx.recv_timeout(Duration::from_secs(10))?),
            |v| report.add(S, hook, "taskmaster", v),
        )
    });
    let mut medians = [None, None];
    for (i, (name, blackhole)) in [(plain, false), (holed, true)].into_iter().enumerate() {
        run(name, &mut |report| {
            // Bound, never accepted: connections complete in the kernel, no answer ever comes.
            let hole = TcpListener::bind("127.0.0.1:0")?;
            let extra = if blackhole {
                format!(
                    "[alerts.hole]\non = [\"exited\", \"spawned\", \"running\", \"recovered\"]\n\
                     webhook = \"http://127.0.0.1:{}/x\"\ntimeout = 30\n",
                    hole.local_addr()?.port()
                )
            } else {
                String::new()
            };
            let (mut tm, _dir) = launch(ctx, &extra)?;
            let mut values = Vec::new();
            kills(
                &mut tm,
                n,
                |_, watch| restart(watch),
                |v| {
                    values.push(v);
                    report.add(S, name, "taskmaster", v);
                },
            )?;
            medians[i] = crate::report::summarize(&values).map(|s| s.median);
            drop(hole);
            Ok(())
        });
    }
    if let [Some(a), Some(b)] = medians {
        report.add(S, ratio, "taskmaster", b / a);
    }
}
