//! From a command line to a typed [`Request`]: shell-words splitting, argument checks, and the
//! error texts supervisorctl uses (`*** Unknown syntax: ...`, `Error: start requires ...`).

use nix::sys::signal::Signal;

use crate::output::Stream;

/// Bytes `tail` shows without `-N`, like supervisorctl.
pub const TAIL_BYTES: usize = 1600;

/// One parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// A blank line: nothing to do.
    Empty,
    Status(Vec<String>),
    Start(Vec<String>),
    Stop(Vec<String>),
    Restart(Vec<String>),
    Reload,
    Shutdown,
    /// `tail [-f] [-BYTES] NAME [stdout|stderr]`; `stream` `None` means both. With `follow`
    /// this is streaming: front ends run it with [`super::open_follow`].
    Tail {
        name: String,
        stream: Option<Stream>,
        follow: bool,
        bytes: usize,
    },
    /// `pid` (taskmaster's), `pid NAME`, `pid all`.
    Pid(Option<String>),
    Signal(Signal, Vec<String>),
    /// Streaming: output follows, typed lines go to the process's stdin.
    Attach(String),
    Clear(Vec<String>),
    Avail,
    Help(Option<String>),
    Version,
    /// `quit` / `exit`: the front end decides (leave, or shut down after confirmation).
    Quit,
}

impl Request {
    /// True for the requests a front end must run itself (`tail -f`, `attach`).
    pub fn is_streaming(&self) -> bool {
        matches!(
            self,
            Request::Tail { follow: true, .. } | Request::Attach(_)
        )
    }
}

/// A line that is not a valid command. `Display` gives the text to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// Not a command at all: `*** Unknown syntax: LINE`.
    UnknownSyntax(String),
    /// A command with bad arguments: `Error: ...`.
    Usage(String),
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommandError::UnknownSyntax(line) => write!(f, "*** Unknown syntax: {line}"),
            CommandError::Usage(msg) => write!(f, "Error: {msg}"),
        }
    }
}

impl std::error::Error for CommandError {}

/// Every command name, sorted (for `help` and completion).
pub const COMMANDS: [&str; 16] = [
    "attach", "avail", "clear", "exit", "help", "pid", "quit", "reload", "restart", "shutdown",
    "signal", "start", "status", "stop", "tail", "version",
];

/// Parses one line as typed by a user.
pub fn parse(line: &str) -> Result<Request, CommandError> {
    let words = shell_words::split(line)
        .map_err(|_| CommandError::Usage("unbalanced quotes".to_string()))?;
    parse_words(&words)
}

/// Parses an already split command (the socket receives `cmd` and `args` separately).
pub fn parse_words(words: &[String]) -> Result<Request, CommandError> {
    let Some((cmd, args)) = words.split_first() else {
        return Ok(Request::Empty);
    };
    let args = args.to_vec();
    let unknown = || CommandError::UnknownSyntax(shell_words::join(words));
    let no_args = |req: Request| {
        if args.is_empty() {
            Ok(req)
        } else {
            Err(CommandError::Usage(format!("{cmd} takes no arguments")))
        }
    };
    match cmd.as_str() {
        "status" => Ok(Request::Status(args)),
        "start" => Ok(Request::Start(require_names(cmd, args)?)),
        "stop" => Ok(Request::Stop(require_names(cmd, args)?)),
        "restart" => Ok(Request::Restart(require_names(cmd, args)?)),
        "clear" => Ok(Request::Clear(require_names(cmd, args)?)),
        "reload" => no_args(Request::Reload),
        "shutdown" => no_args(Request::Shutdown),
        "avail" => no_args(Request::Avail),
        "version" => no_args(Request::Version),
        "quit" | "exit" => no_args(Request::Quit),
        "tail" => parse_tail(args),
        "pid" => match <[String; 0]>::try_from(args.clone()) {
            Ok(_) => Ok(Request::Pid(None)),
            Err(_) if args.len() == 1 => Ok(Request::Pid(args.into_iter().next())),
            Err(_) => Err(CommandError::Usage(
                "pid takes at most one name".to_string(),
            )),
        },
        "signal" => parse_signal_cmd(args),
        "attach" => match args.as_slice() {
            [name] => Ok(Request::Attach(name.clone())),
            _ => Err(CommandError::Usage(
                "attach requires one process name".to_string(),
            )),
        },
        "help" => match args.as_slice() {
            [] => Ok(Request::Help(None)),
            [topic] => Ok(Request::Help(Some(topic.clone()))),
            _ => Err(CommandError::Usage(
                "help takes at most one command".to_string(),
            )),
        },
        _ => Err(unknown()),
    }
}

fn require_names(cmd: &str, args: Vec<String>) -> Result<Vec<String>, CommandError> {
    if args.is_empty() {
        Err(CommandError::Usage(format!(
            "{cmd} requires a process name"
        )))
    } else {
        Ok(args)
    }
}

