//! The `taskmaster` binary: parses the command line ([`taskmaster::cli`]), picks the mode
//! (dashboard, line shell, headless, `ctl`, `check`, `import`, `completions`, `man`), sets up
//! the event log and the control socket. The one place a fatal error is printed.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use taskmaster::cli::{self, CtlArgs, Sub};
use taskmaster::command::Exit;
use taskmaster::config::{self, Config};
use taskmaster::frontend::shell::{self, LocalBackend};
use taskmaster::frontend::socket::{self, SocketServer};
use taskmaster::frontend::{ctl, tui};
use taskmaster::supervisor::{Command, Options, Supervisor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Front {
    Auto,
    Shell,
    Headless,
}

fn main() -> ExitCode {
    let cli = match cli::parse(std::env::args_os()) {
        Ok(cli) => cli,
        // --help, --version, or a usage error (with clap's suggestion): exit 0 or 1.
        Err(e) => {
            let _ = e.print();
            return cli::exit_of(&e).into();
        }
    };
    match cli.command {
        Some(Sub::Check { config }) => check(config.or(cli.config)),
        Some(Sub::Import { file }) => import(&file),
        Some(Sub::Ctl(args)) => run_ctl(args, cli.config, cli.socket),
        Some(Sub::Completions { shell }) => emit(&cli::complete::script(shell)),
        Some(Sub::Man) => match cli::man_page() {
            Ok(page) => emit(&page),
            Err(e) => fail(&format!("cannot render the man page: {e}")),
        },
        Some(Sub::Complete { line }) => {
            let text: String = cli::complete::candidates(&line)
                .iter()
                .map(|c| format!("{c}\n"))
                .collect();
            emit(text.as_bytes())
        }
        None => {
            let front = match (cli.no_tui, cli.headless) {
                (_, true) => Front::Headless,
                (true, false) => Front::Shell,
                (false, false) => Front::Auto,
            };
            match run(cli.config, front, cli.socket, cli.logfile) {
                Ok(exit) => exit.into(),
                Err(e) => fail(&e),
            }
        }
    }
}

/// `eprintln!` would panic (exit 101) when stderr is gone, such as a closed terminal.
fn fail(msg: &str) -> ExitCode {
    write_err(&format!("taskmaster: {msg}\n"));
    ExitCode::FAILURE
}

/// Writes to stdout; a closed stdout (`taskmaster man | head`) is no error worth a word.
fn emit(bytes: &[u8]) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(bytes).and_then(|()| out.flush());
    ExitCode::SUCCESS
}

/// `ctl`: its own -s/-c win over the ones given before `ctl`.
fn run_ctl(args: CtlArgs, config: Option<PathBuf>, socket: Option<PathBuf>) -> ExitCode {
    let format = if args.json {
        ctl::Format::Json
    } else {
        ctl::Format::Text
    };
    match ctl::socket_path(args.socket.or(socket), args.config.or(config)) {
        Ok(path) => ctl::run(&path, &args.words, format).into(),
        // A config that cannot be read is a bad argument (1), not an unreachable socket.
        Err(e) => {
            write_err(&format!("taskmaster ctl: {e}\n"));
            Exit::Error.into()
        }
    }
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

fn run(
    config: Option<PathBuf>,
    front: Front,
    socket: Option<PathBuf>,
    logfile: Option<PathBuf>,
) -> Result<Exit, String> {
    let mut config = load(&find_config(config)?)?;
    taskmaster::spawn::cgroup::check(&config)?;
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
