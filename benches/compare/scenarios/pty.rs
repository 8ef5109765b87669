//! `pty = true` programs (taskmaster only; supervisord has no ptys): `yes` through a pty with
//! its pane visible in the dashboard against the same through a pipe (same run, same
//! dashboard on the bench's own 120 x 40 pty, see `dashboard/screen.rs`), the dashboard
//! thread's CPU meanwhile, key → echo on screen while attached raw, 1 GiB through a pty to a
//! file against a pipe (headless), and RSS with 100 idle pty programs against 100 pipe ones.
//!
//! Baselines, same run, no taskmaster: a bare reader on a fresh pty, draining the same `yes`
//! (what the kernel's pty gives anyone), the same with output processing off (`stty -opost`:
//! no `\n` → `\r\n`, which costs the writer one pty write per line and `yes`'s lines are 2
//! bytes), the same with 100-byte lines, and a bare reader on a pipe.
//!
//! Sizes: the kernel's pty is the bottleneck on the machines measured (a bare reader drains
//! `yes` at a few MB/s), so the dashboard floods write [`BYTES`], not a GiB, to end in
//! seconds; the pipe comparison writes the same. The file part writes a whole GiB, once.

use std::time::{Duration, Instant};

use super::dashboard::screen::Screen;
use crate::daemon::{Daemon, Kind, Output, Program, wait_for};
use crate::procfs;
use crate::report::{Goal, Report};
use crate::taskmaster::Taskmaster;
use crate::{Ctx, Res};

const S: &str = "pty";
/// What each dashboard flood and each baseline writes.
const BYTES: u64 = 32 << 20;
/// What the file part writes (once).
const FILE_BYTES: u64 = 1 << 30;
const COLS: u16 = 120;
const ROWS: u16 = 40;
const KEYS: usize = 20;

const DRAIN_PTY: &str = "pane visible: `yes` through a pty";
const DRAIN_PIPE: &str = "pane visible: `yes` through a pipe";
const DRAIN_RATIO: &str = "pane visible: pty ÷ pipe";
const DRAIN_VS_RAW: &str = "pane visible: pty ÷ bare pty reader (same run)";
const MAIN_PTY: &str = "dashboard thread CPU while a pty floods";
const KEY_ATTACH: &str = "attached raw: key → echo on screen";
const FILE_PTY: &str = "1 GiB of `yes` through a pty to a file";
const FILE_PIPE: &str = "1 GiB of `yes` through a pipe to a file";
const FILE_RATIO: &str = "1 GiB to a file: pty ÷ pipe";
const RSS_PTY: &str = "100 idle pty programs: RSS";
const RSS_PIPE: &str = "100 idle pipe programs: RSS";
const RSS_RATIO: &str = "RSS: 100 pty ÷ 100 pipe programs";
const RAW: &str = "baseline: a bare reader on a pty (same bytes)";
const RAW_NOOPOST: &str = "baseline: the same, output processing off (-opost)";
const RAW_LONG: &str = "baseline: the same, 100-byte lines";
const RAW_PIPE: &str = "baseline: a bare reader on a pipe (same bytes)";

/// The `yes` of a flood: 2-byte lines, or 100-byte ones.
fn yes(long: bool) -> String {
    if long {
        format!("yes {}", "x".repeat(99))
    } else {
        "yes".into()
    }
}

fn flood(name: &str, pty: bool, stdout: Output, bytes: u64) -> Program {
    let mut p = Program::new(name, &format!("sh -c 'yes | head -c {bytes}'"));
    p.autostart = false;
    p.autorestart = "never";
    p.starttime = 0.0;
    p.stdout = stdout;
    p.stderr = Output::Discard;
    if pty {
        p.tm_extra = "pty = true\n".into();
    }
    p
}

