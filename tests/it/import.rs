//! `taskmaster import`: realistic supervisord.conf files translated, the TOML read back by
//! taskmaster's own config loader, what has no equivalent listed with file:line, and bad
//! input refused with a clear message through the real binary.

use std::path::{Path, PathBuf};

use taskmaster::config::{self, Config, OutputTarget};
use taskmaster::import::{Translation, translate_with_env};

use crate::harness::binary::{BIN, Ctl};

/// Writes `files` (relative path, text) under a temp dir.
fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (path, text) in files {
        let path = dir.path().join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, text).expect("write");
    }
    dir
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The translation; the loader's own complaints about it (listed as notes) fail the test.
fn translate(dir: &Path, main: &str, vars: &[(&str, &str)]) -> Translation {
    let t = translate_with_env(&dir.join(main), &env(vars))
        .unwrap_or_else(|e| panic!("{main} translates: {e}"));
    let refused = notes_about(&t, "(translated TOML)");
    assert!(
        refused.is_empty(),
        "taskmaster's loader takes the translation: {refused:#?}"
    );
    t
}

/// The translation loaded by taskmaster's config loader, as `taskmaster.toml` in `dir`.
fn load(dir: &Path, toml: &str) -> Config {
    config::parse(&dir.join("taskmaster.toml"), toml)
        .unwrap_or_else(|e| panic!("the translation loads: {e}\n{toml}"))
}

fn file(p: &str) -> OutputTarget {
    OutputTarget::File(PathBuf::from(p))
}

fn notes_about(t: &Translation, what: &str) -> Vec<String> {
    t.unsupported
        .iter()
        .filter(|n| n.contains(what))
        .cloned()
        .collect()
}

const DJANGO_CELERY: &str = r#"; Django + celery on one host, as deployed by many a Fabric script.
[unix_http_server]
file=/run/supervisor.sock   ; (the path to the socket file)
chmod=0700                  ; socket file mode (default 0700)

[supervisord]
logfile=/var/log/supervisor/supervisord.log ; (main log file;default $CWD/supervisord.log)
logfile_maxbytes=50MB
logfile_backups=10
pidfile=/var/run/supervisord.pid
nodaemon=false
environment=LANG="en_US.UTF-8",LC_ALL="en_US.UTF-8"

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix:///run/supervisor.sock

[program:gunicorn]
command=/srv/shop/venv/bin/gunicorn shop.wsgi:application
    --bind 127.0.0.1:8000 --workers 3
directory=/srv/shop
user=shop
environment=DJANGO_SETTINGS_MODULE="shop.settings.production",
    DATABASE_URL="postgres://shop:s3cret@localhost/shop",
    PYTHONPATH="/srv/shop"
autostart=true
autorestart=true
startsecs=5
stopsignal=QUIT
stopwaitsecs=30
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile=/var/log/shop/gunicorn.log
stdout_logfile_maxbytes=20MB
stdout_logfile_backups=5
priority=100

[program:celery]
command=/srv/shop/venv/bin/celery -A shop worker --loglevel=INFO --concurrency=4
directory=/srv/shop
user=shop
numprocs=1
stdout_logfile=/var/log/shop/celery.out.log
stderr_logfile=/var/log/shop/celery.err.log
autostart=true
autorestart=unexpected
startsecs=10
stopwaitsecs=600
stopasgroup=false
priority=1000
environment=DJANGO_SETTINGS_MODULE="shop.settings.production"

[program:celerybeat]
command=/srv/shop/venv/bin/celery -A shop beat --loglevel=INFO
directory=/srv/shop
user=shop
stdout_logfile=/var/log/shop/beat.log
redirect_stderr=true
autorestart=true
startretries=10
exitcodes=0,2

[group:shop]
programs=gunicorn,celery,celerybeat
priority=999
"#;

