//! The full-screen dashboard (ratatui): lifecycle and main loop.

use std::path::Path;

use crate::supervisor::Handle;

/// Runs the dashboard until the user quits (after confirming) or the supervisor ends.
/// Returns after restoring the terminal. Quitting asks the supervisor to shut down.
pub fn run(handle: Handle, config_path: &Path) -> std::io::Result<()> {
    let _ = (handle, config_path);
    todo!()
}
