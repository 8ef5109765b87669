//! The event log: `log` records, one line per event with a millisecond timestamp, written to
//! the logfile through a [`LogFile`] (rotated by size, reopened on SIGUSR2 or `reopen`, kept
//! writing through a full disk or a deleted directory), and kept in a small in-memory ring
//! for `maintail` and its followers. Never writes to stdout (the dashboard owns the terminal).
//!
//! This is the one writer of the event log file: whatever produces event lines (the
//! supervisor thread today, an event stream later) goes through `log` and lands here. Any
//! thread may log; the file sits behind one mutex, held for one line at a time.

use std::collections::VecDeque;
use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::config::Rotation;
use crate::output::logfile::{LogFile, Notice};
use crate::output::{Chunk, Stream};

/// Bytes of the event log kept in memory for `maintail`.
const RING_BYTES: usize = 256 * 1024;
/// Lines a `maintail -f` follower may fall behind before it misses some.
const FOLLOW_QUEUE: usize = 1024;

/// Everything behind the event log's mutex.
struct EventLog {
    file: Option<LogFile>,
    ring: VecDeque<u8>,
    followers: Vec<Sender<Chunk>>,
    /// Where notices about the file itself go (the supervisor shows them to front ends).
    notices: Option<Sender<Notice>>,
    echo_stderr: bool,
}

static EVENT_LOG: OnceLock<Mutex<EventLog>> = OnceLock::new();

fn event_log() -> Option<MutexGuard<'static, EventLog>> {
    EVENT_LOG
        .get()
        .map(|m| m.lock().unwrap_or_else(|e| e.into_inner()))
}