pub fn run(ctx: &Ctx, report: &mut Report) {
    report.declare(
        S,
        DRAIN_PTY,
        "MB/s",
        Goal::AtLeast(200.0),
        Some("mprocs 2.2"),
    );
    report.declare_info(S, DRAIN_PIPE, "MB/s");
    report.declare(S, DRAIN_RATIO, "×", Goal::AtLeast(0.5), None);
    report.declare_info(S, DRAIN_VS_RAW, "×");
    report.declare_info(S, RAW, "MB/s");
    report.declare_info(S, RAW_NOOPOST, "MB/s");
    report.declare_info(S, RAW_LONG, "MB/s");
    report.declare_info(S, RAW_PIPE, "MB/s");
    report.declare(S, MAIN_PTY, "% of a core", Goal::AtMost(20.0), None);
    report.declare(S, KEY_ATTACH, "ms", Goal::AtMost(50.0), None);
    report.declare_info(S, FILE_PTY, "MiB/s");
    report.declare_info(S, FILE_PIPE, "MiB/s");
    report.declare_info(S, FILE_RATIO, "×");
    report.declare_info(S, RSS_PTY, "MiB");
    report.declare_info(S, RSS_PIPE, "MiB");
    report.declare(
        S,
        RSS_RATIO,
        "×",
        Goal::AtMost(2.0),
        Some("mprocs 38 MiB vs 5.5"),
    );
    if !ctx.kinds.contains(&Kind::Taskmaster) {
        return;
    }
    let n = ctx.repeats(3);
    let mut raws = Vec::new();
    for _ in 0..n {
        let baselines = [
            (RAW, Reader::Pty { opost: true }, false),
            (RAW_NOOPOST, Reader::Pty { opost: false }, false),
            (RAW_LONG, Reader::Pty { opost: true }, true),
            (RAW_PIPE, Reader::Pipe, false),
        ];
        for (figure, reader, long) in baselines {
            match bare_reader(reader, long) {
                Ok(mbs) => {
                    report.add(S, figure, "taskmaster", mbs);
                    if figure == RAW {
                        raws.push(mbs);
                    }
                }
                Err(e) => report.note(format!("pty: baseline {figure} failed: {e}")),
            }
        }
    }
    if let Err(e) = dashboard(ctx, report, n, &raws) {
        report.note(format!("pty: dashboard part skipped: {e}"));
    }
    if let Err(e) = to_file(ctx, report) {
        report.note(format!("pty: file part failed: {e}"));
    }
    if let Err(e) = idle_rss(ctx, report) {
        report.note(format!("pty: RSS part failed: {e}"));
    }
}

#[derive(Clone, Copy)]
enum Reader {
    /// A fresh pty, its termios as the kernel makes it (what `pty = true` gives a program),
    /// or with output processing off.
    Pty {
        opost: bool,
    },
    Pipe,
}

/// The kernel alone: `yes | head -c BYTES` writing into a fresh pty's slave (or a pipe),
/// read by this thread from the other end as fast as it goes; MB/s of what `yes` wrote.
fn bare_reader(reader: Reader, long: bool) -> Res<f64> {
    use std::io::Read;
    use std::os::fd::OwnedFd;
    use std::process::{Command, Stdio};
    let (read_end, write_end): (OwnedFd, OwnedFd) = match reader {
        Reader::Pty { opost } => {
            let pty = nix::pty::openpty(None, None)?;
            if !opost {
                use nix::sys::termios::{OutputFlags, SetArg, tcgetattr, tcsetattr};
                let mut t = tcgetattr(&pty.slave)?;
                t.output_flags.remove(OutputFlags::OPOST);
                tcsetattr(&pty.slave, SetArg::TCSANOW, &t)?;
            }
            (pty.master, pty.slave)
        }
        Reader::Pipe => nix::unistd::pipe()?,
    };
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("{} | head -c {BYTES}", yes(long)))
        .stdin(Stdio::null())
        .stdout(Stdio::from(write_end))
        .stderr(Stdio::null())
        .spawn()?;
    let mut from = std::fs::File::from(read_end);
    let mut buf = vec![0u8; 1 << 20];
    let t0 = Instant::now();
    // A pty master reads EIO once the writer is gone, a pipe 0: the end.
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 {
            break;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let _ = child.wait();
    Ok(BYTES as f64 / 1e6 / secs)
}

/// Waits up to `limit` for `name` to show `state`.
fn wait_state(d: &mut dyn Daemon, name: &str, state: &str, limit: Duration) -> Res<()> {
    wait_for(
        limit,
        Duration::from_millis(10),
        &format!("{name} {state}"),
        || {
            let st = d.status()?;
            Ok(st
                .iter()
                .any(|p| p.name == name && p.state == state)
                .then_some(()))
        },
    )
}

/// Starts `name` (a flood of `yes`) and waits for its exit: wall seconds and the dashboard
/// thread's CPU seconds.
fn one_flood(d: &mut Taskmaster, name: &str) -> Res<(f64, f64)> {
    let pid = d.pid();
    let main0 = procfs::thread_cpu_seconds(pid, pid).ok_or("taskmaster gone")?;
    let t0 = Instant::now();
    d.start(name)?;
    wait_state(d, name, "EXITED", Duration::from_secs(300))?;
    let wall = t0.elapsed().as_secs_f64();
    let main1 = procfs::thread_cpu_seconds(pid, pid).ok_or("taskmaster gone")?;
    Ok((wall, main1 - main0))
}

