//! The event log: `log` records written by fern to the logfile, one line per event with a
//! millisecond timestamp. Never writes to stdout (the dashboard owns the terminal).

use std::path::Path;

/// Sends every `log` record at `info` and above to `path` (appended), and also to stderr when
/// `echo_stderr` (headless mode). Call once, before the supervisor starts.
pub fn init(path: Option<&Path>, echo_stderr: bool) -> Result<(), fern::InitError> {
    let mut dispatch =
        fern::Dispatch::new()
            .level(log::LevelFilter::Info)
            .format(|out, message, record| {
                out.finish(format_args!(
                    "{} {} {}",
                    timestamp(std::time::SystemTime::now()),
                    record.level(),
                    message
                ))
            });
    if let Some(path) = path {
        dispatch = dispatch.chain(fern::log_file(path)?);
    }
    if echo_stderr {
        dispatch = dispatch.chain(std::io::stderr());
    }
    dispatch.apply()?;
    Ok(())
}

/// `2026-11-26 15:12:03.456` in local time.
pub fn timestamp(t: std::time::SystemTime) -> String {
    let d = t
        .duration_since(std::time::SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    // SAFETY: localtime_r only writes into the tm we own; an all-zero tm is a valid value.
    let tm = unsafe {
        let mut tm: nix::libc::tm = std::mem::zeroed();
        let secs = d.as_secs() as nix::libc::time_t;
        nix::libc::localtime_r(&secs, &mut tm);
        tm
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        d.subsec_millis()
    )
}
