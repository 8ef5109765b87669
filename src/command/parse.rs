//! From a command line to a typed [`Command`]: shell-words splitting, argument checks, and the
//! error texts supervisorctl uses (`*** Unknown syntax: ...`, `Error: start requires ...`).

use nix::sys::signal::Signal;

use crate::output::Stream;
use crate::supervisor::{Command, Fault, Target};

/// Bytes `tail` shows without `-N`, like supervisorctl.
pub const TAIL_BYTES: usize = 1600;

/// One parsed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A blank line: nothing to do.
    Empty,
    /// `quit` / `exit`: the front end decides (leave, or shut down after confirmation).
    Quit,
    Command(Command),
}

/// Every command name, sorted (for `help` and completion).
pub const COMMANDS: [&str; 22] = [
    "attach", "avail", "clear", "exit", "fg", "help", "maintail", "pid", "quit", "reload",
    "reopen", "reread", "restart", "rotate", "shutdown", "signal", "start", "status", "stop",
    "tail", "update", "version",
];

/// The command a mistyped word was probably meant to be: at most two edits away (one for
/// short words), as `stauts` for `status`.
pub fn suggest(word: &str) -> Option<&'static str> {
    let limit = if word.chars().count() <= 4 { 1 } else { 2 };
    COMMANDS
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c)
}

/// Levenshtein distance, counting an adjacent swap as one edit (`stauts` is one from `status`).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// Parses one line as typed by a user.
pub fn parse(line: &str) -> Result<Line, Fault> {
    let words =
        shell_words::split(line).map_err(|_| Fault::Usage("unbalanced quotes".to_string()))?;
    parse_words(&words)
}

/// Parses `ctl`'s command-line words: `ctl status web` and `ctl 'status web'` alike.
pub fn parse_args(args: &[String]) -> Result<Line, Fault> {
    match args {
        [one] if one.trim().contains(char::is_whitespace) => parse(one),
        _ => parse_words(args),
    }
}

/// Parses an already split command (the socket receives `cmd` and `args` separately).
pub fn parse_words(words: &[String]) -> Result<Line, Fault> {
    let Some((cmd, args)) = words.split_first() else {
        return Ok(Line::Empty);
    };
    let unknown = || Fault::UnknownSyntax(shell_words::join(words));
    let no_args = |c: Command| {
        if args.is_empty() {
            Ok(c)
        } else {
            Err(Fault::Usage(format!("{cmd} takes no arguments")))
        }
    };
    let cmd = match cmd.as_str() {
        "" if args.is_empty() => return Ok(Line::Empty),
        "quit" | "exit" if args.is_empty() => return Ok(Line::Quit),
        "quit" | "exit" => return Err(Fault::Usage(format!("{cmd} takes no arguments"))),
        "status" => Command::Status {
            targets: targets(args),
        },
        "start" => Command::Start {
            targets: require_names(cmd, args)?,
        },
        "stop" => Command::Stop {
            targets: require_names(cmd, args)?,
        },
        "restart" => Command::Restart {
            targets: require_names(cmd, args)?,
        },
        "clear" => Command::Clear {
            targets: require_names(cmd, args)?,
        },
        "rotate" => Command::Rotate {
            targets: targets(args),
        },
        "reopen" => no_args(Command::Reopen)?,
        "maintail" => parse_maintail(args)?,
        "reload" | "update" => no_args(Command::Reload)?,
        "reread" => no_args(Command::Reread)?,
        "shutdown" => no_args(Command::Shutdown)?,
        "avail" => no_args(Command::Avail)?,
        "version" => no_args(Command::Version)?,
        "tail" => parse_tail(args)?,
        "pid" => match args {
            [] => Command::Pid { target: None },
            [name] => Command::Pid {
                target: Some(Target::parse(name)),
            },
            _ => return Err(Fault::Usage("pid takes at most one name".to_string())),
        },
        "signal" => parse_signal_cmd(args)?,
        "attach" | "fg" => match args {
            [name] => Command::Attach {
                target: Target::parse(name),
            },
            _ => {
                return Err(Fault::Usage(format!("{cmd} requires one process name")));
            }
        },
        "help" => match args {
            [] => Command::Help { topic: None },
            [topic] => Command::Help {
                topic: Some(topic.clone()),
            },
            _ => {
                return Err(Fault::Usage("help takes at most one command".to_string()));
            }
        },
        _ => return Err(unknown()),
    };
    Ok(Line::Command(cmd))
}

fn targets(words: &[String]) -> Vec<Target> {
    words.iter().map(|w| Target::parse(w)).collect()
}

