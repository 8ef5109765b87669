//! Front ends: the dashboard ([`tui`]), the line shell, the control-socket server and the
//! `ctl` client. Each is a client of the supervisor thread through a `Handle`.

pub mod attach_raw;
pub mod ctl;
pub mod shell;
pub mod socket;
pub mod tty;
pub mod tui;
