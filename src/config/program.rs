//! One `[programs.NAME]` table read into a [`ProgramConfig`], with supervisor's defaults
//! for every key left out.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde::de::{DeserializeSeed, Error as _, MapAccess, Visitor};

use super::de::{Ctx, unknown_key};
use super::env::EnvSeed;
use super::paths::{OutputSeed, PathSeed};
use super::stack::{self, GivenStack, STACK_KEYS};
use super::umask::read_umask;
use super::values::{
    Backups, ByteSize, Cmd, CpuMax, ExitCodes, MemoryMax, NumProcs, OrphansValue, Restart, Retries,
    Seconds, StopSignal, User,
};
use super::{AutoRestart, Backoff, CgroupLimits, Orphans, OutputTarget, ProgramConfig, Rotation};

pub(super) const PROGRAM_KEYS: &[&str] = &[
    "cmd",
    "numprocs",
    "umask",
    "workingdir",
    "autostart",
    "autorestart",
    "exitcodes",
    "startretries",
    "starttime",
    "stopsignal",
    "stoptime",
    "stdout",
    "stderr",
    "env",
    "user",
    "stdout_maxbytes",
    "stdout_backups",
    "stderr_maxbytes",
    "stderr_backups",
    "timestamps",
    "pty",
    "orphans",
    "cgroup",
    "memory_max",
    "cpu_max",
];

fn known_keys() -> Vec<&'static str> {
    PROGRAM_KEYS.iter().chain(STACK_KEYS).copied().collect()
}

pub(super) struct ProgramSeed<'c, 'a, 'n> {
    pub ctx: &'c Ctx<'a>,
    pub name: &'n str,
}

impl<'de> DeserializeSeed<'de> for ProgramSeed<'_, '_, '_> {
    type Value = ProgramConfig;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<ProgramConfig, D::Error> {
        d.deserialize_map(self)
    }
}

impl ProgramSeed<'_, '_, '_> {
    /// Supervisor's defaults; `cmd` is the one key without one.
    fn defaults(&self, cmd: String, argv: Vec<String>) -> ProgramConfig {
        ProgramConfig {
            name: self.name.to_owned(),
            cmd,
            argv,
            numprocs: 1,
            umask: None,
            workingdir: None,
            autostart: true,
            autorestart: AutoRestart::Unexpected,
            exitcodes: vec![0],
            startretries: 3,
            starttime: Duration::from_secs(1),
            stopsignal: Signal::SIGTERM,
            stoptime: Duration::from_secs(10),
            stdout: OutputTarget::Capture,
            stderr: OutputTarget::Capture,
            env: BTreeMap::new(),
            user: None,
            stdout_rotation: Rotation::default(),
            stderr_rotation: Rotation::default(),
            timestamps: false,
            backoff: Backoff::default(),
            depends_on: BTreeMap::new(),
            health: None,
            pty: false,
            orphans: Orphans::Kill,
            cgroup: None,
        }
    }
}

/// Every key as read; `None` where the file leaves it out.
#[derive(Default)]
struct Given {
    cmd: Option<Cmd>,
    numprocs: Option<u32>,
    umask: Option<u32>,
    workingdir: Option<PathBuf>,
    autostart: Option<bool>,
    autorestart: Option<AutoRestart>,
    exitcodes: Option<Vec<i32>>,
    startretries: Option<u32>,
    starttime: Option<Duration>,
    stopsignal: Option<Signal>,
    stoptime: Option<Duration>,
    stdout: Option<OutputTarget>,
    stderr: Option<OutputTarget>,
    env: Option<BTreeMap<String, String>>,
    user: Option<String>,
    stdout_maxbytes: Option<u64>,
    stdout_backups: Option<u32>,
    stderr_maxbytes: Option<u64>,
    stderr_backups: Option<u32>,
    timestamps: Option<bool>,
    pty: Option<bool>,
    orphans: Option<Orphans>,
    cgroup: Option<bool>,
    memory_max: Option<String>,
    cpu_max: Option<String>,
    stack: GivenStack,
}

