//! One log file that can run for months: appended to, rotated by size (supervisor's
//! `RotatingFileHandler`: `f.9 -> f.10 ... f -> f.1`, a new `f`; renames, never copies),
//! reopened for an external logrotate, truncated by `clear`, and kept writing through
//! failures: a write that fails (disk full, directory deleted) drops the bytes for the file
//! only, reports once, and is retried every [`RETRY`] until the file can be written again.
//!
//! Owned by one thread at a time: the I/O thread for program logs, the event log's mutex for
//! the event log. Methods return a notice line for the event log instead of logging, so the
//! event log can use this type without logging into itself. A [`Notice`] says by its type,
//! not its words, whether the file failed or came back: front ends show failures as errors.

use std::fs::File;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::config::Rotation;

/// How often a failed file is tried again, and how often an open file's path is checked to
/// still name it (a deleted directory, a file moved away by logrotate).
pub const RETRY: Duration = Duration::from_secs(1);

/// How far back from the size limit a line end is looked for.
const LINE_SEARCH: usize = 64 * 1024;

/// A line for the event log about a log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The file cannot be written or rotated (false: it is written again).
    pub failed: bool,
    pub text: String,
}

impl Notice {
    pub fn failed(text: String) -> Notice {
        Notice { failed: true, text }
    }

    pub fn resumed(text: String) -> Notice {
        Notice {
            failed: false,
            text,
        }
    }
}

/// Why the file is not being written, since when bytes are lost.
#[derive(Debug)]
struct Broken {
    retry_at: Instant,
    lost: u64,
}

#[derive(Debug)]
pub struct LogFile {
    path: PathBuf,
    /// Names the file in notices: `web's stdout log`, `the event log`.
    label: String,
    file: Option<File>,
    /// Bytes in the file now (we are its only writer).
    size: u64,
    /// Bytes after the file's last line end, when it has one we wrote (`None`: no line end
    /// known, as in an empty or adopted file).
    tail: Option<u64>,
    /// (device, inode) of the open file, to notice when its path names another file.
    id: Option<(u64, u64)>,
    rotation: Rotation,
    /// Backups known to exist (`f.1` .. `f.kept`); probed before the first rotation.
    kept: Option<u32>,
    broken: Option<Broken>,
    checked_at: Option<Instant>,
    /// A rotation failed and was reported; the next failure is not reported again.
    rotate_failed: bool,
}

/// Opens a log file for appending, creating it with mode 0666 less the umask; close-on-exec.
pub fn open_append(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o666)
        .custom_flags(nix::libc::O_CLOEXEC)
        .open(path)
}

/// `path.N`.
fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// A rename where a missing source is no error (someone removed a backup or the log).
fn rename_if_there(from: &Path, to: &Path) -> std::io::Result<()> {
    match std::fs::rename(from, to) {
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// How many consecutive backups `f.1`, `f.2`, ... exist, up to `max`.
fn count_backups(path: &Path, max: u32) -> u32 {
    (1..=max)
        .take_while(|&n| numbered(path, n).exists())
        .count() as u32
}

/// Renames `f.(k) -> f.(k+1)` ... `f -> f.1` for a file not open here (a stopped process's
/// log): the same rotation, without a new file.
pub fn rotate_closed(path: &Path, rotation: Rotation) -> std::io::Result<()> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
        Ok(m) if m.len() == 0 => return Ok(()),
        Ok(_) => {}
    }
    if rotation.backups == 0 {
        return truncate_closed(path);
    }
    shift_backups(
        path,
        rotation.backups,
        count_backups(path, rotation.backups),
    )
}

