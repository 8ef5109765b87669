//! The one integration-test binary: real processes, real sockets, a real terminal.
//! Each feature's tests live in tests/it/<feature>.rs.

#[path = "it/util.rs"]
mod util;

#[path = "it/config.rs"]
mod config;
#[path = "it/ctl.rs"]
mod ctl;
#[path = "it/ctl_util.rs"]
mod ctl_util;
#[path = "it/dashboard.rs"]
mod dashboard;
#[path = "it/lifecycle.rs"]
mod lifecycle;
#[path = "it/output_capture.rs"]
mod output_capture;
#[path = "it/reload.rs"]
mod reload;
#[path = "it/shell.rs"]
mod shell;
#[path = "it/socket.rs"]
mod socket;
#[path = "it/spawn_failures.rs"]
mod spawn_failures;
