//! The command line of the `taskmaster` binary, declared with clap (derive): the options of
//! each mode and subcommand, their `--help`, typo suggestions, shell completion scripts
//! ([`complete`]) and the man page ([`man_page`]). `main.rs` parses with [`parse`] and
//! dispatches; nothing here runs a mode.

pub mod complete;

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use crate::command::Exit;

const AFTER_HELP: &str = "\
Without -c the config is $TASKMASTER_CONFIG, ./taskmaster.toml, ./configs/taskmaster.toml,
$XDG_CONFIG_HOME/taskmaster/taskmaster.toml (~/.config/...) or /etc/taskmaster/taskmaster.toml.
The dashboard runs when stdin and stdout are terminals; --no-tui gives the line shell,
--headless no front end at all. `taskmaster ctl help` lists the commands.";

const CTL_AFTER_HELP: &str = "\
The socket is -s, else the `socket` of the config (-c or the usual lookup), else
/tmp/taskmaster.sock. Exit codes: 0 success, 1 error (unknown process, bad arguments, an
action failed), 2 the socket cannot be reached, 3 `status` with a process not RUNNING,
4 `status` of an unknown name. `taskmaster ctl help` lists the commands;
`taskmaster ctl help COMMAND` describes one.";

/// A job-control daemon in the family of supervisord: starts, watches and restarts the
/// programs of its config, with a dashboard, a line shell and a control socket.
#[derive(Debug, Parser)]
#[command(
    name = "taskmaster",
    version,
    after_help = AFTER_HELP,
    disable_help_subcommand = true
)]
pub struct Cli {
    /// The config file (TOML; .yaml/.yml is read as YAML)
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The line shell instead of the dashboard
    #[arg(long, conflicts_with = "headless")]
    pub no_tui: bool,
    /// No front end: run until SIGTERM, SIGINT or SIGQUIT or a `shutdown` over the socket
    /// (SIGHUP reloads the config, SIGUSR2 reopens the log files, other signals are logged
    /// and ignored)
    #[arg(long)]
    pub headless: bool,
    /// The control socket, instead of the config's
    #[arg(short, long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// The event log, instead of the config's
    #[arg(long, value_name = "PATH")]
    pub logfile: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Sub>,
}

#[derive(Debug, Subcommand)]
pub enum Sub {
    /// Send one command to a running taskmaster, or open the line shell against it
    #[command(after_help = CTL_AFTER_HELP)]
    Ctl(CtlArgs),
    /// Parse and validate the config; print every problem found (exit 0 or 1)
    Check {
        /// The config file to check
        #[arg(short, long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Translate a supervisord.conf to this TOML on stdout; what has no equivalent is
    /// listed on stderr
    Import {
        /// The supervisord.conf to translate
        #[arg(value_name = "FILE.conf")]
        file: PathBuf,
    },
    /// Print a shell completion script (process names are completed live through ctl)
    #[command(after_help = "Load it with, for bash: source <(taskmaster completions bash)")]
    Completions {
        /// The shell to complete for
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print the man page (roff) on stdout: taskmaster man | man -l -
    Man,
    /// The completion candidates for a command line (used by the completion scripts)
    #[command(name = "__complete", hide = true)]
    Complete {
        /// The command line up to the cursor
        #[arg(long, value_name = "LINE", allow_hyphen_values = true)]
        line: String,
    },
}

/// `taskmaster ctl`'s own options and the command words.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CtlArgs {
    /// The control socket of the running taskmaster
    #[arg(short, long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Find the socket in this config file
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the reply's structured data as JSON instead of text
    #[arg(long)]
    pub json: bool,
    /// One command of the command language and its arguments (none: the line shell)
    // Everything from the command on is its words (`tail -f web`); an option before it is
    // ctl's, and a mistyped one is an error with a suggestion.
    #[arg(value_name = "COMMAND", trailing_var_arg = true)]
    pub words: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// Parses the arguments. `Err` for `--help`/`--version` (print it, exit 0) and for a usage
/// error (print it, exit 1: `ctl` keeps 2 for an unreachable socket); see [`exit_of`].
pub fn parse<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    Cli::try_parse_from(args)
}

/// The exit code for what [`parse`] refused: 0 for help and version, 1 for a usage error.
pub fn exit_of(e: &clap::Error) -> Exit {
    if e.use_stderr() {
        Exit::Error
    } else {
        Exit::Ok
    }
}

/// The whole command definition (for completion scripts and the man page).
pub fn command() -> clap::Command {
    Cli::command()
}

/// The man page: clap's sections, then the command language and the exit codes.
pub fn man_page() -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let man = clap_mangen::Man::new(command());
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    man.render_subcommands_section(&mut out)?;
    out.extend_from_slice(extra_sections().as_bytes());
    man.render_version_section(&mut out)?;
    Ok(out)
}

