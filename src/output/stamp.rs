//! `timestamps = true`: each line written to a log file starts with the local time in
//! RFC 3339 with milliseconds and offset (`2026-11-27T13:45:01.123+01:00 `). A line that
//! arrives in pieces is stamped once, when it starts: the stamper remembers, per stream,
//! whether the last byte written ended a line. Owned by the I/O thread.

use std::time::{SystemTime, UNIX_EPOCH};

/// Bytes of one stamp, space included.
const STAMP_LEN: usize = "2026-11-27T13:45:01.123+01:00 ".len();

#[derive(Debug)]
pub struct Stamper {
    /// The next byte starts a line.
    at_line_start: bool,
    /// The second the cached prefix is for, and the prefix (`...T13:45:01.`) and offset.
    cached: Option<(i64, String, String)>,
    out: Vec<u8>,
}

impl Default for Stamper {
    fn default() -> Self {
        Stamper {
            at_line_start: true,
            cached: None,
            out: Vec::new(),
        }
    }
}

impl Stamper {
    /// `data` with a stamp at the start of each line it starts; the returned slice lives until
    /// the next call.
    pub fn stamp(&mut self, data: &[u8], now: SystemTime) -> &[u8] {
        let stamp = self.format(now);
        self.out.clear();
        // Room for a stamp per line without counting them first: a line flood of 64-byte
        // lines grows by half.
        self.out.reserve(data.len() + data.len() / 2 + STAMP_LEN);
        let mut start = 0;
        for nl in memchr::memchr_iter(b'\n', data) {
            if self.at_line_start {
                self.out.extend_from_slice(stamp.as_bytes());
            }
            self.out.extend_from_slice(&data[start..=nl]);
            self.at_line_start = true;
            start = nl + 1;
        }
        if start < data.len() {
            if self.at_line_start {
                self.out.extend_from_slice(stamp.as_bytes());
            }
            self.out.extend_from_slice(&data[start..]);
            self.at_line_start = false;
        }
        &self.out
    }

    fn format(&mut self, now: SystemTime) -> String {
        let d = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = d.as_secs() as i64;
        if self.cached.as_ref().is_none_or(|(s, _, _)| *s != secs) {
            let (prefix, offset) = local_parts(secs);
            self.cached = Some((secs, prefix, offset));
        }
        let (_, prefix, offset) = self.cached.as_ref().expect("just filled");
        format!("{prefix}{:03}{offset} ", d.subsec_millis())
    }
}

/// `2026-11-27T13:45:01.` and `+01:00` for a Unix time, in local time.
fn local_parts(secs: i64) -> (String, String) {
    let tm = crate::os::local_tm(secs);
    let off = tm.tm_gmtoff;
    let sign = if off < 0 { '-' } else { '+' };
    let off = off.unsigned_abs();
    (
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.",
            tm.tm_year + 1900,
            tm.tm_mon + 1,
            tm.tm_mday,
            tm.tm_hour,
            tm.tm_min,
            tm.tm_sec
        ),
        format!("{sign}{:02}:{:02}", off / 3600, off % 3600 / 60),
    )
}

/// The stamp for `now`, as written before a line (without the trailing space).
#[cfg(test)]
fn rfc3339_millis(now: SystemTime) -> String {
    let mut s = Stamper::default().format(now);
    s.pop();
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_stamp(s: &str) -> bool {
        let b = s.as_bytes();
        s.len() == STAMP_LEN - 1
            && b[4] == b'-'
            && b[10] == b'T'
            && b[19] == b'.'
            && (b[23] == b'+' || b[23] == b'-')
            && b[26] == b':'
    }

    #[test]
    fn each_line_is_stamped_once_even_in_pieces() {
        let mut s = Stamper::default();
        let now = SystemTime::now();
        let mut out = Vec::new();
        for piece in [&b"one\ntw"[..], b"o\n", b"", b"thr", b"ee\nfour\n"] {
            out.extend_from_slice(s.stamp(piece, now));
        }
        let text = String::from_utf8(out).expect("utf8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        for (line, want) in lines.iter().zip(["one", "two", "three", "four"]) {
            let (stamp, rest) = line.split_once(' ').expect("stamp then text");
            assert!(is_stamp(stamp), "{stamp:?}");
            assert_eq!(rest, want);
        }
    }

    #[test]
    fn stamp_is_local_rfc3339_with_millis() {
        let t = UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123);
        let s = rfc3339_millis(t);
        assert!(is_stamp(&s), "{s}");
        assert_eq!(&s[20..23], "123");
    }
}
