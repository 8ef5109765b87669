//! supervisord sections and keys mapped to taskmaster's: `[supervisord]` and
//! `[unix_http_server]` to `[taskmaster]`, each `[program:x]` to `[programs.x]`, with
//! supervisor's expansions done and values checked as supervisor checks them.

use std::path::Path;

use super::datatypes::{self, ByteSize};
use super::emit::{Table, Val};
use super::environment;
use super::expand::{Names, Value, expand};
use super::ini::{Entry, Ini, Section};
use super::{ImportError, Note};

pub struct Translator<'a> {
    ini: &'a Ini,
    /// `host_node_name` and `ENV_*` (the environment, then `[supervisord]`'s).
    pub(super) globals: Names,
    /// `[supervisord] environment`: every child gets it, so every program does here.
    pub(super) global_env: Vec<(String, String)>,
    main: &'a Path,
    pub(super) notes: Vec<Note>,
}

/// The directory of the file `e` was read from: supervisor's `%(here)s`.
pub(super) fn here(e: &Entry) -> String {
    e.file
        .parent()
        .map(|d| d.display().to_string())
        .unwrap_or_default()
}

pub(super) fn err(s: &Section, e: &Entry, message: impl std::fmt::Display) -> ImportError {
    ImportError::at(
        &e.file,
        e.line,
        format!("[{}] {}: {message}", s.name, e.key),
    )
}

pub(super) fn expanded(s: &Section, e: &Entry, names: &Names) -> Result<String, ImportError> {
    let mut names = names.clone();
    names.set_str("here", &here(e));
    expand(&e.value, &names).map_err(|m| err(s, e, m))
}

/// The value of `key` expanded with `names` and read by `read`; `None` when absent.
pub(super) fn typed<T>(
    s: &Section,
    key: &str,
    names: &Names,
    read: impl Fn(&str) -> Result<T, String>,
) -> Result<Option<T>, ImportError> {
    let Some(e) = s.get(key) else {
        return Ok(None);
    };
    let text = expanded(s, e, names)?;
    read(&text).map(Some).map_err(|m| err(s, e, m))
}

/// `~` and `~/...` as Python's `os.path.expanduser` reads them (supervisor calls it on paths).
pub(super) fn expand_user(path: &str) -> String {
    match (path.strip_prefix('~'), std::env::var("HOME")) {
        (Some(rest), Ok(home)) if rest.is_empty() || rest.starts_with('/') => {
            format!("{home}{rest}")
        }
        _ => path.to_owned(),
    }
}

impl<'a> Translator<'a> {
    pub fn new(ini: &'a Ini, env: &[(String, String)], host: &str, main: &'a Path) -> Self {
        let mut globals = Names::default();
        for (k, v) in env {
            globals.set_str(&format!("ENV_{k}"), v);
        }
        globals.set_str("host_node_name", host);
        Translator {
            ini,
            globals,
            global_env: Vec::new(),
            main,
            notes: Vec::new(),
        }
    }

    pub(super) fn note(&mut self, s: &Section, e: &Entry, why: &str) {
        self.notes.push(Note::at(
            &e.file,
            e.line,
            format!("[{}] {}: {why}", s.name, e.key),
        ));
    }

    pub(super) fn note_section(&mut self, s: &Section, why: &str) {
        self.notes
            .push(Note::at(&s.file, s.line, format!("[{}]: {why}", s.name)));
    }

    /// A path of the file as taskmaster takes it: `~` expanded; a relative one is noted,
    /// since supervisord resolves it against its working directory and taskmaster against
    /// the config file's folder.
    pub(super) fn path(&mut self, s: &Section, e: &Entry, raw: &str) -> String {
        let path = expand_user(raw);
        if !path.starts_with('/') {
            self.note(
                s,
                e,
                "relative path: taskmaster resolves it against the new config file's \
                 folder, supervisord against its working directory (kept as written)",
            );
        }
        path
    }

