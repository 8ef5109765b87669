//! `taskmaster check` through the real binary: every problem on stderr with its place, the
//! program count on success, and the config lookup's user and system places.

use std::path::Path;

use crate::harness::binary::{BIN, Ctl};

fn check_in(dir: &Path, args: &[&str], xdg: &Path) -> Ctl {
    std::process::Command::new(BIN)
        .arg("check")
        .args(args)
        .current_dir(dir)
        .env_remove("TASKMASTER_CONFIG")
        .env("XDG_CONFIG_HOME", xdg)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("taskmaster runs")
        .into()
}

#[test]
fn check_prints_every_problem_with_file_line_column_program_and_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let text = "\
[programs.web]
cmd = \"true\"
numprocs = \"many\"
stopsignal = \"NOPE\"

[programs.worker]
autorestart = \"sometimes\"
";
    std::fs::write(dir.path().join("bad.toml"), text).expect("write");
    let out = check_in(dir.path(), &["-c", "bad.toml"], dir.path());
    assert_eq!(out.code, 1, "problems exit 1: {out:?}");
    assert_eq!(out.out, "", "nothing on stdout: {out:?}");
    let lines: Vec<&str> = out.err.lines().collect();
    assert_eq!(lines.len(), 5, "four problems and a count: {out:?}");
    for (line, (at, program, key)) in lines.iter().zip([
        ("bad.toml:3:12:", "web", "numprocs"),
        ("bad.toml:4:14:", "web", "stopsignal"),
        ("bad.toml:6:", "worker", "cmd"),
        ("bad.toml:7:15:", "worker", "autorestart"),
    ]) {
        assert!(
            line.contains(at)
                && line.contains(&format!("program '{program}'"))
                && line.contains(&format!("key '{key}'")),
            "{line:?} names {at} {program} {key}"
        );
    }
    assert_eq!(lines[4], "4 problems found");
}

#[test]
fn check_counts_programs_and_finds_the_xdg_config() {
    let dir = tempfile::tempdir().expect("temp dir");
    let xdg = dir.path().join("xdg");
    std::fs::create_dir_all(xdg.join("taskmaster")).expect("mkdir");
    let cwd = dir.path().join("elsewhere");
    std::fs::create_dir(&cwd).expect("mkdir");

    let none = check_in(&cwd, &[], &xdg);
    assert_eq!(none.code, 1, "{none:?}");
    let tried = xdg.join("taskmaster/taskmaster.toml");
    assert!(
        none.err.contains(&tried.display().to_string())
            && none.err.contains("/etc/taskmaster/taskmaster.toml"),
        "the error names the user and system places: {none:?}"
    );
    assert_eq!(none.err.lines().count(), 1, "one line: {none:?}");

    std::fs::write(&tried, "[programs.only]\ncmd = \"true\"\n").expect("write");
    let one = check_in(&cwd, &[], &xdg);
    assert_eq!(
        (one.out.as_str(), one.code),
        ("config OK: 1 program\n", 0),
        "found in $XDG_CONFIG_HOME: {one:?}"
    );
}
