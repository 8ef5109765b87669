//! taskmaster: a job-control daemon in the family of supervisord.
//!
//! Threads and what they own:
//! - the **supervisor thread** ([`supervisor`]) owns every process and its state; front ends
//!   reach it through a [`supervisor::Handle`] (commands in, replies and snapshots out);
//! - the **I/O thread** ([`output`]) owns every child pipe, log file and tail ring;
//! - the **signal thread** ([`signals`]) turns SIGCHLD/SIGHUP/SIGTERM/SIGINT into messages;
//! - front ends ([`frontend`]): the dashboard, the line shell, the control-socket server and
//!   `taskmaster ctl`, all speaking the one command language of [`command`].
//!
//! Modules: [`config`] (file format, validation, reload diff), [`spawn`] (starting a child,
//! signalling its group), [`logging`] (the event log), [`protocol`] (socket framing),
//! [`notify`] (systemd readiness), [`import`] (supervisord.conf to TOML).

pub mod alerts;
pub mod command;
pub mod config;
pub mod frontend;
pub mod import;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod output;
pub mod protocol;
pub mod signals;
pub mod spawn;
pub mod supervisor;
