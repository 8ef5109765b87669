//! The `taskmaster` binary: parses the command line, picks the mode (dashboard, line shell,
//! headless, `ctl`, `check`), sets up the event log and the control socket. The one place a
//! fatal error is printed.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use taskmaster::command::Exit;
use taskmaster::config::{self, Config, DEFAULT_SOCKET};
use taskmaster::frontend::shell::{self, LocalBackend};
use taskmaster::frontend::socket::{self, SocketServer};
use taskmaster::frontend::{ctl, tui};
use taskmaster::supervisor::{Command, Options, Supervisor};

const USAGE: &str = "\
usage:
  taskmaster [-c|--config FILE] [--no-tui | --headless] [--socket PATH] [--logfile PATH]
  taskmaster ctl [-s|--socket PATH] [-c|--config FILE] [--json] [COMMAND [ARGS...]]
  taskmaster check [-c|--config FILE]
  taskmaster import FILE.conf      (a supervisord.conf as TOML on stdout)
  taskmaster --version | --help

Without -c the config is $TASKMASTER_CONFIG, ./taskmaster.toml, ./configs/taskmaster.toml,
$XDG_CONFIG_HOME/taskmaster/taskmaster.toml (~/.config/...) or /etc/taskmaster/taskmaster.toml.
The dashboard runs when stdin and stdout are terminals; --no-tui gives the line shell,
--headless no front end at all. `taskmaster ctl help` lists the commands.";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Front {
    Auto,
    Shell,
    Headless,
}

#[derive(Debug)]
enum Mode {
    Run {
        config: Option<PathBuf>,
        front: Front,
        socket: Option<PathBuf>,
        logfile: Option<PathBuf>,
    },
    Ctl {
        socket: Option<PathBuf>,
        config: Option<PathBuf>,
        format: ctl::Format,
        words: Vec<String>,
    },
    Check {
        config: Option<PathBuf>,
    },
    Import {
        file: PathBuf,
    },
    Version,
    Help,
}

fn main() -> ExitCode {
    let args: Vec<String> = match std::env::args_os()
        .skip(1)
        .map(|a| a.into_string())
        .collect()
    {
        Ok(a) => a,
        Err(bad) => return fail(&format!("argument is not UTF-8: {bad:?}")),
    };
    let mode = match parse_args(args) {
        Ok(m) => m,
        Err(e) => return fail(&format!("{e}\n{USAGE}")),
    };
    match mode {
        Mode::Version => {
            println!("taskmaster {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Mode::Help => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Mode::Check { config } => check(config),
        Mode::Import { file } => import(&file),
        Mode::Ctl {
            socket,
            config,
            format,
            words,
        } => match ctl_socket(socket, config) {
            Ok(path) => ctl::run(&path, &words, format).into(),
            // A config that cannot be read is a bad argument (1), not an unreachable socket.
            Err(e) => {
                eprintln!("taskmaster ctl: {e}");
                Exit::Error.into()
            }
        },
        Mode::Run {
            config,
            front,
            socket,
            logfile,
        } => match run(config, front, socket, logfile) {
            Ok(exit) => exit.into(),
            Err(e) => fail(&e),
        },
    }
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("taskmaster: {msg}");
    ExitCode::FAILURE
}

fn value(flag: &str, it: &mut impl Iterator<Item = String>) -> Result<String, String> {
    it.next().ok_or_else(|| format!("{flag} needs a value"))
}

fn parse_args(args: Vec<String>) -> Result<Mode, String> {
    let mut it = args.into_iter();
    let (mut config, mut socket, mut logfile, mut front) = (None, None, None, Front::Auto);
    let mut sub: Option<String> = None;
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--version" | "-V" => return Ok(Mode::Version),
            "--help" | "-h" => return Ok(Mode::Help),
            "-c" | "--config" => config = Some(PathBuf::from(value(&arg, &mut it)?)),
            "-s" | "--socket" => socket = Some(PathBuf::from(value(&arg, &mut it)?)),
            "--logfile" => logfile = Some(PathBuf::from(value(&arg, &mut it)?)),
            "--no-tui" => front = Front::Shell,
            "--headless" => front = Front::Headless,
            "import" if sub.is_none() => return parse_import(it),
            "ctl" | "check" if sub.is_none() => {
                sub = Some(arg);
                if sub.as_deref() == Some("ctl") {
                    return parse_ctl(it, config, socket);
                }
            }
            other => return Err(format!("unexpected argument '{other}'")),
        }
    }
    match sub.as_deref() {
        Some("check") => Ok(Mode::Check { config }),
        _ => Ok(Mode::Run {
            config,
            front,
            socket,
            logfile,
        }),
    }
}

