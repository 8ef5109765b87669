//! One `[program:x]` translated into `[programs.x]` (and its `env` table), key by key as
//! supervisor's `options.py` reads them: the same defaults (so only keys written are
//! emitted), the same expansions, the same checks.

use super::ImportError;
use super::datatypes::{self, LogFile};
use super::emit::{Table, Val};
use super::environment;
use super::expand::{Names, Value};
use super::ini::{Entry, Section};
use super::translate::{
    Translator, err, expanded, our_process_name, process_names, size_val, typed,
};

/// Keys of `[program:x]` supervisor knows and taskmaster has nothing for.
const NO_EQUIVALENT: &[(&str, &str)] = &[
    (
        "priority",
        "taskmaster starts programs together; say what must run first with depends_on",
    ),
    ("serverurl", "no equivalent in taskmaster"),
    ("stdout_capture_maxbytes", "no capture mode in taskmaster"),
    ("stderr_capture_maxbytes", "no capture mode in taskmaster"),
    ("stdout_events_enabled", "no event listeners in taskmaster"),
    ("stderr_events_enabled", "no event listeners in taskmaster"),
    ("stdout_syslog", "taskmaster writes output to files only"),
    ("stderr_syslog", "taskmaster writes output to files only"),
];

/// Keys read by [`Translator::program`] itself.
const HANDLED: &[&str] = &[
    "command",
    "process_name",
    "numprocs",
    "numprocs_start",
    "autostart",
    "autorestart",
    "exitcodes",
    "startsecs",
    "startretries",
    "stopsignal",
    "stopwaitsecs",
    "stopasgroup",
    "killasgroup",
    "redirect_stderr",
    "stdout_logfile",
    "stderr_logfile",
    "stdout_logfile_maxbytes",
    "stderr_logfile_maxbytes",
    "stdout_logfile_backups",
    "stderr_logfile_backups",
    "environment",
    "directory",
    "umask",
    "user",
];

