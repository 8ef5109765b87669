//! Tests of the output module with real pipes, real files and real children.

use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::*;

const LONG: Duration = Duration::from_secs(60);

/// A child in its own process group, killed with its group and reaped on drop.
struct Kid(Child);

impl Kid {
    fn sh(script: &str, out: Option<OwnedFd>, err: Option<OwnedFd>) -> Kid {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(out.map_or_else(Stdio::null, Stdio::from))
            .stderr(err.map_or_else(Stdio::null, Stdio::from))
            .process_group(0);
        // `cmd` is dropped here, closing our copies of the write ends: EOF comes with the child.
        Kid(cmd.spawn().expect("spawn sh"))
    }

    fn wait(&mut self) {
        let _ = self.0.wait();
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        let pgid = nix::unistd::Pid::from_raw(self.0.id() as i32);
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        let _ = self.0.wait();
    }
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + LONG;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn text(chunks: &[Chunk]) -> String {
    chunks
        .iter()
        .map(|c| String::from_utf8_lossy(&c.data).into_owned())
        .collect()
}

fn piped(file: Option<LogSink>) -> (Pipe, OwnedFd) {
    let (r, w) = pipe().expect("pipe");
    (Pipe { fd: r, file }, w)
}

fn put(w: &OwnedFd, bytes: &[u8]) {
    nix::unistd::write(w, bytes).expect("write to pipe");
}

#[test]
fn pipe_is_cloexec_and_large() {
    let (r, w) = pipe().expect("pipe");
    for fd in [&r, &w] {
        let flags = fcntl(fd.as_raw_fd(), FcntlArg::F_GETFD).expect("F_GETFD");
        assert_ne!(flags & nix::libc::FD_CLOEXEC, 0);
    }
    let size = fcntl(r.as_raw_fd(), FcntlArg::F_GETPIPE_SZ).expect("F_GETPIPE_SZ");
    assert!(size >= 64 * 1024, "pipe size {size}");
}

#[test]
fn open_log_appends() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a.log");
    open_log(&path)
        .and_then(|mut f| f.write_all(b"one\n"))
        .expect("write");
    open_log(&path)
        .and_then(|mut f| f.write_all(b"two\n"))
        .expect("write");
    assert_eq!(std::fs::read_to_string(&path).expect("read"), "one\ntwo\n");
}

#[test]
fn every_byte_reaches_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("out.log");
    let (hub, reader) = OutputHub::start().expect("start");
    let (out, w) = piped(Some(LogSink::plain(&path).expect("open")));
    let mut kid = Kid::sh("head -c 50000000 /dev/zero", Some(w), None);
    hub.register("zero", Some(out), None);
    kid.wait();
    wait_until("50 MB captured", || reader.seq("zero") == 50_000_000);
    hub.finish(LONG);
    assert_eq!(std::fs::metadata(&path).expect("stat").len(), 50_000_000);
    assert!(reader.held("zero") <= RING_CAP);
}

#[test]
fn ring_stays_bounded_while_a_child_floods() {
    let (hub, reader) = OutputHub::start().expect("start");
    let (out, w) = piped(None);
    let _kid = Kid::sh("exec yes", Some(w), None);
    hub.register("yes", Some(out), None);
    wait_until("20 MB from yes", || {
        assert!(reader.held("yes") <= RING_CAP);
        reader.seq("yes") > 20_000_000
    });
    let tail = reader.tail("yes", None, usize::MAX).expect("ring");
    let bytes: usize = tail.iter().map(|c| c.data.len()).sum();
    assert!(bytes <= RING_CAP && bytes > 0);
    assert!(
        tail.iter()
            .all(|c| c.data.iter().all(|&b| b == b'y' || b == b'\n'))
    );
    let proc = reader.shared.get("yes").expect("proc");
    assert!(proc.lock().ring.allocated() <= RING_CAP);
}