/// `import FILE`: exactly one file.
fn parse_import(mut it: impl Iterator<Item = String>) -> Result<Mode, String> {
    match (it.next(), it.next()) {
        (Some(file), None) if !file.starts_with('-') => Ok(Mode::Import {
            file: PathBuf::from(file),
        }),
        (Some(file), None) => Err(format!("import: unexpected option '{file}'")),
        (None, _) => Err("import needs the supervisord.conf to translate".to_string()),
        (Some(_), Some(extra)) => Err(format!("import: unexpected argument '{extra}'")),
    }
}

/// `ctl` options, then the command words (everything from the first non-option on).
fn parse_ctl(
    mut it: impl Iterator<Item = String>,
    mut config: Option<PathBuf>,
    mut socket: Option<PathBuf>,
) -> Result<Mode, String> {
    let mut words = Vec::new();
    let mut format = ctl::Format::Text;
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--json" if words.is_empty() => format = ctl::Format::Json,
            "-s" | "--socket" if words.is_empty() => {
                socket = Some(PathBuf::from(value(&arg, &mut it)?))
            }
            "-c" | "--config" if words.is_empty() => {
                config = Some(PathBuf::from(value(&arg, &mut it)?))
            }
            _ => words.push(arg),
        }
    }
    Ok(Mode::Ctl {
        socket,
        config,
        format,
        words,
    })
}

/// `-c`, else the lookup of interface.md section 1 (`config::find`).
fn find_config(explicit: Option<PathBuf>) -> Result<PathBuf, String> {
    config::find(explicit.as_deref()).map_err(|e| e.to_string())
}

fn load(path: &Path) -> Result<Config, String> {
    config::load(path).map_err(|e| e.to_string())
}

