//! `env`: extra environment variables for a program.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, Error, MapAccess, Visitor};

use super::de::{Ctx, duplicate_key};
use super::values::no_nul;

/// `env`: names to values; numbers and booleans become their text.
pub(super) struct EnvSeed<'c, 'a>(pub &'c Ctx<'a>);

impl<'de> DeserializeSeed<'de> for EnvSeed<'_, '_> {
    type Value = BTreeMap<String, String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EnvSeed<'_, '_> {
    type Value = BTreeMap<String, String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a table of environment variables, like { NAME = \"value\" }")
    }
    fn visit_unit<E: Error>(self) -> Result<Self::Value, E> {
        Ok(BTreeMap::new())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut env = BTreeMap::new();
        while let Some((name, span)) = self.0.read_key(&mut map)? {
            self.0.on_inner_key(span);
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                return Err(A::Error::custom(format!(
                    "bad environment variable name {name:?} (it must be non-empty, without '=')"
                )));
            }
            if env.contains_key(&name) {
                return Err(duplicate_key(&name));
            }
            self.0.on_value();
            let EnvValue(value) = map.next_value()?;
            env.insert(name, value);
        }
        Ok(env)
    }
}

struct EnvValue(String);
struct EnvValueVisitor;
deserialize_via!(EnvValue, EnvValueVisitor, deserialize_any);

impl Visitor<'_> for EnvValueVisitor {
    type Value = EnvValue;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string, number or boolean")
    }
    fn visit_str<E: Error>(self, v: &str) -> Result<EnvValue, E> {
        no_nul("environment value", v)?;
        Ok(EnvValue(v.to_owned()))
    }
    fn visit_i64<E: Error>(self, v: i64) -> Result<EnvValue, E> {
        Ok(EnvValue(v.to_string()))
    }
    fn visit_u64<E: Error>(self, v: u64) -> Result<EnvValue, E> {
        Ok(EnvValue(v.to_string()))
    }
    fn visit_f64<E: Error>(self, v: f64) -> Result<EnvValue, E> {
        Ok(EnvValue(v.to_string()))
    }
    fn visit_bool<E: Error>(self, v: bool) -> Result<EnvValue, E> {
        Ok(EnvValue(v.to_string()))
    }
}
