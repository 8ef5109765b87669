//! The dashboard under a flood: a child writes 1 GiB of lines (`yes | head -c 1G`) to
//! captured stdout, shown live in the dashboard's tail pane (the one program is selected).
//! taskmaster runs on a pseudo-terminal the bench owns (120 x 40, see `screen.rs`), which
//! counts the frames actually drawn, times keys to their frame on screen, and reads the
//! dashboard thread's CPU (taskmaster's main thread) from /proc; the same GiB headless is
//! the comparison for the process's CPU. Skipped, with a note, when no dashboard shows.

pub(super) mod screen;

use std::time::{Duration, Instant};

use crate::daemon::{Daemon, Kind, Output, Program, wait_for};
use crate::procfs;
use crate::report::{Goal, Report};
use crate::taskmaster::Taskmaster;
use crate::{Ctx, Res};
use screen::Screen;

const S: &str = "dashboard";
const GIB: u64 = 1 << 30;
pub(super) const COLS: u16 = 120;
pub(super) const ROWS: u16 = 40;
/// Key samples (each an open and a close of the help overlay) taken during floods.
pub(super) const KEY_PAIRS: usize = 10;
/// Drawn only by the help overlay (its `: command bar (Tab completes, ...)` line).
const HELP_TEXT: &[u8] = b"completes";
/// Drawn only by the normal key hints at the bottom (`q quit`), far right of the short
/// hints the help shows there, so its cells always differ from the frame before.
const NORMAL_TEXT: &[u8] = b"quit";
const IDLE: Duration = Duration::from_secs(5);

const CPU_HEADLESS: &str = "headless: taskmaster CPU per GiB";
const CPU_DASH: &str = "dashboard: taskmaster CPU per GiB";
const SECS_HEADLESS: &str = "headless: 1 GiB of lines, wall time";
const SECS_DASH: &str = "dashboard: 1 GiB of lines, wall time";
const FPS_FLOOD: &str = "dashboard: frames drawn during the GiB";
const FPS_IDLE: &str = "dashboard: frames drawn while idle";
const KEY_FLOOD: &str = "dashboard: key → frame on screen, during the GiB";
const KEY_IDLE: &str = "dashboard: key → frame on screen, idle";
const MAIN_FLOOD: &str = "dashboard thread CPU during the GiB";
const MAIN_IDLE: &str = "dashboard thread CPU while idle";
const FPS_SEQ: &str = "dashboard: frames drawn, GiB of changing lines (seq)";
const MAIN_SEQ: &str = "dashboard thread CPU, GiB of changing lines (seq)";
const CPU_SEQ: &str = "dashboard: taskmaster CPU per GiB of changing lines (seq)";

fn program(name: &str, cmd: &str) -> Program {
    let mut p = Program::new(name, &format!("sh -c '{cmd} | head -c {GIB}'"));
    p.autostart = false;
    p.autorestart = "never";
    p.starttime = 0.0;
    p.stdout = Output::Capture;
    p.stderr = Output::Discard;
    p
}

/// `writer` is the flood: every line the same, so the tail pane looks still and a
/// frame writes almost nothing; `counter` writes lines that all differ, so every frame
/// redraws the pane.
fn programs() -> Vec<Program> {
    vec![
        program("writer", "yes"),
        program("counter", "seq 1 1000000000"),
    ]
}

pub fn run(ctx: &Ctx, report: &mut Report) {
    report.declare(S, CPU_HEADLESS, "CPU-s", Goal::None, None);
    report.declare(S, CPU_DASH, "CPU-s", Goal::None, None);
    report.declare(S, SECS_HEADLESS, "s", Goal::None, None);
    report.declare(S, SECS_DASH, "s", Goal::None, None);
    report.declare(S, FPS_FLOOD, "frames/s", Goal::AtMost(30.0), None);
    report.declare_info(S, FPS_IDLE, "frames/s");
    report.declare(S, KEY_FLOOD, "ms", Goal::AtMost(50.0), None);
    report.declare_info(S, KEY_IDLE, "ms");
    report.declare(S, MAIN_FLOOD, "% of a core", Goal::AtMost(20.0), None);
    report.declare_info(S, MAIN_IDLE, "% of a core");
    report.declare_info(S, FPS_SEQ, "frames/s");
    report.declare_info(S, MAIN_SEQ, "% of a core");
    report.declare_info(S, CPU_SEQ, "CPU-s");
    let n = ctx.repeats(3);
    if let Err(e) = headless(ctx, report, n) {
        report.note(format!("dashboard: headless runs failed: {e}"));
    }
    if let Err(e) = with_dashboard(ctx, report, n) {
        report.note(format!("dashboard: skipped: {e}"));
    }
}

