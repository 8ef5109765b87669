//! Step 3 of the command path: an [`Answer`] becomes the text supervisorctl would print and
//! the exit code. Pure functions of their inputs; clients render from the typed data they
//! received, so the text is the same locally and over the socket.

use super::Exit;
use super::Outcome;
use super::parse::COMMANDS;
use crate::supervisor::snapshot::status_line;
use crate::supervisor::{
    ActionResult, Answer, Fault, PidEntry, ProgramSummary, ReloadReport, Reply, StateName,
    StatusEntry,
};

/// The text and exit code of an answer.
pub fn render(answer: &Answer) -> Outcome {
    let reply = match answer {
        Ok(reply) => reply,
        Err(fault) => return Outcome::error(fault_text(fault)),
    };
    match reply {
        Reply::Status(entries) => status(entries),
        Reply::Actions(results) => actions(results, |_| false),
        // supervisorctl's restart is its stop then its start; a stop of a process that was
        // not running is reported but is no failure.
        Reply::Restart(results) => actions(results, |f| *f == Fault::NotRunning),
        Reply::Reload(report) => Outcome::ok(reload(report)),
        Reply::Reread(report) => Outcome::ok(reread(report)),
        Reply::Avail(programs) => Outcome::ok(avail(programs)),
        Reply::Pid(pid) => Outcome::ok(pid.to_string()),
        Reply::Pids(entries) => pids(entries),
        Reply::Output(bytes) => {
            let mut text = String::from_utf8_lossy(bytes).into_owned();
            if text.ends_with('\n') {
                text.pop();
            }
            Outcome::ok(text)
        }
        Reply::Text(text) => Outcome::ok(text.clone()),
        Reply::Events(events) => Outcome::ok(
            events
                .iter()
                .map(|e| e.to_json())
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        Reply::Done => Outcome::ok(""),
        Reply::Shutdown => Outcome {
            text: "Shut down".to_string(),
            code: 0,
            quit: true,
        },
        Reply::Follow(f) => Outcome::ok(format!("==> following {} <==", f.name)),
        Reply::Snapshot(snap) => {
            let now = std::time::SystemTime::now();
            let entries: Vec<StatusEntry> = snap
                .processes
                .iter()
                .map(|p| StatusEntry::Process(p.status(now)))
                .collect();
            status(&entries)
        }
    }
}

/// A fault of a whole request: `NAME: ERROR (reason)` when it is about a name,
/// `*** Unknown syntax: ...` for a line that is no command, else `Error: reason`.
pub fn fault_text(fault: &Fault) -> String {
    match (fault, fault.subject()) {
        (Fault::UnknownSyntax(line), _) => {
            let first = line.split_whitespace().next().unwrap_or("");
            match super::parse::suggest(first) {
                Some(cmd) => format!("{fault}\n(did you mean '{cmd}'?)"),
                None => fault.to_string(),
            }
        }
        (_, Some(name)) => format!("{name}: ERROR ({fault})"),
        (_, None) => format!("Error: {fault}"),
    }
}

/// Status lines; 4 when a name is unknown, then 3 when a listed process is not RUNNING
/// (supervisorctl sets them in this order, so 3 wins).
fn status(entries: &[StatusEntry]) -> Outcome {
    let mut exit = Exit::Ok;
    let mut lines = Vec::with_capacity(entries.len());
    for e in entries {
        if let StatusEntry::Unknown { name, error } = e {
            lines.push(format!("{name}: ERROR ({error})"));
            exit = Exit::Unknown;
        }
    }
    for e in entries {
        if let StatusEntry::Process(p) = e {
            lines.push(status_line(&p.name, p.state, &p.description));
            if p.state != StateName::Running {
                exit = Exit::NotRunning;
            }
        }
    }
    Outcome::new(lines.join("\n"), exit)
}

/// One line per process; 1 when an action failed (`benign` faults excepted).
fn actions(results: &[ActionResult], benign: impl Fn(&Fault) -> bool) -> Outcome {
    let text = results
        .iter()
        .map(ActionResult::render)
        .collect::<Vec<_>>()
        .join("\n");
    let failed = results
        .iter()
        .any(|r| r.outcome.as_ref().is_err_and(|f| !benign(f)));
    Outcome::new(text, if failed { Exit::Error } else { Exit::Ok })
}

/// A bare pid for one process (`kill $(ctl pid web)`); `NAME PID` lines for several.
fn pids(entries: &[PidEntry]) -> Outcome {
    let pid = |e: &PidEntry| e.pid.unwrap_or(0).to_string();
    let text = match entries {
        [one] => pid(one),
        _ => entries
            .iter()
            .map(|e| format!("{} {}", e.name, pid(e)))
            .collect::<Vec<_>>()
            .join("\n"),
    };
    Outcome::ok(text)
}

/// supervisorctl `update`-like lines: `web: added process group`, ...; `No config updates`
/// when nothing changed.
pub fn reload(report: &ReloadReport) -> String {
    let mut lines = Vec::new();
    for n in &report.added {
        lines.push(format!("{n}: added process group"));
    }
    for n in &report.changed {
        lines.push(format!("{n}: changed, restarted"));
    }
    for n in &report.updated {
        lines.push(format!("{n}: updated in place"));
    }
    for n in &report.removed {
        lines.push(format!("{n}: removed process group"));
    }
    if lines.is_empty() {
        "No config updates to processes".to_string()
    } else {
        lines.join("\n")
    }
}

/// supervisorctl `reread`: `NAME: available|changed|disappeared`, sorted by name.
pub fn reread(report: &ReloadReport) -> String {
    let mut lines: Vec<(String, &str)> = Vec::new();
    lines.extend(report.added.iter().map(|n| (n.clone(), "available")));
    lines.extend(report.changed.iter().map(|n| (n.clone(), "changed")));
    lines.extend(
        report
            .updated
            .iter()
            .map(|n| (n.clone(), "changed (applied in place)")),
    );
    lines.extend(report.removed.iter().map(|n| (n.clone(), "disappeared")));
    if lines.is_empty() {
        return "No config updates to processes".to_string();
    }
    lines.sort();
    lines
        .iter()
        .map(|(n, what)| format!("{n}: {what}"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn avail(programs: &[ProgramSummary]) -> String {
    programs
        .iter()
        .map(|p| {
            let procs = if p.numprocs == 1 {
                "1 process".to_string()
            } else {
                format!("{} processes", p.numprocs)
            };
            let auto = if p.autostart { "autostart" } else { "manual" };
            let name = super::pad(&p.name, 32);
            let cgroup = match &p.cgroup {
                Some(limits) => format!("  [cgroup: {limits}]"),
                None => String::new(),
            };
            format!(
                "{name} {procs:<13} {auto:<9} autorestart={:<10} {}{cgroup}",
                p.autorestart, p.cmd
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn version() -> String {
    format!("taskmaster {}", env!("CARGO_PKG_VERSION"))
}

/// `help` alone lists the commands; `help CMD` describes one. `None` for an unknown topic.
pub fn help(topic: Option<&str>) -> Option<String> {
    let Some(topic) = topic else {
        let names = COMMANDS.join("  ");
        return Some(format!(
            "default commands (type help <topic>):\n=====================================\n{names}"
        ));
    };
    let text = match topic {
        "status" => {
            "status\t\t\tGet all process status info\n\
             status <name>\t\tGet status for a single process\n\
             status <gname>:*\tGet status for all processes in a group\n\
             status <name> <name>\tGet status for multiple named processes"
        }
        "start" => {
            "start <name>\t\tStart a process\n\
             start <gname>:*\t\tStart all processes in a group\n\
             start <name> <name>\tStart multiple processes or groups\n\
             start all\t\tStart all processes"
        }
        "stop" => {
            "stop <name>\t\tStop a process\n\
             stop <gname>:*\t\tStop all processes in a group\n\
             stop <name> <name>\tStop multiple processes or groups\n\
             stop all\t\tStop all processes"
        }
        "restart" => {
            "restart <name>\t\tRestart a process\n\
             restart <gname>:*\tRestart all processes in a group\n\
             restart <name> <name>\tRestart multiple processes or groups\n\
             restart all\t\tRestart all processes\n\
             Note: restart does not reread config files. For that, see reread and update."
        }
        "reload" | "update" => {
            "reload\t\t\tRe-read the config file and apply the changes\n\
             update\t\t\tThe same (supervisorctl's word)"
        }
        "events" => {
            "events\t\t\tThe recent events (the last 1,000), one JSON object per line\n\
             events -f\t\tThe same, then each new event as it happens (Ctrl-C to stop)"
        }
        "alert" => "alert test <alert>\tSend a test event through one [alerts.NAME]",
        "reread" => "reread\t\t\tShow what reload would add, change and remove; change nothing",
        "shutdown" => "shutdown\t\tStop every process, then taskmaster",
        "tail" => {
            "tail [-f] [-BYTES] <name> [stdout|stderr] (default stdout)\n\
             Ex:\n\
             tail -f <name>\t\tContinuous tail of named process stdout (Ctrl-C to exit)\n\
             tail -100 <name>\tlast 100 *bytes* of process stdout\n\
             tail <name> stderr\tlast 1600 *bytes* of process stderr"
        }
        "pid" => {
            "pid\t\t\tGet the PID of taskmaster\n\
             pid <name>\t\tGet the PID of a single child process by name\n\
             pid <gname>:*\t\tGet `name pid` of every process in a group, one per line\n\
             pid all\t\t\tGet `name pid` of every child process, one per line"
        }
        "signal" => {
            "signal <signal name> <name>\t\tSignal a process\n\
             signal <signal name> <gname>:*\tSignal all processes in a group\n\
             signal <signal name> all\t\tSignal all processes"
        }
        "attach" | "fg" => {
            "attach <name>\t\tFollow a process's output; typed lines go to its stdin\n\
             \t\t\t(Ctrl-] detaches); fg <name> is the same"
        }
        "clear" => {
            "clear <name>\t\tClear a process's captured output and truncate its log files\n\
             clear <name> <name>\tClear multiple processes' output\n\
             clear all\t\tClear all processes' output"
        }
        "rotate" => {
            "rotate\t\t\tRotate every log file and the event log now\n\
             rotate <name>\t\tRotate a process's log files now\n\
             rotate <gname>:*\tRotate the log files of every process in a group"
        }
        "reopen" => "reopen\t\t\tClose and reopen every log file, as SIGUSR2 does (for logrotate)",
        "maintail" => {
            "maintail -f \t\tContinuous tail of the event log (Ctrl-C to exit)\n\
             maintail -100\t\tlast 100 *bytes* of the event log\n\
             maintail\t\tlast 1600 *bytes* of the event log"
        }
        "avail" => "avail\t\t\tDisplay all configured programs",
        "help" => "help\t\t\tList the commands\nhelp <topic>\t\tDescribe one command",
        "version" => "version\t\t\tShow the version of taskmaster",
        "quit" | "exit" => {
            "quit / exit\t\tLeave the shell (the local shell shuts taskmaster down, after\n\
             \t\t\tconfirmation; `taskmaster ctl` just disconnects)"
        }
        _ => return None,
    };
    Some(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::ProcessStatus;

    #[test]
    fn every_command_has_help() {
        for cmd in COMMANDS {
            assert!(help(Some(cmd)).is_some(), "help for {cmd}");
        }
        assert!(help(Some("nope")).is_none(), "unknown topic has no help");
    }

    #[test]
    fn failed_action_gives_code_one() {
        let results = vec![
            ActionResult::new("a", Ok("started".into())),
            ActionResult::new("b", Err(Fault::Spawn("boom".into()))),
        ];
        let out = render(&Ok(Reply::Actions(results)));
        assert_eq!(
            (out.text.as_str(), out.code),
            ("a: started\nb: ERROR (spawn error: boom)", 1),
            "one line per process, code 1 on any failure"
        );
    }

    #[test]
    fn restart_of_a_stopped_process_is_no_failure() {
        let results = vec![
            ActionResult::new("a", Err(Fault::NotRunning)),
            ActionResult::new("a", Ok("started".into())),
        ];
        let out = render(&Ok(Reply::Restart(results)));
        assert_eq!(
            (out.text.as_str(), out.code),
            ("a: ERROR (not running)\na: started", 0),
            "supervisorctl prints the stop's error and exits 0"
        );
    }

    fn proc_status(name: &str, state: StateName) -> StatusEntry {
        StatusEntry::Process(ProcessStatus {
            name: name.into(),
            program: name.into(),
            state,
            pid: None,
            start_time: None,
            uptime_s: None,
            exit_code: None,
            signal: None,
            expected: None,
            restarts: 0,
            description: "Not started".into(),
            health: None,
            pty: false,
        })
    }

    #[test]
    fn status_codes_follow_supervisorctl() {
        let unknown = StatusEntry::Unknown {
            name: "nope".into(),
            error: "no such process".into(),
        };
        let run = proc_status("a", StateName::Running);
        let stopped = proc_status("b", StateName::Stopped);
        let code = |e: Vec<StatusEntry>| render(&Ok(Reply::Status(e))).code;
        assert_eq!(code(vec![run.clone()]), 0, "all running");
        assert_eq!(code(vec![run.clone(), stopped.clone()]), 3, "one stopped");
        assert_eq!(code(vec![unknown.clone()]), 4, "unknown name");
        assert_eq!(
            code(vec![run.clone(), unknown.clone()]),
            4,
            "unknown beside running"
        );
        let out = render(&Ok(Reply::Status(vec![run, unknown])));
        assert_eq!(
            out.text.lines().next(),
            Some("nope: ERROR (no such process)"),
            "the unknown name first, as supervisorctl: {}",
            out.text
        );
    }

    #[test]
    fn wide_names_are_padded_by_display_width() {
        let out = render(&Ok(Reply::Status(vec![
            proc_status("日本語", StateName::Stopped),
            proc_status("abcdef", StateName::Stopped),
        ])));
        let cols: Vec<usize> = out
            .text
            .lines()
            .map(|l| unicode_width::UnicodeWidthStr::width(&l[..l.find("STOPPED").unwrap_or(0)]))
            .collect();
        assert_eq!(
            cols,
            [33, 33],
            "STOPPED starts at the same column: {}",
            out.text
        );
    }

    #[test]
    fn pids_name_their_processes_when_several() {
        let one = vec![PidEntry {
            name: "web".into(),
            pid: Some(7),
        }];
        assert_eq!(render(&Ok(Reply::Pids(one))).text, "7");
        let two = vec![
            PidEntry {
                name: "t:t_0".into(),
                pid: Some(7),
            },
            PidEntry {
                name: "t:t_1".into(),
                pid: None,
            },
        ];
        assert_eq!(render(&Ok(Reply::Pids(two))).text, "t:t_0 7\nt:t_1 0");
    }
}
