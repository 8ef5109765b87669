//! One deserializer per kind of scalar setting. Each checks its value while serde still knows where
//! it is, so a bad value is reported at its own line and column.

use std::fmt;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde::Deserialize;
use serde::de::{Deserializer, Error, SeqAccess, Visitor};

use super::{AutoRestart, Orphans, parse_signal};

pub(super) const MAX_NUMPROCS: u32 = 10_000;
/// A year: longer start or stop times are surely a typo.
const MAX_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

/// `visit_i64`/`visit_u64` forwarding to `self.int(i128)`, so each visitor checks one range.
macro_rules! int_visits {
    () => {
        fn visit_i64<E: Error>(self, v: i64) -> Result<Self::Value, E> {
            self.int(i128::from(v))
        }
        fn visit_u64<E: Error>(self, v: u64) -> Result<Self::Value, E> {
            self.int(i128::from(v))
        }
    };
}

/// Implements `Deserialize` for a visitor type that is its own (unit) seed.
macro_rules! deserialize_via {
    ($ty:ident, $visitor:ident, $method:ident) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.$method($visitor)
            }
        }
    };
}

pub(super) fn no_nul<E: Error>(what: &str, s: &str) -> Result<(), E> {
    if s.contains('\0') {
        return Err(E::custom(format!("the {what} contains a NUL byte")));
    }
    Ok(())
}

/// `cmd`: the line as written and its words.
pub(super) struct Cmd {
    pub line: String,
    pub argv: Vec<String>,
}

struct CmdVisitor;
deserialize_via!(Cmd, CmdVisitor, deserialize_str);

impl Visitor<'_> for CmdVisitor {
    type Value = Cmd;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a command line as a string, like \"/bin/sleep 10\"")
    }
    fn visit_str<E: Error>(self, line: &str) -> Result<Cmd, E> {
        no_nul("command", line)?;
        if line.trim().is_empty() {
            return Err(E::custom("the command is empty"));
        }
        let argv = shell_words::split(line).map_err(|e| {
            E::custom(format!(
                "cannot split the command into words: {e} (check its quotes)"
            ))
        })?;
        match argv.first() {
            Some(first) if !first.is_empty() => Ok(Cmd {
                line: line.to_owned(),
                argv,
            }),
            _ => Err(E::custom("the command's program name is empty")),
        }
    }
}

pub(super) struct NumProcs(pub u32);
struct NumProcsVisitor;
deserialize_via!(NumProcs, NumProcsVisitor, deserialize_any);

impl NumProcsVisitor {
    fn int<E: Error>(self, v: i128) -> Result<NumProcs, E> {
        match u32::try_from(v) {
            Ok(n) if (1..=MAX_NUMPROCS).contains(&n) => Ok(NumProcs(n)),
            _ => Err(E::custom(format!(
                "numprocs must be from 1 to {MAX_NUMPROCS}, not {v}"
            ))),
        }
    }
}

impl Visitor<'_> for NumProcsVisitor {
    type Value = NumProcs;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a whole number of processes from 1 to {MAX_NUMPROCS}")
    }
    int_visits!();
}

/// `startretries`.
pub(super) struct Retries(pub u32);
struct RetriesVisitor;
deserialize_via!(Retries, RetriesVisitor, deserialize_any);

impl RetriesVisitor {
    fn int<E: Error>(self, v: i128) -> Result<Retries, E> {
        u32::try_from(v)
            .map(Retries)
            .map_err(|_| E::custom(format!("must be a count from 0 to {}, not {v}", u32::MAX)))
    }
}

impl Visitor<'_> for RetriesVisitor {
    type Value = Retries;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a whole number of retries, 0 or more")
    }
    int_visits!();
}

/// `starttime`, `stoptime`: seconds, possibly fractional.
pub(super) struct Seconds(pub Duration);
struct SecondsVisitor;
deserialize_via!(Seconds, SecondsVisitor, deserialize_any);

impl SecondsVisitor {
    fn int<E: Error>(self, v: i128) -> Result<Seconds, E> {
        // Exact for every integer that passes the range check.
        self.visit_f64(v as f64)
    }
}

impl Visitor<'_> for SecondsVisitor {
    type Value = Seconds;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number of seconds, like 5 or 0.5")
    }
    int_visits!();
    fn visit_f64<E: Error>(self, v: f64) -> Result<Seconds, E> {
        if !(0.0..=MAX_SECONDS).contains(&v) {
            return Err(E::custom(format!(
                "must be a number of seconds from 0 to {MAX_SECONDS}, not {v}"
            )));
        }
        Duration::try_from_secs_f64(v)
            .map(Seconds)
            .map_err(|e| E::custom(format!("bad number of seconds {v}: {e}")))
    }
}

pub(super) struct StopSignal(pub Signal);
struct SignalVisitor;
deserialize_via!(StopSignal, SignalVisitor, deserialize_any);