/// What one GiB cost: wall time, the process's CPU and its main thread's CPU, in seconds.
struct Gib {
    t0: Instant,
    t1: Instant,
    cpu: f64,
    main_cpu: f64,
}

/// Starts `name` and waits for it to exit.
fn one_gib(d: &mut dyn Daemon, pid: i32, name: &str) -> Res<Gib> {
    let gone = "taskmaster gone";
    let cpu0 = procfs::cpu_seconds(pid).ok_or(gone)?;
    let main0 = procfs::thread_cpu_seconds(pid, pid).ok_or(gone)?;
    let t0 = Instant::now();
    d.start(name)?;
    wait_exited(d, name)?;
    let t1 = Instant::now();
    Ok(Gib {
        t0,
        t1,
        cpu: procfs::cpu_seconds(pid).ok_or(gone)? - cpu0,
        main_cpu: procfs::thread_cpu_seconds(pid, pid).ok_or(gone)? - main0,
    })
}

fn wait_exited(d: &mut dyn Daemon, name: &str) -> Res<()> {
    wait_for(
        Duration::from_secs(120),
        Duration::from_millis(10),
        &format!("{name} to exit"),
        || {
            let st = d.status()?;
            Ok(st
                .iter()
                .any(|p| p.name == name && p.state == "EXITED")
                .then_some(()))
        },
    )
}

fn headless(ctx: &Ctx, report: &mut Report, n: usize) -> Res<()> {
    let mut r = ctx.launch(Kind::Taskmaster, |_| programs())?;
    for _ in 0..n {
        let pid = r.d.pid();
        let g = one_gib(r.d.as_mut(), pid, "writer")?;
        report.add(S, CPU_HEADLESS, "taskmaster", g.cpu);
        report.add(S, SECS_HEADLESS, "taskmaster", (g.t1 - g.t0).as_secs_f64());
    }
    Ok(())
}

fn with_dashboard(ctx: &Ctx, report: &mut Report, n: usize) -> Res<()> {
    let dir = ctx.dir()?;
    let mut d = Taskmaster::prepare(dir.path(), &programs())?;
    let err = dir.path().join("daemon.err");
    let config = dir.path().join("taskmaster.toml");
    let mut screen = Screen::spawn(&ctx.tm_bin, &config, &err, COLS, ROWS)?;
    let shown = screen.wait_text(b"writer", Duration::from_secs(10));
    if let Err(e) = shown {
        let exited = screen.exited();
        let stderr = std::fs::read_to_string(&err).unwrap_or_default();
        return Err(format!(
            "no dashboard on a {COLS}x{ROWS} terminal ({e}; taskmaster {}; stderr: {:?})",
            if exited { "exited" } else { "still running" },
            stderr.trim()
        )
        .into());
    }
    d.connect(Duration::from_secs(10))?;
    let pid = d.pid();
    if pid != screen.pid() {
        return Err(format!("the socket answers for pid {pid}, not {}", screen.pid()).into());
    }

    // The table lists by name: `counter` is on the first row, selected; `writer` below it.
    select(&mut screen, b"j", "writer")?;
    // Idle: settle, then count the frames and the main thread's CPU over a quiet span.
    std::thread::sleep(Duration::from_secs(2));
    let _ = screen.take();
    let main0 = procfs::thread_cpu_seconds(pid, pid).ok_or("taskmaster gone")?;
    std::thread::sleep(IDLE);
    let main1 = procfs::thread_cpu_seconds(pid, pid).ok_or("taskmaster gone")?;
    let frames = screen.take().len();
    report.add(
        S,
        FPS_IDLE,
        "taskmaster",
        frames as f64 / IDLE.as_secs_f64(),
    );
    report.add(S, MAIN_IDLE, "taskmaster", percent(main1 - main0, IDLE));
    for i in 0..KEY_PAIRS {
        for ms in help_round_trip(&mut screen, i)? {
            report.add(S, KEY_IDLE, "taskmaster", ms);
        }
    }

    for _ in 0..n {
        let (g, fps) = flood(&mut d, &screen, "writer")?;
        let wall = g.t1 - g.t0;
        report.add(S, CPU_DASH, "taskmaster", g.cpu);
        report.add(S, SECS_DASH, "taskmaster", wall.as_secs_f64());
        report.add(S, FPS_FLOOD, "taskmaster", fps);
        report.add(S, MAIN_FLOOD, "taskmaster", percent(g.main_cpu, wall));
    }

    for ms in keys_during_floods(&mut d, &mut screen)? {
        report.add(S, KEY_FLOOD, "taskmaster", ms);
    }

    select(&mut screen, b"k", "counter")?;
    for _ in 0..n {
        let (g, fps) = flood(&mut d, &screen, "counter")?;
        report.add(S, CPU_SEQ, "taskmaster", g.cpu);
        report.add(S, FPS_SEQ, "taskmaster", fps);
        report.add(S, MAIN_SEQ, "taskmaster", percent(g.main_cpu, g.t1 - g.t0));
    }
    Ok(())
}