#[test]
fn django_and_celery_stack_translates_and_loads() {
    let dir = tree(&[("supervisord.conf", DJANGO_CELERY)]);
    let t = translate(dir.path(), "supervisord.conf", &[]);
    let c = load(dir.path(), &t.toml);
    assert_eq!(c.socket, Some(PathBuf::from("/run/supervisor.sock")));
    assert_eq!(
        c.logfile,
        Some(PathBuf::from("/var/log/supervisor/supervisord.log"))
    );
    assert_eq!(
        (c.logfile_rotation.maxbytes, c.logfile_rotation.backups),
        (50 << 20, 10)
    );
    assert_eq!(c.pidfile, Some(PathBuf::from("/var/run/supervisord.pid")));
    let names: Vec<&str> = c.programs.keys().map(String::as_str).collect();
    assert_eq!(names, ["celery", "celerybeat", "gunicorn"]);

    let lines: Vec<usize> = t
        .unsupported
        .iter()
        .filter_map(|n| n.split(':').nth(1)?.parse().ok())
        .collect();
    assert!(
        lines.windows(2).all(|w| w[0] <= w[1]),
        "notes in the order of the file: {:#?}",
        t.unsupported
    );
    let web = &c.programs["gunicorn"];
    assert_eq!(
        web.argv,
        [
            "/srv/shop/venv/bin/gunicorn",
            "shop.wsgi:application",
            "--bind",
            "127.0.0.1:8000",
            "--workers",
            "3"
        ],
        "the continued command line is one command"
    );
    assert_eq!(web.workingdir, Some(PathBuf::from("/srv/shop")));
    assert_eq!(web.user.as_deref(), Some("shop"));
    assert_eq!(web.autorestart, config::AutoRestart::Always);
    assert_eq!(web.starttime.as_secs(), 5);
    assert_eq!(web.stopsignal, nix::sys::signal::Signal::SIGQUIT);
    assert_eq!(web.stoptime.as_secs(), 30);
    assert_eq!(web.stdout, file("/var/log/shop/gunicorn.log"));
    assert_eq!(web.stderr, web.stdout, "redirect_stderr: one file for both");
    assert_eq!(
        (web.stdout_rotation.maxbytes, web.stdout_rotation.backups),
        (20 << 20, 5)
    );
    assert_eq!(
        web.env.get("DATABASE_URL").map(String::as_str),
        Some("postgres://shop:s3cret@localhost/shop")
    );
    assert_eq!(
        web.env.get("LANG").map(String::as_str),
        Some("en_US.UTF-8"),
        "[supervisord] environment reaches every program"
    );
    assert_eq!(web.env.len(), 5, "{:?}", web.env);

    let celery = &c.programs["celery"];
    assert_eq!(celery.numprocs, 1);
    assert_eq!(celery.autorestart, config::AutoRestart::Unexpected);
    assert_eq!(celery.stdout, file("/var/log/shop/celery.out.log"));
    assert_eq!(celery.stderr, file("/var/log/shop/celery.err.log"));
    assert_eq!(celery.stoptime.as_secs(), 600);

    let beat = &c.programs["celerybeat"];
    assert_eq!(beat.exitcodes, [0, 2]);
    assert_eq!(beat.startretries, 10);
    assert_eq!(beat.stderr, file("/var/log/shop/beat.log"));

    for what in [
        "supervisord.conf:4: [unix_http_server] chmod",
        "supervisord.conf:11: [supervisord] nodaemon",
        "supervisord.conf:14: [rpcinterface:supervisor]",
        "supervisord.conf:17: [supervisorctl]",
        "supervisord.conf:39: [program:gunicorn] priority",
        "supervisord.conf:52: [program:celery] stopasgroup",
        "supervisord.conf:53: [program:celery] priority",
        "supervisord.conf:66: [group:shop]",
    ] {
        assert_eq!(
            notes_about(&t, what).len(),
            1,
            "one note for {what}: {:#?}",
            t.unsupported
        );
    }
    assert_eq!(
        t.unsupported.len(),
        8,
        "nothing else noted: {:#?}",
        t.unsupported
    );
}

const QUEUE_WORKERS: &str = r#"[supervisord]
logfile=%(here)s/log/supervisord.log

[program:queue]
command=php %(here)s/artisan queue:work redis --queue=%(program_name)s --sleep=3 --tries=3 --max-time=3600
process_name=%(program_name)s_%(process_num)02d
numprocs=8
autostart=true
autorestart=true
stopasgroup=true
killasgroup=true
user=forge
redirect_stderr=true
stdout_logfile=%(here)s/log/%(program_name)s_%(process_num)02d.log
stdout_logfile_maxbytes=5MB
stdout_logfile_backups=3
stopwaitsecs=3600
umask=002

[program:mailer]
command=php %(here)s/artisan queue:work --queue=mail
process_name=%(program_name)s-%(process_num)d
numprocs=2
"#;