impl SignalVisitor {
    fn int<E: Error>(self, v: i128) -> Result<StopSignal, E> {
        i32::try_from(v)
            .ok()
            .and_then(|n| Signal::try_from(n).ok())
            .map(StopSignal)
            .ok_or_else(|| E::custom(format!("unknown signal number {v}")))
    }
}

impl Visitor<'_> for SignalVisitor {
    type Value = StopSignal;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a signal name like TERM, HUP, USR1, or a number")
    }
    int_visits!();
    fn visit_str<E: Error>(self, v: &str) -> Result<StopSignal, E> {
        parse_signal(v).map(StopSignal).ok_or_else(|| {
            E::custom(format!(
                "unknown signal '{v}' (expected a name like TERM, HUP, USR1 or a number)"
            ))
        })
    }
}

/// `autorestart`; `true`/`false` mean always/never, as in supervisor.
pub(super) struct Restart(pub AutoRestart);
struct RestartVisitor;
deserialize_via!(Restart, RestartVisitor, deserialize_any);

impl Visitor<'_> for RestartVisitor {
    type Value = Restart;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("always, never or unexpected")
    }
    fn visit_bool<E: Error>(self, v: bool) -> Result<Restart, E> {
        Ok(Restart(if v {
            AutoRestart::Always
        } else {
            AutoRestart::Never
        }))
    }
    fn visit_str<E: Error>(self, v: &str) -> Result<Restart, E> {
        match v.to_ascii_lowercase().as_str() {
            "always" | "true" => Ok(Restart(AutoRestart::Always)),
            "never" | "false" => Ok(Restart(AutoRestart::Never)),
            "unexpected" => Ok(Restart(AutoRestart::Unexpected)),
            _ => Err(E::custom(format!(
                "unknown value '{v}' (expected always, never or unexpected)"
            ))),
        }
    }
}

/// `orphans`: kill or leave.
pub(super) struct OrphansValue(pub Orphans);
struct OrphansVisitor;
deserialize_via!(OrphansValue, OrphansVisitor, deserialize_any);

impl Visitor<'_> for OrphansVisitor {
    type Value = OrphansValue;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("kill or leave")
    }
    fn visit_str<E: Error>(self, v: &str) -> Result<OrphansValue, E> {
        match v.to_ascii_lowercase().as_str() {
            "kill" => Ok(OrphansValue(Orphans::Kill)),
            "leave" => Ok(OrphansValue(Orphans::Leave)),
            _ => Err(E::custom(format!(
                "unknown value '{v}' (expected kill or leave)"
            ))),
        }
    }
}

/// `memory_max`: cgroup `memory.max` syntax, `max` or bytes with an optional K, M, G or T
/// suffix (powers of 1024), as a string or an integer.
pub(super) struct MemoryMax(pub String);
struct MemoryMaxVisitor;
deserialize_via!(MemoryMax, MemoryMaxVisitor, deserialize_any);

impl Visitor<'_> for MemoryMaxVisitor {
    type Value = MemoryMax;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("\"max\" or a size in bytes like \"512M\" (K, M, G, T: powers of 1024)")
    }
    fn visit_u64<E: Error>(self, v: u64) -> Result<MemoryMax, E> {
        Ok(MemoryMax(v.to_string()))
    }
    fn visit_str<E: Error>(self, v: &str) -> Result<MemoryMax, E> {
        let v = v.trim();
        let digits = v.trim_end_matches(['K', 'M', 'G', 'T', 'k', 'm', 'g', 't']);
        let suffixes = v.len() - digits.len();
        if v == "max"
            || (suffixes <= 1 && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        {
            return Ok(MemoryMax(v.to_string()));
        }
        Err(E::custom(format!(
            "bad memory_max '{v}' (expected \"max\" or bytes like \"512M\", cgroup syntax)"
        )))
    }
}

/// `cpu_max`: cgroup `cpu.max` syntax, `"QUOTA PERIOD"` in microseconds (`QUOTA` may be
/// `max`; `PERIOD` defaults to 100000), like `"50000 100000"` for half a CPU.
pub(super) struct CpuMax(pub String);
struct CpuMaxVisitor;
deserialize_via!(CpuMax, CpuMaxVisitor, deserialize_any);

impl Visitor<'_> for CpuMaxVisitor {
    type Value = CpuMax;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("\"QUOTA PERIOD\" in microseconds, like \"50000 100000\" (cgroup cpu.max)")
    }
    fn visit_str<E: Error>(self, v: &str) -> Result<CpuMax, E> {
        let words: Vec<&str> = v.split_whitespace().collect();
        let number = |w: &str| w.parse::<u64>().is_ok_and(|n| n > 0);
        let ok = match words.as_slice() {
            [quota] => *quota == "max" || number(quota),
            [quota, period] => (*quota == "max" || number(quota)) && number(period),
            _ => false,
        };
        if ok {
            return Ok(CpuMax(words.join(" ")));
        }
        Err(E::custom(format!(
            "bad cpu_max '{v}' (expected \"QUOTA PERIOD\" in microseconds like \"50000 100000\", \
             or \"max\"; cgroup syntax)"
        )))
    }
}

