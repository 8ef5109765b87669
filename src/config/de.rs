//! The walk over a config document: serde seeds for the top level, the `[taskmaster]` table
//! and the `programs` map. They validate as they read, so an error carries the format's
//! position, and they note in [`Ctx`] which program and key were being read.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::{DeserializeSeed, Error as _, IgnoredAny, MapAccess, Visitor};

use super::alerts::{Alerts, AlertsSeed, MetricsAddr};
use super::paths::{LogPathSeed, SocketValue};
use super::program::ProgramSeed;
use super::values::{Backups, ByteSize};
use super::{DEFAULT_SOCKET, Format, ProgramConfig, Rotation};

/// What the walk knows about where it is; read back when an error comes out of serde.
#[derive(Debug, Default, Clone)]
pub(super) struct At {
    pub program: Option<String>,
    pub key: Option<String>,
    /// Set while a key has been read but its value not yet: an error now is about the key.
    pub key_error: bool,
    /// Where to point instead of the format's own position: the key just read (TOML gives
    /// key spans), or a value checked after serde was done with it.
    pub span: Option<Range<usize>>,
}

/// A key and, in TOML, where it is.
pub(super) type SpannedKey = (String, Option<Range<usize>>);

/// Shared by every seed of one parse.
pub(super) struct Ctx<'a> {
    pub format: Format,
    pub text: &'a str,
    /// The config file's folder; relative paths resolve against it.
    pub base: &'a Path,
    /// What `check` has already reported and wants passed over, to find the next problem.
    pub skip: Skip,
    at: RefCell<At>,
}

/// Programs and keys the walk passes over without reading: `check` re-reads the file with
/// each reported problem skipped, so it can report every problem, not only the first.
#[derive(Debug, Default, Clone)]
pub(super) struct Skip {
    programs: Vec<String>,
    /// `(program, key)`; no program: a key of the top level or of `[taskmaster]`.
    keys: Vec<(Option<String>, String)>,
}

impl Skip {
    pub fn program(&self, name: &str) -> bool {
        self.programs.iter().any(|p| p == name)
    }

    pub fn key(&self, program: Option<&str>, key: &str) -> bool {
        self.keys
            .iter()
            .any(|(p, k)| p.as_deref() == program && k == key)
    }

    /// Passes over the place of `err` from now on; false when it was passed over already
    /// (the walk cannot get past it).
    pub fn add(&mut self, program: Option<&str>, key: Option<&str>) -> bool {
        match (program, key) {
            (p, Some(k)) if !self.key(p, k) => {
                self.keys.push((p.map(str::to_owned), k.to_owned()));
                true
            }
            (Some(p), _) if !self.program(p) => {
                self.programs.push(p.to_owned());
                true
            }
            _ => false,
        }
    }
}

impl<'a> Ctx<'a> {
    pub fn new(format: Format, text: &'a str, base: &'a Path) -> Self {
        Ctx {
            format,
            text,
            base,
            skip: Skip::default(),
            at: RefCell::new(At::default()),
        }
    }

    pub fn at(&self) -> At {
        self.at.borrow().clone()
    }

    pub fn enter_program(&self, name: Option<&str>) {
        let mut at = self.at.borrow_mut();
        at.program = name.map(str::to_owned);
        at.key = None;
    }

    /// A key has been read (or, with `None`, the next one is about to be).
    pub fn on_key(&self, key: Option<&str>, span: Option<Range<usize>>) {
        let mut at = self.at.borrow_mut();
        at.key = key.map(str::to_owned);
        at.key_error = key.is_some();
        at.span = span;
    }

    /// The value of the current key is about to be read.
    pub fn on_value(&self) {
        let mut at = self.at.borrow_mut();
        at.key_error = false;
        at.span = None;
    }

    /// A key inside a value (an `env` variable name) was read: errors now point at it.
    pub fn on_inner_key(&self, span: Option<Range<usize>>) {
        let mut at = self.at.borrow_mut();
        at.key_error = true;
        at.span = span;
    }

    /// The value just read is wrong, and serde no longer knows where it was.
    pub fn on_bad_value(&self, span: Range<usize>) {
        self.at.borrow_mut().span = Some(span);
    }

    /// Reads a key as a string, with its span in TOML.
    pub fn read_key<'de, A: MapAccess<'de>>(
        &self,
        map: &mut A,
    ) -> Result<Option<SpannedKey>, A::Error> {
        Ok(match self.format {
            Format::Toml => map.next_key::<toml::Spanned<String>>()?.map(|k| {
                let span = k.span();
                (k.into_inner(), Some(span))
            }),
            Format::Yaml => map.next_key::<String>()?.map(|k| (k, None)),
        })
    }