impl Translator<'_> {
    pub(super) fn program(&mut self, s: &Section) -> Result<Vec<Table>, ImportError> {
        let name = s.name.split_once(':').map_or("", |(_, n)| n).trim();
        if name.is_empty() || name.contains([' ', ':', '/']) {
            return Err(ImportError::at(
                &s.file,
                s.line,
                format!("[{}]: invalid program name {name:?}", s.name),
            ));
        }
        let ours = if name == "all" { "all_" } else { name };
        if ours != name {
            self.note_section(
                s,
                "'all' means every process in taskmaster's commands: translated as 'all_'",
            );
        }
        let mut pre = self.globals.clone();
        pre.set_str("program_name", name);
        pre.set_str("group_name", name);

        let mut t = Table::new(&["programs", ours]);
        t.comment = Some(format!("[{}] of {}:{}", s.name, s.file.display(), s.line));
        let numprocs = typed(s, "numprocs", &pre, datatypes::count)?.unwrap_or(1);
        if numprocs == 0 {
            let e = s.get("numprocs").map(|e| (e.file.clone(), e.line));
            let (file, line) = e.unwrap_or((s.file.clone(), s.line));
            return Err(ImportError::at(
                &file,
                line,
                format!("[{}] numprocs: 0 processes cannot be translated", s.name),
            ));
        }
        let start = typed(s, "numprocs_start", &pre, datatypes::integer)?.unwrap_or(0);
        if start != 0
            && let Some(e) = s.get("numprocs_start")
        {
            self.note(s, e, "taskmaster numbers processes from 0 (ignored)");
        }

        // [supervisord] environment, then the program's own.
        let env = self.program_env(s, &pre, start, numprocs)?;
        let mut names = process_names(&pre, start, numprocs);
        for (k, v) in &env {
            names.set_str(&format!("ENV_{k}"), v);
        }
        let second = (numprocs > 1).then(|| {
            let mut n = names.clone();
            n.set("process_num", Value::Int(start + 1));
            n
        });

        let Some(cmd) = self.per_process(s, "command", &names, second.as_ref())? else {
            return Err(ImportError::at(
                &s.file,
                s.line,
                format!("[{}] does not specify a command", s.name),
            ));
        };
        t.set("cmd", Val::Str(cmd.replace('\n', " ")));
        if s.get("numprocs").is_some() {
            t.set("numprocs", Val::Int(numprocs as i64));
        }
        self.check_process_name(s, name, &names, start, numprocs)?;
        self.monitoring(s, &pre, &mut t)?;
        if let Some(dir) = self.per_process(s, "directory", &names, second.as_ref())?
            && let Some(e) = s.get("directory")
        {
            t.set("workingdir", Val::Str(self.path(s, e, &dir)));
        }
        if let Some(umask) = typed(s, "umask", &pre, datatypes::octal)? {
            t.set("umask", Val::Str(umask));
        }
        if let Some(user) = typed(s, "user", &pre, |u| Ok(u.trim().to_owned()))? {
            t.set("user", Val::Str(user));
        }
        self.logs(s, &names, &mut t)?;
        for e in &s.entries {
            if let Some((_, why)) = NO_EQUIVALENT.iter().find(|(k, _)| *k == e.key) {
                self.note(s, e, &format!("{why} (ignored)"));
            } else if !HANDLED.contains(&e.key.as_str()) {
                self.note(s, e, "not a supervisor setting (ignored)");
            }
        }
        let mut tables = vec![t];
        if !env.is_empty() {
            let mut env_table = Table::new(&["programs", ours, "env"]);
            for (k, v) in env {
                env_table.set(&k, Val::Str(v));
            }
            tables.push(env_table);
        }
        Ok(tables)
    }

    /// Keys read once per program, before the processes: taskmaster's monitoring settings.
    fn monitoring(&mut self, s: &Section, pre: &Names, t: &mut Table) -> Result<(), ImportError> {
        if let Some(b) = typed(s, "autostart", pre, datatypes::boolean)? {
            t.set("autostart", Val::Bool(b));
        }
        if let Some(r) = typed(s, "autorestart", pre, datatypes::auto_restart)? {
            t.set("autorestart", Val::Str(r.to_owned()));
        }
        if let Some(codes) = typed(s, "exitcodes", pre, datatypes::exit_codes)? {
            t.set(
                "exitcodes",
                Val::Ints(codes.into_iter().map(i64::from).collect()),
            );
        }
        if let Some(n) = typed(s, "startretries", pre, datatypes::count)? {
            t.set("startretries", Val::Int(n as i64));
        }
        if let Some(n) = typed(s, "startsecs", pre, datatypes::count)? {
            t.set("starttime", Val::Int(n as i64));
        }
        if let Some(sig) = typed(s, "stopsignal", pre, datatypes::signal)? {
            t.set("stopsignal", Val::Str(sig));
        }
        if let Some(n) = typed(s, "stopwaitsecs", pre, datatypes::count)? {
            t.set("stoptime", Val::Int(n as i64));
        }
        for key in ["stopasgroup", "killasgroup"] {
            if typed(s, key, pre, datatypes::boolean)? == Some(false)
                && let Some(e) = s.get(key)
            {
                self.note(
                    s,
                    e,
                    "taskmaster always signals the whole process group (ignored)",
                );
            }
        }
        Ok(())
    }

    /// `[supervisord] environment` overlaid with the program's `environment`.
    fn program_env(
        &mut self,
        s: &Section,
        pre: &Names,
        start: i64,
        numprocs: u64,
    ) -> Result<Vec<(String, String)>, ImportError> {
        let mut env = self.global_env.clone();
        let first = process_names(pre, start, numprocs);
        let second = (numprocs > 1).then(|| process_names(pre, start + 1, numprocs));
        if let Some(text) = self.per_process(s, "environment", &first, second.as_ref())? {
            let e = s.get("environment").cloned().unwrap_or_else(|| dummy(s));
            for (k, v) in environment::parse(&text).map_err(|m| err(s, &e, m))? {
                env.retain(|(old, _)| *old != k);
                env.push((k, v));
            }
        }
        Ok(env)
    }

    /// A value expanded for the first process; when the second's differs (it uses
    /// `%(process_num)`), a note: taskmaster gives every process of a program the same one.
    fn per_process(
        &mut self,
        s: &Section,
        key: &str,
        first: &Names,
        second: Option<&Names>,
    ) -> Result<Option<String>, ImportError> {
        let Some(e) = s.get(key) else {
            return Ok(None);
        };
        let value = expanded(s, e, first)?;
        if let Some(second) = second
            && expanded(s, e, second)? != value
        {
            self.note(
                s,
                e,
                "differs per process (%(process_num)); every process gets the first \
                 process's value here",
            );
        }
        Ok(Some(value))
    }

    /// supervisor's process names against taskmaster's (`web`, `web:web_00`...).
    fn check_process_name(
        &mut self,
        s: &Section,
        name: &str,
        names: &Names,
        start: i64,
        numprocs: u64,
    ) -> Result<(), ImportError> {
        let Some(e) = s.get("process_name") else {
            return Ok(());
        };
        if numprocs > 1 && !e.value.contains("%(process_num)") {
            return Err(err(
                s,
                e,
                "%(process_num) must be present within process_name when numprocs > 1",
            ));
        }
        for i in 0..numprocs {
            let mut n = names.clone();
            n.set("process_num", Value::Int(start + i as i64));
            let proc_name = expanded(s, e, &n)?;
            let theirs = if proc_name == name {
                name.to_owned()
            } else {
                format!("{name}:{proc_name}")
            };
            let ours = our_process_name(name, numprocs, i);
            if theirs != ours {
                self.note(
                    s,
                    e,
                    &format!(
                        "supervisor names process {} '{theirs}', taskmaster '{ours}' \
                         (taskmaster's names are fixed)",
                        i + 1
                    ),
                );
                break;
            }
        }
        Ok(())
    }

    /// stdout/stderr files, their rotation, and `redirect_stderr`.
    fn logs(&mut self, s: &Section, names: &Names, t: &mut Table) -> Result<(), ImportError> {
        let mut log_names = names.clone();
        // taskmaster expands these two itself in log paths, per process.
        log_names.keep("process_num");
        let redirect = typed(s, "redirect_stderr", names, datatypes::boolean)?.unwrap_or(false);
        let mut stdout_target: Option<Val> = None;
        for stream in ["stdout", "stderr"] {
            let key = format!("{stream}_logfile");
            let redirected = stream == "stderr" && redirect;
            if redirected {
                if let Some(e) = s.get(&key) {
                    self.note(
                        s,
                        e,
                        "ignored because redirect_stderr is true (as supervisor)",
                    );
                }
                if let Some(target) = &stdout_target {
                    t.set("stderr", target.clone());
                }
                continue;
            }
            if let Some(e) = s.get(&key) {
                let target = match datatypes::logfile(&expanded(s, e, &log_names)?) {
                    LogFile::None => Some(Val::Bool(false)),
                    LogFile::Path(p) => Some(Val::Str(self.path(s, e, &p))),
                    LogFile::Auto => {
                        self.note(
                            s,
                            e,
                            "AUTO: taskmaster keeps the output in memory only; give a path \
                             to keep a file (omitted)",
                        );
                        None
                    }
                    LogFile::Syslog => {
                        self.note(s, e, "taskmaster writes output to files only (omitted)");
                        None
                    }
                };
                if let Some(v) = &target {
                    t.set(stream, v.clone());
                }
                if stream == "stdout" {
                    stdout_target = target;
                }
            }
            if let Some(size) = typed(
                s,
                &format!("{stream}_logfile_maxbytes"),
                names,
                datatypes::byte_size,
            )? {
                t.set(&format!("{stream}_maxbytes"), size_val(size));
            }
            if let Some(n) = typed(
                s,
                &format!("{stream}_logfile_backups"),
                names,
                datatypes::count,
            )? {
                t.set(&format!("{stream}_backups"), Val::Int(n as i64));
            }
        }
        Ok(())
    }
}

/// An entry standing for the section itself, for errors with no key of their own.
fn dummy(s: &Section) -> Entry {
    Entry {
        key: String::new(),
        value: String::new(),
        file: s.file.clone(),
        line: s.line,
    }
}
