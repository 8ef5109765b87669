//! The command line of the binary: `--help` of every subcommand against golden files, usage
//! errors and their exit codes, the man page through a real man/groff, completion scripts
//! (bash completes a live process name, driven through tmux), and the README's command-line
//! section, which must be the real help output.
//!
//! `TASKMASTER_BLESS=1 cargo test --test it cli::` rewrites the golden files and the README
//! section from the binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::harness::binary::{BIN, Ctl, Daemon};
use crate::harness::terminal::{self, Terminal};

/// Each subcommand whose `--help` is kept, and the golden file's name.
const HELPS: [(&[&str], &str); 6] = [
    (&[], "taskmaster"),
    (&["ctl"], "ctl"),
    (&["check"], "check"),
    (&["import"], "import"),
    (&["completions"], "completions"),
    (&["man"], "man"),
];

fn run(args: &[&str]) -> Ctl {
    Command::new(BIN)
        .args(args)
        .env("COLUMNS", "100")
        .stdin(Stdio::null())
        .output()
        .expect("taskmaster runs")
        .into()
}

fn bless() -> bool {
    std::env::var_os("TASKMASTER_BLESS").is_some_and(|v| v == "1")
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn help_of(args: &[&str]) -> String {
    let mut all = args.to_vec();
    all.push("--help");
    let out = run(&all);
    assert_eq!(out.code, 0, "--help exits 0: {out:?}");
    assert!(out.err.is_empty(), "--help writes to stdout only: {out:?}");
    out.out
}

#[test]
fn every_subcommand_has_its_help() {
    for (args, name) in HELPS {
        let got = help_of(args);
        let file = repo(&format!("tests/golden/help/{name}.txt"));
        if bless() {
            std::fs::write(&file, &got).expect("golden file written");
            continue;
        }
        let want = std::fs::read_to_string(&file).unwrap_or_default();
        assert_eq!(
            got,
            want,
            "`taskmaster {} --help` differs from {} (TASKMASTER_BLESS=1 to accept)",
            args.join(" "),
            file.display()
        );
    }
    let short = run(&["ctl", "-h"]);
    assert!(short.out.contains("Usage: taskmaster ctl"), "{short:?}");
    let cmd_help = run(&["ctl", "status", "--help"]);
    assert!(
        cmd_help.code == 0 && cmd_help.out.contains("Get status for a single process"),
        "`ctl status --help` is the command's help, not a process named --help: {cmd_help:?}"
    );
}

#[test]
fn usage_errors_have_suggestions_and_documented_codes() {
    let typo = run(&["ctll", "status"]);
    assert_eq!(typo.code, 1, "{typo:?}");
    assert!(
        typo.err.contains("similar") && typo.err.contains("'ctl'"),
        "{typo:?}"
    );
    let flag = run(&["ctl", "--jsno", "status"]);
    assert_eq!(
        flag.code, 1,
        "a usage error is 1, never ctl's 2 (unreachable): {flag:?}"
    );
    assert!(flag.err.contains("--json"), "suggests --json: {flag:?}");
    let top = run(&["--no-tiu"]);
    assert_eq!(top.code, 1, "{top:?}");
    assert!(top.err.contains("--no-tui"), "{top:?}");
    let shell = run(&["completions", "powershell"]);
    assert_eq!(shell.code, 1, "{shell:?}");
    assert!(
        shell.err.contains("bash"),
        "lists the possible values: {shell:?}"
    );
    let missing = run(&["import"]);
    assert_eq!(missing.code, 1, "{missing:?}");
    let both = run(&["--no-tui", "--headless"]);
    assert_eq!(
        both.code, 1,
        "--no-tui and --headless exclude each other: {both:?}"
    );
    let version = run(&["--version"]);
    assert_eq!(
        version.out.trim(),
        format!("taskmaster {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn the_man_page_renders() {
    let page = run(&["man"]);
    assert_eq!(page.code, 0, "{page:?}");
    let Some(render) = ["man", "groff"].into_iter().find(|t| {
        Command::new(t)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    }) else {
        println!("skipped: neither man nor groff is installed (scripts/test.sh installs groff)");
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("taskmaster.1");
    std::fs::write(&file, &page.out).expect("page written");
    let out = match render {
        "man" => Command::new("man")
            .arg("-l")
            .arg(&file)
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100")
            .output(),
        _ => Command::new("groff")
            .args(["-man", "-Tutf8"])
            .arg(&file)
            .output(),
    }
    .expect("the renderer runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{render} failed: {out:?}");
    for heading in [
        "NAME",
        "SYNOPSIS",
        "OPTIONS",
        "SUBCOMMANDS",
        "COMMANDS",
        "EXIT STATUS",
        "SIGNALS",
    ] {
        assert!(text.contains(heading), "{render} shows {heading}:\n{text}");
    }
    assert!(
        text.contains("reread") && text.contains("--headless"),
        "{render}:\n{text}"
    ); // What ends taskmaster is what the signal thread does (src/signals.rs): QUIT too, HUP
    // reloads, USR2 reopens, stray signals are only logged.
    let signals = &text[text.find("SIGNALS").unwrap_or(0)..];
    for what in ["QUIT", "HUP", "Reload", "USR2", "Reopen", "USR1", "Ignored"] {
        assert!(signals.contains(what), "SIGNALS names {what}:\n{signals}");
    }
}

#[test]
fn completion_scripts_load_without_a_daemon() {
    for shell in ["bash", "zsh", "fish"] {
        let script = run(&["completions", shell]);
        assert_eq!(script.code, 0, "{shell}: {script:?}");
        assert!(
            script.out.contains("__complete --line"),
            "{shell}: live part"
        );
    }
    let script = run(&["completions", "bash"]);
    let check = Command::new("bash")
        .args(["--norc", "--noprofile", "-c"])
        .arg(format!("{}\ncomplete -p taskmaster", script.out))
        .output()
        .expect("bash runs");
    assert!(
        check.status.success()
            && String::from_utf8_lossy(&check.stdout).contains("_taskmaster_live"),
        "bash accepts the script and registers it: {check:?}"
    );
    // zsh and fish, where installed (scripts/test.sh installs them): the scripts parse.
    for (shell, flag) in [("zsh", "-n"), ("fish", "-n")] {
        if Command::new(shell).arg("--version").output().is_err() {
            println!("skipped: {shell} is not installed");
            continue;
        }
        let file = std::env::temp_dir().join(format!("tm-compl-{}.{shell}", std::process::id()));
        std::fs::write(&file, run(&["completions", shell]).out).expect("script written");
        let out = Command::new(shell)
            .arg(flag)
            .arg(&file)
            .output()
            .expect("shell runs");
        let _ = std::fs::remove_file(&file);
        assert!(out.status.success(), "{shell} accepts its script: {out:?}");
    }
    // Nothing running and no config: commands still complete, names do not, no error.
    let none = run(&[
        "__complete",
        "--line",
        "taskmaster ctl -s /nonexistent/tm.sock -c /nonexistent.toml sta",
    ]);
    assert_eq!(
        (none.out.as_str(), none.code),
        ("start\nstatus\n", 0),
        "{none:?}"
    );
}

#[test]
fn bash_completes_live_process_names() {
    if !terminal::available() {
        return;
    }
    let tm = Daemon::start(
        "[programs.sleeper]\ncmd = \"sleep 1000\"\n[programs.trio]\ncmd = \"sleep 1000\"\nnumprocs = 3\n",
    );
    let script = tm.path("completion.bash");
    std::fs::write(&script, run(&["completions", "bash"]).out).expect("script written");
    let bin_dir = Path::new(BIN).parent().expect("bin dir");
    let rc = tm.path("bashrc");
    std::fs::write(
        &rc,
        format!(
            "PS1='$ '\nexport PATH='{}':$PATH\nsource '{}'\n",
            bin_dir.display(),
            script.display()
        ),
    )
    .expect("rc written");
    let tmux = Terminal::start(
        format!("tm-compl-{}", std::process::id()),
        "t",
        150,
        20,
        &format!("bash --noprofile --rcfile '{}' -i", rc.display()),
    );
    tmux.wait_screen("the prompt", |s| s.contains('$'));
    let sock = tm.socket.display().to_string();
    let line = format!("taskmaster ctl -s {sock} stop slee");
    tmux.text(&line);
    tmux.keys(&["Tab"]);
    tmux.wait_screen("sleeper completed from the running taskmaster", |s| {
        s.contains(&format!("{sock} stop sleeper"))
    });
    tmux.text("trio_01");
    tmux.keys(&["Tab"]);
    tmux.wait_screen("trio_01 completed to its full name", |s| {
        s.contains("stop sleeper trio:trio_01")
    });
}

/// fish asks the running taskmaster too (`complete -C` runs completion without a terminal).
#[test]
fn fish_completes_live_process_names() {
    if Command::new("fish").arg("--version").output().is_err() {
        println!("skipped: fish is not installed");
        return;
    }
    let tm = Daemon::start("[programs.trio]\ncmd = \"sleep 1000\"\nnumprocs = 2\n");
    let script = tm.path("completion.fish");
    std::fs::write(&script, run(&["completions", "fish"]).out).expect("script written");
    let bin_dir = Path::new(BIN).parent().expect("bin dir");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new("fish")
        .arg("-c")
        .arg(format!(
            "source '{}'; complete -C'taskmaster ctl -s {} stop trio_0'",
            script.display(),
            tm.socket.display()
        ))
        .env("PATH", path)
        .output()
        .expect("fish runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let got: Vec<&str> = text.lines().collect();
    assert_eq!(got, ["trio:trio_00", "trio:trio_01"], "{out:?}");
}

/// The README's command-line section is the real `--help` output, generated by this test
/// with TASKMASTER_BLESS=1.
#[test]
fn readme_command_line_section_is_the_real_help() {
    const BEGIN: &str = "<!-- command-line help: generated by tests/it/cli.rs, do not edit -->";
    const END: &str = "<!-- end of command-line help -->";
    let mut section = String::new();
    for (args, _) in HELPS {
        let title = std::iter::once("taskmaster")
            .chain(args.iter().copied())
            .collect::<Vec<_>>()
            .join(" ");
        section.push_str(&format!(
            "\n```console\n$ {title} --help\n{}```\n",
            help_of(args)
        ));
    }
    let readme = repo("README.md");
    let text = std::fs::read_to_string(&readme).expect("README.md");
    let (Some(b), Some(e)) = (text.find(BEGIN), text.find(END)) else {
        panic!("README.md has the markers {BEGIN} ... {END}");
    };
    let current = &text[b + BEGIN.len()..e];
    if bless() {
        let new = format!("{}{}{section}\n{}", &text[..b], BEGIN, &text[e..]);
        std::fs::write(&readme, new).expect("README written");
        return;
    }
    assert_eq!(
        current.trim(),
        section.trim(),
        "README's command-line section is stale (TASKMASTER_BLESS=1 cargo test --test it cli:: regenerates it)"
    );
}