impl<'de> Visitor<'de> for ProgramSeed<'_, '_, '_> {
    type Value = ProgramConfig;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a table of program settings (at least cmd)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ProgramConfig, A::Error> {
        let ctx = self.ctx;
        let mut g = Given::default();
        let mut seen: Vec<String> = Vec::new();
        while let Some(key) = ctx.next_new_key(&mut map, Some(self.name), &mut seen)? {
            if !PROGRAM_KEYS.contains(&key.as_str()) && !STACK_KEYS.contains(&key.as_str()) {
                return Err(unknown_key(&key, &known_keys()));
            }
            ctx.on_value();
            if STACK_KEYS.contains(&key.as_str()) {
                stack::read_stack_value(&mut map, &key, &mut g.stack)?;
            } else {
                read_value(&mut map, ctx, &key, &mut g)?;
            }
        }
        if g.cmd.is_none() && ctx.skip.key(Some(self.name), "cmd") {
            // `check` reported the command already; the rest of the program is still read.
            g.cmd = Some(Cmd {
                line: String::new(),
                argv: vec![String::new()],
            });
        }
        let Some(cmd) = g.cmd else {
            ctx.on_key(Some("cmd"), None);
            return Err(A::Error::custom(
                "missing the command to run (add cmd = \"/path/to/program args\")",
            ));
        };
        ctx.on_key(None, None);
        let mut p = self.defaults(cmd.line, cmd.argv);
        p.numprocs = g.numprocs.unwrap_or(p.numprocs);
        p.umask = g.umask.or(p.umask);
        p.workingdir = g.workingdir.or(p.workingdir);
        p.autostart = g.autostart.unwrap_or(p.autostart);
        p.autorestart = g.autorestart.unwrap_or(p.autorestart);
        p.exitcodes = g.exitcodes.unwrap_or(p.exitcodes);
        p.startretries = g.startretries.unwrap_or(p.startretries);
        p.starttime = g.starttime.unwrap_or(p.starttime);
        p.stopsignal = g.stopsignal.unwrap_or(p.stopsignal);
        p.stoptime = g.stoptime.unwrap_or(p.stoptime);
        p.stdout = g.stdout.unwrap_or(p.stdout);
        p.stderr = g.stderr.unwrap_or(p.stderr);
        p.env = g.env.unwrap_or(p.env);
        p.user = g.user.or(p.user);
        p.stdout_rotation.maxbytes = g.stdout_maxbytes.unwrap_or(p.stdout_rotation.maxbytes);
        p.stdout_rotation.backups = g.stdout_backups.unwrap_or(p.stdout_rotation.backups);
        p.stderr_rotation.maxbytes = g.stderr_maxbytes.unwrap_or(p.stderr_rotation.maxbytes);
        p.stderr_rotation.backups = g.stderr_backups.unwrap_or(p.stderr_rotation.backups);
        p.timestamps = g.timestamps.unwrap_or(p.timestamps);
        if let Err((key, message)) = g.stack.apply(&mut p) {
            ctx.on_key(Some(key), None);
            return Err(A::Error::custom(message));
        }
        p.pty = g.pty.unwrap_or(p.pty);
        p.orphans = g.orphans.unwrap_or(p.orphans);
        if let Err((key, message)) = apply_cgroup(&mut p, g.cgroup, g.memory_max, g.cpu_max) {
            ctx.on_key(Some(key), None);
            return Err(A::Error::custom(message));
        }
        Ok(p)
    }
}

fn read_value<'de, A: MapAccess<'de>>(
    map: &mut A,
    ctx: &Ctx,
    key: &str,
    g: &mut Given,
) -> Result<(), A::Error> {
    match key {
        "cmd" => g.cmd = Some(map.next_value()?),
        "numprocs" => g.numprocs = Some(map.next_value::<NumProcs>()?.0),
        "umask" => g.umask = Some(read_umask(map, ctx)?),
        "workingdir" => g.workingdir = Some(map.next_value_seed(PathSeed(ctx))?),
        "autostart" => g.autostart = Some(map.next_value()?),
        "autorestart" => g.autorestart = Some(map.next_value::<Restart>()?.0),
        "exitcodes" => g.exitcodes = Some(map.next_value::<ExitCodes>()?.0),
        "startretries" => g.startretries = Some(map.next_value::<Retries>()?.0),
        "starttime" => g.starttime = Some(map.next_value::<Seconds>()?.0),
        "stopsignal" => g.stopsignal = Some(map.next_value::<StopSignal>()?.0),
        "stoptime" => g.stoptime = Some(map.next_value::<Seconds>()?.0),
        "stdout" => g.stdout = Some(map.next_value_seed(OutputSeed(ctx))?),
        "stderr" => g.stderr = Some(map.next_value_seed(OutputSeed(ctx))?),
        "env" => g.env = Some(map.next_value_seed(EnvSeed(ctx))?),
        "user" => g.user = Some(map.next_value::<User>()?.0),
        "stdout_maxbytes" => g.stdout_maxbytes = Some(map.next_value::<ByteSize>()?.0),
        "stdout_backups" => g.stdout_backups = Some(map.next_value::<Backups>()?.0),
        "stderr_maxbytes" => g.stderr_maxbytes = Some(map.next_value::<ByteSize>()?.0),
        "stderr_backups" => g.stderr_backups = Some(map.next_value::<Backups>()?.0),
        "timestamps" => g.timestamps = Some(map.next_value()?),
        "pty" => g.pty = Some(map.next_value()?),
        "orphans" => g.orphans = Some(map.next_value::<OrphansValue>()?.0),
        "cgroup" => g.cgroup = Some(map.next_value()?),
        "memory_max" => g.memory_max = Some(map.next_value::<MemoryMax>()?.0),
        "cpu_max" => g.cpu_max = Some(map.next_value::<CpuMax>()?.0),
        _ => return Err(unknown_key(key, &known_keys())),
    }
    Ok(())
}

/// `cgroup`, `memory_max`, `cpu_max`: limits need a cgroup, and a cgroup kills whatever is
/// left in it, which `orphans = "leave"` would contradict. The error names its key.
fn apply_cgroup(
    p: &mut ProgramConfig,
    cgroup: Option<bool>,
    memory_max: Option<String>,
    cpu_max: Option<String>,
) -> Result<(), (&'static str, String)> {
    if cgroup != Some(true) {
        for (key, given) in [("memory_max", &memory_max), ("cpu_max", &cpu_max)] {
            if given.is_some() {
                return Err((key, format!("{key} needs cgroup = true")));
            }
        }
        return Ok(());
    }
    if p.orphans == Orphans::Leave {
        return Err((
            "cgroup",
            "cgroup = true stops everything in the process's cgroup, which contradicts \
             orphans = \"leave\""
                .to_string(),
        ));
    }
    p.cgroup = Some(CgroupLimits {
        memory_max,
        cpu_max,
    });
    Ok(())
}