/// COMMANDS (the command language, from `help`), EXIT STATUS, ENVIRONMENT and FILES.
fn extra_sections() -> String {
    let mut roff = String::from(".SH COMMANDS\n");
    roff.push_str(
        "The same commands in the dashboard's command bar (\\fB:\\fR), the line shell and \
         \\fBtaskmaster ctl\\fR. NAME is a process, PROGRAM or PROGRAM:* all its processes, \
         all every process.\n",
    );
    for cmd in crate::command::COMMANDS {
        let Some(text) = crate::command::help(Some(cmd)) else {
            continue;
        };
        roff.push_str(&format!(".TP\n\\fB{}\\fR\n", escape(cmd)));
        for line in text.lines() {
            roff.push_str(&escape(&line.replace('\t', " ")));
            roff.push_str("\n.br\n");
        }
    }
    roff.push_str(
        ".SH \"EXIT STATUS\"\n\
         0 success; 1 an error (bad arguments, unknown process, an action failed, a config \
         that does not load); for \\fBctl\\fR also 2 when the socket cannot be reached, 3 \
         for \\fBstatus\\fR with a process not RUNNING, 4 for \\fBstatus\\fR of an unknown \
         name.\n\
         .SH ENVIRONMENT\n\
         .TP\n\\fBTASKMASTER_CONFIG\\fR\nThe config file when \\fB-c\\fR is absent.\n\
         .TP\n\\fBXDG_STATE_HOME\\fR\nThe shell history is kept in \
         $XDG_STATE_HOME/taskmaster/history (else ~/.taskmaster_history).\n\
         .TP\n\\fBNOTIFY_SOCKET\\fR\nUnder systemd, headless taskmaster reports READY=1, \
         RELOADING=1 and STOPPING=1 there.\n\
         .SH SIGNALS\n\
         .TP\n\\fBTERM\\fR, \\fBINT\\fR, \\fBQUIT\\fR\nShut down: every process is stopped \
         gracefully, then taskmaster exits 0.\n\
         .TP\n\\fBHUP\\fR\nReload the config (in the dashboard and the line shell, a hang-up of \
         the terminal shuts down instead).\n\
         .TP\n\\fBUSR2\\fR\nReopen every log file (for logrotate).\n\
         .TP\n\\fBUSR1\\fR, \\fBALRM\\fR, \\fBVTALRM\\fR, \\fBPROF\\fR, \\fBPOLL\\fR, \\fBTSTP\\fR, \
         \\fBTTIN\\fR, \\fBTTOU\\fR, \\fBXCPU\\fR, \\fBXFSZ\\fR, \\fBPWR\\fR, \\fBSTKFLT\\fR, \\fBSYS\\fR, \
         \\fBTRAP\\fR, \\fBABRT\\fR, real-time signals\nIgnored and written to the event log: a \
         stray signal never ends or stops taskmaster.\n\
         .TP\n\\fBPIPE\\fR\nIgnored (writes to a closed socket fail with EPIPE instead).\n\
         .SH FILES\n\
         ./taskmaster.toml, ./configs/taskmaster.toml, \
         $XDG_CONFIG_HOME/taskmaster/taskmaster.toml, /etc/taskmaster/taskmaster.toml: \
         the config, tried in this order.\n",
    );
    roff
}

/// Text safe inside a roff line: backslashes doubled, a leading dot or quote escaped.
fn escape(text: &str) -> String {
    let text = text.replace('\\', "\\e").replace('-', "\\-");
    if text.starts_with('.') || text.starts_with('\'') {
        format!("\\&{text}")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_definition_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn usage_errors_exit_1_and_suggest() {
        let Err(e) = parse(["taskmaster", "ctll"]) else {
            panic!("a typo is an error");
        };
        let text = e.render().to_string();
        assert_eq!(exit_of(&e), Exit::Error, "usage errors exit 1: {text}");
        assert!(text.contains("similar") && text.contains("ctl"), "{text}");
        let Err(e) = parse(["taskmaster", "ctl", "--jsno"]) else {
            panic!("an unknown flag is an error");
        };
        let text = e.render().to_string();
        assert_eq!(exit_of(&e), Exit::Error, "not 2, ctl's unreachable: {text}");
        assert!(text.contains("--json"), "suggests --json: {text}");
        let Err(e) = parse(["taskmaster", "--help"]) else {
            panic!("help is printed by clap");
        };
        assert_eq!(exit_of(&e), Exit::Ok, "help exits 0");
    }

    #[test]
    fn ctl_words_keep_their_dashes() {
        let cli = parse([
            "taskmaster",
            "-c",
            "x.toml",
            "ctl",
            "--json",
            "tail",
            "-f",
            "web",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let Some(Sub::Ctl(args)) = cli.command else {
            panic!("ctl parsed");
        };
        assert!(args.json, "--json before the command is ctl's");
        assert_eq!(args.words, ["tail", "-f", "web"], "the rest is the command");
        assert_eq!(
            cli.config,
            Some(PathBuf::from("x.toml")),
            "-c before ctl kept"
        );
    }

    #[test]
    fn the_man_page_has_the_command_language() {
        let page = String::from_utf8(man_page().expect("rendered")).expect("UTF-8");
        assert!(
            page.starts_with(".ie") || page.contains(".TH"),
            "roff: {page}"
        );
        assert!(
            page.contains(".SH COMMANDS") && page.contains("reread"),
            "{page}"
        );
        assert!(page.contains("EXIT STATUS"), "{page}");
    }
}
