//! The one integration-test binary: real processes, real sockets, a real terminal.
//! Each feature's tests live in tests/it/<feature>.rs.

#[path = "it/util.rs"]
mod util;

#[path = "it/lifecycle.rs"]
mod lifecycle;
#[path = "it/output_capture.rs"]
mod output_capture;
#[path = "it/reload.rs"]
mod reload;
#[path = "it/spawn_failures.rs"]
mod spawn_failures;