#[test]
fn queue_worker_group_keeps_supervisors_process_names() {
    let dir = tree(&[("supervisord.conf", QUEUE_WORKERS)]);
    let here = dir.path().display().to_string();
    let t = translate(dir.path(), "supervisord.conf", &[]);
    assert!(
        t.toml.contains(&format!(
            "stdout = \"{here}/log/queue_%(process_num)02d.log\""
        )),
        "process_num is left for taskmaster to expand per process:\n{}",
        t.toml
    );
    let c = load(dir.path(), &t.toml);
    let queue = &c.programs["queue"];
    assert_eq!(queue.numprocs, 8);
    assert_eq!(
        queue.process_names()[..2],
        ["queue:queue_00", "queue:queue_01"],
        "supervisor's %(program_name)s_%(process_num)02d is taskmaster's own naming"
    );
    assert_eq!(
        queue.cmd,
        format!(
            "php {here}/artisan queue:work redis --queue=queue --sleep=3 --tries=3 --max-time=3600"
        )
    );
    assert_eq!(
        queue.stdout.path_for(7),
        Some(PathBuf::from(format!("{here}/log/queue_07.log"))),
        "taskmaster expands %(process_num)02d as supervisor would"
    );
    assert_eq!(queue.stderr, queue.stdout, "redirect_stderr");
    assert_eq!(
        (
            queue.stdout_rotation.maxbytes,
            queue.stdout_rotation.backups
        ),
        (5 << 20, 3)
    );
    assert_eq!(queue.umask, Some(0o002));
    assert_eq!(queue.stoptime.as_secs(), 3600);
    assert_eq!(queue.user.as_deref(), Some("forge"));
    assert_eq!(
        c.logfile,
        Some(PathBuf::from(format!("{here}/log/supervisord.log")))
    );

    assert!(
        notes_about(&t, "[program:queue]").is_empty(),
        "the queue group translates fully: {:#?}",
        t.unsupported
    );
    let mailer = notes_about(&t, "[program:mailer] process_name");
    assert_eq!(mailer.len(), 1, "{:#?}", t.unsupported);
    assert!(
        mailer[0].contains("supervisord.conf:22:")
            && mailer[0].contains("'mailer:mailer-0'")
            && mailer[0].contains("'mailer:mailer_00'"),
        "the note names both names: {mailer:?}"
    );
}

#[test]
fn includes_follow_globs_in_order_with_here_of_each_file() {
    let dir = tree(&[
        (
            "etc/supervisord.conf",
            "[supervisord]\nlogfile=/tmp/sd.log\n\n[include]\nfiles = conf.d/*.conf \
             extra/[ab]*.ini none/*.conf ../shared/common.conf\n",
        ),
        (
            "etc/conf.d/web.conf",
            "[program:web]\ncommand=%(here)s/bin/web\nstdout_logfile=%(here)s/web.log\n",
        ),
        ("etc/conf.d/.hidden.conf", "[program:hidden]\ncommand=x\n"),
        ("etc/conf.d/notes.txt", "not a config\n"),
        (
            "etc/extra/a-cron.ini",
            "[program:cron]\ncommand=/usr/sbin/cron -f\n",
        ),
        ("etc/extra/z.ini", "[program:z]\ncommand=z\n"),
        (
            "shared/common.conf",
            "[program:web]\nautostart=false\n\n[program:shared]\ncommand=%(here)s/run\n",
        ),
    ]);
    let root = dir.path().display().to_string();
    let t = translate(dir.path(), "etc/supervisord.conf", &[]);
    let c = load(dir.path(), &t.toml);
    let names: Vec<&str> = c.programs.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        ["cron", "shared", "web"],
        "hidden and unmatched files left out"
    );
    let web = &c.programs["web"];
    assert_eq!(
        web.cmd,
        format!("{root}/etc/conf.d/bin/web"),
        "%(here)s of conf.d"
    );
    assert_eq!(web.stdout, file(&format!("{root}/etc/conf.d/web.log")));
    assert!(!web.autostart, "a later file extends the same section");
    assert_eq!(
        c.programs["shared"].cmd,
        format!("{root}/etc/../shared/run"),
        "%(here)s of the including path"
    );
    let unmatched = notes_about(&t, "no file matches");
    assert_eq!(unmatched.len(), 1, "{:#?}", t.unsupported);
    assert!(
        unmatched[0].contains("supervisord.conf:5:") && unmatched[0].contains("none/*.conf"),
        "{unmatched:?}"
    );
}