    pub fn resolve(&self, path: &str) -> PathBuf {
        self.base.join(path)
    }

    /// The next key of a table that `skip` does not pass over (a skipped key's value is read
    /// and dropped), noted as [`next_key`](Self::next_key) does; a key `seen` already in the
    /// table is an error. `program`: the program whose table it is (none: the top level or
    /// `[taskmaster]`).
    pub fn next_new_key<'de, A: MapAccess<'de>>(
        &self,
        map: &mut A,
        program: Option<&str>,
        seen: &mut Vec<String>,
    ) -> Result<Option<String>, A::Error> {
        while let Some(key) = self.next_key(map)? {
            if self.skip.key(program, &key) {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            if seen.contains(&key) {
                return Err(duplicate_key(&key));
            }
            seen.push(key.clone());
            return Ok(Some(key));
        }
        Ok(None)
    }

    /// Reads the next key as a string, noting it (and its span in TOML) for error reports.
    pub fn next_key<'de, A: MapAccess<'de>>(
        &self,
        map: &mut A,
    ) -> Result<Option<String>, A::Error> {
        self.on_key(None, None);
        let key = self.read_key(map)?;
        Ok(key.map(|(key, span)| {
            self.on_key(Some(&key), span);
            key
        }))
    }
}

/// The top level, before it becomes a [`super::Config`].
pub(super) struct Top {
    pub logfile: Option<PathBuf>,
    pub socket: Option<PathBuf>,
    pub logfile_rotation: Rotation,
    pub pidfile: Option<PathBuf>,
    pub programs: BTreeMap<String, ProgramConfig>,
    pub alerts: Alerts,
    pub metrics: Option<std::net::SocketAddr>,
}

impl Default for Top {
    fn default() -> Self {
        Top {
            logfile: None,
            socket: Some(PathBuf::from(DEFAULT_SOCKET)),
            logfile_rotation: Rotation::default(),
            pidfile: None,
            programs: BTreeMap::new(),
            alerts: Alerts::default(),
            metrics: None,
        }
    }
}

pub(super) fn from_toml(ctx: &Ctx) -> Result<Top, toml::de::Error> {
    RootSeed(ctx).deserialize(toml::Deserializer::new(ctx.text))
}

pub(super) fn from_yaml(ctx: &Ctx) -> Result<Top, serde_yaml_ng::Error> {
    // An empty or comments-only YAML file has no document at all; it is an empty config.
    let has_content = ctx.text.lines().any(|l| {
        let l = l.trim();
        !l.is_empty() && !l.starts_with('#') && l != "---" && l != "..."
    });
    if !has_content {
        return Ok(Top::default());
    }
    RootSeed(ctx).deserialize(serde_yaml_ng::Deserializer::from_str(ctx.text))
}

const TOP_KEYS: &[&str] = &["taskmaster", "programs", "alerts"];
const TASKMASTER_KEYS: &[&str] = &[
    "logfile",
    "socket",
    "logfile_maxbytes",
    "logfile_backups",
    "pidfile",
    "metrics",
];

/// "unknown key 'stopsignl' (did you mean 'stopsignal'?)", or the list of keys.
pub(super) fn unknown_key<E: serde::de::Error>(key: &str, known: &[&str]) -> E {
    let close = known
        .iter()
        .copied()
        .filter(|k| edit_distance(k, key) <= 2 || k.eq_ignore_ascii_case(key))
        .min_by_key(|k| edit_distance(k, key));
    match close {
        Some(k) => E::custom(format!("unknown key '{key}' (did you mean '{k}'?)")),
        None => E::custom(format!(
            "unknown key '{key}' (expected one of {})",
            known.join(", ")
        )),
    }
}

pub(super) fn duplicate_key<E: serde::de::Error>(key: &str) -> E {
    E::custom(format!("the key '{key}' appears twice"))
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

struct RootSeed<'c, 'a>(&'c Ctx<'a>);

impl<'de> DeserializeSeed<'de> for RootSeed<'_, '_> {
    type Value = Top;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Top, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RootSeed<'_, '_> {
    type Value = Top;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a table with [taskmaster] and [programs.NAME] sections")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Top, E> {
        Ok(Top::default())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top, A::Error> {
        let ctx = self.0;
        let mut top = Top::default();
        let mut seen = Vec::new();
        while let Some(key) = ctx.next_new_key(&mut map, None, &mut seen)? {
            match key.as_str() {
                "taskmaster" => {
                    ctx.on_value();
                    let programs = std::mem::take(&mut top.programs);
                    let alerts = std::mem::take(&mut top.alerts);
                    top = map.next_value_seed(TaskmasterSeed(ctx))?;
                    top.programs = programs;
                    top.alerts = alerts;
                }
                "alerts" => {
                    ctx.on_value();
                    top.alerts = map.next_value_seed(AlertsSeed(ctx))?;
                }
                "programs" => {
                    ctx.on_value();
                    top.programs = map.next_value_seed(ProgramsSeed(ctx))?;
                }
                _ => return Err(unknown_key(&key, TOP_KEYS)),
            }
        }
        ctx.on_key(None, None);
        Ok(top)
    }
}

/// `[taskmaster]`: event log (and its rotation), socket, pidfile, metrics; `programs` and
/// `alerts` left empty.
struct TaskmasterSeed<'c, 'a>(&'c Ctx<'a>);

impl<'de> DeserializeSeed<'de> for TaskmasterSeed<'_, '_> {
    type Value = Top;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TaskmasterSeed<'_, '_> {
    type Value = Top;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a table with logfile, socket, logfile_maxbytes, logfile_backups, pidfile")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(Top::default())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let ctx = self.0;
        let mut top = Top::default();
        let mut seen = Vec::new();
        while let Some(key) = ctx.next_new_key(&mut map, None, &mut seen)? {
            if !TASKMASTER_KEYS.contains(&key.as_str()) {
                return Err(unknown_key(&key, TASKMASTER_KEYS));
            }
            ctx.on_value();
            match key.as_str() {
                "logfile" => top.logfile = Some(map.next_value_seed(LogPathSeed(ctx))?),
                "pidfile" => top.pidfile = Some(map.next_value_seed(LogPathSeed(ctx))?),
                "metrics" => top.metrics = Some(map.next_value::<MetricsAddr>()?.0),
                "logfile_maxbytes" => {
                    top.logfile_rotation.maxbytes = map.next_value::<ByteSize>()?.0
                }
                "logfile_backups" => top.logfile_rotation.backups = map.next_value::<Backups>()?.0,
                "socket" => {
                    top.socket = match map.next_value::<SocketValue>()? {
                        SocketValue::Off => None,
                        SocketValue::Default => Some(PathBuf::from(DEFAULT_SOCKET)),
                        SocketValue::Path(p) => Some(ctx.resolve(&p)),
                    };
                }
                _ => return Err(unknown_key(&key, TASKMASTER_KEYS)),
            }
        }
        ctx.on_key(None, None);
        Ok(top)
    }
}

/// `[programs]`: each entry read by [`ProgramSeed`], its name checked first.
struct ProgramsSeed<'c, 'a>(&'c Ctx<'a>);

impl<'de> DeserializeSeed<'de> for ProgramsSeed<'_, '_> {
    type Value = BTreeMap<String, ProgramConfig>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ProgramsSeed<'_, '_> {
    type Value = BTreeMap<String, ProgramConfig>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a table of programs, one [programs.NAME] each")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(BTreeMap::new())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let ctx = self.0;
        let mut programs = BTreeMap::new();
        while let Some(name) = ctx.next_key(&mut map)? {
            if ctx.skip.program(&name) {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            // From here until the program is read, errors are about this program.
            let span = ctx.at().span;
            ctx.enter_program(Some(&name));
            ctx.on_key(None, span);
            ctx.at.borrow_mut().key_error = true;
            if let Some(why) = bad_program_name(&name) {
                return Err(A::Error::custom(why));
            }
            if programs.contains_key(&name) {
                return Err(A::Error::custom(format!(
                    "the program '{name}' is defined twice"
                )));
            }
            ctx.on_value();
            let program = map.next_value_seed(ProgramSeed { ctx, name: &name })?;
            programs.insert(name, program);
            ctx.enter_program(None);
        }
        ctx.on_key(None, None);
        Ok(programs)
    }
}

fn bad_program_name(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("a program name cannot be empty".into());
    }
    if name == "all" {
        return Some("'all' cannot be a program name: in commands it means every process".into());
    }
    if name.contains(':') {
        return Some(format!(
            "program name '{name}' contains ':', which separates group and process names"
        ));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some(format!(
            "program name {name:?} contains whitespace or control characters"
        ));
    }
    None
}
