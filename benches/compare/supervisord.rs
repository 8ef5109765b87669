//! The supervisord side: a virtualenv with `supervisor` from PyPI (made once in
//! target/bench-venv), the equivalent supervisord.conf, supervisord run in the foreground,
//! and a long-lived Python XML-RPC helper (supervisor_rpc.py) as the client.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::Res;
use crate::daemon::{Daemon, Output, ProcStatus, Program, wait_for};
use crate::guard::{ChildGuard, DaemonGuard};

/// target/bench-venv with supervisor installed, made if missing.
pub fn ensure_venv(target_dir: &Path) -> Res<PathBuf> {
    let venv = target_dir.join("bench-venv");
    let python = venv.join("bin/python");
    let has_supervisor = |py: &Path| {
        Command::new(py)
            .args(["-c", "import supervisor"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if has_supervisor(&python) {
        return Ok(venv);
    }
    eprintln!(
        "bench: creating {} with supervisor from PyPI",
        venv.display()
    );
    let ok = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        return Err("python3 -m venv failed (is python3 with venv installed?)".into());
    }
    let ok = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "supervisor"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok || !has_supervisor(&python) {
        return Err("pip install supervisor failed (no network to PyPI?)".into());
    }
    Ok(venv)
}

pub fn version(venv: &Path) -> String {
    Command::new(venv.join("bin/supervisord"))
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn output_lines(key: &str, o: &Output) -> String {
    match o {
        Output::Capture => String::new(),
        Output::Discard => format!("{key}_logfile=NONE\n"),
        Output::File(p) => format!(
            "{key}_logfile={}\n{key}_logfile_maxbytes=0\n{key}_logfile_backups=0\n",
            p.display()
        ),
    }
}

fn write_config(
    path: &Path,
    dir: &Path,
    socket: &Path,
    log: &Path,
    programs: &[Program],
) -> Res<()> {
    let mut s = String::new();
    let d = dir.display();
    let _ = write!(
        s,
        "[unix_http_server]\nfile={}\n\n\
         [supervisord]\nlogfile={}\nlogfile_maxbytes=0\nloglevel=info\npidfile={d}/sd.pid\n\
         childlogdir={d}\nnodaemon=true\nminfds=4096\nminprocs=2000\n\n\
         [rpcinterface:supervisor]\n\
         supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n\
         [supervisorctl]\nserverurl=unix://{}\n",
        socket.display(),
        log.display(),
        socket.display()
    );
    for p in programs {
        let autorestart = match p.autorestart {
            "always" => "true",
            "never" => "false",
            other => other,
        };
        let _ = write!(
            s,
            "\n[program:{}]\ncommand={}\nnumprocs={}\nautostart={}\nautorestart={autorestart}\n\
             startretries={}\nstartsecs={}\nstopwaitsecs={}\n",
            p.name, p.cmd, p.numprocs, p.autostart, p.startretries, p.starttime, p.stoptime
        );
        if p.numprocs > 1 {
            let width = crate::daemon::digits(p.numprocs - 1).max(2);
            let _ = writeln!(s, "process_name=%(program_name)s_%(process_num)0{width}d");
        }
        s += &output_lines("stdout", &p.stdout);
        s += &output_lines("stderr", &p.stderr);
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, s)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

pub struct Supervisord {
    // Field order is drop order: the helper goes before the daemon.
    helper: ChildGuard,
    helper_in: ChildStdin,
    helper_out: BufReader<ChildStdout>,
    guard: DaemonGuard,
    config: PathBuf,
    dir: PathBuf,
    socket: PathBuf,
    log: PathBuf,
}

impl Supervisord {
    pub fn launch(venv: &Path, dir: &Path, programs: &[Program]) -> Res<Self> {
        let config = dir.join("supervisord.conf");
        let socket = dir.join("sd.sock");
        let log = dir.join("supervisord.log");
        write_config(&config, dir, &socket, &log, programs)?;
        let mut cmd = Command::new(venv.join("bin/supervisord"));
        cmd.arg("-n")
            .arg("-c")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("daemon.out"))?)
            .stderr(std::fs::File::create(dir.join("daemon.err"))?);
        let mut guard = DaemonGuard::spawn(cmd)?;
        wait_for(
            Duration::from_secs(20),
            Duration::from_millis(2),
            "supervisord's socket",
            || {
                if let Some(st) = guard.exited() {
                    let err = std::fs::read_to_string(dir.join("daemon.err")).unwrap_or_default();
                    return Err(format!("supervisord exited at start-up ({st}): {err}").into());
                }
                Ok(std::os::unix::net::UnixStream::connect(&socket).ok())
            },
        )?;
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/compare/supervisor_rpc.py");
        let mut child = Command::new(venv.join("bin/python"))
            .arg(script)
            .arg(&socket)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let helper_in = child.stdin.take().ok_or("helper stdin")?;
        let helper_out = BufReader::new(child.stdout.take().ok_or("helper stdout")?);
        let mut me = Self {
            helper: ChildGuard(child),
            helper_in,
            helper_out,
            guard,
            config,
            dir: dir.to_path_buf(),
            socket,
            log,
        };
        me.call(json!({"op": "pid"}))?;
        Ok(me)
    }

    fn call(&mut self, req: Value) -> Res<Value> {
        self.helper_in
            .write_all((req.to_string() + "\n").as_bytes())?;
        self.helper_in.flush()?;
        let mut line = String::new();
        if self.helper_out.read_line(&mut line)? == 0 {
            let _ = self.helper.0.try_wait();
            return Err("the supervisord RPC helper exited".into());
        }
        let v: Value = serde_json::from_str(&line)?;
        if v["ok"].as_bool() == Some(true) {
            Ok(v["out"].clone())
        } else {
            Err(format!("supervisord: {}: {}", req["op"], v["error"]).into())
        }
    }
}

impl Daemon for Supervisord {
    fn pid(&self) -> i32 {
        self.guard.pid()
    }

    fn status(&mut self) -> Res<Vec<ProcStatus>> {
        let out = self.call(json!({"op": "status"}))?;
        let procs = out.as_array().ok_or("status: not a list")?;
        Ok(procs
            .iter()
            .map(|p| ProcStatus {
                name: p["name"].as_str().unwrap_or_default().to_string(),
                state: p["state"].as_str().unwrap_or_default().to_string(),
                pid: p["pid"].as_i64().map(|n| n as i32),
            })
            .collect())
    }

    fn start(&mut self, name: &str) -> Res<()> {
        self.call(json!({"op": "start", "name": name})).map(drop)
    }

    fn stop_all(&mut self) -> Res<()> {
        self.call(json!({"op": "stop_all"})).map(drop)
    }

    fn reload(&mut self, programs: &[Program]) -> Res<()> {
        let (config, dir, socket, log) = (&self.config, &self.dir, &self.socket, &self.log);
        write_config(config, dir, socket, log, programs)?;
        self.call(json!({"op": "update"})).map(drop)
    }

    fn log_path(&self) -> &Path {
        &self.log
    }

    fn shutdown(&mut self) -> Res<()> {
        if !self.guard.terminate(Duration::from_secs(20)) {
            return Err("supervisord did not exit within 20 s of SIGTERM".into());
        }
        Ok(())
    }
}