/// `exitcodes`: one code or a list.
pub(super) struct ExitCodes(pub Vec<i32>);
struct ExitCodesVisitor;
deserialize_via!(ExitCodes, ExitCodesVisitor, deserialize_any);
struct ExitCode(i32);
deserialize_via!(ExitCode, ExitCodeVisitor, deserialize_any);

impl ExitCodesVisitor {
    fn code<E: Error>(v: i128) -> Result<i32, E> {
        match u8::try_from(v) {
            Ok(code) => Ok(i32::from(code)),
            Err(_) => Err(E::custom(format!(
                "exit code {v} is out of range (0 to 255)"
            ))),
        }
    }
    fn int<E: Error>(self, v: i128) -> Result<ExitCodes, E> {
        Ok(ExitCodes(vec![Self::code(v)?]))
    }
}

struct ExitCodeVisitor;

impl ExitCodeVisitor {
    fn int<E: Error>(self, v: i128) -> Result<ExitCode, E> {
        ExitCodesVisitor::code(v).map(ExitCode)
    }
}

impl Visitor<'_> for ExitCodeVisitor {
    type Value = ExitCode;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an exit code from 0 to 255")
    }
    int_visits!();
}

impl<'de> Visitor<'de> for ExitCodesVisitor {
    type Value = ExitCodes;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an exit code from 0 to 255, or a list of them")
    }
    int_visits!();
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ExitCodes, A::Error> {
        let mut codes = Vec::new();
        while let Some(ExitCode(code)) = seq.next_element()? {
            codes.push(code);
        }
        Ok(ExitCodes(codes))
    }
}

pub(super) struct User(pub String);
struct UserVisitor;
deserialize_via!(User, UserVisitor, deserialize_str);

impl Visitor<'_> for UserVisitor {
    type Value = User;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a user name")
    }
    fn visit_str<E: Error>(self, v: &str) -> Result<User, E> {
        no_nul("user name", v)?;
        if v.trim().is_empty() {
            return Err(E::custom("the user name is empty"));
        }
        Ok(User(v.to_owned()))
    }
}

/// `*_maxbytes`: bytes, as a number or a string with a KB/MB/GB suffix (supervisor's
/// `byte_size`: powers of 1024, any case). 0 means never rotate.
pub(super) struct ByteSize(pub u64);
struct ByteSizeVisitor;
deserialize_via!(ByteSize, ByteSizeVisitor, deserialize_any);

impl ByteSizeVisitor {
    fn int<E: Error>(self, v: i128) -> Result<ByteSize, E> {
        u64::try_from(v)
            .map(ByteSize)
            .map_err(|_| E::custom(format!("a size cannot be negative or that large: {v}")))
    }
}

impl Visitor<'_> for ByteSizeVisitor {
    type Value = ByteSize;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a size in bytes, like 1048576 or \"50MB\" (KB, MB, GB; 0: never rotate)")
    }
    int_visits!();
    fn visit_str<E: Error>(self, v: &str) -> Result<ByteSize, E> {
        parse_byte_size(v).map(ByteSize).map_err(E::custom)
    }
}

/// `"50MB"` -> 52428800; the error says what was wrong with the text.
pub fn parse_byte_size(text: &str) -> Result<u64, String> {
    let t = text.trim().to_ascii_lowercase();
    let (digits, unit): (&str, u64) = match t.len().checked_sub(2).map(|i| t.split_at(i)) {
        Some((d, "kb")) => (d, 1 << 10),
        Some((d, "mb")) => (d, 1 << 20),
        Some((d, "gb")) => (d, 1 << 30),
        _ => (t.as_str(), 1),
    };
    let digits = digits.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "bad size '{text}' (expected a whole number of bytes, optionally followed by KB, MB \
             or GB, like \"50MB\")"
        ));
    }
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(|| format!("the size '{text}' is too large"))
}

/// The most backups a log file may keep: each rotation renames every kept file.
pub(super) const MAX_BACKUPS: u32 = 1000;

/// `*_backups`.
pub(super) struct Backups(pub u32);
struct BackupsVisitor;
deserialize_via!(Backups, BackupsVisitor, deserialize_any);

impl BackupsVisitor {
    fn int<E: Error>(self, v: i128) -> Result<Backups, E> {
        match u32::try_from(v) {
            Ok(n) if n <= MAX_BACKUPS => Ok(Backups(n)),
            _ => Err(E::custom(format!(
                "backups must be from 0 to {MAX_BACKUPS}, not {v}"
            ))),
        }
    }
}

impl Visitor<'_> for BackupsVisitor {
    type Value = Backups;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a number of backup files from 0 to {MAX_BACKUPS}")
    }
    int_visits!();
}
