//! Unit tests: every key, the defaults, each validation error, the reload diff.

// Tests return the module's own Result, whatever its size.
#![allow(clippy::result_large_err)]

use super::*;

fn toml(text: &str) -> Result<Config, ConfigError> {
    parse(Path::new("/etc/tm/t.toml"), text)
}

fn yaml(text: &str) -> Result<Config, ConfigError> {
    parse(Path::new("/etc/tm/t.yaml"), text)
}

fn one(config: &Config) -> &ProgramConfig {
    config
        .programs
        .values()
        .next()
        .expect("one program in the config")
}

const FULL_TOML: &str = r#"
[taskmaster]
logfile = "tm.log"
socket = "run/tm.sock"

[programs.web]
cmd = "/bin/echo 'hello world' two"
numprocs = 3
umask = "027"
workingdir = "/srv"
autostart = false
autorestart = "always"
exitcodes = [0, 2]
startretries = 5
starttime = 1.5
stopsignal = "usr1"
stoptime = 7
stdout = "web.out"
stderr = false
env = { A = "x", N = 42, F = 1.5, B = true }
user = "nobody"
"#;

const FULL_YAML: &str = r#"
taskmaster:
  logfile: tm.log
  socket: run/tm.sock
programs:
  web:
    cmd: "/bin/echo 'hello world' two"
    numprocs: 3
    umask: 027
    workingdir: /srv
    autostart: false
    autorestart: always
    exitcodes: [0, 2]
    startretries: 5
    starttime: 1.5
    stopsignal: SIGUSR1
    stoptime: 7
    stdout: web.out
    stderr: false
    env:
      A: x
      N: 42
      F: 1.5
      B: true
    user: nobody
"#;

fn assert_full(config: &Config) {
    assert_eq!(
        config.logfile,
        Some(PathBuf::from("/etc/tm/tm.log")),
        "logfile"
    );
    assert_eq!(
        config.socket,
        Some(PathBuf::from("/etc/tm/run/tm.sock")),
        "socket"
    );
    let p = one(config);
    assert_eq!(p.name, "web");
    assert_eq!(p.cmd, "/bin/echo 'hello world' two");
    assert_eq!(
        p.argv,
        ["/bin/echo", "hello world", "two"],
        "argv split like sh"
    );
    assert_eq!(p.numprocs, 3);
    assert_eq!(p.umask, Some(0o027));
    assert_eq!(p.workingdir, Some(PathBuf::from("/srv")));
    assert!(!p.autostart, "autostart");
    assert_eq!(p.autorestart, AutoRestart::Always);
    assert_eq!(p.exitcodes, [0, 2]);
    assert_eq!(p.startretries, 5);
    assert_eq!(p.starttime, Duration::from_millis(1500));
    assert_eq!(p.stopsignal, Signal::SIGUSR1);
    assert_eq!(p.stoptime, Duration::from_secs(7));
    assert_eq!(p.stdout, OutputTarget::File("/etc/tm/web.out".into()));
    assert_eq!(p.stderr, OutputTarget::Discard);
    let env: Vec<(&str, &str)> = p.env.iter().map(|(k, v)| (&**k, &**v)).collect();
    assert_eq!(env, [("A", "x"), ("B", "true"), ("F", "1.5"), ("N", "42")]);
    assert_eq!(p.user.as_deref(), Some("nobody"));
}

#[test]
fn every_key_is_read_from_toml() {
    assert_full(&toml(FULL_TOML).expect("full TOML config parses"));
}

#[test]
fn every_key_is_read_from_yaml() {
    assert_full(&yaml(FULL_YAML).expect("full YAML config parses"));
}

