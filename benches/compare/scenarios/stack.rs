//! Stacks (interface.md section 10), taskmaster only (supervisord has no dependencies or
//! health checks): a chain of 10 programs each waiting for the previous one to be healthy by
//! a TCP check every 0.1 s (the overhead of a link: from the program listening to its
//! dependent's spawn, target <= 0.15 s at that interval); and the daemon's
//! CPU with 1,000 processes checked by `cmd` every 5 s and by `tcp` every 1 s.

use std::time::Duration;

use super::each_kind;
use crate::daemon::{Kind, Program, log_line_ms, wait_for, wait_running};
use crate::procfs;
use crate::report::{Goal, Report};
use crate::{Ctx, Res};

const LINKS: u16 = 10;
/// Below the ephemeral range (32768-60999): the checks' own outgoing connections must not
/// take a port a link is about to listen on.
const BASE_PORT: u16 = 21000;
/// Each link listens this long after it starts (python3's own start-up comes on top).
const READY: f64 = 0.3;
const IDLE: Duration = Duration::from_secs(20);

/// A TCP listener on `port` after `delay` s, accepting and closing connections. With
/// `ready`, it writes there the local time of day in ms at which it started listening (the
/// event log's clock): python's own start-up is slow and varies, so the overhead of a link is
/// measured from that moment, not from the spawn.
fn listener(port: u16, delay: f64, ready: Option<&std::path::Path>) -> String {
    let note = ready.map_or(String::new(), |f| {
        format!(
            "t=time.time(); lt=time.localtime(t); open(\"{}\", \"w\").write(str(((lt.tm_hour*60+lt.tm_min)*60+lt.tm_sec)*1000+int(t*1000)%1000)); ",
            f.display()
        )
    });
    format!(
        "python3 -c 'import socket,time; time.sleep({delay}); s=socket.socket(); \
         s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((\"127.0.0.1\", {port})); \
         s.listen(1024); {note}\nwhile True: s.accept()[0].close()'"
    )
}

fn chain(base: u16, dir: &std::path::Path) -> Vec<Program> {
    (0..LINKS)
        .map(|i| {
            let ready = dir.join(format!("ready{i:02}"));
            let cmd = listener(base + i, READY, Some(&ready));
            let mut p = Program::new(&format!("link{i:02}"), &cmd);
            p.starttime = 0.0;
            p.tm_extra = format!(
                "health = {{ tcp = \"127.0.0.1:{}\" }}\nhealth_interval = 0.1\nhealth_retries = 1000\n",
                base + i
            );
            if i > 0 {
                p.tm_extra += &format!("depends_on = {{ link{:02} = \"healthy\" }}\n", i - 1);
            }
            p
        })
        .collect()
}

fn checked(n: u32, health: &str, target: Option<u16>) -> Vec<Program> {
    let mut p = Program::new("svc", "sleep 100000");
    p.numprocs = n;
    p.starttime = 1.0;
    p.tm_extra = health.to_string();
    let mut v = vec![p];
    if let Some(port) = target {
        let mut l = Program::new("target", &listener(port, 0.0, None));
        l.starttime = 0.0;
        v.push(l);
    }
    v
}

/// Mean ms from a link listening to the next link's spawn (the last: to its `healthy:`).
fn link_overhead(log: &std::path::Path, dir: &std::path::Path) -> Option<f64> {
    let text = std::fs::read_to_string(log).ok()?;
    let at = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle))
            .and_then(log_line_ms)
    };
    let mut total = 0.0;
    for i in 0..LINKS {
        let ready: f64 = std::fs::read_to_string(dir.join(format!("ready{i:02}")))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let next = if i + 1 < LINKS {
            at(&format!("spawned: 'link{:02}'", i + 1))?
        } else {
            at(&format!("healthy: link{i:02} "))?
        };
        total += next - ready;
    }
    Some(total / f64::from(LINKS))
}

/// Seconds from the first to the last line containing `needle` after the log's first line.
fn span(log: &std::path::Path, needle: &str) -> Option<f64> {
    let text = std::fs::read_to_string(log).ok()?;
    let first = log_line_ms(text.lines().next()?)?;
    let last = text
        .lines()
        .filter(|l| l.contains(needle))
        .filter_map(log_line_ms)
        .next_back()?;
    Some((last - first) / 1000.0)
}