/// One GiB from `name` with the dashboard showing it: its cost, and the frames drawn per
/// second while it ran, from the gaps between the frames inside the run: a count over the
/// run's ~1 s would be off by up to a frame at each end, ±2 frames/s.
fn flood(d: &mut Taskmaster, screen: &Screen, name: &str) -> Res<(Gib, f64)> {
    let _ = screen.take();
    let pid = d.pid();
    let g = one_gib(d, pid, name)?;
    let ends: Vec<Instant> = screen
        .take()
        .iter()
        .map(|f| f.end)
        .filter(|&e| e >= g.t0 && e <= g.t1)
        .collect();
    let fps = match (ends.first(), ends.last()) {
        (Some(&first), Some(&last)) if ends.len() >= 3 => {
            (ends.len() - 1) as f64 / (last - first).as_secs_f64()
        }
        _ => return Err(format!("{} frames during the GiB", ends.len()).into()),
    };
    Ok((g, fps))
}

/// Moves the selection with `key` to `name`'s row (whose highlight redraws its name).
fn select(screen: &mut Screen, key: &[u8], name: &str) -> Res<()> {
    let _ = screen.take();
    screen.key(key)?;
    screen.wait_text(name.as_bytes(), Duration::from_secs(5))?;
    Ok(())
}

fn percent(cpu_secs: f64, wall: Duration) -> f64 {
    100.0 * cpu_secs / wall.as_secs_f64()
}

/// Opens the help overlay with `?` and closes it with `?` again: the two key → screen
/// times in ms. Each key waits a different 0-32 ms first, so keys land at every phase of
/// the 33 ms frame schedule instead of always just after a frame (the worst case).
pub(super) fn help_round_trip(screen: &mut Screen, i: usize) -> Res<[f64; 2]> {
    let limit = Duration::from_secs(5);
    let mut one = |k: usize, needle: &[u8]| -> Res<f64> {
        std::thread::sleep(Duration::from_millis((k * 13 % 33) as u64));
        let _ = screen.take();
        let sent = screen.key(b"?")?;
        let shown = screen.wait_text(needle, limit)?;
        Ok((shown - sent).as_secs_f64() * 1e3)
    };
    Ok([one(2 * i, HELP_TEXT)?, one(2 * i + 1, NORMAL_TEXT)?])
}

/// Key samples while `writer` floods, over as many GiB as they take; a pair counts only
/// when the writer was still running once both keys had shown.
fn keys_during_floods(d: &mut Taskmaster, screen: &mut Screen) -> Res<Vec<f64>> {
    let mut samples = Vec::new();
    let mut i = 0;
    for _ in 0..20 {
        if samples.len() >= 2 * KEY_PAIRS {
            break;
        }
        d.start("writer")?;
        let st = d.status()?;
        let running = st.iter().filter(|p| p.name == "writer");
        let Some(writer) = running.filter_map(|p| p.running_pid()).next() else {
            wait_exited(d, "writer")?;
            continue;
        };
        while samples.len() < 2 * KEY_PAIRS && !procfs::is_dead(writer) {
            let pair = help_round_trip(screen, i)?;
            i += 1;
            if !procfs::is_dead(writer) {
                samples.extend(pair);
            }
        }
        wait_exited(d, "writer")?;
    }
    if samples.len() < 2 * KEY_PAIRS {
        return Err(format!("only {} key samples during floods", samples.len()).into());
    }
    Ok(samples)
}