/// Every problem on stderr, one per line; the count of programs on stdout when there is none.
fn check(explicit: Option<PathBuf>) -> ExitCode {
    let path = match find_config(explicit) {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    match config::check(&path) {
        Ok(config) => {
            let n = config.programs.len();
            write_out(&format!("config OK: {n} program{}\n", plural(n)));
            ExitCode::SUCCESS
        }
        Err(errors) => {
            let mut text: String = errors.iter().map(|e| format!("{e}\n")).collect();
            text.push_str(&format!(
                "{} problem{} found\n",
                errors.len(),
                plural(errors.len())
            ));
            write_err(&text);
            ExitCode::FAILURE
        }
    }
}

/// The TOML on stdout, what has no equivalent on stderr; exit 1 when the file cannot be
/// translated at all.
fn import(file: &Path) -> ExitCode {
    match taskmaster::import::translate(file) {
        Ok(t) => {
            let notes: String = t.unsupported.iter().map(|n| format!("{n}\n")).collect();
            let written = write_out(&t.toml);
            write_err(&notes);
            if written {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            write_err(&format!("taskmaster import: {e}\n"));
            ExitCode::FAILURE
        }
    }
}

/// `print!` panics when stdout is a closed pipe (`import x | head`); this says false instead.
fn write_out(text: &str) -> bool {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_ok()
}

/// As [`write_out`], for stderr; nothing more can be said if it is gone.
fn write_err(text: &str) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// `-s`, else the socket of the config (`-c` or the lookup), else the default.
fn ctl_socket(socket: Option<PathBuf>, explicit: Option<PathBuf>) -> Result<PathBuf, String> {
    if let Some(s) = socket {
        return Ok(s);
    }
    let path = match find_config(explicit.clone()) {
        Ok(p) => p,
        Err(_) if explicit.is_none() => return Ok(PathBuf::from(DEFAULT_SOCKET)),
        Err(e) => return Err(e),
    };
    load(&path)?.socket.ok_or_else(|| {
        format!(
            "the control socket is disabled in {} (socket = false)",
            path.display()
        )
    })
}

fn run(
    config: Option<PathBuf>,
    front: Front,
    socket: Option<PathBuf>,
    logfile: Option<PathBuf>,
) -> Result<Exit, String> {
    let mut config = load(&find_config(config)?)?;
    if socket.is_some() {
        config.socket = socket;
    }
    if logfile.is_some() {
        config.logfile = logfile;
    }
    let front = match front {
        Front::Auto if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() => None,
        Front::Auto => Some(Front::Shell),
        other => Some(other),
    };
    taskmaster::logging::init(
        config.logfile.as_deref(),
        config.logfile_rotation,
        front == Some(Front::Headless),
    )
    .map_err(|e| format!("cannot open the event log: {e}"))?;
    // Only headless taskmaster is a service; a dashboard under systemd makes no sense.
    if front == Some(Front::Headless) {
        taskmaster::notify::init_from_env().map_err(|e| format!("NOTIFY_SOCKET: {e}"))?;
    }
    // Refuse a socket in use before any program starts.
    if let Some(path) = &config.socket {
        socket::prepare_path(path).map_err(|e| e.to_string())?;
    }
    let metrics = config.metrics.map(taskmaster::metrics::bind).transpose()?;
    let pidfile = config.pidfile.clone();
    if let Some(path) = &pidfile {
        write_pidfile(path)?;
    }
    let socket_path = config.socket.clone();
    let config_path = config.path.clone();
    let supervisor = Supervisor::start(
        config,
        Options {
            handle_signals: true,
            terminal: match front {
                None => true,
                Some(Front::Shell) => std::io::stdin().is_terminal(),
                Some(_) => false,
            },
        },
    )
    .map_err(|e| format!("cannot start the supervisor: {e}"))?;
    let handle = supervisor.handle.clone();
    if let Some(listener) = metrics {
        taskmaster::metrics::start(listener, handle.clone())?;
    }
    let server = match socket_path.map(|p| SocketServer::start(&p, handle.clone())) {
        Some(Err(e)) => {
            let _ = handle.call(Command::Shutdown);
            supervisor.join();
            if let Some(path) = &pidfile {
                remove_pidfile(path);
            }
            return Err(e.to_string());
        }
        Some(Ok(s)) => Some(s),
        None => None,
    };
    if front == Some(Front::Headless) {
        // Any reply comes after `boot` (it runs before the request loop), so every
        // autostart process has been spawned, and the socket is listening by now.
        let _ = handle.call(Command::Avail);
        taskmaster::notify::send("READY=1");
    }
    let result = match front {
        None => tui::run(handle.clone(), &config_path)
            .map(|()| Exit::Ok)
            .map_err(|e| format!("dashboard: {e}")),
        Some(Front::Shell) => {
            shell::run(&mut LocalBackend::new(handle.clone())).map_err(|e| format!("shell: {e}"))
        }
        Some(_) => Ok(Exit::Ok),
    };
    if result.is_err() && !supervisor.thread.is_finished() {
        let _ = handle.call(Command::Shutdown);
    }
    supervisor.join();
    drop(server);
    if let Some(path) = &pidfile {
        remove_pidfile(path);
    }
    result
}

/// Writes taskmaster's pid to `path` (supervisord's `pidfile`, what logrotate's `postrotate`
/// reads), replacing the file in one rename so a reader never sees it half written.
fn write_pidfile(path: &Path) -> Result<(), String> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    std::fs::write(&tmp, format!("{}\n", std::process::id()))
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            format!("cannot write the pidfile {}: {e}", path.display())
        })
}

/// Removes the pidfile at exit, unless another taskmaster has taken it over meanwhile.
fn remove_pidfile(path: &Path) {
    let ours =
        std::fs::read_to_string(path).is_ok_and(|s| s.trim() == std::process::id().to_string());
    if ours {
        let _ = std::fs::remove_file(path);
    }
}