fn parse_tail(args: Vec<String>) -> Result<Request, CommandError> {
    let mut follow = false;
    let mut bytes = TAIL_BYTES;
    let mut rest = Vec::new();
    for arg in args {
        if arg == "-f" {
            follow = true;
        } else if let Some(n) = arg.strip_prefix('-').and_then(|n| n.parse::<usize>().ok()) {
            bytes = n;
        } else if arg.starts_with('-') {
            return Err(CommandError::Usage(format!("tail: unknown option {arg}")));
        } else {
            rest.push(arg);
        }
    }
    let (name, stream) = match rest.as_slice() {
        [name] => (name.clone(), Some(Stream::Stdout)),
        [name, s] => (name.clone(), Some(parse_stream(s)?)),
        [] => {
            return Err(CommandError::Usage(
                "tail requires a process name".to_string(),
            ));
        }
        _ => {
            return Err(CommandError::Usage(
                "too many arguments for tail".to_string(),
            ));
        }
    };
    Ok(Request::Tail {
        name,
        stream,
        follow,
        bytes,
    })
}

fn parse_stream(word: &str) -> Result<Stream, CommandError> {
    match word {
        "stdout" => Ok(Stream::Stdout),
        "stderr" => Ok(Stream::Stderr),
        other => Err(CommandError::Usage(format!(
            "bad stream '{other}' (stdout or stderr)"
        ))),
    }
}

fn parse_signal_cmd(args: Vec<String>) -> Result<Request, CommandError> {
    let Some((sig, names)) = args.split_first() else {
        return Err(CommandError::Usage(
            "signal requires a signal name and a process name".to_string(),
        ));
    };
    if names.is_empty() {
        return Err(CommandError::Usage(
            "signal requires a process name".to_string(),
        ));
    }
    let signal = crate::config::parse_signal(sig)
        .ok_or_else(|| CommandError::Usage(format!("bad signal name '{sig}'")))?;
    Ok(Request::Signal(signal, names.to_vec()))
}

/// Signal names without `SIG`, for completion after `signal`.
pub fn signal_names() -> Vec<String> {
    Signal::iterator()
        .map(|s| s.as_str().trim_start_matches("SIG").to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> Request {
        match parse(line) {
            Ok(r) => r,
            Err(e) => panic!("'{line}' should parse, got {e}"),
        }
    }

    fn err(line: &str) -> String {
        match parse(line) {
            Ok(r) => panic!("'{line}' should not parse, got {r:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn valid_lines_parse_to_requests() {
        let cases: Vec<(&str, Request)> = vec![
            ("", Request::Empty),
            ("   ", Request::Empty),
            ("status", Request::Status(vec![])),
            (
                "status web 'worker:*'",
                Request::Status(names(&["web", "worker:*"])),
            ),
            ("start all", Request::Start(names(&["all"]))),
            ("stop a b", Request::Stop(names(&["a", "b"]))),
            ("restart web", Request::Restart(names(&["web"]))),
            ("reload", Request::Reload),
            ("shutdown", Request::Shutdown),
            ("pid", Request::Pid(None)),
            ("pid all", Request::Pid(Some("all".into()))),
            ("attach web", Request::Attach("web".into())),
            ("clear web", Request::Clear(names(&["web"]))),
            ("avail", Request::Avail),
            ("help", Request::Help(None)),
            ("help start", Request::Help(Some("start".into()))),
            ("version", Request::Version),
            ("quit", Request::Quit),
            ("exit", Request::Quit),
            (
                "tail web",
                Request::Tail {
                    name: "web".into(),
                    stream: Some(Stream::Stdout),
                    follow: false,
                    bytes: TAIL_BYTES,
                },
            ),
            (
                "tail -f web stderr",
                Request::Tail {
                    name: "web".into(),
                    stream: Some(Stream::Stderr),
                    follow: true,
                    bytes: TAIL_BYTES,
                },
            ),
            (
                "tail -100 web",
                Request::Tail {
                    name: "web".into(),
                    stream: Some(Stream::Stdout),
                    follow: false,
                    bytes: 100,
                },
            ),
        ];
        for (line, want) in cases {
            assert_eq!(ok(line), want, "parse of '{line}'");
        }
    }

    #[test]
    fn bad_lines_give_supervisorctl_errors() {
        let cases = [
            ("foo", "*** Unknown syntax: foo"),
            ("foo bar", "*** Unknown syntax: foo bar"),
            ("start", "Error: start requires a process name"),
            ("stop", "Error: stop requires a process name"),
            ("restart", "Error: restart requires a process name"),
            ("clear", "Error: clear requires a process name"),
            ("tail", "Error: tail requires a process name"),
            (
                "tail web stdin",
                "Error: bad stream 'stdin' (stdout or stderr)",
            ),
            ("tail -x web", "Error: tail: unknown option -x"),
            ("reload now", "Error: reload takes no arguments"),
            ("attach", "Error: attach requires one process name"),
            (
                "signal",
                "Error: signal requires a signal name and a process name",
            ),
            ("signal TERM", "Error: signal requires a process name"),
            ("status 'web", "Error: unbalanced quotes"),
        ];
        for (line, want) in cases {
            assert_eq!(err(line), want, "error for '{line}'");
        }
    }

    #[test]
    fn streaming_requests_are_flagged() {
        assert!(ok("tail -f web").is_streaming(), "tail -f streams");
        assert!(ok("attach web").is_streaming(), "attach streams");
        assert!(!ok("tail web").is_streaming(), "plain tail does not");
    }

    #[test]
    fn signal_names_lack_the_sig_prefix() {
        let names = signal_names();
        assert!(names.iter().any(|n| n == "TERM"), "TERM listed: {names:?}");
        assert!(names.iter().all(|n| !n.starts_with("SIG")), "no SIG prefix");
    }
}