impl EventLog {
    fn write_line(&mut self, line: &str) {
        let now = Instant::now();
        if let Some(file) = &mut self.file
            && let Some(notice) = file.write(line.as_bytes(), now)
        {
            self.notify(notice);
        }
        if self.echo_stderr {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
        self.ring.extend(line.as_bytes());
        let excess = self.ring.len().saturating_sub(RING_BYTES);
        self.ring.drain(..excess);
        if self.followers.is_empty() {
            return;
        }
        let chunk = Chunk {
            stream: Stream::Stdout,
            data: line.as_bytes().into(),
        };
        self.followers.retain(|f| {
            !matches!(
                f.try_send(chunk.clone()),
                Err(TrySendError::Disconnected(_))
            )
        });
    }

    fn notify(&self, notice: Notice) {
        match &self.notices {
            Some(tx) => {
                let _ = tx.send(notice);
            }
            None => {
                let _ = writeln!(std::io::stderr(), "taskmaster: {}", notice.text);
            }
        }
    }
}

/// Sends every `log` record at `info` and above to `path` (appended, rotated per `rotation`),
/// and also to stderr when `echo_stderr` (headless mode). Call once, before the supervisor
/// starts.
pub fn init(
    path: Option<&Path>,
    rotation: Rotation,
    echo_stderr: bool,
) -> Result<(), fern::InitError> {
    let file = match path {
        Some(p) => Some(LogFile::open(
            p.to_path_buf(),
            "the event log".into(),
            rotation,
        )?),
        None => None,
    };
    let state = EventLog {
        file,
        ring: VecDeque::new(),
        followers: Vec::new(),
        notices: None,
        echo_stderr,
    };
    if EVENT_LOG.set(Mutex::new(state)).is_err() {
        return Err(fern::InitError::Io(std::io::Error::other(
            "the event log is already set up",
        )));
    }
    fern::Dispatch::new()
        .level(log::LevelFilter::Info)
        .format(|out, message, record| {
            out.finish(format_args!(
                "{} {} {}",
                timestamp(std::time::SystemTime::now()),
                record.level(),
                message
            ))
        })
        .chain(fern::Output::call(|record| {
            // One record is one whole line: a rotation never splits it.
            let line = format!("{}\n", record.args());
            if let Some(mut log) = event_log() {
                log.write_line(&line);
            }
        }))
        .apply()?;
    Ok(())
}

/// Where problems with the event log file go from now on (instead of stderr).
pub fn set_notices(tx: Sender<Notice>) {
    if let Some(mut log) = event_log() {
        log.notices = Some(tx);
    }
}

/// Closes and reopens the event log file (SIGUSR2, `reopen`). `Ok(false)`: there is none.
pub fn reopen() -> Result<bool, String> {
    let Some(mut log) = event_log() else {
        return Ok(false);
    };
    let Some(file) = log.file.as_mut() else {
        return Ok(false);
    };
    let notice = file.reopen(Instant::now())?;
    if let Some(n) = notice {
        log.notify(n);
    }
    Ok(true)
}

/// Rotates the event log file now (`rotate`). `Ok(false)`: there is none.
pub fn rotate() -> Result<bool, String> {
    let Some(mut log) = event_log() else {
        return Ok(false);
    };
    let Some(file) = log.file.as_mut() else {
        return Ok(false);
    };
    file.rotate()
        .map(|()| true)
        .map_err(|e| format!("cannot rotate {}: {e}", file.path().display()))
}

/// New rotation settings for the event log (reload).
pub fn set_rotation(rotation: Rotation) {
    if let Some(mut log) = event_log()
        && let Some(file) = log.file.as_mut()
    {
        file.set_rotation(rotation);
    }
}

/// The last `bytes` of the event log (whole lines when it can), as `maintail` shows it.
pub fn tail(bytes: usize) -> String {
    event_log().map_or_else(String::new, |log| tail_of(&log, bytes))
}

fn tail_of(log: &EventLog, bytes: usize) -> String {
    let skip = log.ring.len().saturating_sub(bytes);
    let mut data: Vec<u8> = log.ring.iter().skip(skip).copied().collect();
    // Start at a line when the cut fell inside one (and the tail holds more than that).
    if skip > 0
        && log.ring.get(skip - 1) != Some(&b'\n')
        && let Some(nl) = data.iter().position(|&b| b == b'\n')
        && nl + 1 < data.len()
    {
        data.drain(..=nl);
    }
    String::from_utf8_lossy(&data).into_owned()
}

/// The last `bytes` of the event log and its new lines from then on (`maintail -f`), as
/// stdout chunks, taken under one lock so no line is missed or shown twice; `None` when there
/// is no event log in this process. A follower that falls far behind misses lines.
pub fn tail_and_follow(bytes: usize) -> Option<(String, Receiver<Chunk>)> {
    let mut log = event_log()?;
    let (tx, rx) = crossbeam_channel::bounded(FOLLOW_QUEUE);
    log.followers.push(tx);
    Some((tail_of(&log, bytes), rx))
}

/// `2026-11-26 15:12:03.456` in local time.
pub fn timestamp(t: std::time::SystemTime) -> String {
    local_time(t, ' ').0
}

/// `2026-11-26{sep}15:12:03.456` in local time, and that time's offset from UTC in seconds
/// (the event log's stamps and the events' RFC 3339 times read the same clock alike).
pub fn local_time(t: std::time::SystemTime, sep: char) -> (String, nix::libc::c_long) {
    let d = t
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let tm = crate::os::local_tm(d.as_secs() as i64);
    let text = format!(
        "{:04}-{:02}-{:02}{sep}{:02}:{:02}:{:02}.{:03}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        d.subsec_millis()
    );
    (text, tm.tm_gmtoff)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_stamp_is_local_date_time_and_millis_as_the_events_time_is() {
        let t = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_234);
        let stamp = timestamp(t);
        assert_eq!(stamp.len(), "1970-01-01 00:00:01.234".len(), "{stamp}");
        assert_eq!(stamp.as_bytes()[10], b' ', "date and time apart: {stamp}");
        assert!(stamp.ends_with(".234"), "{stamp}");
        let event = crate::supervisor::events::rfc3339(t);
        assert_eq!(
            event.get(..stamp.len()),
            Some(stamp.replacen(' ', "T", 1).as_str()),
            "the same local time in both: {stamp} / {event}"
        );
    }
}