#[test]
fn env_expansions_come_from_the_environment_and_the_environment_keys() {
    let conf = r#"[supervisord]
environment=APP_ENV="production"

[program:api]
command=%(ENV_APP_HOME)s/bin/api --env %(ENV_APP_ENV)s --port %(ENV_PORT)s
directory=%(ENV_APP_HOME)s
environment=PORT="8%(process_num)03d",HOME="%(ENV_APP_HOME)s",MSG="a, b; c"
stdout_logfile=%(ENV_LOG_DIR)s/%(program_name)s.log
stderr_logfile=%(ENV_LOG_DIR)s/100%%/%(ENV_ODD)s.err
"#;
    let dir = tree(&[("supervisord.conf", conf)]);
    let vars = [
        ("APP_HOME", "/opt/api"),
        ("LOG_DIR", "/var/log/api"),
        ("ODD", "a%(b)s"),
    ];
    let t = translate(dir.path(), "supervisord.conf", &vars);
    let c = load(dir.path(), &t.toml);
    let api = &c.programs["api"];
    assert_eq!(api.cmd, "/opt/api/bin/api --env production --port 8000");
    assert_eq!(api.workingdir, Some(PathBuf::from("/opt/api")));
    assert_eq!(api.stdout, file("/var/log/api/api.log"));
    assert_eq!(
        api.stderr.path_for(0),
        Some(PathBuf::from("/var/log/api/100%/a%(b)s.err")),
        "a literal % survives taskmaster's own expansion of the path"
    );
    let env: Vec<(&str, &str)> = api
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        env,
        [
            ("APP_ENV", "production"),
            ("HOME", "/opt/api"),
            ("MSG", "a, b; c"),
            ("PORT", "8000")
        ]
    );
    assert!(t.unsupported.is_empty(), "{:#?}", t.unsupported);
}

fn import_bin(dir: &Path, args: &[&str]) -> Ctl {
    std::process::Command::new(BIN)
        .arg("import")
        .args(args)
        .current_dir(dir)
        .env("APP_HOME", "/opt/app")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("taskmaster runs")
        .into()
}