#[test]
fn tail_interleaves_and_filters_streams() {
    let (hub, reader) = OutputHub::start().expect("start");
    let (out, wo) = piped(None);
    let (err, we) = piped(None);
    hub.register("p", Some(out), Some(err));
    let mut sent = 0;
    for (w, s) in [(&wo, "o1 "), (&we, "e1 "), (&wo, "o2 "), (&we, "e2 ")] {
        put(w, s.as_bytes());
        sent += s.len() as u64;
        wait_until("chunk captured", || reader.seq("p") == sent);
    }
    let all = reader.tail("p", None, usize::MAX).expect("ring");
    let streams: Vec<Stream> = all.iter().map(|c| c.stream).collect();
    use Stream::{Stderr, Stdout};
    assert_eq!(streams, [Stdout, Stderr, Stdout, Stderr]);
    assert_eq!(text(&all), "o1 e1 o2 e2 ");
    let errs = reader.tail("p", Some(Stderr), usize::MAX).expect("ring");
    assert!(errs.iter().all(|c| c.stream == Stderr));
    assert_eq!(text(&errs), "e1 e2 ");
    assert_eq!(
        text(&reader.tail("p", Some(Stdout), 4).expect("ring")),
        " o2 "
    );
    assert_eq!(
        text(&reader.tail("p", None, 5).expect("ring")),
        "o2 e2 "[1..].to_owned()
    );
    assert!(reader.tail("nobody", None, 10).is_none());
    reader.clear("p");
    assert_eq!(reader.tail("p", None, 100).expect("ring").len(), 0);
    assert_eq!(reader.seq("p"), sent);
    drop((wo, we));
    hub.finish(LONG);
}

#[test]
fn a_restart_appends_to_the_same_ring() {
    let (hub, reader) = OutputHub::start().expect("start");
    for generation in ["first ", "second"] {
        let (out, w) = piped(None);
        hub.register("p", Some(out), None);
        put(&w, generation.as_bytes());
    }
    wait_until("both generations", || reader.seq("p") == 12);
    assert_eq!(
        text(&reader.tail("p", None, 100).expect("ring")),
        "first second"
    );
    hub.finish(LONG);
}

#[test]
fn follow_gets_chunks_and_ends_when_forgotten() {
    let (hub, reader) = OutputHub::start().expect("start");
    let follower = reader.follow("p");
    let (out, w) = piped(None);
    hub.register("p", Some(out), None);
    put(&w, b"hello");
    let chunk = follower.recv_timeout(LONG).expect("a chunk");
    assert_eq!(
        (chunk.stream, &chunk.data[..]),
        (Stream::Stdout, &b"hello"[..])
    );
    // Forgotten while the pipe is open: it drains to EOF first, followers still served.
    hub.forget("p");
    put(&w, b"bye");
    assert_eq!(
        &follower.recv_timeout(LONG).expect("a chunk").data[..],
        b"bye"
    );
    drop(w);
    assert!(matches!(
        follower.recv_timeout(LONG),
        Err(crossbeam_channel::RecvTimeoutError::Disconnected)
    ));
    assert!(reader.tail("p", None, 10).is_none());
    assert_eq!(reader.seq("p"), 0);
    hub.finish(LONG);
}

/// Regression: attach read the backlog and subscribed in two steps, so a chunk arriving in
/// between showed twice (or, in the other order, not at all).
#[test]
fn tail_and_follow_neither_repeats_nor_loses_a_chunk() {
    let (hub, reader) = OutputHub::start().expect("start");
    let (out, w) = piped(None);
    hub.register("p", Some(out), None);
    put(&w, b"old");
    wait_until("old captured", || reader.seq("p") == 3);
    let (backlog, follower) = reader.tail_and_follow("p", None, 1024);
    assert_eq!(text(&backlog), "old", "the backlog has what came before");
    put(&w, b"new");
    let chunk = follower.recv_timeout(LONG).expect("a chunk");
    assert_eq!(
        &chunk.data[..],
        b"new",
        "the stream starts right after the backlog"
    );
    assert!(follower.try_recv().is_err(), "nothing else, nothing twice");
    drop(w);
    hub.finish(LONG);
}

#[test]
fn a_slow_follower_misses_chunks_but_capture_goes_on() {
    let (hub, reader) = OutputHub::start().expect("start");
    let follower = reader.follow("yes");
    let (out, w) = piped(None);
    let _kid = Kid::sh("exec yes", Some(w), None);
    hub.register("yes", Some(out), None);
    wait_until("capture beyond the follower's queue", || {
        reader.seq("yes") > (FOLLOW_QUEUE * FOLLOW_CHUNK * 2) as u64
    });
    assert!(follower.len() <= FOLLOW_QUEUE);
    assert!(follower.try_recv().is_ok());
}

