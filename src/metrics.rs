//! `[taskmaster] metrics = "ADDR:PORT"`: `/metrics` in the Prometheus text format, served by a
//! thread of its own from the latest published snapshot and the event and alert counters.
//! A scrape never waits for the supervisor thread.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, SystemTime};

use crate::supervisor::events::{EventCounts, EventKind};
use crate::supervisor::{Handle, Snapshot, StateName};

/// A client gets this long to send its request and read the answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);

/// Binds `addr` (before any program starts, so a taken port is a clean start-up error that
/// says which address and why).
pub fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .map_err(|e| format!("cannot serve metrics on {addr}: {e} (change [taskmaster] metrics)"))
}

/// Serves `/metrics` on a thread of its own until the process ends.
pub fn start(listener: TcpListener, handle: Handle) -> Result<(), String> {
    std::thread::Builder::new()
        .name("taskmaster-metrics".into())
        .spawn(move || serve(listener, handle))
        .map(drop)
        .map_err(|e| format!("cannot start the metrics thread: {e}"))
}

fn serve(listener: TcpListener, handle: Handle) {
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        // One at a time: a scrape is a few milliseconds; a stalled client is cut at the timeout.
        if let Err(e) = answer(conn, &handle) {
            log::debug!("metrics client: {e}");
        }
    }
}

fn answer(conn: TcpStream, handle: &Handle) -> std::io::Result<()> {
    conn.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    conn.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let mut reader = BufReader::new(conn.try_clone()?.take(16 * 1024));
    let mut request = String::new();
    reader.read_line(&mut request)?;
    // The headers are read (and ignored) so the client is not cut off mid-request.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let mut words = request.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (status, ctype, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            render(&Inputs::of(handle)),
        ),
        ("GET" | "HEAD", _) => (
            "404 Not Found",
            "text/plain",
            "taskmaster serves /metrics only\n".to_string(),
        ),
        _ => ("405 Method Not Allowed", "text/plain", String::new()),
    };
    let mut out = conn;
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    if method != "HEAD" {
        out.write_all(body.as_bytes())?;
    }
    out.flush()
}

/// What one scrape shows.
pub struct Inputs {
    pub snapshot: std::sync::Arc<Snapshot>,
    /// Per process: bytes read from stdout, stderr.
    pub log_bytes: Vec<(u64, u64)>,
    /// Per alert: sent, failed, dropped.
    pub alerts: Vec<(String, (u64, u64, u64))>,
    pub reloads_ok: u64,
    pub reloads_failed: u64,
    /// Events emitted per kind (only kinds seen at least once).
    pub events: Vec<(EventKind, u64)>,
}

impl Inputs {
    pub fn of(handle: &Handle) -> Inputs {
        let snapshot = handle.snapshot();
        let log_bytes = snapshot
            .processes
            .iter()
            .map(|p| handle.output().bytes_read(&p.name))
            .collect();
        let counts: &EventCounts = handle.event_counts();
        Inputs {
            log_bytes,
            alerts: handle.alert_counters(),
            reloads_ok: counts.get(EventKind::Reload),
            reloads_failed: counts.get(EventKind::ReloadFailed),
            events: EventKind::ALL
                .into_iter()
                .map(|k| (k, counts.get(k)))
                .filter(|(_, n)| *n > 0)
                .collect(),
            snapshot,
        }
    }
}