#[test]
fn omitted_keys_take_supervisors_defaults() {
    let config = toml("[programs.a]\ncmd = \"sleep 1\"\n").expect("minimal config parses");
    assert_eq!(config.path, PathBuf::from("/etc/tm/t.toml"));
    assert_eq!(config.logfile, None);
    assert_eq!(config.socket, Some(PathBuf::from(DEFAULT_SOCKET)));
    let p = one(&config);
    assert_eq!(p.numprocs, 1);
    assert_eq!(p.umask, None);
    assert_eq!(p.workingdir, None);
    assert!(p.autostart);
    assert_eq!(p.autorestart, AutoRestart::Unexpected);
    assert_eq!(p.exitcodes, [0]);
    assert_eq!(p.startretries, 3);
    assert_eq!(p.starttime, Duration::from_secs(1));
    assert_eq!(p.stopsignal, Signal::SIGTERM);
    assert_eq!(p.stoptime, Duration::from_secs(10));
    assert_eq!(p.stdout, OutputTarget::Capture);
    assert_eq!(p.stderr, OutputTarget::Capture);
    assert!(p.env.is_empty());
    assert_eq!(p.user, None);
}

#[test]
fn empty_files_are_empty_configs() {
    for (name, text) in [("e.toml", ""), ("e.yaml", ""), ("e.yml", "# nothing\n")] {
        let config = parse(Path::new(name), text).expect("an empty config parses");
        assert!(config.programs.is_empty(), "{name}: no programs");
        assert_eq!(config.socket, Some(PathBuf::from(DEFAULT_SOCKET)));
    }
    let config = yaml("programs:\n").expect("null programs parses");
    assert!(config.programs.is_empty(), "null programs is empty");
}

#[test]
fn socket_false_disables_and_true_means_default() {
    let off = toml("[taskmaster]\nsocket = false\n").expect("socket = false parses");
    assert_eq!(off.socket, None);
    let on = toml("[taskmaster]\nsocket = true\n").expect("socket = true parses");
    assert_eq!(on.socket, Some(PathBuf::from(DEFAULT_SOCKET)));
    let abs = yaml("taskmaster:\n  socket: /run/x.sock\n").expect("YAML socket parses");
    assert_eq!(abs.socket, Some(PathBuf::from("/run/x.sock")));
}

#[test]
fn umask_is_octal_whatever_the_integer_rules() {
    let cases = [
        ("t.toml", "\"022\"", 0o022),
        ("t.toml", "\"0o755\"", 0o755),
        ("t.toml", "22", 0o022),
        ("t.toml", "777", 0o777),
        ("t.toml", "0o27", 0o027),
        ("t.toml", "0", 0),
        ("t.yaml", "022", 0o022),
        ("t.yaml", "077", 0o077),
        ("t.yaml", "\"022\"", 0o022),
        ("t.yaml", "0o27", 0o027),
        ("t.yaml", "27", 0o027),
    ];
    for (file, literal, want) in cases {
        let text = if file.ends_with("toml") {
            format!("[programs.a]\ncmd = \"x\"\numask = {literal}\n")
        } else {
            format!("programs:\n  a:\n    cmd: x\n    umask: {literal}\n")
        };
        let config = parse(Path::new(file), &text).expect("umask parses");
        assert_eq!(one(&config).umask, Some(want), "{file}: umask {literal}");
    }
}

#[test]
fn exitcodes_take_one_code_or_a_list() {
    for (value, want) in [
        ("0", vec![0]),
        ("[1, 2, 255]", vec![1, 2, 255]),
        ("[]", vec![]),
    ] {
        let config = toml(&format!("[programs.a]\ncmd = \"x\"\nexitcodes = {value}\n"))
            .expect("exitcodes parse");
        assert_eq!(one(&config).exitcodes, want, "exitcodes = {value}");
    }
}