#[test]
fn watch_is_notified_and_rate_limited() {
    let (hub, reader) = OutputHub::start().expect("start");
    let watch = reader.watch();
    let (out, w) = piped(None);
    hub.register("p", Some(out), None);
    put(&w, b"x");
    watch.recv_timeout(LONG).expect("a notice");
    let start = Instant::now();
    let mut notices = 0;
    while start.elapsed() < Duration::from_millis(500) {
        put(&w, b"x");
        if watch.try_recv().is_ok() {
            notices += 1;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    // ~30 a second: 15 in half a second, with slack for the loop's own timing.
    assert!(notices <= 20, "{notices} notices in 0.5 s");
    drop(w);
    hub.finish(LONG);
}

#[test]
fn finish_returns_after_eof() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("out.log");
    let (hub, _reader) = OutputHub::start().expect("start");
    let (out, w) = piped(Some(LogSink::plain(&path).expect("open")));
    let _kid = Kid::sh("echo a; sleep 0.3; echo b", Some(w), None);
    hub.register("p", Some(out), None);
    let start = Instant::now();
    hub.finish(Duration::from_secs(600));
    assert!(start.elapsed() < LONG);
    assert_eq!(std::fs::read_to_string(&path).expect("read"), "a\nb\n");
}

#[test]
fn finish_gives_up_at_the_timeout() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("out.log");
    let (hub, _reader) = OutputHub::start().expect("start");
    let (out, w) = piped(Some(LogSink::plain(&path).expect("open")));
    // The background sleep keeps the pipe open long after the shell has gone.
    let _kid = Kid::sh("echo x; sleep 600 & exit 0", Some(w), None);
    hub.register("p", Some(out), None);
    wait_until("the line", || {
        std::fs::read_to_string(&path).is_ok_and(|s| s == "x\n")
    });
    let start = Instant::now();
    hub.finish(Duration::from_millis(300));
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < LONG,
        "{took:?}"
    );
}

#[test]
fn an_unwritable_file_does_not_stop_capture() {
    let (hub, reader) = OutputHub::start().expect("start");
    let full = LogSink::plain(Path::new("/dev/full")).expect("/dev/full");
    let (out, w) = piped(Some(full));
    let mut kid = Kid::sh(
        "echo one; echo two >&2; echo three",
        Some(w.try_clone().expect("dup")),
        Some(w),
    );
    // Both streams of the child go into one pipe here; what matters is the ring.
    hub.register("p", Some(out), None);
    kid.wait();
    wait_until("all lines", || reader.seq("p") == 14);
    assert_eq!(
        text(&reader.tail("p", None, 100).expect("ring")),
        "one\ntwo\nthree\n"
    );
    // The thread is still serving other pipes.
    let (out2, w2) = piped(None);
    hub.register("q", Some(out2), None);
    put(&w2, b"still here");
    wait_until("q captured", || reader.seq("q") == 10);
    drop(w2);
    hub.finish(LONG);
}

fn io_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|c| c.trim() == "taskmaster-io")
        })
        .count()
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .count()
}

const ISOLATED: &str = "TASKMASTER_OUTPUT_ISOLATED_TEST";

/// Runs `many_pipes_one_thread_inner` alone in a fresh test process, where counting the
/// process's threads is not disturbed by the tests running in parallel here.
#[test]
fn many_pipes_one_thread() {
    let exe = std::env::current_exe().expect("current_exe");
    let out = Command::new(exe)
        .args([
            "output::tests::many_pipes_one_thread_inner",
            "--exact",
            "--ignored",
        ])
        .args(["--test-threads=1", "--nocapture"])
        .env(ISOLATED, "1")
        .output()
        .expect("run the isolated test");
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{log}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(log.contains("1 passed"), "{log}");
}

#[test]
#[ignore = "run by many_pipes_one_thread in a process of its own"]
fn many_pipes_one_thread_inner() {
    const KIDS: usize = 100;
    let isolated = std::env::var_os(ISOLATED).is_some();
    let dir = tempfile::tempdir().expect("tempdir");
    let (hub, reader) = OutputHub::start().expect("start");
    if isolated {
        // The new thread names itself once it runs.
        wait_until("the I/O thread", || io_threads() == 1);
    }
    let before = threads();
    let mut kids = Vec::new();
    for i in 0..KIDS {
        let file = (i % 2 == 0)
            .then(|| LogSink::plain(&dir.path().join(format!("{i}.log"))).expect("open"));
        let (out, wo) = piped(file);
        let (err, we) = piped(None);
        let script = "sleep 0.2; head -c 100000 /dev/zero; head -c 50000 /dev/zero >&2";
        kids.push(Kid::sh(script, Some(wo), Some(we)));
        hub.register(&format!("k{i}"), Some(out), Some(err));
    }
    if isolated {
        assert_eq!(threads(), before, "register must not start threads");
        assert_eq!(io_threads(), 1);
    }
    for i in 0..KIDS {
        wait_until("every pipe drained", || {
            reader.seq(&format!("k{i}")) == 150_000
        });
    }
    if isolated {
        assert_eq!(threads(), before);
    }
    for k in &mut kids {
        k.wait();
    }
    hub.finish(LONG);
    for i in (0..KIDS).step_by(2) {
        let len = std::fs::metadata(dir.path().join(format!("{i}.log")))
            .expect("stat")
            .len();
        assert_eq!(len, 100_000);
    }
}
