//! taskmaster: a job-control daemon in the family of supervisord.
//!
//! Threads and what they own:
//! - the **supervisor thread** ([`supervisor`]) owns every process and its state; front ends
//!   reach it through a [`supervisor::Handle`] (commands in, replies and snapshots out);
//! - the **I/O thread** ([`output`]) owns every child pipe, log file and tail ring;
//! - the **checker threads** ([`health`]) run `cmd`/`tcp`/`http` health checks sent by the
//!   supervisor thread and send back how each went;
//! - the **signal thread** ([`signals`]) turns SIGCHLD/SIGHUP/SIGTERM/SIGINT into messages;
//! - front ends ([`frontend`]): the dashboard, the line shell, the control-socket server and
//!   `taskmaster ctl`, all speaking the one command language of [`command`].
//!
//! Modules: [`config`] (file format, validation, reload diff), [`spawn`] (starting a child,
//! signalling its group, its cgroup), [`logging`] (the event log), [`protocol`] (socket framing),
//! [`notify`] (systemd readiness), [`import`] (supervisord.conf to TOML), [`cli`] (the
//! command line: clap definitions, completion scripts, the man page), [`os`] (local time,
//! SIGPIPE and a netlink socket: the libc calls nix lacks; [`os::netlink`], the framing that
//! the tcp checks' socket table and the process events share), [`alerts`]
//! (exec/webhook/syslog delivery on worker threads), [`metrics`] (the Prometheus endpoint's
//! thread).

// `unsafe` only where fork/exec (`spawn::fork`, the cgroup guard's fork in `spawn::cgroup`),
// the terminal (`spawn::pty`) and the few libc calls nix does not wrap (`os`) need it; each of those modules says so, and every block
// carries a `// SAFETY:` comment (enforced by clippy).
#![deny(unsafe_code)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod alerts;
pub mod cli;
pub mod command;
pub mod config;
pub mod frontend;
pub mod health;
pub mod import;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod os;
pub mod output;
pub mod protocol;
pub mod signals;
pub mod spawn;
pub mod supervisor;