#[test]
fn signals_are_read_by_name_any_case_or_number() {
    let cases = [
        ("TERM", Some(Signal::SIGTERM)),
        ("SIGTERM", Some(Signal::SIGTERM)),
        ("sigusr1", Some(Signal::SIGUSR1)),
        ("hup", Some(Signal::SIGHUP)),
        (" INT ", Some(Signal::SIGINT)),
        ("9", Some(Signal::SIGKILL)),
        ("15", Some(Signal::SIGTERM)),
        ("TERMM", None),
        ("SIG", None),
        ("", None),
        ("0", None),
        ("99", None),
        ("-1", None),
        ("99999999999999999999", None),
    ];
    for (name, want) in cases {
        assert_eq!(parse_signal(name), want, "parse_signal({name:?})");
    }
}

#[test]
fn autorestart_accepts_supervisors_booleans() {
    for (value, want) in [
        ("\"never\"", AutoRestart::Never),
        ("\"Unexpected\"", AutoRestart::Unexpected),
        ("true", AutoRestart::Always),
        ("false", AutoRestart::Never),
    ] {
        let config = toml(&format!(
            "[programs.a]\ncmd = \"x\"\nautorestart = {value}\n"
        ))
        .expect("autorestart parses");
        assert_eq!(one(&config).autorestart, want, "autorestart = {value}");
    }
}

/// (file, text, line, program, key, part of the message)
type Bad = (
    &'static str,
    &'static str,
    usize,
    Option<&'static str>,
    &'static str,
    &'static str,
);

const P: &str = "[programs.web]\ncmd = \"sleep 1\"\n";

#[test]
fn each_bad_value_is_reported_with_its_place() {
    #[rustfmt::skip]
    let cases: &[Bad] = &[
        ("t.toml", "stopsignal = \"TERMM\"", 3, Some("web"), "stopsignal", "unknown signal 'TERMM'"),
        ("t.toml", "stopsignal = 99", 3, Some("web"), "stopsignal", "unknown signal number 99"),
        ("t.toml", "numprocs = 0", 3, Some("web"), "numprocs", "from 1 to 10000"),
        ("t.toml", "numprocs = -1", 3, Some("web"), "numprocs", "not -1"),
        ("t.toml", "numprocs = 10001", 3, Some("web"), "numprocs", "from 1 to 10000"),
        ("t.toml", "numprocs = \"2\"", 3, Some("web"), "numprocs", "invalid type"),
        ("t.toml", "startretries = -1", 3, Some("web"), "startretries", "not -1"),
        ("t.toml", "starttime = -0.5", 3, Some("web"), "starttime", "not -0.5"),
        ("t.toml", "stoptime = nan", 3, Some("web"), "stoptime", "not NaN"),
        ("t.toml", "stoptime = 1e300", 3, Some("web"), "stoptime", "seconds from 0"),
        ("t.toml", "umask = \"999\"", 3, Some("web"), "umask", "not an octal number"),
        ("t.toml", "umask = \"1000\"", 3, Some("web"), "umask", "out of range"),
        ("t.toml", "umask = 18", 3, Some("web"), "umask", "not an octal number"),
        ("t.toml", "umask = -1", 3, Some("web"), "umask", "not an octal number"),
        ("t.toml", "umask = 022", 3, Some("web"), "umask", "as a string"),
        ("t.toml", "exitcodes = 256", 3, Some("web"), "exitcodes", "out of range"),
        ("t.toml", "exitcodes = [0, -1]", 3, Some("web"), "exitcodes", "exit code -1"),
        ("t.toml", "exitcodes = \"0\"", 3, Some("web"), "exitcodes", "invalid type"),
        ("t.toml", "autorestart = \"sometimes\"", 3, Some("web"), "autorestart", "sometimes"),
        ("t.toml", "autostart = \"yes\"", 3, Some("web"), "autostart", "invalid type"),
        ("t.toml", "stdout = true", 3, Some("web"), "stdout", "false to discard"),
        ("t.toml", "stderr = \"\"", 3, Some("web"), "stderr", "path is empty"),
        ("t.toml", "workingdir = 3", 3, Some("web"), "workingdir", "invalid type"),
        ("t.toml", "user = \"\"", 3, Some("web"), "user", "user name is empty"),
        ("t.toml", "env = { \"A=B\" = \"x\" }", 3, Some("web"), "env", "\"A=B\""),
        ("t.toml", "env = { \"\" = \"x\" }", 3, Some("web"), "env", "variable name"),
        ("t.toml", "env = { A = [1] }", 3, Some("web"), "env", "invalid type"),
        ("t.toml", "env = \"A=1\"", 3, Some("web"), "env", "invalid type"),
        ("t.toml", "stopsignl = \"TERM\"", 3, Some("web"), "stopsignl", "did you mean 'stopsignal'"),
        ("t.toml", "command = \"x\"", 3, Some("web"), "command", "unknown key 'command'"),
        ("t.toml", "stoptime = = 3", 3, Some("web"), "stoptime", "invalid string"),
        ("t.toml", "stdout_maxbytes = \"50XB\"", 3, Some("web"), "stdout_maxbytes", "bad size '50XB'"),
        ("t.toml", "stdout_maxbytes = -1", 3, Some("web"), "stdout_maxbytes", "negative"),
        ("t.toml", "stderr_maxbytes = \"99999999999GB\"", 3, Some("web"), "stderr_maxbytes", "too large"),
        ("t.toml", "stderr_maxbytes = \"-5MB\"", 3, Some("web"), "stderr_maxbytes", "bad size"),
        ("t.toml", "stdout_backups = -1", 3, Some("web"), "stdout_backups", "from 0 to 1000"),
        ("t.toml", "stderr_backups = 1001", 3, Some("web"), "stderr_backups", "from 0 to 1000"),
        ("t.toml", "timestamps = \"yes\"", 3, Some("web"), "timestamps", "invalid type"),
        ("t.toml", "stdout = \"/x/%(host)s.log\"", 3, Some("web"), "stdout", "unknown expansion '%(host)s'"),
        ("t.toml", "stderr = \"/x/%(process_num)\"", 3, Some("web"), "stderr", "must start an expansion"),
    ];
    for (file, line_text, line, program, key, part) in cases {
        let text = format!("{P}{line_text}\n");
        check_error(file, &text, *line, *program, key, part);
    }
}

