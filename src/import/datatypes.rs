//! supervisor's value types (`supervisor/datatypes.py`), read from the text of a
//! supervisord.conf value and checked as supervisor checks them.

/// `true`/`yes`/`on`/`1` and `false`/`no`/`off`/`0`, any case.
pub fn boolean(v: &str) -> Result<bool, String> {
    match v.to_lowercase().as_str() {
        "yes" | "true" | "on" | "1" => Ok(true),
        "no" | "false" | "off" | "0" => Ok(false),
        _ => Err(format!("not a valid boolean value: {v:?}")),
    }
}

/// Python's `int()`: surrounding blanks allowed.
pub fn integer(v: &str) -> Result<i64, String> {
    v.trim()
        .parse()
        .map_err(|_| format!("not a whole number: {v:?}"))
}

/// `integer` that must not be negative (counts, seconds).
pub fn count(v: &str) -> Result<u64, String> {
    let n = integer(v)?;
    u64::try_from(n).map_err(|_| format!("must not be negative: {v:?}"))
}

/// `autorestart`: a boolean means always/never; `unexpected` as itself.
pub fn auto_restart(v: &str) -> Result<&'static str, String> {
    match v.to_lowercase().as_str() {
        "unexpected" => Ok("unexpected"),
        other => match boolean(other) {
            Ok(true) => Ok("always"),
            Ok(false) => Ok("never"),
            Err(_) => Err(format!(
                "invalid 'autorestart' value {v:?} (expected true, false or unexpected)"
            )),
        },
    }
}

/// `0,2`: exit codes 0..255.
pub fn exit_codes(v: &str) -> Result<Vec<u8>, String> {
    if v.trim().is_empty() {
        return Ok(Vec::new());
    }
    v.split(',')
        .map(|c| {
            c.trim()
                .parse::<u8>()
                .map_err(|_| format!("not a valid list of exit codes: {v:?}"))
        })
        .collect()
}

/// `50MB`, `1024`, `10kb`: checked like supervisor's `byte_size`, then written the way
/// taskmaster reads sizes (a number of bytes, or a string with KB/MB/GB).
pub fn byte_size(v: &str) -> Result<ByteSize, String> {
    let t = v.trim();
    let lower = t.to_lowercase();
    let bad = || format!("not a valid size: {v:?} (expected bytes, or a number with KB, MB or GB)");
    for unit in ["kb", "mb", "gb"] {
        if let Some(n) = lower.strip_suffix(unit) {
            let n: u64 = n.trim().parse().map_err(|_| bad())?;
            return Ok(ByteSize::Unit(format!("{n}{}", unit.to_uppercase())));
        }
    }
    lower.parse().map(ByteSize::Bytes).map_err(|_| bad())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ByteSize {
    Bytes(u64),
    Unit(String),
}

/// `umask`: octal digits, as written (`022`).
pub fn octal(v: &str) -> Result<String, String> {
    let t = v.trim();
    let digits = t.strip_prefix("0o").unwrap_or(t);
    if !digits.is_empty() && digits.len() <= 4 && digits.bytes().all(|b| (b'0'..=b'7').contains(&b))
    {
        let n = u32::from_str_radix(digits, 8).map_err(|_| format!("{v} is not octal"))?;
        if n <= 0o777 {
            return Ok(format!("{n:03o}"));
        }
    }
    Err(format!("{v:?} can not be converted to an octal umask"))
}

/// `stopsignal`: a name with or without SIG, or a number; written as the name.
pub fn signal(v: &str) -> Result<String, String> {
    let sig = crate::config::parse_signal(v)
        .ok_or_else(|| format!("value {v:?} is not a valid signal name"))?;
    Ok(sig.as_str().trim_start_matches("SIG").to_owned())
}

/// `stdout_logfile`/`stderr_logfile`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogFile {
    /// `NONE`/`OFF`: discarded.
    None,
    /// `AUTO`: a file in supervisord's childlogdir.
    Auto,
    Syslog,
    Path(String),
}

pub fn logfile(v: &str) -> LogFile {
    match v.trim().to_lowercase().as_str() {
        "none" | "off" => LogFile::None,
        "auto" => LogFile::Auto,
        "syslog" => LogFile::Syslog,
        _ => LogFile::Path(v.trim().to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_as_supervisor_reads_them() {
        assert_eq!(boolean("TRUE"), Ok(true));
        assert_eq!(boolean("off"), Ok(false));
        assert!(boolean("maybe").is_err());
        assert_eq!(auto_restart("true"), Ok("always"));
        assert_eq!(auto_restart("0"), Ok("never"));
        assert_eq!(auto_restart("Unexpected"), Ok("unexpected"));
        assert!(auto_restart("sometimes").is_err());
        assert_eq!(exit_codes("0, 2"), Ok(vec![0, 2]));
        assert!(exit_codes("0,256").is_err());
        assert_eq!(byte_size("50MB"), Ok(ByteSize::Unit("50MB".into())));
        assert_eq!(byte_size("10kb"), Ok(ByteSize::Unit("10KB".into())));
        assert_eq!(byte_size("0"), Ok(ByteSize::Bytes(0)));
        assert!(byte_size("5TB").is_err());
        assert_eq!(octal("22"), Ok("022".into()));
        assert_eq!(octal("0o027"), Ok("027".into()));
        assert!(octal("8").is_err());
        assert_eq!(signal("sigquit"), Ok("QUIT".into()));
        assert_eq!(signal("9"), Ok("KILL".into()));
        assert!(signal("NOPE").is_err());
        assert_eq!(logfile("NONE"), LogFile::None);
        assert_eq!(
            logfile("/var/log/x.log"),
            LogFile::Path("/var/log/x.log".into())
        );
        assert_eq!(count("-1").ok(), None);
    }
}
