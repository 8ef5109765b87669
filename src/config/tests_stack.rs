//! Unit tests of the stack keys (section 10): each key, defaults, every error, cycles.

#![allow(clippy::result_large_err)]

use std::time::Duration;

use super::*;

fn toml(text: &str) -> Result<Config, ConfigError> {
    parse(Path::new("/etc/tm/t.toml"), text)
}

fn err(text: &str) -> ConfigError {
    match toml(text) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e,
    }
}

#[test]
fn stack_keys_are_read() {
    let c = toml(
        r#"
[programs.db]
cmd = "db"
health = { tcp = "127.0.0.1:5432" }
health_interval = 0.5
health_timeout = 0.2
health_retries = 5
health_restart = true
[programs.migrate]
cmd = "migrate"
autorestart = "never"
[programs.api]
cmd = "api"
depends_on = { db = "healthy", migrate = "completed" }
restart_delay = 1
restart_delay_max = 60
restart_delay_reset = 30
fatal_retry = 120
"#,
    )
    .expect("valid stack");
    let db = &c.programs["db"];
    let h = db.health.as_ref().expect("db has a health check");
    assert_eq!(h.probe, Probe::Tcp("127.0.0.1:5432".into()));
    assert_eq!(
        (h.interval, h.timeout, h.retries, h.restart),
        (
            Duration::from_millis(500),
            Duration::from_millis(200),
            5,
            true
        )
    );
    let api = &c.programs["api"];
    assert_eq!(api.depends_on["db"], Condition::Healthy);
    assert_eq!(api.depends_on["migrate"], Condition::Completed);
    assert_eq!(api.backoff.delay, Duration::from_secs(1));
    assert_eq!(api.backoff.max, Duration::from_secs(60));
    assert_eq!(api.backoff.reset, Duration::from_secs(30));
    assert_eq!(api.backoff.fatal_retry, Duration::from_secs(120));
}

#[test]
fn stack_defaults() {
    let c = toml("[programs.a]\ncmd = \"a\"\nhealth = { log = \"ready\" }\n").expect("valid");
    let a = &c.programs["a"];
    assert_eq!(a.backoff, Backoff::default());
    assert_eq!(
        a.backoff.delay,
        Duration::ZERO,
        "0: supervisor's immediate restart"
    );
    let h = a.health.as_ref().expect("health");
    assert_eq!(
        (h.interval, h.timeout, h.retries, h.restart),
        (Duration::from_secs(2), Duration::from_secs(1), 3, false)
    );
    assert!(a.depends_on.is_empty());
}

#[test]
fn depends_on_as_a_list_means_started() {
    let c = toml("[programs.a]\ncmd = \"a\"\n[programs.b]\ncmd = \"b\"\ndepends_on = [\"a\"]\n")
        .expect("valid");
    assert_eq!(c.programs["b"].depends_on["a"], Condition::Started);
}

#[test]
fn every_probe_kind_is_read() {
    let c = toml(
        r#"
[programs.a]
cmd = "a"
health = { cmd = "pg_isready -q" }
[programs.b]
cmd = "b"
health = { http = "http://localhost:8080/health?x=1" }
[programs.c]
cmd = "c"
health = { http = "http://example" }
"#,
    )
    .expect("valid");
    let probe = |n: &str| c.programs[n].health.as_ref().map(|h| h.probe.clone());
    assert_eq!(
        probe("a"),
        Some(Probe::Cmd {
            line: "pg_isready -q".into(),
            argv: vec!["pg_isready".into(), "-q".into()]
        })
    );
    match probe("b") {
        Some(Probe::Http(t)) => {
            assert_eq!(t.addr, "localhost:8080");
            assert_eq!(t.path, "/health?x=1");
            assert_eq!(t.host, "localhost:8080");
        }
        other => panic!("http probe expected, got {other:?}"),
    }
    match probe("c") {
        Some(Probe::Http(t)) => assert_eq!((t.addr.as_str(), t.path.as_str()), ("example:80", "/")),
        other => panic!("http probe expected, got {other:?}"),
    }
}

