//! `umask`: octal, whatever the format's integer rules.

use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, Error, MapAccess, Visitor};

use super::Format;
use super::de::Ctx;

/// `umask` as read, before the octal rules apply.
enum UmaskRaw {
    Int(i128),
    Str(String),
}
struct UmaskVisitor;
deserialize_via!(UmaskRaw, UmaskVisitor, deserialize_any);

impl UmaskVisitor {
    fn int<E: Error>(self, v: i128) -> Result<UmaskRaw, E> {
        Ok(UmaskRaw::Int(v))
    }
}

impl Visitor<'_> for UmaskVisitor {
    type Value = UmaskRaw;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an octal umask like \"022\"")
    }
    int_visits!();
    fn visit_str<E: Error>(self, v: &str) -> Result<UmaskRaw, E> {
        Ok(UmaskRaw::Str(v.to_owned()))
    }
}

/// `umask`, read from the literal as written, since integer rules differ: YAML hands `022`
/// over as a string and `0o22` as 18, TOML rejects `022`. Digits alone are octal; an explicit
/// `0o`/`0x`/`0b` prefix is honoured. In YAML asking for a string yields the scalar's text;
/// in TOML the span of the value points at it.
pub(super) fn read_umask<'de, A: MapAccess<'de>>(map: &mut A, ctx: &Ctx) -> Result<u32, A::Error> {
    match ctx.format {
        Format::Toml => {
            let raw = map.next_value::<toml::Spanned<UmaskRaw>>()?;
            let span = raw.span();
            let literal = match raw.into_inner() {
                UmaskRaw::Str(s) => s,
                UmaskRaw::Int(v) => ctx
                    .text
                    .get(span.clone())
                    .map_or_else(|| v.to_string(), str::to_owned),
            };
            umask_value(&literal).map_err(|message| {
                ctx.on_bad_value(span);
                A::Error::custom(message)
            })
        }
        Format::Yaml => map.next_value::<YamlUmask>().map(|YamlUmask(mask)| mask),
    }
}

/// A YAML scalar's text checked as a umask; checked inside `visit_str` so that the error
/// gets the scalar's position.
struct YamlUmask(u32);
struct YamlUmaskVisitor;
deserialize_via!(YamlUmask, YamlUmaskVisitor, deserialize_str);

impl Visitor<'_> for YamlUmaskVisitor {
    type Value = YamlUmask;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an octal umask like 022")
    }
    fn visit_str<E: Error>(self, v: &str) -> Result<YamlUmask, E> {
        umask_value(v).map(YamlUmask).map_err(E::custom)
    }
}

pub(super) fn umask_value(literal: &str) -> Result<u32, String> {
    let t: String = literal.trim().chars().filter(|c| *c != '_').collect();
    let (digits, radix) = if let Some(r) = t.strip_prefix("0o") {
        (r, 8)
    } else if let Some(r) = t.strip_prefix("0x") {
        (r, 16)
    } else if let Some(r) = t.strip_prefix("0b") {
        (r, 2)
    } else {
        (t.as_str(), 8)
    };
    let valid = !digits.is_empty() && digits.chars().all(|c| c.is_digit(radix));
    match valid
        .then(|| u32::from_str_radix(digits, radix).ok())
        .flatten()
    {
        Some(mask) if mask <= 0o777 => Ok(mask),
        Some(_) => Err(format!("umask {literal} is out of range (000 to 777)")),
        None => Err(format!(
            "umask {literal:?} is not an octal number: write it with digits 0-7, like \"022\""
        )),
    }
}