/// The daemon's CPU over `IDLE` once its checks are in their steady state: the first check
/// of each process (a `healthy` transition, an event-log line each) comes within one
/// interval of RUNNING and is not what the figure is about, so `settle` (over an interval)
/// passes first.
fn idle_cpu(r: &mut crate::Running, settle: Duration) -> Res<f64> {
    let pid = r.d.pid();
    std::thread::sleep(settle);
    let cpu0 = procfs::cpu_seconds_precise(pid).ok_or("daemon gone")?;
    std::thread::sleep(IDLE);
    let cpu1 = procfs::cpu_seconds_precise(pid).ok_or("daemon gone")?;
    Ok((cpu1 - cpu0) / IDLE.as_secs_f64() * 100.0)
}

pub fn run(ctx: &Ctx, report: &mut Report) {
    const S: &str = "stack";
    let total = "chain of 10 (tcp healthy, interval 0.1): start → last healthy";
    let per_link = "chain of 10: link listening → next link spawned (mean)";
    let cmd_cpu = "1,000 procs, cmd check every 5 s: daemon CPU";
    let tcp_cpu = "1,000 procs, tcp check every 1 s: daemon CPU";
    report.declare_info(S, total, "s");
    report.declare(S, per_link, "ms", Goal::AtMost(150.0), None);
    report.declare_info(S, cmd_cpu, "%");
    report.declare(S, tcp_cpu, "%", Goal::AtMost(0.5), None);
    let n = ctx.repeats(1);
    // TM_BENCH_BEFORE=/path/to/an/earlier/taskmaster: its checks' CPU is measured in the same
    // run, as the baseline column (before/after a change).
    let before = std::env::var_os("TM_BENCH_BEFORE").map(std::path::PathBuf::from);
    if let Some(b) = &before {
        report.note(format!("stack: baseline = TM_BENCH_BEFORE {}", b.display()));
    }
    each_kind(ctx, report, S, |kind, report| {
        if kind != Kind::Taskmaster {
            return Ok(());
        }
        for _ in 0..n {
            let r = ctx.launch(kind, |dir| chain(BASE_PORT, dir))?;
            let log = r.d.log_path().to_path_buf();
            let last = format!("healthy: link{:02} ", LINKS - 1);
            wait_for(
                Duration::from_secs(60),
                Duration::from_millis(50),
                "the chain",
                || Ok(std::fs::read_to_string(&log)?.contains(&last).then_some(())),
            )?;
            let secs = span(&log, &last).ok_or("no healthy line")?;
            report.add(S, total, kind.name(), secs);
            let dir = r.dir.path().to_path_buf();
            let over = link_overhead(&log, &dir).ok_or("no readiness notes")?;
            report.add(S, per_link, kind.name(), over);
            drop(r);

            // The earlier build first, then this one, each scenario in turn: the same load.
            let cmd = || {
                checked(
                    1000,
                    "health = { cmd = \"true\" }\nhealth_interval = 5\n",
                    None,
                )
            };
            let tcp = || {
                checked(
                    1000,
                    "health = { tcp = \"127.0.0.1:21100\" }\nhealth_interval = 1\n",
                    Some(21100),
                )
            };
            for (figure, procs, settle, programs) in [
                (cmd_cpu, 1000, 6.0, &cmd as &dyn Fn() -> Vec<Program>),
                (tcp_cpu, 1001, 2.0, &tcp),
            ] {
                let mut runs = vec![(ctx.tm_bin.clone(), kind.name())];
                if let Some(before) = &before {
                    runs.insert(0, (before.clone(), "baseline"));
                }
                for (bin, subject) in runs {
                    let mut r = ctx.launch_bin(&bin, kind, |_| programs())?;
                    wait_running(r.d.as_mut(), procs, Duration::from_secs(120))?;
                    let settle = Duration::from_secs_f64(settle);
                    report.add(S, figure, subject, idle_cpu(&mut r, settle)?);
                    r.d.shutdown()?;
                }
            }
        }
        Ok(())
    });
}
