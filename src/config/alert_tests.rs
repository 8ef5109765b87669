//! Unit tests of `[alerts.NAME]` and `metrics`: every key, the defaults, each error located.

#![allow(clippy::result_large_err)]

use super::*;
use crate::supervisor::events::EventKind;

fn toml(text: &str) -> Result<Config, ConfigError> {
    parse(Path::new("/etc/tm/t.toml"), text)
}

const PROGS: &str = "[programs.web]\ncmd = \"sleep 1\"\n[programs.worker]\ncmd = \"sleep 1\"\n";

#[test]
fn every_alert_key_is_read() {
    let c = toml(&format!(
        "[taskmaster]\nmetrics = \"127.0.0.1:9108\"\n\
         [alerts.oncall]\non = [\"fatal\", \"recovered\"]\nprograms = [\"web\"]\n\
         exec = \"/bin/page-me --team 'ops x'\"\ndigest = 30\ntimeout = 2.5\n\
         [alerts.hook]\nwebhook = \"https://hooks.example.com/T0/B0\"\nca = \"ca.pem\"\n\
         [alerts.log]\nsyslog = true\n[alerts.other]\nsyslog = \"run/log.sock\"\n{PROGS}"
    ))
    .expect("parses");
    assert_eq!(c.metrics, Some("127.0.0.1:9108".parse().expect("addr")));
    let a = &c.alerts["oncall"];
    assert_eq!(a.on, vec![EventKind::Fatal, EventKind::Recovered]);
    assert_eq!(a.programs, Some(vec!["web".to_string()]));
    assert_eq!(
        a.sink,
        Sink::Exec(
            "/bin/page-me --team 'ops x'".into(),
            vec!["/bin/page-me".into(), "--team".into(), "ops x".into()]
        )
    );
    assert_eq!(a.digest, Duration::from_secs(30));
    assert_eq!(a.timeout, Duration::from_millis(2500));
    let h = &c.alerts["hook"];
    assert_eq!(
        h.sink,
        Sink::Webhook {
            url: "https://hooks.example.com/T0/B0".into(),
            ca: Some("/etc/tm/ca.pem".into())
        }
    );
    assert_eq!(h.on, EventKind::DEFAULT_ON.to_vec(), "default kinds");
    assert_eq!(h.programs, None);
    assert_eq!(h.timeout, Duration::from_secs(10), "default timeout");
    assert_eq!(h.digest, Duration::ZERO, "default: at once");
    assert_eq!(c.alerts["log"].sink, Sink::Syslog("/dev/log".into()));
    assert_eq!(
        c.alerts["other"].sink,
        Sink::Syslog("/etc/tm/run/log.sock".into())
    );
}

fn error_of(text: &str) -> ConfigError {
    toml(text).expect_err("the config is refused")
}

#[test]
fn alert_errors_name_file_line_and_key() {
    for (text, line, key, words) in [
        (
            "[alerts.a]\non = [\"fatl\"]\nsyslog = true\n",
            2,
            "alerts.a.on",
            "unknown event kind 'fatl'",
        ),
        (
            "[alerts.a]\nexec = \"x\"\nwebhook = \"http://h/\"\n",
            3,
            "alerts.a.webhook",
            "exactly one",
        ),
        ("[alerts.a]\non = [\"fatal\"]\n", 1, "alerts.a", "no sink"),
        (
            "[alerts.a]\nwebhook = \"ftp://h/x\"\n",
            2,
            "alerts.a.webhook",
            "http:// or https://",
        ),
        (
            "[alerts.a]\nwebhook = \"http://exa mple/\"\n",
            2,
            "alerts.a.webhook",
            "malformed URL",
        ),
        (
            "[alerts.a]\nsyslog = true\ntimeout = 0\n",
            3,
            "alerts.a.timeout",
            "more than 0",
        ),
        (
            "[alerts.a]\nsyslog = true\ncolour = 1\n",
            3,
            "alerts.a.colour",
            "unknown key",
        ),
        (
            "[alerts.a]\nsyslog = true\nprograms = [\"web\", \"nope\"]\n[programs.web]\ncmd = \"x\"\n",
            3,
            "alerts.a.programs",
            "unknown program 'nope'",
        ),
        (
            "[alerts.a]\nexec = \"x\"\nca = \"c.pem\"\n",
            3,
            "alerts.a.ca",
            "only for a webhook",
        ),
        (
            "[taskmaster]\nmetrics = \"localhost\"\n",
            2,
            "metrics",
            "not an ADDR:PORT",
        ),
    ] {
        let e = error_of(text);
        assert_eq!(e.line, Some(line), "line of {e} for {text:?}");
        assert_eq!(e.key.as_deref(), Some(key), "key of {e} for {text:?}");
        assert!(e.message.contains(words), "{e} says {words:?}");
        assert!(
            e.to_string().starts_with("/etc/tm/t.toml:"),
            "{e} names the file"
        );
    }
}

#[test]
fn yaml_alerts_read_and_locate_errors() {
    let ok = parse(
        Path::new("/etc/tm/t.yaml"),
        "programs:\n  web:\n    cmd: sleep 1\nalerts:\n  oncall:\n    on: [fatal]\n    exec: /bin/true\n",
    )
    .expect("yaml parses");
    assert_eq!(ok.alerts["oncall"].on, vec![EventKind::Fatal]);
    let e = parse(
        Path::new("/etc/tm/t.yaml"),
        "programs:\n  web:\n    cmd: sleep 1\nalerts:\n  oncall:\n    programs: [nope]\n    exec: /bin/true\n",
    )
    .expect_err("unknown program");
    assert_eq!(e.line, Some(6), "{e}");
    assert_eq!(e.key.as_deref(), Some("alerts.oncall.programs"));
}