/// Empties a log file not open here, if it exists.
pub fn truncate_closed(path: &Path) -> std::io::Result<()> {
    match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(f) => f.set_len(0),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// The rename chain, oldest first so nothing is overwritten but the oldest backup.
fn shift_backups(path: &Path, backups: u32, kept: u32) -> std::io::Result<()> {
    for n in (1..=kept.min(backups - 1)).rev() {
        rename_if_there(&numbered(path, n), &numbered(path, n + 1))?;
    }
    rename_if_there(path, &numbered(path, 1))
}

fn identity(file: &File) -> Option<(u64, u64)> {
    file.metadata().ok().map(|m| (m.dev(), m.ino()))
}

impl LogFile {
    /// Takes over a file already opened for appending at `path`.
    pub fn adopt(path: PathBuf, label: String, file: File, rotation: Rotation) -> LogFile {
        let meta = file.metadata().ok();
        LogFile {
            size: meta.as_ref().map_or(0, |m| m.len()),
            tail: None,
            id: meta.map(|m| (m.dev(), m.ino())),
            path,
            label,
            file: Some(file),
            rotation,
            kept: None,
            broken: None,
            checked_at: None,
            rotate_failed: false,
        }
    }

    /// Opens `path` for appending.
    pub fn open(path: PathBuf, label: String, rotation: Rotation) -> std::io::Result<LogFile> {
        let file = open_append(&path)?;
        Ok(LogFile::adopt(path, label, file, rotation))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn set_rotation(&mut self, rotation: Rotation) {
        self.rotation = rotation;
    }

    /// True while the file cannot be written.
    pub fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// Appends `data`, rotating whenever the file reaches `maxbytes` (at a line end when the
    /// part that fits has one). Returns a notice for the event log when the file fails or
    /// comes back.
    pub fn write(&mut self, data: &[u8], now: Instant) -> Option<Notice> {
        if let Some(b) = &mut self.broken {
            if now < b.retry_at {
                b.lost += data.len() as u64;
                return None;
            }
            if self.reopen_file().is_err() {
                let b = self.broken.as_mut().expect("checked above");
                b.retry_at = now + RETRY;
                b.lost += data.len() as u64;
                return None;
            }
        } else if self.checked_at.is_none_or(|t| now >= t + RETRY) {
            self.checked_at = Some(now);
            if self.moved_away() {
                // Deleted, or moved away by logrotate: write where the path points now.
                if let Err(e) = self.reopen_file() {
                    return self.fail(&e, data.len() as u64, now);
                }
            }
        }
        let mut notice = None;
        let result = self.write_rotating(data, &mut notice);
        match result {
            Ok(()) => match self.broken.take() {
                Some(b) => Some(self.resumed(b.lost)),
                None => notice,
            },
            Err((e, unwritten)) => self.fail(&e, unwritten, now).or(notice),
        }
    }

    fn resumed(&self, lost: u64) -> Notice {
        Notice::resumed(format!(
            "log resumed: {} {}: writing again ({lost} bytes could not be written meanwhile)",
            self.label,
            self.path.display(),
        ))
    }

    /// Marks the file failed; the notice only on the first failure of a series.
    fn fail(&mut self, e: &std::io::Error, lost: u64, now: Instant) -> Option<Notice> {
        self.file = None;
        self.id = None;
        match &mut self.broken {
            Some(b) => {
                b.retry_at = now + RETRY;
                b.lost += lost;
                None
            }
            None => {
                self.broken = Some(Broken {
                    retry_at: now + RETRY,
                    lost,
                });
                Some(Notice::failed(format!(
                    "log error: {} {}: cannot write: {e}; output is still captured in memory, retrying \
                     every second",
                    self.label,
                    self.path.display()
                )))
            }
        }
    }

    /// Whether the path no longer names the open file.
    fn moved_away(&self) -> bool {
        let Some(id) = self.id else {
            return false;
        };
        match std::fs::metadata(&self.path) {
            Ok(m) => (m.dev(), m.ino()) != id,
            Err(_) => true,
        }
    }

    fn write_rotating(
        &mut self,
        mut data: &[u8],
        notice: &mut Option<Notice>,
    ) -> Result<(), (std::io::Error, u64)> {
        let max = self.rotation.maxbytes;
        // A file that reached the size rotates when more comes, so the last write never
        // leaves an empty file behind, and no rename follows it.
        let mut full = max > 0 && self.size >= max;
        while !data.is_empty() {
            if full && let Err(e) = self.rotate() {
                self.rotate_failed(&e, notice);
                if self.file.is_none() {
                    return Err((e, data.len() as u64));
                }
                return self.append(data);
            }
            let room = max.saturating_sub(self.size);
            let len = data.len() as u64;
            // A write that fills the file exactly is cut too unless it ends a line: the
            // I/O thread reads up to 1 MiB at once, so with `maxbytes = "1MB"` one read can
            // fill a fresh file to the byte, inside a line.
            if max == 0 || len < room || (len == room && data.last() == Some(&b'\n')) {
                return self.append(data);
            }
            // This write fills the file: end it at the last line end that fits, if one is
            // near enough (a line longer than that is cut at the size anyway).
            let room = room as usize;
            let from = room.saturating_sub(LINE_SEARCH);
            let cut = memchr::memrchr(b'\n', &data[from..room]).map(|i| from + i + 1);
            if cut.is_none()
                && let Some(line) = self.take_partial_line()
            {
                // None fits, but the file had a line end near its size: it ends there, and the
                // line begun after it opens the next file.
                let lost = |(e, n): (std::io::Error, u64)| (e, n + data.len() as u64);
                if let Err(e) = self.rotate() {
                    self.rotate_failed(&e, notice);
                    if self.file.is_none() {
                        return Err((e, (line.len() + data.len()) as u64));
                    }
                    self.append(&line).map_err(lost)?;
                    return self.append(data);
                }
                self.append(&line).map_err(lost)?;
                full = false;
                continue;
            }
            let cut = cut.unwrap_or(room);
            self.append(&data[..cut])?;
            data = &data[cut..];
            full = true;
        }
        Ok(())
    }

    fn rotate_failed(&mut self, e: &std::io::Error, notice: &mut Option<Notice>) {
        if !self.rotate_failed {
            self.rotate_failed = true;
            *notice = Some(Notice::failed(format!(
                "log error: {} {}: cannot rotate: {e}; the file keeps growing",
                self.label,
                self.path.display()
            )));
        }
    }

    /// Cuts the bytes after the file's last line end off the file and returns them, when
    /// there are few enough (`LINE_SEARCH`); `None` leaves the file as it was.
    fn take_partial_line(&mut self) -> Option<Vec<u8>> {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::FileExt;
        let tail = self.tail.filter(|&t| t <= LINE_SEARCH as u64)?;
        let file = self.file.as_ref()?;
        // The file is open for appending only: read it through a second, read-only open of
        // the same file (its path may name another file by now).
        let reader = File::open(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()?;
        let mut line = vec![0; tail as usize];
        let at = self.size.checked_sub(tail)?;
        reader.read_exact_at(&mut line, at).ok()?;
        file.set_len(at).ok()?;
        self.size = at;
        self.tail = Some(0);
        Some(line)
    }

    fn append(&mut self, mut data: &[u8]) -> Result<(), (std::io::Error, u64)> {
        let Some(file) = self.file.as_mut() else {
            let e = std::io::Error::new(ErrorKind::NotFound, "the file is not open");
            return Err((e, data.len() as u64));
        };
        while !data.is_empty() {
            match file.write(data) {
                Ok(0) => {
                    let e = std::io::Error::new(ErrorKind::WriteZero, "wrote nothing");
                    return Err((e, data.len() as u64));
                }
                Ok(n) => {
                    self.size += n as u64;
                    self.tail = match memchr::memrchr(b'\n', &data[..n]) {
                        Some(i) => Some((n - i - 1) as u64),
                        None => self.tail.map(|t| t + n as u64),
                    };
                    data = &data[n..];
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err((e, data.len() as u64)),
            }
        }
        Ok(())
    }

    /// Rotates now: renames (or truncates when `backups` is 0) and opens a new file.
    pub fn rotate(&mut self) -> std::io::Result<()> {
        if self.rotation.backups == 0 {
            if let Some(f) = &self.file {
                f.set_len(0)?;
            }
            self.size = 0;
            self.tail = None;
            return Ok(());
        }
        let backups = self.rotation.backups;
        let kept = *self
            .kept
            .get_or_insert_with(|| count_backups(&self.path, backups));
        shift_backups(&self.path, backups, kept)?;
        self.reopen_file()?;
        // After the reopen, which forgets what it knew of the backups.
        self.kept = Some((kept + 1).min(backups));
        self.rotate_failed = false;
        Ok(())
    }

    /// Closes and reopens the path (SIGUSR2, `reopen`); a failure leaves the file broken and
    /// retried like a failed write.
    pub fn reopen(&mut self, now: Instant) -> Result<Option<Notice>, String> {
        match self.reopen_file() {
            Ok(()) => Ok(self.broken.take().map(|b| self.resumed(b.lost))),
            Err(e) => {
                let msg = format!("cannot reopen {}: {e}", self.path.display());
                self.fail(&e, 0, now);
                Err(msg)
            }
        }
    }

    fn reopen_file(&mut self) -> std::io::Result<()> {
        self.file = None;
        let file = open_append(&self.path)?;
        let meta = file.metadata()?;
        self.size = meta.len();
        self.tail = None;
        self.id = Some((meta.dev(), meta.ino()));
        self.file = Some(file);
        self.kept = None;
        Ok(())
    }

    /// Empties the file (`clear`).
    pub fn truncate(&mut self) -> std::io::Result<()> {
        if let Some(f) = &self.file {
            f.set_len(0)?;
            self.size = 0;
            self.tail = None;
            return Ok(());
        }
        truncate_closed(&self.path)
    }

    pub fn flush(&mut self) {
        if let Some(f) = &mut self.file {
            let _ = f.flush();
        }
    }

    /// The identity of the open file, for tests and diagnostics.
    pub fn identity(&self) -> Option<(u64, u64)> {
        self.file.as_ref().and_then(identity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rot(maxbytes: u64, backups: u32) -> Rotation {
        Rotation { maxbytes, backups }
    }

    fn read(p: &Path) -> Vec<u8> {
        std::fs::read(p).unwrap_or_default()
    }

    /// Kept files, oldest first, concatenated.
    fn kept(path: &Path, backups: u32) -> Vec<u8> {
        let mut all = Vec::new();
        for n in (1..=backups).rev() {
            all.extend(read(&numbered(path, n)));
        }
        all.extend(read(path));
        all
    }

    #[test]
    fn rotation_keeps_exactly_the_end_of_the_stream() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("w.log");
        let mut f = LogFile::open(path.clone(), "w".into(), rot(100, 3)).expect("open");
        let mut stream = Vec::new();
        let now = Instant::now();
        for i in 0..200u32 {
            let chunk = format!("line {i} {}\n", "x".repeat((i % 37) as usize));
            let chunk = if i % 5 == 0 {
                chunk.replace('\n', "")
            } else {
                chunk
            };
            stream.extend_from_slice(chunk.as_bytes());
            assert_eq!(f.write(chunk.as_bytes(), now), None);
        }
        let all = kept(&path, 3);
        assert!(
            stream.ends_with(&all),
            "kept files are the end of the stream"
        );
        // Three backups over 50 bytes each (lines of up to 46 bytes end them), and the file.
        assert!(all.len() > 200, "four files kept: {}", all.len());
        for n in 1..=3 {
            let len = read(&numbered(&path, n)).len();
            assert!(len <= 100 && len > 50, "backup {n} has {len} bytes");
        }
        assert!(!numbered(&path, 4).exists());
    }

    #[test]
    fn a_file_ends_at_a_line_end_when_one_fits() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("w.log");
        let mut f = LogFile::open(path.clone(), "w".into(), rot(10, 5)).expect("open");
        f.write(b"abc\ndef\nghijklmnop\n", Instant::now());
        assert_eq!(read(&numbered(&path, 2)), b"abc\ndef\n");
        // A line longer than the file may be is cut at the size.
        assert_eq!(read(&numbered(&path, 1)), b"ghijklmnop");
        assert_eq!(read(&path), b"\n");
    }

    #[test]
    fn a_line_begun_near_the_size_moves_whole_to_the_next_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p.log");
        let mut f = LogFile::open(path.clone(), "p".into(), rot(10, 5)).expect("open");
        f.write(b"abc\ndef", Instant::now());
        // No line end among the 2 bytes that fit: the file ends at its own last one.
        f.write(b"ghijk\n", Instant::now());
        assert_eq!(read(&numbered(&path, 1)), b"abc\n");
        assert_eq!(read(&path), b"defghijk\n");
        // A file ending at a line end rotates before a line that would not fit.
        f.write(b"x\n", Instant::now());
        assert_eq!(read(&numbered(&path, 1)), b"defghijk\n");
        assert_eq!(read(&path), b"x\n");
        assert_eq!(kept(&path, 5), b"abc\ndefghijk\nx\n");
    }

    #[test]
    fn a_write_filling_the_file_exactly_inside_a_line_is_cut_at_its_last_line_end() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("w.log");
        let mut f = LogFile::open(path.clone(), "w".into(), rot(10, 5)).expect("open");
        f.write(b"abc\ndefghi", Instant::now());
        f.write(b"jk\n", Instant::now());
        assert_eq!(read(&numbered(&path, 1)), b"abc\n");
        assert_eq!(read(&path), b"defghijk\n");
        // Filling it exactly at a line end needs no cut.
        let other = dir.path().join("x.log");
        let mut f = LogFile::open(other.clone(), "x".into(), rot(10, 5)).expect("open");
        f.write(b"abcdefghi\n", Instant::now());
        assert_eq!(read(&other), b"abcdefghi\n");
        assert!(!numbered(&other, 1).exists());
    }

    #[test]
    fn zero_backups_truncate_and_zero_maxbytes_never_rotates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("w.log");
        let mut f = LogFile::open(path.clone(), "w".into(), rot(10, 0)).expect("open");
        f.write(b"0123456789abc", Instant::now());
        assert_eq!(read(&path), b"abc");
        assert!(!numbered(&path, 1).exists());
        let mut f = LogFile::open(path.clone(), "w".into(), rot(0, 3)).expect("open");
        f.write(&[b'x'; 10_000], Instant::now());
        assert_eq!(read(&path).len(), 10_003);
        assert!(!numbered(&path, 1).exists());
    }

    #[test]
    fn an_existing_big_file_rotates_before_the_next_write() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("w.log");
        std::fs::write(&path, [b'o'; 50]).expect("write");
        let mut f = LogFile::open(path.clone(), "w".into(), rot(10, 2)).expect("open");
        f.write(b"new\n", Instant::now());
        assert_eq!(read(&numbered(&path, 1)).len(), 50);
        assert_eq!(read(&path), b"new\n");
    }

    #[test]
    fn a_deleted_file_is_recreated_within_a_second() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("w.log");
        let mut f = LogFile::open(path.clone(), "w".into(), rot(0, 0)).expect("open");
        let t0 = Instant::now();
        f.write(b"one\n", t0);
        std::fs::remove_file(&path).expect("rm");
        f.write(b"lost\n", t0);
        f.write(b"two\n", t0 + RETRY);
        assert_eq!(read(&path), b"two\n");
    }

    #[test]
    fn a_failing_file_reports_once_and_resumes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sub = dir.path().join("logs");
        std::fs::create_dir(&sub).expect("mkdir");
        let path = sub.join("w.log");
        let mut f =
            LogFile::open(path.clone(), "web's stdout log".into(), rot(0, 0)).expect("open");
        let t0 = Instant::now();
        std::fs::remove_dir_all(&sub).expect("rm -r");
        let first = f.write(b"a\n", t0 + RETRY);
        assert!(
            first
                .as_ref()
                .is_some_and(|n| n.failed && n.text.contains("cannot write")),
            "{first:?}"
        );
        assert_eq!(f.write(b"b\n", t0 + RETRY * 2), None, "reported once");
        std::fs::create_dir(&sub).expect("mkdir again");
        assert_eq!(f.write(b"c\n", t0 + RETRY * 2), None, "not retried yet");
        let back = f.write(b"d\n", t0 + RETRY * 3);
        assert!(
            back.as_ref()
                .is_some_and(|n| !n.failed && n.text.contains("writing again")),
            "{back:?}"
        );
        assert_eq!(read(&path), b"d\n");
    }
}
