//! The command language shared by the dashboard's command bar, the line shell and `ctl`:
//! parse a line, execute it against a [`Handle`], render the reply as supervisorctl would.
//! (Owned by the control-plane work; this is the agreed entry point.)

use crate::supervisor::Handle;

/// The result of one command line, ready to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Text as the shell prints it (may be several lines; may be empty).
    pub text: String,
    /// `ctl`'s exit code: 0 success, 1 error, 3 `status` with a process not RUNNING.
    pub code: i32,
    /// The user asked to leave (`quit`/`exit`) or taskmaster is shutting down.
    pub quit: bool,
}

/// Runs one command line to completion (blocking; front ends that must not block run it on a
/// worker thread). `tail -f` and `attach` are streaming and handled by each front end.
pub fn execute(handle: &Handle, line: &str) -> Outcome {
    let _ = (handle, line);
    todo!()
}