    /// The whole TOML text.
    pub fn run(&mut self) -> Result<String, ImportError> {
        let mut top = Table::new(&["taskmaster"]);
        if let Some(s) = self.ini.section("supervisord") {
            self.supervisord(s, &mut top)?;
        }
        if let Some(s) = self.ini.section("unix_http_server") {
            self.unix_http_server(s, &mut top)?;
        }
        let mut out = format!(
            "# Translated from {} by `taskmaster import`.\n",
            self.main.display()
        );
        if !top.keys.is_empty() {
            top.write(&mut out);
        }
        let mut programs = 0;
        for s in &self.ini.sections {
            let kind = s.name.split_once(':').map_or(s.name.as_str(), |(k, _)| k);
            match kind {
                "supervisord" | "unix_http_server" | "include" => {}
                "program" => {
                    for table in self.program(s)? {
                        table.write(&mut out);
                    }
                    programs += 1;
                }
                "supervisorctl" => self.note_section(
                    s,
                    "settings of supervisorctl; `taskmaster ctl` needs none (skipped)",
                ),
                "group" => self.note_section(
                    s,
                    "taskmaster has no groups of programs; their programs are translated \
                     on their own (skipped)",
                ),
                _ => self.note_section(s, "no equivalent in taskmaster (skipped)"),
            }
        }
        if programs == 0 {
            self.notes.push(Note {
                file: self.main.to_path_buf(),
                line: None,
                text: "no [program:x] section found".to_owned(),
            });
        }
        Ok(out)
    }

    fn supervisord(&mut self, s: &Section, top: &mut Table) -> Result<(), ImportError> {
        for e in &s.entries {
            let value = || expanded(s, e, &self.globals);
            match e.key.as_str() {
                "logfile" | "pidfile" => {
                    let path = self.path(s, e, &value()?);
                    top.set(&e.key, Val::Str(path));
                }
                "logfile_maxbytes" => {
                    let size = datatypes::byte_size(&value()?).map_err(|m| err(s, e, m))?;
                    top.set("logfile_maxbytes", size_val(size));
                }
                "logfile_backups" => {
                    let n = datatypes::count(&value()?).map_err(|m| err(s, e, m))?;
                    top.set("logfile_backups", Val::Int(n as i64));
                }
                "environment" => {
                    let pairs = environment::parse(&value()?).map_err(|m| err(s, e, m))?;
                    for (k, v) in &pairs {
                        self.globals.set_str(&format!("ENV_{k}"), v);
                    }
                    self.global_env = pairs;
                }
                _ => self.note(s, e, "no equivalent in taskmaster (ignored)"),
            }
        }
        Ok(())
    }

    fn unix_http_server(&mut self, s: &Section, top: &mut Table) -> Result<(), ImportError> {
        for e in &s.entries {
            match e.key.as_str() {
                "file" => {
                    let path = expanded(s, e, &self.globals)?;
                    top.set("socket", Val::Str(self.path(s, e, &path)));
                }
                _ => self.note(
                    s,
                    e,
                    "no equivalent in taskmaster (the socket is always mode 0600, owner only)",
                ),
            }
        }
        Ok(())
    }
}

pub(super) fn size_val(size: ByteSize) -> Val {
    match size {
        ByteSize::Bytes(n) => Val::Int(i64::try_from(n).unwrap_or(i64::MAX)),
        ByteSize::Unit(s) => Val::Str(s),
    }
}

/// Names of a program's processes in taskmaster (`ProgramConfig::process_name`).
pub(super) fn our_process_name(program: &str, numprocs: u64, index: u64) -> String {
    if numprocs <= 1 {
        return program.to_owned();
    }
    let width = if numprocs > 100 {
        (numprocs - 1).to_string().len()
    } else {
        2
    };
    format!("{program}:{program}_{index:0width$}")
}

/// Names for one process of a program: the common ones plus `process_num` and `numprocs`.
pub(super) fn process_names(base: &Names, num: i64, numprocs: u64) -> Names {
    let mut n = base.clone();
    n.set("process_num", Value::Int(num));
    n.set("numprocs", Value::Int(numprocs as i64));
    n
}
