//! Texts of replies as supervisorctl prints them: status lines, action results, `avail`,
//! `help`. Pure functions of their inputs.

use std::time::SystemTime;

use super::parse::COMMANDS;
use crate::supervisor::{ActionResult, ProgramSummary, Snapshot, StateName};

/// Status lines of every process in the snapshot; code 3 when one is not RUNNING.
pub fn status(snapshot: &Snapshot, now: SystemTime) -> (String, i32) {
    let lines: Vec<String> = snapshot
        .processes
        .iter()
        .map(|p| p.status_line(now))
        .collect();
    let all_running = snapshot
        .processes
        .iter()
        .all(|p| p.state == StateName::Running);
    (lines.join("\n"), if all_running { 0 } else { 3 })
}

/// One line per process; code 1 when any action failed.
pub fn actions(results: &[ActionResult]) -> (String, i32) {
    let text = results
        .iter()
        .map(ActionResult::render)
        .collect::<Vec<_>>()
        .join("\n");
    let failed = results.iter().any(|r| r.outcome.is_err());
    (text, i32::from(failed))
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
            format!(
                "{:<32} {procs:<13} {auto:<9} autorestart={:<10} {}",
                p.name, p.autorestart, p.cmd
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
             restart all\t\tRestart all processes"
        }
        "reload" => "reload\t\t\tRe-read the config file and apply the changes",
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
             pid all\t\t\tGet the PID of every child process, one per line"
        }
        "signal" => {
            "signal <signal name> <name>\t\tSignal a process\n\
             signal <signal name> <gname>:*\tSignal all processes in a group\n\
             signal <signal name> all\t\tSignal all processes"
        }
        "attach" => {
            "attach <name>\t\tFollow a process's output; typed lines go to its stdin\n\
             \t\t\t(Ctrl-] detaches)"
        }
        "clear" => {
            "clear <name>\t\tClear a process's captured output\n\
             clear <name> <name>\tClear multiple processes' output\n\
             clear all\t\tClear all processes' output"
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
            ActionResult {
                name: "a".into(),
                outcome: Ok("started".into()),
            },
            ActionResult {
                name: "b".into(),
                outcome: Err("spawn error".into()),
            },
        ];
        assert_eq!(
            actions(&results),
            ("a: started\nb: ERROR (spawn error)".to_string(), 1),
            "one line per process, code 1 on any failure"
        );
    }
}
