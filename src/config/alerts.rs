//! `[alerts.NAME]` tables read into [`AlertConfig`]s, and the `metrics` address. Program
//! names are checked once the whole file is read (the `[programs]` may come after).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};

use super::de::{Ctx, duplicate_key, unknown_key};
use super::paths::PathSeed;
use super::values::{Cmd, Seconds, no_nul};
use super::{AlertConfig, ConfigError, Format, ProgramConfig, Sink};
use crate::supervisor::events::EventKind;

/// Where `syslog = true` writes.
pub const DEV_LOG: &str = "/dev/log";
const ALERT_KEYS: &[&str] = &[
    "on", "programs", "exec", "webhook", "ca", "syslog", "digest", "timeout",
];
const SINKS: &[&str] = &["exec", "webhook", "syslog"];

/// Every alert, and where each one's `programs` was written (checked after the walk).
#[derive(Default)]
pub(super) struct Alerts {
    pub alerts: BTreeMap<String, AlertConfig>,
    pub programs_at: Vec<(String, Option<Range<usize>>)>,
}

pub(super) struct AlertsSeed<'c, 'a>(pub &'c Ctx<'a>);

impl<'de> DeserializeSeed<'de> for AlertsSeed<'_, '_> {
    type Value = Alerts;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Alerts, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for AlertsSeed<'_, '_> {
    type Value = Alerts;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a table of alerts, one [alerts.NAME] each")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Alerts, E> {
        Ok(Alerts::default())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Alerts, A::Error> {
        let ctx = self.0;
        let mut out = Alerts::default();
        while let Some(name) = ctx.next_key(&mut map)? {
            let span = ctx.at().span;
            ctx.on_key(Some(&format!("alerts.{name}")), span.clone());
            if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(A::Error::custom(format!(
                    "alert name {name:?} is empty or contains whitespace"
                )));
            }
            if out.alerts.contains_key(&name) {
                return Err(A::Error::custom(format!(
                    "the alert '{name}' is defined twice"
                )));
            }
            ctx.on_value();
            let (alert, programs_at) = map.next_value_seed(AlertSeed {
                ctx,
                name: &name,
                span,
            })?;
            if alert.programs.is_some() {
                out.programs_at.push((name.clone(), programs_at));
            }
            out.alerts.insert(name, alert);
        }
        ctx.on_key(None, None);
        Ok(out)
    }
}

struct AlertSeed<'c, 'a, 'n> {
    ctx: &'c Ctx<'a>,
    name: &'n str,
    /// The alert's name in the file, for an error about the table as a whole.
    span: Option<Range<usize>>,
}