#[test]
fn each_bad_program_or_table_is_reported_with_its_place() {
    #[rustfmt::skip]
    let cases: &[Bad] = &[
        ("t.toml", "[programs.web]\nnumprocs = 2\n", 1, Some("web"), "cmd", "missing the command"),
        ("t.toml", "[programs.web]\ncmd = \"\"\n", 2, Some("web"), "cmd", "command is empty"),
        ("t.toml", "[programs.web]\ncmd = \"a 'b\"\n", 2, Some("web"), "cmd", "quote"),
        ("t.toml", "[programs.web]\ncmd = \"''\"\n", 2, Some("web"), "cmd", "program name is empty"),
        ("t.toml", "[programs.web]\ncmd = \"a\\u0000b\"\n", 2, Some("web"), "cmd", "NUL"),
        ("t.toml", "[programs.\"a b\"]\ncmd = \"x\"\n", 1, Some("a b"), "", "whitespace"),
        ("t.toml", "[programs.\"a:b\"]\ncmd = \"x\"\n", 1, Some("a:b"), "", "contains ':'"),
        ("t.toml", "[programs.\"\"]\ncmd = \"x\"\n", 1, Some(""), "", "cannot be empty"),
        ("t.toml", "[programs.all]\ncmd = \"x\"\n", 1, Some("all"), "", "every process"),
        ("t.toml", "[programs]\nweb = 3\n", 2, Some("web"), "", "invalid type"),
        ("t.toml", "[taskmaster]\nsockt = \"x\"\n", 2, None, "sockt", "did you mean 'socket'"),
        ("t.toml", "[taskmaster]\nsocket = 3\n", 2, None, "socket", "invalid type"),
        ("t.toml", "[taskmaster]\nlogfile = false\n", 2, None, "logfile", "invalid type"),
        ("t.toml", "[tasks]\n", 1, None, "tasks", "unknown key 'tasks'"),
        ("t.toml", "programs = 1\n", 1, None, "programs", "invalid type"),
        ("t.toml", "[programs.web\ncmd = \"x\"\n", 1, Some("web"), "", "table header"),
        ("t.toml", "[programs.web]\ncmd = \"x\"\n# a\u{8}b\n", 3, Some("web"), "", "U+0008"),
        ("t.toml", "[programs.web]\ncmd = \"x\"\n[programs.web]\ncmd = \"y\"\n", 3, Some("web"), "", "duplicate key"),
        ("t.yaml", "programs:\n  web:\n    cmd: x\n    umask: 8\n", 4, Some("web"), "umask", "octal"),
        ("t.yaml", "programs:\n  web:\n    cmd: x\n    foo: 1\n", 4, Some("web"), "foo", "unknown key"),
        ("t.yaml", "programs:\n  web:\n    cmd: x\n    cmd: y\n", 4, Some("web"), "cmd", "twice"),
        ("t.yaml", "programs:\n  web:\n    numprocs: 2\n", 2, Some("web"), "cmd", "missing"),
        ("t.yaml", "programs:\n  web:\n    cmd: x\n    env: {A: [1]}\n", 4, Some("web"), "env", "invalid type"),
        ("t.yaml", "programs:\n  web:\n    cmd: x\n    numprocs: [\n", 4, Some("web"), "numprocs", ""),
        ("t.yaml", "programs:\n  web:\n    cmd: x\n    stoptime: 1\n   x: y\n", 5, Some("web"), "x", "expected key"),
        ("t.yaml", "programs:\n  web:\n    cmd: \"x\n", 4, Some("web"), "cmd", "quoted scalar"),
        ("t.yaml", "programs:\n  \"a:b\":\n    cmd: x\n", 2, Some("a:b"), "", "contains ':'"),
        ("t.yaml", "taskmaster:\n  socket: [1]\n", 2, None, "socket", "invalid type"),
        ("t.toml", "[taskmaster]\nlogfile_maxbytes = \"1TB\"\n", 2, None, "logfile_maxbytes", "bad size"),
        ("t.toml", "[taskmaster]\nlogfile_backups = 5000\n", 2, None, "logfile_backups", "from 0 to 1000"),
        ("t.toml", "[taskmaster]\nlogfile = \"%(program_name)s.log\"\n", 2, None, "logfile", "unknown expansion"),
        ("t.yaml", "- 1\n- 2\n", 1, None, "", "invalid type"),
    ];
    for (file, text, line, program, key, part) in cases {
        check_error(file, text, *line, *program, key, part);
    }
}