#[test]
fn cycles_are_errors_naming_the_whole_path() {
    for (text, path) in [
        (
            "[programs.a]\ncmd = \"a\"\ndepends_on = [\"a\"]\n",
            "dependency cycle: a -> a",
        ),
        (
            "[programs.api]\ncmd = \"a\"\ndepends_on = [\"db\"]\n[programs.db]\ncmd = \"d\"\ndepends_on = [\"api\"]\n",
            "dependency cycle: api -> db -> api",
        ),
        (
            "[programs.a]\ncmd = \"a\"\ndepends_on = [\"b\"]\n[programs.b]\ncmd = \"b\"\ndepends_on = [\"c\"]\n\
             [programs.c]\ncmd = \"c\"\ndepends_on = [\"d\"]\n[programs.d]\ncmd = \"d\"\ndepends_on = [\"a\"]\n",
            "dependency cycle: a -> b -> c -> d -> a",
        ),
    ] {
        let e = err(text);
        assert_eq!(e.message, path);
        assert_eq!(e.key.as_deref(), Some("depends_on"));
        assert!(
            e.line.is_some(),
            "the error has the line of depends_on: {e}"
        );
    }
}

#[test]
fn a_cycle_below_an_acyclic_start_is_found() {
    let e = err(
        "[programs.a]\ncmd = \"a\"\ndepends_on = [\"b\"]\n[programs.b]\ncmd = \"b\"\ndepends_on = [\"c\"]\n\
         [programs.c]\ncmd = \"c\"\ndepends_on = [\"b\"]\n",
    );
    assert_eq!(e.message, "dependency cycle: b -> c -> b");
}

#[test]
fn unknown_dependency_is_an_error_with_its_place() {
    let e = err("[programs.api]\ncmd = \"a\"\n\ndepends_on = { nope = \"running\" }\n");
    assert_eq!(e.program.as_deref(), Some("api"));
    assert_eq!(e.line, Some(4));
    assert!(e.message.contains("'nope'"), "{e}");
}

#[test]
fn completed_on_an_always_restarted_program_is_an_error() {
    let e = err(
        "[programs.m]\ncmd = \"m\"\nautorestart = \"always\"\n[programs.api]\ncmd = \"a\"\ndepends_on = { m = \"completed\" }\n",
    );
    assert!(e.message.contains("autorestart = \"always\""), "{e}");
}

#[test]
fn healthy_on_a_program_without_health_check_is_an_error() {
    let e = err(
        "[programs.m]\ncmd = \"m\"\n[programs.api]\ncmd = \"a\"\ndepends_on = { m = \"healthy\" }\n",
    );
    assert!(e.message.contains("no health check"), "{e}");
}

#[test]
fn bad_stack_values_are_errors_at_their_key() {
    for (line, needle) in [
        (
            "depends_on = { a = \"ready\" }",
            "unknown condition 'ready'",
        ),
        ("health = { tcp = \"localhost\" }", "not host:port"),
        ("health = { tcp = \"localhost:0\" }", "not host:port"),
        (
            "health = { http = \"https://x/\" }",
            "https is not supported",
        ),
        ("health = { log = \"\" }", "empty"),
        ("health = { cmd = \"'\" }", "quotes"),
        ("health = { ping = \"x\" }", "unknown health check 'ping'"),
        ("health = { tcp = \"a:1\", log = \"x\" }", "one kind"),
        ("health = {}", "empty"),
        ("health_interval = 5", "needs a health check"),
        (
            "health = { log = \"x\" }\nhealth_interval = 0",
            "at least 0.01",
        ),
        ("health = { log = \"x\" }\nhealth_retries = 0", "from 1"),
        (
            "restart_delay = 10\nrestart_delay_max = 5",
            "longer than restart_delay_max",
        ),
        ("restart_delay = -1", "from 0"),
    ] {
        let e = err(&format!("[programs.x]\ncmd = \"x\"\n{line}\n"));
        assert!(e.to_string().contains(needle), "{line}: {e}");
    }
}

#[test]
fn stack_keys_are_monitoring_settings() {
    let a = toml("[programs.a]\ncmd = \"a\"\n").expect("valid");
    let b =
        toml("[programs.a]\ncmd = \"a\"\nrestart_delay = 3\nfatal_retry = 10\n").expect("valid");
    let d = diff(&a, &b);
    assert_eq!(d.updated, ["a"], "applied in place, no restart");
    assert!(d.changed.is_empty());
}

#[test]
fn yaml_reads_the_stack_keys() {
    let c = parse(
        Path::new("/t.yaml"),
        "programs:\n  db:\n    cmd: db\n    health:\n      tcp: 127.0.0.1:1\n  api:\n    cmd: api\n    depends_on:\n      db: healthy\n",
    )
    .expect("valid yaml");
    assert_eq!(c.programs["api"].depends_on["db"], Condition::Healthy);
}
