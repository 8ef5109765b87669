//! How a [`Daemon`] starts: the [`Launch`] builder of [`Daemon::launch`], the config it
//! writes, and taskmaster on pipes or on a tmux terminal.

use std::cell::RefCell;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::binary::{BIN, Daemon};
use super::terminal::Terminal;
use super::{LONG, wait_until};

type Setup = Box<dyn FnOnce(&Path, &mut Command)>;

/// How to start a [`Daemon`]; see [`Daemon::launch`].
pub struct Launch {
    programs: String,
    extra: String,
    flags: Vec<String>,
    log: Option<PathBuf>,
    env: Vec<(String, String)>,
    setup: Vec<Setup>,
    /// Width and height of a tmux terminal to run in, instead of pipes.
    terminal: Option<(u16, u16)>,
    /// On the terminal, taskmaster replaces the shell: see [`Launch::session_leader`].
    leader: bool,
}

impl Launch {
    pub(super) fn new(programs: &str) -> Launch {
        Launch {
            programs: programs.to_string(),
            extra: String::new(),
            flags: vec!["--headless".to_string()],
            log: None,
            env: Vec::new(),
            setup: Vec::new(),
            terminal: None,
            leader: false,
        }
    }

    /// Front-end flags instead of `--headless` (stdin is a pipe kept open either way).
    pub fn flags(mut self, flags: &[&str]) -> Launch {
        self.flags = flags.iter().map(|f| f.to_string()).collect();
        self
    }

    /// More `[taskmaster]` lines (`{dir}` is the temp dir), kept by [`Daemon::rewrite`].
    pub fn extra(mut self, lines: &str) -> Launch {
        self.extra = lines.to_string();
        self
    }

    /// The event log at `log` instead of the temp dir.
    pub fn log(mut self, log: &Path) -> Launch {
        self.log = Some(log.to_path_buf());
        self
    }

    /// An environment variable for taskmaster.
    pub fn env(mut self, key: &str, value: &str) -> Launch {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Runs taskmaster on a tmux terminal of `width`x`height` (default flags: none, so the
    /// dashboard). When it exits, the shell there prints `EXIT=<code>` and the terminal's
    /// modes (`stty -a`), and the pane stays for the test to read.
    pub fn in_terminal(mut self, width: u16, height: u16) -> Launch {
        self.terminal = Some((width, height));
        if self.flags == ["--headless"] {
            self.flags.clear();
        }
        self
    }

    /// With [`Launch::in_terminal`]: taskmaster replaces the pane's shell (`exec`) and so
    /// leads the terminal's session, as when tmux or a terminal emulator runs it directly; a
    /// hang-up then sends SIGHUP to taskmaster itself (with the shell in between, only the
    /// shell gets one). Nothing is left on the pane when it exits.
    pub fn session_leader(mut self) -> Launch {
        self.leader = true;
        self
    }

    /// `f(temp dir, command)` runs after the config is written, before the spawn: it may put
    /// files in the dir, set variables, or add a `pre_exec` to the command.
    pub fn setup(mut self, f: impl FnOnce(&Path, &mut Command) + 'static) -> Launch {
        self.setup.push(Box::new(f));
        self
    }

    /// Starts taskmaster and waits until its control socket accepts connections (a request
    /// sent from then on is answered: the socket is the barrier, not a sleep).
    pub fn start(self) -> Daemon {
        let in_terminal = self.terminal.is_some();
        let mut daemon = self.launch();
        wait_until(LONG, "the control socket to accept", || {
            UnixStream::connect(&daemon.socket).is_ok()
        });
        if in_terminal {
            let pid = daemon.ctl(&["pid"]).out.trim().parse();
            daemon.pid = pid.expect("`ctl pid` gives taskmaster's pid");
        }
        daemon
    }

    /// Starts taskmaster without waiting for anything (a test of what happens first).
    pub fn spawn(self) -> Daemon {
        assert!(
            self.terminal.is_none(),
            "a taskmaster on a terminal is found through its socket: start it"
        );
        self.launch()
    }

    fn launch(self) -> Daemon {
        let dir = tempfile::tempdir().expect("temp dir");
        let socket = dir.path().join("tm.sock");
        let log = self.log.unwrap_or_else(|| dir.path().join("tm.log"));
        let config = dir.path().join("taskmaster.toml");
        let extra = fill(&self.extra, dir.path());
        let text = config_text(&socket, &log, &extra, &fill(&self.programs, dir.path()));
        std::fs::write(&config, text).expect("write config");
        let mut daemon = Daemon {
            config,
            socket,
            log,
            child: None,
            pid: 0,
            term: None,
            extra,
            groups: RefCell::new(Vec::new()),
            dir,
        };
        match self.terminal {
            Some((width, height)) => {
                assert!(self.setup.is_empty(), "a terminal runs no setup hook");
                let size = (width, height);
                let term = on_terminal(&daemon, &self.flags, &self.env, size, self.leader);
                daemon.term = Some(term);
            }
            None => {
                let child = spawn(&daemon, &self.flags, &self.env, self.setup);
                daemon.pid = child.id();
                daemon.child = Some(child);
            }
        }
        daemon
    }
}

/// Taskmaster on pipes: stdin kept open, stdout and stderr to files in the temp dir, in a
/// process group of its own (so that the test's group is never signalled).
fn spawn(daemon: &Daemon, flags: &[String], env: &[(String, String)], setup: Vec<Setup>) -> Child {
    let dir = daemon.dir.path();
    let mut cmd = Command::new(BIN);
    cmd.arg("-c")
        .arg(&daemon.config)
        .args(flags)
        .env("HOME", dir)
        .env("XDG_STATE_HOME", dir.join("state"))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(dir.join("stdout")).expect("stdout file"))
        .stderr(std::fs::File::create(dir.join("stderr")).expect("stderr file"))
        .process_group(0);
    for f in setup {
        f(dir, &mut cmd);
    }
    cmd.spawn().expect("taskmaster starts")
}

/// Taskmaster on a new tmux server of its own, through a shell that tells how it ended.
fn on_terminal(
    daemon: &Daemon,
    flags: &[String],
    env: &[(String, String)],
    (width, height): (u16, u16),
    leader: bool,
) -> Terminal {
    let dir = daemon.dir.path();
    let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    let mut line = format!(
        "{}env HOME={} XDG_STATE_HOME={}",
        if leader { "exec " } else { "" },
        quote(&dir.display().to_string()),
        quote(&dir.join("state").display().to_string())
    );
    for (k, v) in env {
        line.push_str(&format!(" {k}={}", quote(v)));
    }
    line.push_str(&format!(
        " {} -c {}",
        quote(BIN),
        quote(&daemon.config.display().to_string())
    ));
    for f in flags {
        line.push_str(&format!(" {}", quote(f)));
    }
    if !leader {
        line.push_str("; echo \"EXIT=$?\"; stty -a; exec sleep 600");
    }
    let name = dir.file_name().map(|n| n.to_string_lossy().to_string());
    let server = format!("tm-{}-{}", std::process::id(), name.unwrap_or_default());
    Terminal::start(server, "dash", width, height, &line)
}

pub(super) fn fill(text: &str, dir: &Path) -> String {
    text.replace("{dir}", &dir.display().to_string())
}

pub(super) fn config_text(socket: &Path, log: &Path, extra: &str, programs: &str) -> String {
    format!(
        "[taskmaster]\nsocket = \"{}\"\nlogfile = \"{}\"\n{extra}\n{programs}",
        socket.display(),
        log.display(),
    )
}
