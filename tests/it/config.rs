//! Config files on disk through `taskmaster::config::load`: each kind of mistake is reported
//! with file, line and key; the shipped configs load; no input makes the parser panic.

use std::path::{Path, PathBuf};
use std::time::Duration;

use taskmaster::config::{self, AutoRestart, OutputTarget};

/// Writes `text` as `name` in a fresh temp dir (kept alive by the returned guard).
fn write(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write config");
    (dir, path)
}

/// Loads a bad config and checks the one-line message names file:line, program and key.
fn refused(name: &str, text: &str, line: usize, program: Option<&str>, key: &str, part: &str) {
    let (_dir, path) = write(name, text);
    let err = config::load(&path).expect_err("a bad config is refused");
    let shown = err.to_string();
    let at = format!("{}:{line}:", path.display());
    assert!(shown.starts_with(&at), "message starts with {at}: {shown}");
    if let Some(program) = program {
        assert!(
            shown.contains(&format!("program '{program}'")),
            "names program {program}: {shown}"
        );
    }
    assert!(
        shown.contains(&format!("key '{key}'")),
        "names key {key}: {shown}"
    );
    assert!(shown.contains(part), "says {part:?}: {shown}");
    assert!(!shown.contains('\n'), "one line: {shown}");
}

const WEB: &str = "[programs.web]\ncmd = \"sleep 1\"\n";

#[test]
fn unknown_key_is_named_with_its_line() {
    refused(
        "a.toml",
        &format!("{WEB}autostrat = true\n"),
        3,
        Some("web"),
        "autostrat",
        "did you mean 'autostart'",
    );
    refused(
        "a.toml",
        "[taskmaster]\nlog = \"x\"\n",
        2,
        None,
        "log",
        "unknown key 'log'",
    );
    refused(
        "a.yaml",
        "programs:\n  web:\n    cmd: x\n    colour: red\n",
        4,
        Some("web"),
        "colour",
        "unknown key",
    );
}

#[test]
fn wrong_type_is_named_with_its_line() {
    refused(
        "b.toml",
        &format!("{WEB}autostart = \"yes\"\n"),
        3,
        Some("web"),
        "autostart",
        "invalid type",
    );
    refused(
        "b.toml",
        &format!("{WEB}exitcodes = [\"0\"]\n"),
        3,
        Some("web"),
        "exitcodes",
        "invalid type",
    );
    refused(
        "b.yaml",
        "programs:\n  web:\n    cmd: [a, b]\n",
        3,
        Some("web"),
        "cmd",
        "invalid type",
    );
}

#[test]
fn bad_signal_is_named_with_its_line_and_column() {
    let text = format!("{WEB}stopsignal = \"TERMM\"\n");
    refused(
        "c.toml",
        &text,
        3,
        Some("web"),
        "stopsignal",
        "unknown signal 'TERMM'",
    );
    let (_dir, path) = write("c.toml", &text);
    let err = config::load(&path).expect_err("bad signal is refused");
    assert_eq!(
        (err.line, err.column),
        (Some(3), Some(14)),
        "points at the value: {err}"
    );
}

#[test]
fn negative_numprocs_is_refused() {
    refused(
        "d.toml",
        &format!("{WEB}numprocs = -2\n"),
        3,
        Some("web"),
        "numprocs",
        "not -2",
    );
    refused(
        "d.yml",
        "programs:\n  web:\n    cmd: x\n    numprocs: 0\n",
        4,
        Some("web"),
        "numprocs",
        "from 1",
    );
}

#[test]
fn bad_umask_is_refused() {
    refused(
        "e.toml",
        &format!("{WEB}umask = \"0800\"\n"),
        3,
        Some("web"),
        "umask",
        "octal",
    );
    refused(
        "e.toml",
        &format!("{WEB}umask = 1777\n"),
        3,
        Some("web"),
        "umask",
        "out of range",
    );
    refused(
        "e.toml",
        &format!("{WEB}umask = 022\n"),
        3,
        Some("web"),
        "umask",
        "as a string",
    );
    refused(
        "e.yaml",
        "programs:\n  web:\n    cmd: x\n    umask: 099\n",
        4,
        Some("web"),
        "umask",
        "octal",
    );
}