fn dashboard(ctx: &Ctx, report: &mut Report, n: usize, raws: &[f64]) -> Res<()> {
    let dir = ctx.dir()?;
    let mut echo = Program::new("c_echo", "cat");
    echo.starttime = 0.0;
    echo.tm_extra = "pty = true\n".into();
    let programs = vec![
        flood("a_pty", true, Output::Capture, BYTES),
        flood("b_pipe", false, Output::Capture, BYTES),
        echo,
    ];
    let mut d = Taskmaster::prepare(dir.path(), &programs)?;
    let err = dir.path().join("daemon.err");
    let config = dir.path().join("taskmaster.toml");
    let mut screen = Screen::spawn(&ctx.tm_bin, &config, &err, COLS, ROWS)?;
    screen.wait_text(b"a_pty", Duration::from_secs(10))?;
    d.connect(Duration::from_secs(10))?;
    for i in 0..n {
        // a_pty is on the first row, selected: its emulated pane is on screen.
        let (pty_wall, main) = one_flood(&mut d, "a_pty")?;
        let _ = screen.key(b"j")?;
        screen.wait_text(b"b_pipe", Duration::from_secs(5))?;
        let (pipe_wall, _) = one_flood(&mut d, "b_pipe")?;
        let _ = screen.key(b"k")?;
        screen.wait_text(b"a_pty", Duration::from_secs(5))?;
        let mb = BYTES as f64 / 1e6;
        report.add(S, DRAIN_PTY, "taskmaster", mb / pty_wall);
        report.add(S, DRAIN_PIPE, "taskmaster", mb / pipe_wall);
        report.add(S, DRAIN_RATIO, "taskmaster", pipe_wall / pty_wall);
        if let Some(raw) = raws.get(i) {
            report.add(S, DRAIN_VS_RAW, "taskmaster", mb / pty_wall / raw);
        }
        report.add(S, MAIN_PTY, "taskmaster", 100.0 * main / pty_wall);
    }
    // Attach raw to `cat` on a pty; each key is echoed by the terminal and drawn.
    let _ = screen.key(b"j")?;
    let _ = screen.key(b"j")?;
    screen.wait_text(b"c_echo", Duration::from_secs(5))?;
    let _ = screen.take();
    let _ = screen.key(b"\r")?;
    screen.wait_text(b"detaches", Duration::from_secs(5))?;
    for i in 0..KEYS {
        std::thread::sleep(Duration::from_millis((i * 13 % 33) as u64 + 40));
        let key = [b'a' + (i % 26) as u8];
        let _ = screen.take();
        let sent = screen.key(&key)?;
        let shown = screen.wait_text(&key, Duration::from_secs(5))?;
        report.add(
            S,
            KEY_ATTACH,
            "taskmaster",
            (shown - sent).as_secs_f64() * 1e3,
        );
    }
    let _ = screen.key(b"\x1d")?;
    Ok(())
}

fn to_file(ctx: &Ctx, report: &mut Report) -> Res<()> {
    let mut r = ctx.launch(Kind::Taskmaster, |dir| {
        vec![
            flood("pty", true, Output::File(dir.join("pty.out")), FILE_BYTES),
            flood(
                "pipe",
                false,
                Output::File(dir.join("pipe.out")),
                FILE_BYTES,
            ),
        ]
    })?;
    let mut secs = [0.0; 2];
    for (i, name) in ["pty", "pipe"].into_iter().enumerate() {
        let t0 = Instant::now();
        r.d.start(name)?;
        // A GiB through the pty takes minutes at the few MB/s the kernel gives `yes`.
        wait_state(r.d.as_mut(), name, "EXITED", Duration::from_secs(3600))?;
        secs[i] = t0.elapsed().as_secs_f64();
        let _ = std::fs::remove_file(r.dir.path().join(format!("{name}.out")));
    }
    let mib = FILE_BYTES as f64 / (1 << 20) as f64;
    report.add(S, FILE_PTY, "taskmaster", mib / secs[0]);
    report.add(S, FILE_PIPE, "taskmaster", mib / secs[1]);
    report.add(S, FILE_RATIO, "taskmaster", secs[1] / secs[0]);
    Ok(())
}

fn idle_rss(ctx: &Ctx, report: &mut Report) -> Res<()> {
    let mut rss = [0.0; 2];
    for (i, pty) in [true, false].into_iter().enumerate() {
        let mut r = ctx.launch(Kind::Taskmaster, |_| {
            let mut p = Program::new("idle", "sleep 100000");
            p.numprocs = 100;
            p.starttime = 0.0;
            if pty {
                p.tm_extra = "pty = true\n".into();
            }
            vec![p]
        })?;
        wait_for(
            Duration::from_secs(60),
            Duration::from_millis(20),
            "100 RUNNING",
            || {
                let st = r.d.status()?;
                Ok((st.iter().filter(|p| p.state == "RUNNING").count() == 100).then_some(()))
            },
        )?;
        std::thread::sleep(Duration::from_secs(1));
        rss[i] = procfs::rss_kib(r.d.pid()).ok_or("taskmaster gone")? as f64 / 1024.0;
        r.d.shutdown()?;
    }
    report.add(S, RSS_PTY, "taskmaster", rss[0]);
    report.add(S, RSS_PIPE, "taskmaster", rss[1]);
    report.add(S, RSS_RATIO, "taskmaster", rss[0] / rss[1]);
    Ok(())
}
