//! The taskmaster side: its TOML config, the release binary started `--headless`, and a
//! client of its control socket (one JSON object per line each way).

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::Res;
use crate::daemon::{Daemon, Output, ProcStatus, Program, wait_for};
use crate::guard::DaemonGuard;

pub struct Taskmaster {
    /// None when something else (tmux) started it.
    guard: Option<DaemonGuard>,
    pid: i32,
    config: PathBuf,
    socket: PathBuf,
    log: PathBuf,
    conn: Option<BufReader<UnixStream>>,
}

fn toml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn output_line(key: &str, o: &Output, no_rotation: bool) -> String {
    match o {
        Output::Capture => String::new(),
        Output::Discard => format!("{key} = false\n"),
        // No rotation unless asked, as in the supervisord config of the same scenario.
        Output::File(p) if no_rotation => format!(
            "{key} = {}\n{key}_maxbytes = 0\n",
            toml_str(&p.to_string_lossy())
        ),
        Output::File(p) => format!("{key} = {}\n", toml_str(&p.to_string_lossy())),
    }
}

fn write_config(path: &Path, socket: &Path, log: &Path, programs: &[Program]) -> Res<()> {
    let mut s = String::new();
    let _ = writeln!(s, "[taskmaster]");
    let _ = writeln!(s, "logfile = {}", toml_str(&log.to_string_lossy()));
    let _ = writeln!(s, "socket = {}", toml_str(&socket.to_string_lossy()));
    for p in programs {
        let _ = writeln!(s, "\n[programs.{}]", p.name);
        let _ = writeln!(s, "cmd = {}", toml_str(&p.cmd));
        let _ = writeln!(s, "numprocs = {}", p.numprocs);
        let _ = writeln!(s, "autostart = {}", p.autostart);
        let _ = writeln!(s, "autorestart = \"{}\"", p.autorestart);
        let _ = writeln!(s, "startretries = {}", p.startretries);
        let _ = writeln!(s, "starttime = {:?}", p.starttime);
        let _ = writeln!(s, "stoptime = {:?}", p.stoptime);
        // The scenario's own rotation settings win over the no-rotation default.
        let own = |key: &str| p.tm_extra.contains(&format!("{key}_maxbytes"));
        s += &output_line("stdout", &p.stdout, !own("stdout"));
        s += &output_line("stderr", &p.stderr, !own("stderr"));
        s += &p.tm_extra;
    }
    // Written then renamed, so a reload never reads half a file.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, s)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// `name   RUNNING   pid 4242, uptime 0:01:07` -> name, state, pid.
pub fn parse_status(output: &str) -> Vec<ProcStatus> {
    output
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?.to_string();
            let state = words.next()?.to_string();
            let pid = match (words.next(), words.next()) {
                (Some("pid"), Some(n)) => n.trim_end_matches(',').parse().ok(),
                _ => None,
            };
            Some(ProcStatus { name, state, pid })
        })
        .collect()
}

impl Taskmaster {
    /// Writes the config in `dir`; nothing runs yet.
    pub fn prepare(dir: &Path, programs: &[Program]) -> Res<Self> {
        let me = Self {
            guard: None,
            pid: 0,
            config: dir.join("taskmaster.toml"),
            socket: dir.join("tm.sock"),
            log: dir.join("taskmaster.log"),
            conn: None,
        };
        write_config(&me.config, &me.socket, &me.log, programs)?;
        Ok(me)
    }

    /// Waits for a taskmaster started elsewhere to answer on the socket; learns its pid.
    pub fn connect(&mut self, limit: Duration) -> Res<()> {
        let socket = self.socket.clone();
        wait_for(
            limit,
            Duration::from_millis(5),
            "taskmaster's control socket",
            || Ok(UnixStream::connect(&socket).ok()),
        )?;
        self.pid = self.request("pid", &[])?.trim().parse()?;
        Ok(())
    }

    pub fn launch(bin: &Path, dir: &Path, programs: &[Program]) -> Res<Self> {
        let mut me = Self::prepare(dir, programs)?;
        let mut cmd = Command::new(bin);
        cmd.arg("-c")
            .arg(&me.config)
            .arg("--headless")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("daemon.out"))?)
            .stderr(std::fs::File::create(dir.join("daemon.err"))?);
        let mut guard = DaemonGuard::spawn(cmd)?;
        let socket = me.socket.clone();
        wait_for(
            Duration::from_secs(10),
            Duration::from_millis(2),
            "taskmaster's control socket",
            || {
                if let Some(st) = guard.exited() {
                    let err = std::fs::read_to_string(dir.join("daemon.err")).unwrap_or_default();
                    return Err(format!("taskmaster exited at start-up ({st}): {err}").into());
                }
                Ok(UnixStream::connect(&socket).ok())
            },
        )?;
        me.pid = guard.pid();
        me.guard = Some(guard);
        Ok(me)
    }

    fn connection(&mut self) -> Res<&mut BufReader<UnixStream>> {
        if self.conn.is_none() {
            let s = UnixStream::connect(&self.socket)?;
            s.set_read_timeout(Some(Duration::from_secs(60)))?;
            self.conn = Some(BufReader::new(s));
        }
        self.conn.as_mut().ok_or_else(|| "no connection".into())
    }

    fn try_request(&mut self, line: &str) -> Res<Option<String>> {
        let conn = self.connection()?;
        conn.get_mut().write_all(line.as_bytes())?;
        let mut reply = String::new();
        if conn.read_line(&mut reply)? == 0 {
            return Ok(None);
        }
        Ok(Some(reply))
    }

    /// One command; its output on `ok`, an error otherwise.
    pub fn request(&mut self, cmd: &str, args: &[&str]) -> Res<String> {
        let line = json!({ "cmd": cmd, "args": args }).to_string() + "\n";
        let reply = match self.try_request(&line) {
            Ok(Some(r)) => r,
            // The server may close after each reply: reconnect once.
            _ => {
                self.conn = None;
                self.try_request(&line)?
                    .ok_or("taskmaster closed the socket without a reply")?
            }
        };
        let v: Value = serde_json::from_str(&reply)?;
        if v["ok"].as_bool() == Some(true) {
            Ok(v["output"].as_str().unwrap_or_default().to_string())
        } else {
            let err = v["error"].as_str().unwrap_or("no error text");
            // A failed status (some process not RUNNING) still carries the lines.
            Err(format!("taskmaster: {cmd}: {err}").into())
        }
    }
}

impl Daemon for Taskmaster {
    fn pid(&self) -> i32 {
        self.pid
    }

    fn status(&mut self) -> Res<Vec<ProcStatus>> {
        Ok(parse_status(&self.request("status", &[])?))
    }

    fn start(&mut self, name: &str) -> Res<()> {
        self.request("start", &[name]).map(drop)
    }

    fn stop_all(&mut self) -> Res<()> {
        self.request("stop", &["all"]).map(drop)
    }

    fn reload(&mut self, programs: &[Program]) -> Res<()> {
        let socket = self.socket.clone();
        let log = self.log.clone();
        write_config(&self.config, &socket, &log, programs)?;
        self.request("reload", &[]).map(drop)
    }

    fn log_path(&self) -> &Path {
        &self.log
    }

    fn shutdown(&mut self) -> Res<()> {
        match self.guard.as_mut() {
            Some(g) => {
                if g.terminate(Duration::from_secs(20)) {
                    Ok(())
                } else {
                    Err("taskmaster did not exit within 20 s of SIGTERM".into())
                }
            }
            None => self.request("shutdown", &[]).map(drop),
        }
    }
}