fn require_names(cmd: &str, args: &[String]) -> Result<Vec<Target>, Fault> {
    if args.is_empty() {
        Err(Fault::Usage(format!("{cmd} requires a process name")))
    } else {
        Ok(targets(args))
    }
}

fn parse_tail(args: &[String]) -> Result<Command, Fault> {
    let mut follow = false;
    let mut bytes = TAIL_BYTES;
    let mut rest = Vec::new();
    for arg in args.iter().cloned() {
        if arg == "-f" {
            follow = true;
        } else if let Some(n) = arg.strip_prefix('-').and_then(|n| n.parse::<usize>().ok()) {
            bytes = n;
        } else if arg.starts_with('-') {
            return Err(Fault::Usage(format!("tail: unknown option {arg}")));
        } else {
            rest.push(arg);
        }
    }
    let (name, stream) = match rest.as_slice() {
        [name] => (name.clone(), Some(Stream::Stdout)),
        [name, s] => (name.clone(), Some(parse_stream(s)?)),
        [] => {
            return Err(Fault::Usage("tail requires a process name".to_string()));
        }
        _ => {
            return Err(Fault::Usage("too many arguments for tail".to_string()));
        }
    };
    let target = Target::parse(&name);
    Ok(if follow {
        Command::Follow {
            target,
            stream,
            bytes,
        }
    } else {
        Command::Tail {
            target,
            stream,
            bytes,
        }
    })
}

/// `maintail [-f] [-BYTES]`, like supervisorctl's.
fn parse_maintail(args: &[String]) -> Result<Command, Fault> {
    let mut follow = false;
    let mut bytes = TAIL_BYTES;
    for arg in args {
        if arg == "-f" {
            follow = true;
        } else if let Some(n) = arg.strip_prefix('-').and_then(|n| n.parse::<usize>().ok()) {
            bytes = n;
        } else {
            return Err(Fault::Usage(format!(
                "maintail: unexpected argument {arg} (maintail [-f] [-BYTES])"
            )));
        }
    }
    Ok(if follow {
        Command::MaintailFollow { bytes }
    } else {
        Command::Maintail { bytes }
    })
}

fn parse_stream(word: &str) -> Result<Stream, Fault> {
    match word {
        "stdout" => Ok(Stream::Stdout),
        "stderr" => Ok(Stream::Stderr),
        other => Err(Fault::Usage(format!(
            "bad stream '{other}' (stdout or stderr)"
        ))),
    }
}

