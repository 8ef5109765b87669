//! Settings that name places: program paths, `stdout`/`stderr` targets and the socket.
//! Relative paths resolve against the config file's folder.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, Error, Visitor};

use super::OutputTarget;
use super::de::Ctx;
use super::expand;
use super::values::no_nul;

/// A path; relative ones resolve against the config file's folder.
pub(super) struct PathSeed<'c, 'a>(pub &'c Ctx<'a>);

impl<'de> DeserializeSeed<'de> for PathSeed<'_, '_> {
    type Value = PathBuf;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<PathBuf, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for PathSeed<'_, '_> {
    type Value = PathBuf;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a path")
    }
    fn visit_str<E: Error>(self, v: &str) -> Result<PathBuf, E> {
        no_nul("path", v)?;
        if v.is_empty() {
            return Err(E::custom("the path is empty"));
        }
        Ok(self.0.resolve(v))
    }
}

/// `[taskmaster] logfile` and `pidfile`: a path where `%(here)s` is the config's folder.
pub(super) struct LogPathSeed<'c, 'a>(pub &'c Ctx<'a>);

impl<'de> DeserializeSeed<'de> for LogPathSeed<'_, '_> {
    type Value = PathBuf;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<PathBuf, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for LogPathSeed<'_, '_> {
    type Value = PathBuf;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a path")
    }
    fn visit_str<E: Error>(self, v: &str) -> Result<PathBuf, E> {
        let here = self.0.base.to_string_lossy();
        let v = expand::taskmaster_path(v, &here).map_err(E::custom)?;
        PathSeed(self.0).visit_str(&v)
    }
}

/// `stdout`/`stderr`: a file, or `false` to discard. `%(program_name)s` and `%(here)s` are
/// filled in now, `%(process_num)d` at spawn time.
pub(super) struct OutputSeed<'c, 'a>(pub &'c Ctx<'a>);

impl<'de> DeserializeSeed<'de> for OutputSeed<'_, '_> {
    type Value = OutputTarget;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<OutputTarget, D::Error> {
        d.deserialize_any(self)
    }
}

impl Visitor<'_> for OutputSeed<'_, '_> {
    type Value = OutputTarget;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a file path, or false to discard")
    }
    fn visit_bool<E: Error>(self, v: bool) -> Result<OutputTarget, E> {
        if v {
            return Err(E::custom(
                "expected a file path, or false to discard (leave the key out to capture \
                 the output for the dashboard only)",
            ));
        }
        Ok(OutputTarget::Discard)
    }
    fn visit_str<E: Error>(self, v: &str) -> Result<OutputTarget, E> {
        let here = self.0.base.to_string_lossy();
        let program = self.0.at().program.unwrap_or_default();
        let v = expand::program_path(v, &program, &here).map_err(E::custom)?;
        PathSeed(self.0).visit_str(&v).map(OutputTarget::File)
    }
}

/// `socket` in `[taskmaster]`.
pub(super) enum SocketValue {
    Off,
    Default,
    Path(String),
}
struct SocketVisitor;
deserialize_via!(SocketValue, SocketVisitor, deserialize_any);

impl Visitor<'_> for SocketVisitor {
    type Value = SocketValue;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a socket path, or false to disable the control socket")
    }
    fn visit_bool<E: Error>(self, v: bool) -> Result<SocketValue, E> {
        Ok(if v {
            SocketValue::Default
        } else {
            SocketValue::Off
        })
    }
    fn visit_str<E: Error>(self, v: &str) -> Result<SocketValue, E> {
        no_nul("socket path", v)?;
        if v.is_empty() {
            return Err(E::custom(
                "the socket path is empty (use false to disable it)",
            ));
        }
        Ok(SocketValue::Path(v.to_owned()))
    }
}
