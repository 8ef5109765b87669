//! `pty = true` programs (taskmaster only; supervisord has no ptys): `yes` through a pty with
//! its pane visible in the dashboard against the same through a pipe (same run, same
//! dashboard on the bench's own 120 x 40 pty, see `dashboard/screen.rs`), the dashboard
//! thread's CPU meanwhile, key → echo on screen while attached raw, 1 GiB through a pty to a
//! file against a pipe (headless), and RSS with 100 idle pty programs against 100 pipe ones.
//!
//! Baselines, same run, no taskmaster: the kernel's ceiling, a bare reader on a fresh pty
//! (`openpty`, the kernel's default termios) with `yes` on the slave in its own session (the
//! slave its controlling terminal and stdio, as `pty = true` makes it), read from the master
//! in 64 KiB reads as fast as it goes for [`CEILING_SECS`]; the same with output processing
//! off (`stty -opost`: no `\n` → `\r\n`, which costs the writer one pty write per line and
//! `yes`'s lines are 2 bytes), the same with 100-byte lines, the same into a pipe; and the
//! bare reader on taskmaster's own flood command (`yes | head -c`, same bytes).
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
const DRAIN_VS_CEILING: &str = "pane visible: pty ÷ the kernel's ceiling (bare reader, same run)";
const DRAIN_VS_RAW: &str = "pane visible: pty ÷ bare reader on the same command";
const DRAIN_VS_MPROCS: &str = "pane visible: pty ÷ mprocs' 2.2 MB/s (the issue's figure)";
/// mprocs 0.9.6 draining `yes` in a pty pane, MB/s, as the issue measured it on this machine.
const MPROCS_MBS: f64 = 2.2;
const MAIN_PTY: &str = "dashboard thread CPU while a pty floods";
const KEY_ATTACH: &str = "attached raw: key → echo on screen";
const FILE_PTY: &str = "1 GiB (or 90 s) of `yes` through a pty to a file";
const FILE_PIPE: &str = "1 GiB of `yes` through a pipe to a file";
const FILE_RATIO: &str = "1 GiB to a file: pty ÷ pipe";
const FILE_VS_CEILING: &str = "1 GiB to a file: pty ÷ the kernel's ceiling (same run)";
const RSS_PTY: &str = "100 idle pty programs: RSS";
const RSS_PIPE: &str = "100 idle pipe programs: RSS";
const RSS_RATIO: &str = "RSS: 100 pty ÷ 100 pipe programs";
const CEILING: &str = "ceiling: bare pty reader, `yes` in its own session";
const CEILING_READ: &str = "ceiling: bytes per read of the master";
const RAW_NOOPOST: &str = "ceiling: the same, output processing off (-opost)";
const RAW_LONG: &str = "ceiling: the same, 100-byte lines";
const RAW_PIPE: &str = "ceiling: the same `yes` into a pipe";
const RAW: &str = "baseline: bare pty reader on the flood's own `yes | head -c`";
/// How long each ceiling reads.
const CEILING_SECS: f64 = 3.0;
/// The longest the GiB through a pty may take before its rate is taken from what reached
/// the file (the kernel gives `yes` a few MB/s on a pty: the whole GiB takes minutes).
const FILE_CAP: Duration = Duration::from_secs(90);

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
    report.declare(S, DRAIN_VS_CEILING, "×", Goal::AtLeast(0.9), None);
    report.declare_info(S, DRAIN_VS_RAW, "×");
    report.declare(S, DRAIN_VS_MPROCS, "×", Goal::AtLeast(100.0), None);
    report.declare_info(S, CEILING, "MB/s");
    report.declare_info(S, CEILING_READ, "bytes");
    report.declare_info(S, RAW_NOOPOST, "MB/s");
    report.declare_info(S, RAW_LONG, "MB/s");
    report.declare_info(S, RAW_PIPE, "MB/s");
    report.declare_info(S, RAW, "MB/s");
    report.declare(S, MAIN_PTY, "% of a core", Goal::AtMost(20.0), None);
    report.declare(S, KEY_ATTACH, "ms", Goal::AtMost(50.0), None);
    report.declare_info(S, FILE_PTY, "MiB/s");
    report.declare_info(S, FILE_PIPE, "MiB/s");
    report.declare_info(S, FILE_RATIO, "×");
    report.declare_info(S, FILE_VS_CEILING, "×");
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
    // Per repeat: the ceiling and the same-command figure, MB/s.
    let mut ceilings = Vec::new();
    let mut raws = Vec::new();
    let same_command = format!("yes | head -c {BYTES}");
    for _ in 0..n {
        let long = yes(true);
        let baselines = [
            (
                CEILING,
                Reader::Pty { opost: true },
                "yes",
                Some(CEILING_SECS),
            ),
            (
                RAW_NOOPOST,
                Reader::Pty { opost: false },
                "yes",
                Some(CEILING_SECS),
            ),
            (
                RAW_LONG,
                Reader::Pty { opost: true },
                &long,
                Some(CEILING_SECS),
            ),
            (RAW_PIPE, Reader::Pipe, "yes", Some(CEILING_SECS)),
            (RAW, Reader::Pty { opost: true }, &same_command, None),
        ];
        for (figure, reader, cmd, secs) in baselines {
            match bare_reader(reader, cmd, secs) {
                Ok(r) => {
                    report.add(S, figure, "baseline", r.mbs);
                    if figure == CEILING {
                        ceilings.push(r.mbs);
                        report.add(S, CEILING_READ, "baseline", r.per_read);
                    }
                    if figure == RAW {
                        raws.push(r.mbs);
                    }
                }
                Err(e) => report.note(format!("pty: baseline {figure} failed: {e}")),
            }
        }
    }
    if let Err(e) = dashboard(ctx, report, n, &ceilings, &raws) {
        report.note(format!("pty: dashboard part skipped: {e}"));
    }
    let ceiling = crate::report::summarize(&ceilings).map(|s| s.median);
    if let Err(e) = to_file(ctx, report, ceiling) {
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

/// What a bare reader got: MB/s of what the writer wrote, and bytes per `read`.
struct Drained {
    mbs: f64,
    per_read: f64,
}

/// The kernel alone: `cmd` (run by `sh -c`, `exec`'d) writing into a fresh pty's slave (or
/// a pipe) in its own session, the slave its controlling terminal, stdin, stdout and stderr,
/// read by this thread from the master in 64 KiB reads as fast as it goes, for `secs` (then
/// the writer is killed) or until the writer is gone (`None`). The bytes the pty added
/// (`\r` before each `\n`: `yes` writes none) are not counted.
fn bare_reader(reader: Reader, cmd: &str, secs: Option<f64>) -> Res<Drained> {
    use std::io::Read;
    use std::os::fd::OwnedFd;
    use std::os::unix::process::CommandExt;
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
    let tty = matches!(reader, Reader::Pty { .. });
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("exec {cmd}"))
        .stdin(if tty {
            Stdio::from(write_end.try_clone()?)
        } else {
            Stdio::null()
        })
        .stdout(Stdio::from(write_end.try_clone()?))
        .stderr(Stdio::null());
    // SAFETY: between fork and exec, only async-signal-safe calls (setsid, ioctl).
    unsafe {
        command.pre_exec(move || {
            nix::unistd::setsid()?;
            if tty && nix::libc::ioctl(0, nix::libc::TIOCSCTTY, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = crate::guard::ChildGuard(command.spawn()?);
    // Only the child holds the slave now (the Command kept copies for its stdio): its exit
    // ends the reads (EIO on a pty, 0 on a pipe).
    drop(command);
    drop(write_end);
    let mut from = std::fs::File::from(read_end);
    let mut buf = vec![0u8; 64 << 10];
    let (mut bytes, mut added, mut reads) = (0u64, 0u64, 0u64);
    let t0 = Instant::now();
    let until = secs.map(|s| t0 + Duration::from_secs_f64(s));
    while until.is_none_or(|u| Instant::now() < u) {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                bytes += n as u64;
                reads += 1;
                if tty {
                    added += memchr::memchr_iter(b'\r', &buf[..n]).count() as u64;
                }
            }
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    drop(child);
    Ok(Drained {
        mbs: (bytes - added) as f64 / 1e6 / elapsed,
        per_read: bytes as f64 / reads.max(1) as f64,
    })
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

fn dashboard(ctx: &Ctx, report: &mut Report, n: usize, ceilings: &[f64], raws: &[f64]) -> Res<()> {
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
        // Each divided by the baseline of the same repeat, measured just before.
        if let Some(c) = ceilings.get(i) {
            report.add(S, DRAIN_VS_CEILING, "taskmaster", mb / pty_wall / c);
        }
        if let Some(raw) = raws.get(i) {
            report.add(S, DRAIN_VS_RAW, "taskmaster", mb / pty_wall / raw);
        }
        report.add(S, DRAIN_VS_MPROCS, "taskmaster", mb / pty_wall / MPROCS_MBS);
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

/// The GiB through a pty to a file, then through a pipe. The pty's run is cut at
/// [`FILE_CAP`]: its rate is then what reached the file by then (each `yes` line `y\r\n` in
/// the file is 2 bytes `yes` wrote), and the program is stopped.
fn to_file(ctx: &Ctx, report: &mut Report, ceiling: Option<f64>) -> Res<()> {
    let dir = ctx.dir()?;
    let out = |name: &str| dir.path().join(format!("{name}.out"));
    let programs = vec![
        flood("pty", true, Output::File(out("pty")), FILE_BYTES),
        flood("pipe", false, Output::File(out("pipe")), FILE_BYTES),
    ];
    let mut d = Taskmaster::launch(&ctx.tm_bin, dir.path(), &programs)?;
    let mut mbs = [0.0; 2];
    for (i, name) in ["pty", "pipe"].into_iter().enumerate() {
        let t0 = Instant::now();
        d.start(name)?;
        let limit = if i == 0 {
            FILE_CAP
        } else {
            Duration::from_secs(600)
        };
        match wait_state(&mut d, name, "EXITED", limit) {
            Ok(()) => mbs[i] = FILE_BYTES as f64 / 1e6 / t0.elapsed().as_secs_f64(),
            Err(_) if i == 0 => {
                let secs = t0.elapsed().as_secs_f64();
                let in_file = std::fs::metadata(out(name))?.len();
                mbs[i] = in_file as f64 * 2.0 / 3.0 / 1e6 / secs;
                d.request("stop", &[name])?;
                report.note(format!(
                    "pty: the GiB through a pty was cut at {} s: {} MB of `yes` in the file",
                    FILE_CAP.as_secs(),
                    (in_file as f64 * 2.0 / 3.0 / 1e6).round()
                ));
            }
            Err(e) => return Err(e),
        }
        let _ = std::fs::remove_file(out(name));
    }
    let mib = 1e6 / (1 << 20) as f64;
    report.add(S, FILE_PTY, "taskmaster", mbs[0] * mib);
    report.add(S, FILE_PIPE, "taskmaster", mbs[1] * mib);
    report.add(S, FILE_RATIO, "taskmaster", mbs[0] / mbs[1]);
    if let Some(c) = ceiling {
        report.add(S, FILE_VS_CEILING, "taskmaster", mbs[0] / c);
    }
    d.shutdown()
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