fn check_error(file: &str, text: &str, line: usize, program: Option<&str>, key: &str, part: &str) {
    let err = parse(Path::new(file), text).expect_err(&format!("{file}: {text:?} is refused"));
    let shown = err.to_string();
    let at = format!("/{file}:{line}:");
    assert!(shown.contains(&at), "{text:?}: {at} in {shown}");
    assert_eq!(err.line, Some(line), "{text:?}: line in {shown}");
    assert!(err.column.is_some(), "{text:?}: a column in {shown}");
    assert_eq!(
        err.program.as_deref(),
        program,
        "{text:?}: program in {shown}"
    );
    let want_key = (!key.is_empty()).then_some(key);
    assert_eq!(err.key.as_deref(), want_key, "{text:?}: key in {shown}");
    assert!(err.message.contains(part), "{text:?}: {part:?} in {shown}");
    assert!(!err.message.contains('\n'), "{text:?}: one line: {shown}");
}

/// In YAML (TOML's parser refuses them first) a key twice in the top level, `taskmaster` or a
/// program is refused by the walk itself, naming the key.
#[test]
fn a_key_given_twice_in_any_table_is_refused() {
    // The line is the second one, where the key is given again.
    let cases = [
        ("programs: {}\nprograms: {}\n", None, "programs", 2),
        ("taskmaster:\n  socket: a\n  socket: b\n", None, "socket", 3),
        (
            "programs:\n  web:\n    cmd: x\n    cmd: y\n",
            Some("web"),
            "cmd",
            4,
        ),
    ];
    for (text, program, key, line) in cases {
        let err = parse(Path::new("t.yaml"), text).expect_err(&format!("{text:?} is refused"));
        assert_eq!(
            err.program.as_deref(),
            program,
            "{text:?}: program in {err}"
        );
        assert_eq!(err.key.as_deref(), Some(key), "{text:?}: key in {err}");
        let want = format!("the key '{key}' appears twice");
        assert!(err.message.contains(&want), "{text:?}: {want:?} in {err}");
        assert_eq!(err.line, Some(line), "{text:?}: line in {err}");
    }
}