impl<'de> DeserializeSeed<'de> for AlertSeed<'_, '_, '_> {
    type Value = (AlertConfig, Option<Range<usize>>);
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for AlertSeed<'_, '_, '_> {
    type Value = (AlertConfig, Option<Range<usize>>);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a table of alert settings (exec, webhook or syslog, and on)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let ctx = self.ctx;
        let mut alert = AlertConfig {
            name: self.name.to_owned(),
            on: EventKind::DEFAULT_ON.to_vec(),
            programs: None,
            sink: Sink::Syslog(PathBuf::from(DEV_LOG)),
            digest: Duration::ZERO,
            timeout: Duration::from_secs(10),
        };
        let mut sink: Option<(String, Sink)> = None;
        let mut programs_at = None;
        let mut ca = None;
        let mut seen: Vec<String> = Vec::new();
        while let Some(key) = ctx.next_key(&mut map)? {
            let span = ctx.at().span;
            ctx.on_key(Some(&format!("alerts.{}.{key}", self.name)), span.clone());
            if seen.contains(&key) {
                return Err(duplicate_key(&key));
            }
            if !ALERT_KEYS.contains(&key.as_str()) {
                return Err(unknown_key(&key, ALERT_KEYS));
            }
            if SINKS.contains(&key.as_str())
                && let Some((first, _)) = &sink
            {
                return Err(A::Error::custom(format!(
                    "an alert has exactly one of exec, webhook and syslog; '{first}' is \
                     already set (make a second [alerts.NAME] for a second sink)"
                )));
            }
            ctx.on_value();
            match key.as_str() {
                "on" => alert.on = map.next_value::<Kinds>()?.0,
                "programs" => {
                    programs_at = span;
                    alert.programs = Some(map.next_value::<Names>()?.0);
                }
                "exec" => {
                    let cmd: Cmd = map.next_value()?;
                    sink = Some((key.clone(), Sink::Exec(cmd.line, cmd.argv)));
                }
                "webhook" => {
                    let Url(url) = map.next_value()?;
                    sink = Some((key.clone(), Sink::Webhook { url, ca: None }));
                }
                "syslog" => {
                    let path = match map.next_value::<SyslogValue>()? {
                        SyslogValue::Default => PathBuf::from(DEV_LOG),
                        SyslogValue::Path(p) => ctx.resolve(&p),
                    };
                    sink = Some((key.clone(), Sink::Syslog(path)));
                }
                "ca" => ca = Some((map.next_value_seed(PathSeed(ctx))?, span)),
                "digest" => alert.digest = map.next_value::<Seconds>()?.0,
                "timeout" => {
                    alert.timeout = map.next_value::<Seconds>()?.0;
                    if alert.timeout.is_zero() {
                        ctx.on_bad_value(span.unwrap_or_default());
                        return Err(A::Error::custom("the timeout must be more than 0 seconds"));
                    }
                }
                _ => return Err(unknown_key(&key, ALERT_KEYS)),
            }
            seen.push(key);
        }
        let Some((_, sink)) = sink else {
            ctx.on_key(Some(&format!("alerts.{}", self.name)), self.span);
            return Err(A::Error::custom(
                "the alert has no sink: add one of exec = \"command\", webhook = \"https://...\" \
                 or syslog = true",
            ));
        };
        alert.sink = match (sink, ca) {
            (Sink::Webhook { url, .. }, Some((path, _))) => Sink::Webhook {
                url,
                ca: Some(path),
            },
            (_, Some((_, span))) => {
                ctx.on_key(Some(&format!("alerts.{}.ca", self.name)), span);
                return Err(A::Error::custom("ca is only for a webhook"));
            }
            (sink, None) => sink,
        };
        ctx.on_key(None, None);
        Ok((alert, programs_at))
    }
}

/// `on`: a list of event kinds (or one), each one of section 9's.
struct Kinds(Vec<EventKind>);
struct KindsVisitor;
deserialize_via!(Kinds, KindsVisitor, deserialize_any);

fn kind<E: serde::de::Error>(word: &str) -> Result<EventKind, E> {
    EventKind::parse_subscribable(word).ok_or_else(|| {
        let known: Vec<&str> = EventKind::SUBSCRIBABLE.iter().map(|k| k.as_str()).collect();
        E::custom(format!(
            "unknown event kind '{word}' (expected some of {})",
            known.join(", ")
        ))
    })
}

impl<'de> Visitor<'de> for KindsVisitor {
    type Value = Kinds;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of event kinds, like [\"fatal\", \"exited_unexpected\"]")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Kinds, E> {
        Ok(Kinds(vec![kind(v)?]))
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Kinds, S::Error> {
        let mut kinds = Vec::new();
        while let Some(word) = seq.next_element::<String>()? {
            let k = kind(&word)?;
            if !kinds.contains(&k) {
                kinds.push(k);
            }
        }
        if kinds.is_empty() {
            return Err(S::Error::custom(
                "the list of event kinds is empty (leave `on` out for the default)",
            ));
        }
        Ok(Kinds(kinds))
    }
}

/// `programs`: a list of program names (checked against `[programs]` later).
struct Names(Vec<String>);
struct NamesVisitor;
deserialize_via!(Names, NamesVisitor, deserialize_any);

impl<'de> Visitor<'de> for NamesVisitor {
    type Value = Names;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of program names")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Names, E> {
        Ok(Names(vec![v.to_owned()]))
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Names, S::Error> {
        let mut names = Vec::new();
        while let Some(name) = seq.next_element::<String>()? {
            names.push(name);
        }
        Ok(Names(names))
    }
}

/// `webhook`: an http or https URL with a host.
struct Url(String);
struct UrlVisitor;
deserialize_via!(Url, UrlVisitor, deserialize_str);

impl Visitor<'_> for UrlVisitor {
    type Value = Url;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an http:// or https:// URL")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Url, E> {
        check_url(v).map_err(E::custom)?;
        Ok(Url(v.to_owned()))
    }
}