#[test]
fn malformed_toml_is_located() {
    refused(
        "f.toml",
        &format!("{WEB}stoptime = 10 s\n"),
        3,
        Some("web"),
        "stoptime",
        "expected",
    );
    let (_dir, path) = write("f.toml", "[programs.web\ncmd = \"x\"\n");
    let err = config::load(&path).expect_err("unclosed header is refused");
    assert_eq!(err.line, Some(1), "points at the header: {err}");
    assert_eq!(
        err.program.as_deref(),
        Some("web"),
        "guesses the program: {err}"
    );
}

#[test]
fn bad_yaml_is_located() {
    refused(
        "g.yaml",
        "programs:\n  web:\n    cmd: x\n    stoptime: 1\n   oops: 2\n",
        5,
        Some("web"),
        "oops",
        "expected key",
    );
    let (_dir, path) = write("g.yaml", "programs:\n  web:\n    cmd: \"unterminated\n");
    let err = config::load(&path).expect_err("unterminated string is refused");
    assert!(err.line.is_some(), "has a line: {err}");
    assert!(
        err.to_string().starts_with(&path.display().to_string()),
        "names the file: {err}"
    );
}

#[test]
fn unreadable_file_is_named() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("missing.toml");
    let err = config::load(&path).expect_err("a missing file is refused");
    assert!(
        err.to_string().starts_with(&path.display().to_string()),
        "names the file: {err}"
    );
    assert!(err.message.contains("cannot read"), "says why: {err}");
}

#[test]
fn relative_paths_resolve_against_the_config_folder() {
    let text = "[taskmaster]\nlogfile = \"logs/tm.log\"\nsocket = \"tm.sock\"\n\
                [programs.web]\ncmd = \"sleep 1\"\nstdout = \"out/web.log\"\nworkingdir = \"srv\"\n";
    let (dir, path) = write("h.toml", text);
    let config = config::load(&path).expect("config loads");
    assert_eq!(config.path, path, "path is the absolute file");
    assert_eq!(config.logfile, Some(dir.path().join("logs/tm.log")));
    assert_eq!(config.socket, Some(dir.path().join("tm.sock")));
    let web = &config.programs["web"];
    assert_eq!(
        web.stdout,
        OutputTarget::File(dir.path().join("out/web.log"))
    );
    assert_eq!(web.workingdir, Some(dir.path().join("srv")));
}

fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("configs")
        .join(name)
}

#[test]
fn shipped_demo_config_loads() {
    let config = config::load(&shipped("demo.toml")).unwrap_or_else(|e| panic!("demo.toml: {e}"));
    assert!(config.programs.len() >= 9, "demo has its programs");
    assert_eq!(
        config.socket.as_deref(),
        Some(Path::new("/tmp/taskmaster-demo.sock"))
    );
    for p in config.programs.values() {
        for target in [&p.stdout, &p.stderr] {
            if let OutputTarget::File(f) = target {
                assert!(f.starts_with("/tmp"), "{}: output under /tmp", p.name);
            }
        }
    }
    assert_eq!(config.programs["worker"].numprocs, 4);
    assert_eq!(
        config.programs["worker"].stdout.path_for(2),
        Some(PathBuf::from("/tmp/taskmaster-demo.worker.02.out")),
        "a group with a file per process"
    );
    assert_eq!(
        config.programs["chatty"].stdout_rotation.maxbytes, 2048,
        "rotation shown"
    );
    assert!(config.programs["chatty"].timestamps);
    assert!(config.pidfile.is_some());
    assert!(
        !config.programs["manual"].autostart,
        "manual waits for start"
    );
    assert_eq!(config.programs["quiet"].stdout, OutputTarget::Discard);
    assert!(config.programs["repl"].pty, "the demo has a pty program");
}

