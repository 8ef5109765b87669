//! Abuse 10: the control socket's permissions and a symlink planted at its path; a child's
//! environment; the modes of files taskmaster creates under its umask.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::time::Duration;

use nix::sys::stat::{Mode, umask};
use taskmaster::supervisor::StateName;

use crate::harness::binary::{Daemon, ctl};
use crate::harness::inprocess::Tm;
use crate::harness::{read, wait_until};

const WRITER: &str = r#"
[programs.writer]
cmd = "sh -c 'echo hello; sleep 1000'"
starttime = 0
stdout = "{dir}/writer.out"
"#;

/// taskmaster started under `umask mask`.
fn start_with_umask(mask: u32) -> Daemon {
    let mask = Mode::from_bits_truncate(mask);
    Daemon::launch(WRITER)
        .setup(move |_, cmd| {
            // SAFETY: umask is async-signal-safe and cannot fail.
            unsafe {
                cmd.pre_exec(move || {
                    umask(mask);
                    Ok(())
                });
            }
        })
        .start()
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0)
}

#[test]
fn socket_is_0600_even_under_umask_000_and_files_follow_umask_027() {
    for (mask, file_mode) in [(0o000, 0o666), (0o027, 0o640)] {
        let bin = start_with_umask(mask);
        let socket = bin.socket.clone();
        assert_eq!(mode(&socket), 0o600, "umask {mask:03o}: socket mode");
        let meta = std::fs::metadata(&socket).expect("socket exists");
        assert_eq!(meta.uid(), nix::unistd::getuid().as_raw(), "owned by us");
        let out = bin.path("writer.out");
        wait_until(Duration::from_secs(20), "writer wrote", || {
            read(&out).contains("hello")
        });
        assert_eq!(ctl(&socket, "status", &["writer"])["ok"], true);
        assert_eq!(
            mode(&out),
            file_mode,
            "umask {mask:03o}: program output file"
        );
        assert_eq!(mode(&bin.log), file_mode, "umask {mask:03o}: event log");
        eprintln!(
            "chaos_security: umask {mask:03o}: socket {:o}, files {:o}",
            mode(&socket),
            file_mode
        );
    }
}

#[test]
fn a_symlink_at_the_socket_path_is_refused_and_its_target_untouched() {
    for target_exists in [true, false] {
        let mut bin = Daemon::launch(WRITER)
            .setup(move |dir, _| {
                let victim = dir.join("victim");
                if target_exists {
                    std::fs::write(&victim, "precious").expect("victim file");
                }
                std::os::unix::fs::symlink(&victim, dir.join("tm.sock")).expect("plant symlink");
            })
            .spawn();
        let code = bin.wait_exit();
        assert_ne!(code, 0, "taskmaster must refuse to start");
        let victim = bin.path("victim");
        if target_exists {
            assert_eq!(read(&victim), "precious", "the symlink target is untouched");
        } else {
            assert!(!victim.exists(), "nothing created through the symlink");
        }
        let link = std::fs::symlink_metadata(bin.path("tm.sock")).expect("link still there");
        assert!(
            link.file_type().is_symlink(),
            "the planted link is left alone"
        );
        // It refused before starting anything.
        assert!(!bin.path("writer.out").exists(), "no program started");
    }
}

#[test]
fn a_child_environment_is_inherited_plus_configured_only() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.env]
cmd = "env"
starttime = 0
autorestart = "never"
stdout = "{dir}/env.out"
env = { CHAOS_ADDED = "yes", ANSWER = 42, PATH = "/usr/bin:/bin" }
"#,
    );
    tm.wait_state("env", StateName::Exited);
    let out = tm.path("env.out");
    wait_until(Duration::from_secs(10), "env output", || {
        read(&out).contains("CHAOS_ADDED=")
    });
    let got: BTreeMap<String, String> = read(&out)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut want: BTreeMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(_, v)| !v.contains('\n'))
        .collect();
    want.insert("CHAOS_ADDED".into(), "yes".into());
    want.insert("ANSWER".into(), "42".into());
    want.insert("PATH".into(), "/usr/bin:/bin".into());
    let extra: Vec<&String> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    let missing: Vec<&String> = want.keys().filter(|k| !got.contains_key(*k)).collect();
    assert!(extra.is_empty(), "variables nobody configured: {extra:?}");
    assert!(missing.is_empty(), "variables lost: {missing:?}");
    assert_eq!(got, want, "values as inherited or configured");
    tm.shutdown();
}