/// Why `url` cannot be a webhook, if it cannot.
pub fn check_url(url: &str) -> Result<(), String> {
    let uri: ureq::http::Uri = url
        .parse()
        .map_err(|e| format!("malformed URL '{url}': {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => {
            return Err(format!(
                "the URL '{url}' must start with http:// or https://"
            ));
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("the URL '{url}' has no host"));
    }
    Ok(())
}

/// `syslog`: `true` for /dev/log, or the path of another datagram socket.
enum SyslogValue {
    Default,
    Path(String),
}
struct SyslogVisitor;
deserialize_via!(SyslogValue, SyslogVisitor, deserialize_any);

impl Visitor<'_> for SyslogVisitor {
    type Value = SyslogValue;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("true (for /dev/log), or the path of a syslog socket")
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<SyslogValue, E> {
        if !v {
            return Err(E::custom(
                "syslog = false is not a sink (remove the alert, or give it another sink)",
            ));
        }
        Ok(SyslogValue::Default)
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SyslogValue, E> {
        no_nul("socket path", v)?;
        if v.is_empty() {
            return Err(E::custom("the syslog socket path is empty"));
        }
        Ok(SyslogValue::Path(v.to_owned()))
    }
}

/// `metrics = "ADDR:PORT"` in `[taskmaster]`.
pub(super) struct MetricsAddr(pub SocketAddr);
struct MetricsVisitor;
deserialize_via!(MetricsAddr, MetricsVisitor, deserialize_str);

impl Visitor<'_> for MetricsVisitor {
    type Value = MetricsAddr;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an address and port like \"127.0.0.1:9108\"")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<MetricsAddr, E> {
        v.trim().parse().map(MetricsAddr).map_err(|_| {
            E::custom(format!(
                "'{v}' is not an ADDR:PORT (write an IP address and a port, like \
                 \"127.0.0.1:9108\" or \"[::1]:9108\")"
            ))
        })
    }
}

/// Every alert's `programs` must name programs of the file.
#[allow(clippy::result_large_err)]
pub(super) fn check_programs(
    alerts: &Alerts,
    programs: &BTreeMap<String, ProgramConfig>,
    ctx: &Ctx,
    file: &std::path::Path,
) -> Result<(), ConfigError> {
    for (name, span) in &alerts.programs_at {
        let Some(alert) = alerts.alerts.get(name) else {
            continue;
        };
        let Some(unknown) = alert
            .programs
            .iter()
            .flatten()
            .find(|p| !programs.contains_key(*p))
        else {
            continue;
        };
        let position = match ctx.format {
            Format::Toml => span
                .as_ref()
                .map(|s| super::locate::line_col(ctx.text, s.start)),
            Format::Yaml => super::locate::yaml_find(ctx.text, &["alerts", name, "programs"]),
        };
        let known: Vec<&str> = programs.keys().map(String::as_str).collect();
        return Err(ConfigError {
            file: file.to_path_buf(),
            line: position.map(|p| p.0),
            column: position.map(|p| p.1),
            program: None,
            key: Some(format!("alerts.{name}.programs")),
            message: format!(
                "unknown program '{unknown}' (the programs are: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
        });
    }
    Ok(())
}