/// Label values escaped as the text format wants.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn secs(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The whole exposition.
pub fn render(i: &Inputs) -> String {
    let mut out = String::with_capacity(256 + i.snapshot.processes.len() * 900);
    let procs = &i.snapshot.processes;
    let id = |p: &crate::supervisor::ProcessInfo| {
        format!(
            "process=\"{}\",program=\"{}\"",
            esc(&p.name),
            esc(&p.program)
        )
    };
    header(
        &mut out,
        "taskmaster_process_state",
        "gauge",
        "1 for the state the process is in, 0 for the others.",
    );
    for p in procs {
        for s in StateName::ALL {
            let v = u8::from(p.state == s);
            let _ = writeln!(
                out,
                "taskmaster_process_state{{{},state=\"{s}\"}} {v}",
                id(p)
            );
        }
    }
    header(
        &mut out,
        "taskmaster_process_up",
        "gauge",
        "1 when the process is RUNNING.",
    );
    for p in procs {
        let _ = writeln!(
            out,
            "taskmaster_process_up{{{}}} {}",
            id(p),
            u8::from(p.state == StateName::Running)
        );
    }
    header(
        &mut out,
        "taskmaster_process_start_time_seconds",
        "gauge",
        "When the current or last child was spawned (Unix time).",
    );
    for p in procs {
        if let Some(t) = p.started_at {
            let _ = writeln!(
                out,
                "taskmaster_process_start_time_seconds{{{}}} {:.3}",
                id(p),
                secs(t)
            );
        }
    }
    header(
        &mut out,
        "taskmaster_process_restarts_total",
        "counter",
        "Restarts by policy or by a user since the program was loaded.",
    );
    for p in procs {
        let _ = writeln!(
            out,
            "taskmaster_process_restarts_total{{{}}} {}",
            id(p),
            p.restarts
        );
    }
    header(
        &mut out,
        "taskmaster_process_exit_code",
        "gauge",
        "Exit code of the last exit (-N when killed by signal N).",
    );
    for p in procs {
        // An exit whose status could not be read has no code to show.
        let code = p.last_exit.and_then(|e| match e.kind {
            crate::supervisor::ExitKind::Code(c) => Some(c),
            crate::supervisor::ExitKind::Signal(s) => Some(-s),
            crate::supervisor::ExitKind::Unknown => None,
        });
        if let Some(code) = code {
            let _ = writeln!(out, "taskmaster_process_exit_code{{{}}} {code}", id(p));
        }
    }
    header(
        &mut out,
        "taskmaster_process_healthy",
        "gauge",
        "1 healthy, 0 not (yet) healthy; only for a RUNNING process with a health check.",
    );
    for p in procs {
        if let Some(h) = &p.health {
            let v = u8::from(*h == crate::supervisor::snapshot::HealthStatus::Healthy);
            let _ = writeln!(out, "taskmaster_process_healthy{{{}}} {v}", id(p));
        }
    }
    header(
        &mut out,
        "taskmaster_log_bytes_total",
        "counter",
        "Bytes the process wrote, per stream.",
    );
    for (p, (out_b, err_b)) in procs.iter().zip(&i.log_bytes) {
        let _ = writeln!(
            out,
            "taskmaster_log_bytes_total{{{},stream=\"stdout\"}} {out_b}",
            id(p)
        );
        let _ = writeln!(
            out,
            "taskmaster_log_bytes_total{{{},stream=\"stderr\"}} {err_b}",
            id(p)
        );
    }
    header(
        &mut out,
        "taskmaster_alerts_sent_total",
        "counter",
        "Deliveries that succeeded (a digest counts once).",
    );
    for (name, (sent, _, _)) in &i.alerts {
        let _ = writeln!(
            out,
            "taskmaster_alerts_sent_total{{alert=\"{}\"}} {sent}",
            esc(name)
        );
    }
    header(
        &mut out,
        "taskmaster_alerts_failed_total",
        "counter",
        "Deliveries that failed after their retries.",
    );
    for (name, (_, failed, _)) in &i.alerts {
        let _ = writeln!(
            out,
            "taskmaster_alerts_failed_total{{alert=\"{}\"}} {failed}",
            esc(name)
        );
    }
    header(
        &mut out,
        "taskmaster_alerts_dropped_total",
        "counter",
        "Events dropped because the alert's queue was full.",
    );
    for (name, (_, _, dropped)) in &i.alerts {
        let _ = writeln!(
            out,
            "taskmaster_alerts_dropped_total{{alert=\"{}\"}} {dropped}",
            esc(name)
        );
    }
    header(
        &mut out,
        "taskmaster_reloads_total",
        "counter",
        "Config reloads, applied or refused.",
    );
    let _ = writeln!(
        out,
        "taskmaster_reloads_total{{result=\"ok\"}} {}",
        i.reloads_ok
    );
    let _ = writeln!(
        out,
        "taskmaster_reloads_total{{result=\"failed\"}} {}",
        i.reloads_failed
    );
    header(
        &mut out,
        "taskmaster_events_total",
        "counter",
        "Events emitted, per kind.",
    );
    for (kind, n) in &i.events {
        let _ = writeln!(out, "taskmaster_events_total{{event=\"{kind}\"}} {n}");
    }
    out
}