#[test]
fn error_display_names_file_line_column_program_and_key() {
    let err = parse(
        Path::new("/c/x.toml"),
        &format!("{P}stopsignal = \"TERMM\"\n"),
    )
    .expect_err("bad signal is refused");
    assert_eq!(
        err.to_string(),
        "/c/x.toml:3:14: program 'web': key 'stopsignal': unknown signal 'TERMM' \
         (expected a name like TERM, HUP, USR1 or a number)"
    );
}

#[test]
fn relative_config_path_becomes_absolute() {
    let config = parse(Path::new("conf/t.toml"), "").expect("empty config parses");
    assert!(
        config.path.is_absolute(),
        "{} is absolute",
        config.path.display()
    );
    assert!(config.path.ends_with("conf/t.toml"), "keeps the file name");
}

fn program(cmd: &str) -> ProgramConfig {
    let config = toml(&format!("[programs.p]\ncmd = \"{cmd}\"\n")).expect("program parses");
    one(&config).clone()
}

fn config_of(programs: Vec<ProgramConfig>) -> Config {
    Config {
        path: "/t.toml".into(),
        logfile: None,
        socket: None,
        logfile_rotation: Default::default(),
        pidfile: None,
        programs: programs.into_iter().map(|p| (p.name.clone(), p)).collect(),
        alerts: BTreeMap::new(),
        metrics: None,
    }
}

fn named(name: &str, mut p: ProgramConfig) -> ProgramConfig {
    p.name = name.into();
    p
}

#[test]
fn diff_sorts_programs_by_what_a_reload_must_do() {
    let base = program("sleep 1");
    let old = config_of(vec![
        named("same", base.clone()),
        named("gone", base.clone()),
        named("cmd", base.clone()),
        named("env", base.clone()),
        named("mon", base.clone()),
        named("count", base.clone()),
    ]);
    let mut new_cmd = named("cmd", base.clone());
    new_cmd.cmd = "sleep 2".into();
    let mut new_env = named("env", base.clone());
    new_env.env.insert("A".into(), "1".into());
    let mut new_mon = named("mon", base.clone());
    new_mon.stopsignal = Signal::SIGINT;
    new_mon.stoptime = Duration::from_secs(3);
    let mut new_count = named("count", base.clone());
    new_count.numprocs = 4;
    let new = config_of(vec![
        named("same", base.clone()),
        named("fresh", base.clone()),
        new_cmd,
        new_env,
        new_mon,
        new_count,
    ]);
    let d = diff(&old, &new);
    assert_eq!(d.added, ["fresh"]);
    assert_eq!(d.removed, ["gone"]);
    assert_eq!(d.changed, ["cmd", "env"]);
    assert_eq!(d.updated, ["count", "mon"]);
    assert_eq!(d.unchanged, ["same"]);
    assert!(!d.is_empty(), "a diff with changes is not empty");
    assert!(
        diff(&old, &old).is_empty(),
        "a config against itself is empty"
    );
}

