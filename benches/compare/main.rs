//! `cargo bench --bench compare -- [--only SCENARIO[,..]] [--repeat N] [--json FILE]
//! [--compare supervisord]`: taskmaster's release binary driven from the outside as a user
//! would (config file, `--headless`, control socket), beside a baseline measured in the same
//! run and, on request, supervisord given the equivalent config. Prints min/median/max and a
//! pass/miss verdict per target; never fails on a figure. `TM_BENCH_BIN=PATH` drives another
//! taskmaster binary (an earlier build) through the same scenarios. Runs on the main thread; a signal
//! thread kills every daemon on Ctrl-C.

mod daemon;
mod guard;
mod procfs;
mod report;
mod scenarios;
mod supervisord;
mod taskmaster;

use std::path::{Path, PathBuf};

use daemon::{Daemon, Kind, Program};
use report::Report;

pub type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const USAGE: &str = "usage: cargo bench --bench compare -- [--only SCENARIO[,SCENARIO..]] \
[--repeat N] [--json FILE] [--compare supervisord] [--list]";

struct Options {
    only: Vec<String>,
    repeat: Option<usize>,
    json: Option<PathBuf>,
    supervisord: bool,
    list: bool,
}

fn parse_args() -> Res<Options> {
    let mut o = Options {
        only: Vec::new(),
        repeat: None,
        json: None,
        supervisord: false,
        list: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            // cargo bench passes --bench to harness = false targets.
            "--bench" => {}
            "--only" => o.only.extend(value()?.split(',').map(str::to_string)),
            "--repeat" => o.repeat = Some(value()?.parse().map_err(|_| "--repeat N: N >= 1")?),
            "--json" => o.json = Some(PathBuf::from(value()?)),
            "--compare" => match value()?.as_str() {
                "supervisord" => o.supervisord = true,
                other => return Err(format!("--compare {other}: only supervisord is known").into()),
            },
            "--list" => o.list = true,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}").into()),
        }
    }
    if o.repeat == Some(0) {
        return Err("--repeat N: N >= 1".into());
    }
    Ok(o)
}

/// What the scenarios share: the binaries, the subjects, repeats and a temp root.
pub struct Ctx {
    pub tm_bin: PathBuf,
    pub venv: Option<PathBuf>,
    pub kinds: Vec<Kind>,
    pub repeat: Option<usize>,
    pub root: tempfile::TempDir,
}

/// A daemon under test and its private directory (config, socket, logs, output files).
pub struct Running {
    // Field order is drop order: the daemon dies before its directory goes.
    pub d: Box<dyn Daemon>,
    pub dir: tempfile::TempDir,
}

impl Ctx {
    pub fn repeats(&self, default: usize) -> usize {
        self.repeat.unwrap_or(default)
    }

    pub fn dir(&self) -> Res<tempfile::TempDir> {
        Ok(tempfile::tempdir_in(self.root.path())?)
    }

    /// Starts `kind` with `programs` in a fresh directory; `programs` may mention `{dir}`.
    pub fn launch(&self, kind: Kind, programs: impl Fn(&Path) -> Vec<Program>) -> Res<Running> {
        self.launch_bin(&self.tm_bin, kind, programs)
    }

    /// `launch`, with another taskmaster binary (an earlier build, as a baseline).
    pub fn launch_bin(
        &self,
        tm_bin: &Path,
        kind: Kind,
        programs: impl Fn(&Path) -> Vec<Program>,
    ) -> Res<Running> {
        let dir = self.dir()?;
        let programs = programs(dir.path());
        let d: Box<dyn Daemon> = match kind {
            Kind::Taskmaster => Box::new(taskmaster::Taskmaster::launch(
                tm_bin,
                dir.path(),
                &programs,
            )?),
            Kind::Supervisord => {
                let venv = self.venv.as_deref().ok_or("no supervisord venv")?;
                Box::new(supervisord::Supervisord::launch(
                    venv,
                    dir.path(),
                    &programs,
                )?)
            }
        };
        Ok(Running { d, dir })
    }
}

fn machine(venv: Option<&Path>) -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .unwrap_or("unknown CPU")
        .trim()
        .to_string();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut s = format!(
        "{model}, {cores} cores, {mem_gib:.0} GiB RAM, Linux {}; taskmaster {} (release)",
        kernel.trim(),
        env!("CARGO_PKG_VERSION")
    );
    if let Some(v) = venv {
        s += &format!(", supervisor {}", supervisord::version(v));
    }
    s
}

/// The 1-, 5- and 15-minute load averages, as `uptime` shows them.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn run() -> Res<()> {
    let opts = parse_args()?;
    if opts.list {
        for s in scenarios::ALL {
            println!("{:<11} {}", s.name, s.about);
        }
        return Ok(());
    }
    for name in &opts.only {
        if !scenarios::ALL.iter().any(|s| s.name == name) {
            return Err(format!("unknown scenario {name}; --list shows them").into());
        }
    }
    guard::install_signal_cleanup()?;
    let mut report = Report::default();
    let mut kinds = vec![Kind::Taskmaster];
    let mut venv = None;
    if opts.supervisord {
        let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
        match supervisord::ensure_venv(&target) {
            Ok(v) => {
                venv = Some(v);
                kinds.push(Kind::Supervisord);
            }
            Err(e) => report.note(format!("supervisord comparison skipped: {e}")),
        }
    }
    let machine = machine(venv.as_deref());
    let ctx = Ctx {
        // TM_BENCH_BIN: an earlier build measured by the same scenarios, for before/after
        // figures on one machine in one session.
        tm_bin: std::env::var_os("TM_BENCH_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_taskmaster"))),
        venv,
        kinds,
        repeat: opts.repeat,
        root: tempfile::Builder::new().prefix("tm-bench-").tempdir()?,
    };
    guard::register_dir(ctx.root.path());
    println!("{machine}\nbinary: {}\n", ctx.tm_bin.display());
    for s in scenarios::ALL {
        if !opts.only.is_empty() && !opts.only.iter().any(|n| n == s.name) {
            continue;
        }
        println!("== {}: {}", s.name, s.about);
        let started = std::time::Instant::now();
        let load_before = load_average();
        (s.run)(&ctx, &mut report);
        report.print_scenario(s.name);
        let load_after = load_average();
        println!(
            "   ({:.1} s; load average {load_before} before, {load_after} after)\n",
            started.elapsed().as_secs_f64()
        );
        // The machine may be shared: a figure means little without the load it was taken at.
        report.note(format!(
            "{}: load average (1, 5, 15 min) {load_before} before, {load_after} after",
            s.name
        ));
    }
    println!("{}", report.table(&machine));
    if let Some(path) = opts.json {
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&report.to_json(&machine))?,
        )?;
        println!("JSON written to {}", path.display());
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