fn parse_signal_cmd(args: &[String]) -> Result<Command, Fault> {
    let Some((sig, names)) = args.split_first() else {
        return Err(Fault::Usage(
            "signal requires a signal name and a process name".to_string(),
        ));
    };
    if names.is_empty() {
        return Err(Fault::Usage("signal requires a process name".to_string()));
    }
    if crate::config::parse_signal(sig).is_none() {
        return Err(Fault::Usage(format!("bad signal name '{sig}'")));
    }
    Ok(Command::Signal {
        signal: sig.clone(),
        targets: targets(names),
    })
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

    fn ok(line: &str) -> Line {
        match parse(line) {
            Ok(r) => r,
            Err(e) => panic!("'{line}' should parse, got {e}"),
        }
    }

    fn cmd(line: &str) -> Command {
        match ok(line) {
            Line::Command(c) => c,
            other => panic!("'{line}' should be a command, got {other:?}"),
        }
    }

    fn err(line: &str) -> String {
        match parse(line) {
            Ok(r) => panic!("'{line}' should not parse, got {r:?}"),
            Err(e) => crate::command::render(&Err(e)).text,
        }
    }

    fn procs(v: &[&str]) -> Vec<Target> {
        v.iter().map(|s| Target::parse(s)).collect()
    }

    #[test]
    fn valid_lines_parse_to_commands() {
        assert_eq!(ok(""), Line::Empty);
        assert_eq!(ok("   "), Line::Empty);
        assert_eq!(ok("quit"), Line::Quit);
        assert_eq!(ok("exit"), Line::Quit);
        let cases: Vec<(&str, Command)> = vec![
            ("status", Command::Status { targets: vec![] }),
            (
                "status web 'worker:*' all",
                Command::Status {
                    targets: vec![
                        Target::Process("web".into()),
                        Target::Program("worker".into()),
                        Target::All,
                    ],
                },
            ),
            (
                "start all",
                Command::Start {
                    targets: vec![Target::All],
                },
            ),
            (
                "stop a b",
                Command::Stop {
                    targets: procs(&["a", "b"]),
                },
            ),
            (
                "restart web",
                Command::Restart {
                    targets: procs(&["web"]),
                },
            ),
            ("reload", Command::Reload),
            ("rotate", Command::Rotate { targets: vec![] }),
            (
                "rotate web 'worker:*'",
                Command::Rotate {
                    targets: vec![
                        Target::Process("web".into()),
                        Target::Program("worker".into()),
                    ],
                },
            ),
            ("reopen", Command::Reopen),
            ("maintail", Command::Maintail { bytes: 1600 }),
            ("maintail -200", Command::Maintail { bytes: 200 }),
            ("maintail -f", Command::MaintailFollow { bytes: 1600 }),
            ("maintail -f -10", Command::MaintailFollow { bytes: 10 }),
            ("update", Command::Reload),
            ("reread", Command::Reread),
            ("shutdown", Command::Shutdown),
            ("pid", Command::Pid { target: None }),
            (
                "pid all",
                Command::Pid {
                    target: Some(Target::All),
                },
            ),
            (
                "attach web",
                Command::Attach {
                    target: Target::Process("web".into()),
                },
            ),
            (
                "fg web",
                Command::Attach {
                    target: Target::Process("web".into()),
                },
            ),
            (
                "clear web",
                Command::Clear {
                    targets: procs(&["web"]),
                },
            ),
            ("avail", Command::Avail),
            ("help", Command::Help { topic: None }),
            (
                "help start",
                Command::Help {
                    topic: Some("start".into()),
                },
            ),
            ("version", Command::Version),
            (
                "signal HUP web",
                Command::Signal {
                    signal: "HUP".into(),
                    targets: procs(&["web"]),
                },
            ),
            (
                "tail web",
                Command::Tail {
                    target: Target::Process("web".into()),
                    stream: Some(Stream::Stdout),
                    bytes: TAIL_BYTES,
                },
            ),
            (
                "tail -f web stderr",
                Command::Follow {
                    target: Target::Process("web".into()),
                    stream: Some(Stream::Stderr),
                    bytes: TAIL_BYTES,
                },
            ),
            (
                "tail -100 web",
                Command::Tail {
                    target: Target::Process("web".into()),
                    stream: Some(Stream::Stdout),
                    bytes: 100,
                },
            ),
        ];
        for (line, want) in cases {
            assert_eq!(cmd(line), want, "parse of '{line}'");
        }
    }

    #[test]
    fn ctl_arguments_may_be_one_quoted_line() {
        let one = parse_args(&["status sleeper".to_string()]);
        let split = parse_args(&["status".to_string(), "sleeper".to_string()]);
        assert_eq!(one, split, "`ctl 'status sleeper'` = `ctl status sleeper`");
        assert!(
            matches!(one, Ok(Line::Command(Command::Status { .. }))),
            "{one:?}"
        );
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
            ("reopen web", "Error: reopen takes no arguments"),
            (
                "maintail web",
                "Error: maintail: unexpected argument web (maintail [-f] [-BYTES])",
            ),
            ("quit now", "Error: quit takes no arguments"),
            ("attach", "Error: attach requires one process name"),
            ("fg", "Error: fg requires one process name"),
            (
                "signal",
                "Error: signal requires a signal name and a process name",
            ),
            ("signal TERM", "Error: signal requires a process name"),
            ("signal NOPE web", "Error: bad signal name 'NOPE'"),
            ("status 'web", "Error: unbalanced quotes"),
        ];
        for (line, want) in cases {
            assert_eq!(err(line), want, "error for '{line}'");
        }
    }

    #[test]
    fn typos_get_a_suggestion() {
        assert_eq!(suggest("stauts"), Some("status"));
        assert_eq!(suggest("restrat"), Some("restart"));
        assert_eq!(suggest("stp"), Some("stop"));
        assert_eq!(suggest("frobnicate"), None);
        assert_eq!(
            err("stauts web"),
            "*** Unknown syntax: stauts web\n(did you mean 'status'?)"
        );
    }

    #[test]
    fn streaming_commands_are_flagged() {
        assert!(cmd("tail -f web").is_streaming(), "tail -f streams");
        assert!(cmd("attach web").is_streaming(), "attach streams");
        assert!(!cmd("tail web").is_streaming(), "plain tail does not");
    }

    #[test]
    fn signal_names_lack_the_sig_prefix() {
        let names = signal_names();
        assert!(names.iter().any(|n| n == "TERM"), "TERM listed: {names:?}");
        assert!(names.iter().all(|n| !n.starts_with("SIG")), "no SIG prefix");
    }
}