#[test]
fn process_names_follow_supervisor() {
    let mut p = named("worker", program("x"));
    assert_eq!(p.process_names(), ["worker"]);
    p.numprocs = 3;
    assert_eq!(
        p.process_names(),
        ["worker:worker_00", "worker:worker_01", "worker:worker_02"]
    );
    p.numprocs = 101;
    assert_eq!(p.process_name(7), "worker:worker_007");
}

#[test]
fn syntax_error_context_is_guessed_from_the_text() {
    use super::locate::{toml_context, yaml_context};
    let text = "[taskmaster]\nsocket = 1\n[programs.\"my-web\"]\ncmd = \"x\"\nstoptime = = 3\n";
    let offset = text.find("= = 3").expect("offset of the mistake");
    let guess = toml_context(text, offset);
    assert_eq!(guess.program.as_deref(), Some("my-web"));
    assert_eq!(guess.key.as_deref(), Some("stoptime"));
    let guess = toml_context(text, text.find("1\n").expect("offset"));
    assert_eq!(
        (guess.program, guess.key.as_deref()),
        (None, Some("socket"))
    );
    let yaml_text = "programs:\n  web:\n    cmd: x\n    env:\n      A: b\n";
    let guess = yaml_context(yaml_text, 5);
    assert_eq!(guess.program.as_deref(), Some("web"));
    assert_eq!(guess.key.as_deref(), Some("env"));
}

#[test]
fn log_keys_read_sizes_backups_timestamps_and_expansions() {
    let config = toml(
        "[taskmaster]\nlogfile = \"%(here)s/tm.log\"\nlogfile_maxbytes = \"1KB\"\n\
         logfile_backups = 0\npidfile = \"tm.pid\"\n\
         [programs.web]\ncmd = \"x\"\nnumprocs = 2\nstdout = \"/l/%(program_name)s-%(process_num)02d.out\"\n\
         stdout_maxbytes = \"5 MB\"\nstdout_backups = 3\nstderr_maxbytes = 100\ntimestamps = true\n\
         [programs.db]\ncmd = \"x\"\nstdout = \"db.out\"\n",
    )
    .expect("parses");
    let base = config.path.parent().expect("folder").to_path_buf();
    assert_eq!(config.logfile, Some(base.join("tm.log")));
    assert_eq!(config.pidfile, Some(base.join("tm.pid")));
    assert_eq!(
        config.logfile_rotation,
        crate::config::Rotation {
            maxbytes: 1024,
            backups: 0
        }
    );
    let web = &config.programs["web"];
    assert_eq!(web.stdout_rotation.maxbytes, 5 << 20);
    assert_eq!(web.stdout_rotation.backups, 3);
    assert_eq!(web.stderr_rotation.maxbytes, 100);
    assert_eq!(web.stderr_rotation.backups, 10, "supervisor's default");
    assert!(web.timestamps);
    assert_eq!(web.process_num("web:web_01"), 1);
    assert_eq!(web.stdout.path_for(1), Some(PathBuf::from("/l/web-01.out")));
    let db = &config.programs["db"];
    assert_eq!(db.stdout_rotation, crate::config::Rotation::default());
    assert_eq!(db.stdout_rotation.maxbytes, 50 << 20);
    assert_eq!(db.process_num("db"), 0);
    assert!(!db.timestamps);
}

#[test]
fn log_rotation_and_timestamps_changes_apply_in_place() {
    let old = program("sleep 1");
    let mut new = old.clone();
    new.stdout_rotation.maxbytes = 1;
    new.timestamps = true;
    let d = diff(&config_of(vec![old.clone()]), &config_of(vec![new]));
    assert_eq!(d.updated, ["p"]);
    let mut moved = old.clone();
    moved.stdout = OutputTarget::File("/elsewhere".into());
    let d = diff(&config_of(vec![old]), &config_of(vec![moved]));
    assert_eq!(d.changed, ["p"], "a new path restarts");
}