#[test]
fn import_through_the_binary_gives_toml_on_stdout_and_notes_on_stderr() {
    let dir = tree(&[(
        "supervisord.conf",
        "[program:app]\ncommand=%(ENV_APP_HOME)s/run\npriority=5\nnumprocs=2\n\
         process_name=%(program_name)s_%(process_num)02d\n\
         stdout_logfile=/var/log/app.%(process_num)d.log\nstdout_logfile_maxbytes=1MB\n\
         stdout_logfile_backups=2\n",
    )]);
    let out = import_bin(dir.path(), &["supervisord.conf"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.out.contains("cmd = \"/opt/app/run\""), "{out:?}");
    assert_eq!(
        out.err.trim(),
        format!(
            "{}/supervisord.conf:3: [program:app] priority: taskmaster starts programs \
             together; say what must run first with depends_on (ignored)",
            dir.path().display()
        )
    );
    std::fs::write(dir.path().join("taskmaster.toml"), &out.out).expect("write");
    let check = std::process::Command::new(BIN)
        .args(["check", "-c", "taskmaster.toml"])
        .current_dir(dir.path())
        .output()
        .expect("check runs");
    assert!(
        check.status.success(),
        "taskmaster check accepts the output: {check:?}"
    );
}

#[test]
fn bad_supervisord_files_are_refused_with_file_and_line() {
    let cases: &[(&str, &str, &str)] = &[
        ("before any section", "command=x\n", "c.conf:1:"),
        (
            "malformed line",
            "[program:a]\ncommand=x\nthis is not a setting\n",
            "c.conf:3:",
        ),
        (
            "cut-off header",
            "[program:a]\ncommand=x\n[program:b",
            "c.conf:3:",
        ),
        (
            "unknown expansion",
            "[program:a]\ncommand=%(ENV_NOPE_X)s/run\n",
            "c.conf:2: [program:a] command: '%(ENV_NOPE_X)' in \"%(ENV_NOPE_X)s/run\": the environment variable NOPE_X is not set",
        ),
        (
            "unknown name",
            "[program:a]\ncommand=%(prog)s\n",
            "c.conf:2: [program:a] command: unknown expansion '%(prog)'",
        ),
        (
            "cut-off value",
            "[program:a]\ncommand=x\nenvironment=A=\"unfinished",
            "c.conf:3: [program:a] environment: no closing quotation",
        ),
        (
            "stray percent",
            "[program:a]\ncommand=echo 100%\n",
            "c.conf:2:",
        ),
        (
            "no command",
            "[program:a]\nautostart=true\n",
            "c.conf:1: [program:a] does not specify a command",
        ),
        (
            "bad boolean",
            "[program:a]\ncommand=x\nautostart=maybe\n",
            "c.conf:3: [program:a] autostart",
        ),
        (
            "bad environment",
            "[program:a]\ncommand=x\nenvironment=A=1,B\n",
            "c.conf:3: [program:a] environment",
        ),
        (
            "bad signal",
            "[program:a]\ncommand=x\nstopsignal=NOPE\n",
            "c.conf:3:",
        ),
        (
            "missing include",
            "[include]\nfiles=nope.conf\n",
            "c.conf:2: [include] files:",
        ),
        ("include without files", "[include]\n", "c.conf:1:"),
        (
            "group needs process_num",
            "[program:a]\ncommand=x\nnumprocs=2\nprocess_name=a\n",
            "c.conf:4:",
        ),
    ];
    for (what, text, want) in cases {
        let dir = tree(&[("c.conf", text)]);
        let out = import_bin(dir.path(), &["c.conf"]);
        assert_eq!(out.code, 1, "{what}: exit 1: {out:?}");
        assert_eq!(out.out, "", "{what}: no partial output: {out:?}");
        assert!(
            out.err.starts_with("taskmaster import: ") && out.err.contains(want),
            "{what}: the message names {want:?}: {out:?}"
        );
        assert_eq!(out.err.lines().count(), 1, "{what}: one line: {out:?}");
    }
    let dir = tree(&[("bin.conf", "")]);
    std::fs::write(dir.path().join("bin.conf"), [0xff, 0xfe, 0x00, 0x80]).expect("write");
    let binary = import_bin(dir.path(), &["bin.conf"]);
    assert_eq!(binary.code, 1, "{binary:?}");
    assert!(binary.err.contains("bin.conf"), "{binary:?}");
    let missing = import_bin(dir.path(), &["nope.conf"]);
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(missing.err.contains("nope.conf"), "{missing:?}");
    let usage = import_bin(dir.path(), &[]);
    assert_eq!(usage.code, 1, "{usage:?}");
    assert!(
        usage.err.contains("required") && usage.err.contains("<FILE.conf>"),
        "clap names the missing file argument: {usage:?}"
    );
}

#[test]
fn log_targets_follow_supervisors_words() {
    let conf = "\
[program:quiet]
command=q
stdout_logfile=NONE
redirect_stderr=true
stderr_logfile=/var/log/ignored.log

[program:auto]
command=a
stdout_logfile=AUTO
stderr_logfile=syslog

[program:relative]
command=r
stdout_logfile=logs/r.log
directory=srv
";
    let dir = tree(&[("supervisord.conf", conf)]);
    let t = translate(dir.path(), "supervisord.conf", &[]);
    let c = load(dir.path(), &t.toml);
    let quiet = &c.programs["quiet"];
    assert_eq!(
        (&quiet.stdout, &quiet.stderr),
        (&OutputTarget::Discard, &OutputTarget::Discard),
        "NONE discards, and stderr follows stdout"
    );
    let auto = &c.programs["auto"];
    assert_eq!(
        (&auto.stdout, &auto.stderr),
        (&OutputTarget::Capture, &OutputTarget::Capture)
    );
    let relative = &c.programs["relative"];
    assert_eq!(
        relative.stdout,
        file(&format!("{}/logs/r.log", dir.path().display()))
    );
    for what in [
        ":5: [program:quiet] stderr_logfile: ignored because redirect_stderr",
        ":9: [program:auto] stdout_logfile: AUTO",
        ":10: [program:auto] stderr_logfile: taskmaster writes output to files only",
        ":14: [program:relative] stdout_logfile: relative path",
        ":15: [program:relative] directory: relative path",
    ] {
        assert_eq!(
            notes_about(&t, what).len(),
            1,
            "{what}: {:#?}",
            t.unsupported
        );
    }
    assert_eq!(t.unsupported.len(), 5, "{:#?}", t.unsupported);
}

#[test]
fn what_taskmaster_would_refuse_is_said_at_import() {
    let dir = tree(&[(
        "supervisord.conf",
        "[program:many]\ncommand=x\nnumprocs=20000\nprocess_name=%(program_name)s_%(process_num)05d\n",
    )]);
    let t = translate_with_env(&dir.path().join("supervisord.conf"), &[]).expect("translates");
    let refused = notes_about(&t, "(translated TOML):");
    assert_eq!(refused.len(), 1, "{:#?}", t.unsupported);
    assert!(
        refused[0].contains("program 'many': key 'numprocs'") && refused[0].contains("10000"),
        "{refused:?}"
    );
}

/// Regression: `import x.conf | head` panicked (exit 101) when the reader had gone.
#[test]
fn a_closed_stdout_is_an_error_not_a_panic() {
    let dir = tree(&[("s.conf", "[program:a]\ncommand=x\npriority=1\n")]);
    let (read_end, write_end) = nix::unistd::pipe().expect("pipe");
    drop(read_end);
    let out = std::process::Command::new(BIN)
        .args(["import", "s.conf"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::from(write_end))
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("taskmaster runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("s.conf:3: [program:a] priority"),
        "notes still said: {err}"
    );
}