#[test]
fn every_shipped_config_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
    let entries = std::fs::read_dir(&dir).expect("configs folder");
    for entry in entries {
        let path = entry.expect("dir entry").path();
        if let Err(e) = config::load(&path) {
            panic!("shipped config does not load: {e}");
        }
    }
}

#[test]
fn brief_example_loads_as_written() {
    let config = config::load(&shipped("brief-example.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let nginx = &config.programs["ngnix"];
    let vog = &config.programs["vogsphere"];
    assert_eq!(nginx.umask, Some(0o022), "umask: 022 is octal");
    assert_eq!(vog.umask, Some(0o077), "umask: 077 is octal");
    assert_eq!(nginx.exitcodes, [0, 2]);
    assert_eq!(vog.exitcodes, [0], "exitcodes: 0 is a single code");
    assert_eq!(nginx.env["ANSWER"], "42", "env numbers become text");
    assert_eq!(nginx.env["STARTED_BY"], "taskmaster");
    assert_eq!(vog.numprocs, 8);
    assert_eq!(vog.stopsignal, nix::sys::signal::Signal::SIGUSR1);
    assert_eq!(nginx.starttime, Duration::from_secs(5));
    assert_eq!(nginx.autorestart, AutoRestart::Unexpected);
    let toml = config::load(&shipped("brief-example.toml")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        toml.programs, config.programs,
        "the TOML translation says the same as the YAML"
    );
}

/// xorshift64*: a tiny seeded PRNG, so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes that make parsers work hard: quotes, brackets, separators, digits, non-ASCII.
const SPICE: &[u8] = b"\"'[]{}=:,.-_#\n\t 0123456789aZ\\&*!|>%@`\xc3\xa9\xff\x00";

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(bytes.len() + 1);
        let byte = if rng.below(2) == 0 {
            SPICE[rng.below(SPICE.len())]
        } else {
            (rng.next() & 0xff) as u8
        };
        match rng.below(4) {
            0 if at < bytes.len() => {
                bytes.remove(at);
            }
            1 if at < bytes.len() => bytes[at] = byte,
            2 => {
                // Duplicate a random slice: repeated keys and tables.
                let from = rng.below(bytes.len());
                let len = rng.below(40).min(bytes.len() - from);
                let chunk = bytes[from..from + len].to_vec();
                bytes.splice(at..at, chunk);
            }
            _ => bytes.insert(at, byte),
        }
    }
    bytes
}

#[test]
fn parse_never_panics_on_mutated_configs() {
    let seeds = [
        (
            "fuzz.toml",
            std::fs::read(shipped("demo.toml")).expect("demo.toml"),
        ),
        (
            "fuzz.yaml",
            std::fs::read(shipped("brief-example.yaml")).expect("brief-example.yaml"),
        ),
        // The other format's text too: nonsense in the wrong parser must be refused calmly.
        (
            "fuzz.yaml",
            std::fs::read(shipped("demo.toml")).expect("demo.toml"),
        ),
    ];
    let mut rng = Rng(0x7a5c_ae57_e12d_0001);
    let (mut ok, mut refused) = (0, 0);
    for (name, seed) in &seeds {
        for _ in 0..1500 {
            let bytes = mutate(&mut rng, seed);
            let text = String::from_utf8_lossy(&bytes);
            match config::parse(Path::new(name), &text) {
                Ok(_) => ok += 1,
                Err(e) => {
                    assert!(
                        !e.message.is_empty(),
                        "an error says something: {e:?} for {text:?}"
                    );
                    refused += 1;
                }
            }
        }
        for _ in 0..300 {
            let len = rng.below(200);
            let bytes: Vec<u8> = (0..len).map(|_| SPICE[rng.below(SPICE.len())]).collect();
            let _ = config::parse(Path::new(name), &String::from_utf8_lossy(&bytes));
        }
    }
    assert!(
        ok > 0 && refused > 0,
        "mutations give both outcomes ({ok} ok, {refused} refused)"
    );
}
