//! The one integration-test binary: real processes, real sockets, a real terminal.
//! Each feature's tests live in tests/it/<feature>.rs.

#[path = "it/harness/mod.rs"]
mod harness;

#[path = "it/alerts.rs"]
mod alerts;
#[path = "it/backoff.rs"]
mod backoff;
#[path = "it/cgroup.rs"]
mod cgroup;
#[path = "it/cli.rs"]
mod cli;
#[path = "it/config.rs"]
mod config;
#[path = "it/config_check.rs"]
mod config_check;
#[path = "it/ctl.rs"]
mod ctl;
#[path = "it/ctl_typed.rs"]
mod ctl_typed;
#[path = "it/dashboard.rs"]
mod dashboard;
#[path = "it/depends.rs"]
mod depends;
#[path = "it/edges.rs"]
mod edges;
#[path = "it/event_log.rs"]
mod event_log;
#[path = "it/hangup.rs"]
mod hangup;
#[path = "it/health.rs"]
mod health;
#[path = "it/import.rs"]
mod import;
#[path = "it/lifecycle.rs"]
mod lifecycle;
#[path = "it/log_commands.rs"]
mod log_commands;
#[path = "it/log_files.rs"]
mod log_files;
#[path = "it/logrotate.rs"]
mod logrotate;
#[path = "it/metrics.rs"]
mod metrics;
#[path = "it/notify.rs"]
mod notify;
#[path = "it/orphans.rs"]
mod orphans;
#[path = "it/output_capture.rs"]
mod output_capture;
#[path = "it/pty.rs"]
mod pty;
#[path = "it/pty_dashboard.rs"]
mod pty_dashboard;
#[path = "it/reload.rs"]
mod reload;
#[path = "it/shell.rs"]
mod shell;
#[path = "it/signals.rs"]
mod signals;
#[path = "it/socket.rs"]
mod socket;
#[path = "it/spawn_failures.rs"]
mod spawn_failures;

#[path = "it/chaos_alerts.rs"]
mod chaos_alerts;
#[path = "it/chaos_binary.rs"]
mod chaos_binary;
#[path = "it/chaos_crashloop.rs"]
mod chaos_crashloop;
#[path = "it/chaos_input.rs"]
mod chaos_input;
#[path = "it/chaos_kill.rs"]
mod chaos_kill;
#[path = "it/chaos_output.rs"]
mod chaos_output;
#[path = "it/chaos_procs.rs"]
mod chaos_procs;
#[path = "it/chaos_reload.rs"]
mod chaos_reload;
#[path = "it/chaos_security.rs"]
mod chaos_security;
#[path = "it/scale.rs"]
mod scale;
#[path = "it/updates.rs"]
mod updates;
