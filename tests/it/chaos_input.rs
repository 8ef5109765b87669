//! Abuse 9: bad input. Random and mangled command lines through the parser and the executor,
//! random/truncated/huge/non-UTF-8 frames through the protocol reader, and the same thrown at
//! a live control socket: no panic, an error for each bad request, and the server keeps
//! serving everyone else.

use std::io::{BufRead, BufReader, Cursor, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use taskmaster::command::{self, Line};
use taskmaster::frontend::socket::{MAX_CLIENTS, RESERVED_CLIENTS, SocketServer};
use taskmaster::protocol::{self, ClientMsg, FrameError, MAX_LINE};
use taskmaster::supervisor::{Command, StateName};

use crate::harness::binary::{ctl, raw_request};
use crate::harness::inprocess::Tm;
use crate::harness::rng::Rng;
use crate::harness::wait_until;

const WORDS: &[&str] = &[
    "status",
    "start",
    "stop",
    "restart",
    "reload",
    "tail",
    "pid",
    "signal",
    "attach",
    "clear",
    "avail",
    "help",
    "version",
    "all",
    "sleeper",
    "sleeper:*",
    "nope",
    "-f",
    "-1600",
    "-0",
    "-99999999999999999999999",
    "stdout",
    "stderr",
    "HUP",
    "SIGKILL",
    "9",
    "-9",
    "999",
    "'",
    "\"",
    "\\",
    "\"unterminated",
    "a b",
    "\u{0}",
    "é",
    "\u{202e}",
    "\t",
    ";",
    "&&",
    "$(x)",
    "*",
    ":",
    "::",
    "sleeper:",
    ":*",
    "",
];

/// A random command line: vocabulary words, random characters and quotes.
fn line(rng: &mut Rng) -> String {
    let n = rng.below(6);
    let mut parts = Vec::new();
    for _ in 0..n {
        let w = match rng.below(4) {
            0 => {
                let len = rng.below(12);
                (0..len)
                    .map(|_| char::from_u32(rng.below(0x3000) as u32).unwrap_or('?'))
                    .collect()
            }
            _ => WORDS[rng.below(WORDS.len() as u64) as usize].to_string(),
        };
        parts.push(w);
    }
    parts.join(" ")
}

/// Lines that would end the supervisor or stream forever are parsed but not executed.
fn harmless(line: &Line) -> Option<Command> {
    match line {
        Line::Command(cmd)
            if !cmd.is_streaming()
                && !matches!(
                    cmd,
                    Command::Shutdown | Command::Stop { .. } | Command::Reload
                ) =>
        {
            Some(cmd.clone())
        }
        _ => None,
    }
}

#[test]
fn parser_and_executor_survive_20000_random_lines() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.sleeper]
cmd = "sleep 1000"
numprocs = 2
starttime = 0
"#,
    );
    let mut rng = Rng::new(9);
    let (mut ok, mut err, mut executed) = (0, 0, 0);
    for _ in 0..20_000 {
        let text = line(&mut rng);
        match command::parse(&text) {
            Ok(line) => {
                ok += 1;
                if let Some(cmd) = harmless(&line).filter(|_| executed < 2_000) {
                    executed += 1;
                    let _ = command::run(&tm.handle, cmd);
                }
            }
            Err(e) => {
                err += 1;
                assert!(!e.to_string().is_empty());
            }
        }
        // The socket path: already split words, no quoting at all.
        let words: Vec<String> = text.split(' ').map(str::to_string).collect();
        let _ = command::parse_words(&words);
    }
    eprintln!("chaos_input: 20000 lines: {ok} parsed, {err} refused, {executed} executed");
    // Random signals may have killed the sleepers; they come back (autorestart unexpected).
    wait_until(Duration::from_secs(20), "supervisor still serving", || {
        tm.status().count(StateName::Running) == 2
    });
    tm.shutdown();
}

#[test]
fn protocol_reader_survives_random_truncated_huge_and_invalid_frames() {
    let mut rng = Rng::new(77);
    let valid = br#"{"cmd": "status", "args": ["sleeper", "x"]}"#;
    let mut errors = 0;
    // Every prefix of a valid message.
    for cut in 0..valid.len() {
        let r = protocol::read_msg::<ClientMsg>(&mut Cursor::new(&valid[..cut]));
        if cut > 0 {
            assert!(
                matches!(r, Err(FrameError::Invalid(_))),
                "prefix {cut}: {r:?}"
            );
            errors += 1;
        }
    }
    // Random bytes, with and without newlines.
    for _ in 0..5_000 {
        let len = rng.below(300) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let mut cur = Cursor::new(bytes);
        for _ in 0..50 {
            match protocol::read_msg::<ClientMsg>(&mut cur) {
                Ok(None) | Err(FrameError::TooLong) | Err(FrameError::Io(_)) => break,
                Ok(Some(_)) => {}
                Err(FrameError::Invalid(_)) => errors += 1,
            }
        }
    }
    // Invalid UTF-8 inside a JSON string.
    let bad = b"{\"cmd\": \"st\xffatus\"}\n";
    assert!(matches!(
        protocol::read_msg::<ClientMsg>(&mut Cursor::new(&bad[..])),
        Err(FrameError::Invalid(_))
    ));
    // A line one byte over the cap, and a much longer one: refused without buffering it all.
    for len in [MAX_LINE + 1, 16 * MAX_LINE] {
        let huge = vec![b'a'; len];
        let r = protocol::read_msg::<ClientMsg>(&mut Cursor::new(huge));
        assert!(matches!(r, Err(FrameError::TooLong)), "{len} bytes: {r:?}");
    }
    let exact = vec![b' '; MAX_LINE];
    assert!(!matches!(
        protocol::read_msg::<ClientMsg>(&mut Cursor::new(exact)),
        Err(FrameError::TooLong)
    ));
    // Deep nesting: serde_json's recursion limit, not a stack overflow.
    let deep = format!("{}{}\n", "[".repeat(50_000), "]".repeat(50_000));
    assert!(protocol::read_msg::<ClientMsg>(&mut Cursor::new(deep)).is_err());
    eprintln!("chaos_input: protocol reader: {errors} invalid frames reported, none panicked");
}

fn reply_of(stream: &mut UnixStream) -> Option<serde_json::Value> {
    let mut line = String::new();
    BufReader::new(stream.try_clone().ok()?)
        .read_line(&mut line)
        .ok()?;
    serde_json::from_str(&line).ok()
}

#[test]
fn live_socket_survives_garbage_and_keeps_serving() {
    let tm = Tm::start(
        r#"
[taskmaster]
socket = false
[programs.sleeper]
cmd = "sleep 1000"
starttime = 0
"#,
    );
    let path = tm.path("tm.sock");
    let server = SocketServer::start(&path, tm.handle.clone()).expect("socket server");
    let pid = tm.info("sleeper").pid;
    let garbage: Vec<Vec<u8>> = vec![
        b"\n".to_vec(),
        b"not json\n".to_vec(),
        b"{\n".to_vec(),
        b"{\"cmd\": 5}\n".to_vec(),
        b"{\"args\": [\"x\"]}\n".to_vec(),
        b"{\"cmd\": \"status\", \"args\": \"sleeper\"}\n".to_vec(),
        b"{\"cmd\": \"status\", \"unknown\": 1}\n".to_vec(),
        b"{\"cmd\": \"frobnicate\"}\n".to_vec(),
        b"{\"cmd\": \"tail\", \"args\": [\"-99999999999999999999\", \"sleeper\"]}\n".to_vec(),
        b"{\"cmd\": \"signal\", \"args\": [\"NOPE\", \"sleeper\"]}\n".to_vec(),
        b"{\"cmd\": \"st\xff\xfeatus\"}\n".to_vec(),
        b"\x00\x01\x02\xff\n".to_vec(),
        b"[1, 2, 3]\n".to_vec(),
        b"null\n".to_vec(),
        format!("{}\n", "[".repeat(10_000)).into_bytes(),
    ];
    for g in &garbage {
        let reply = raw_request(&path, g).expect("an error reply, not silence");
        let v: serde_json::Value = serde_json::from_str(&reply).expect("JSON reply");
        assert_eq!(
            v["ok"],
            false,
            "{:?} -> {reply}",
            String::from_utf8_lossy(g)
        );
    }
    // Several bad lines then a good one on the same connection: the good one is served.
    let mut s = UnixStream::connect(&path).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).ok();
    s.write_all(b"junk\n{\"cmd\":\"status\"}\n").expect("write");
    let mut r = BufReader::new(s.try_clone().expect("clone"));
    let mut first = String::new();
    let mut second = String::new();
    r.read_line(&mut first).ok();
    r.read_line(&mut second).ok();
    assert!(first.contains("\"ok\":false"), "{first}");
    assert!(second.contains("sleeper"), "{second}");
    drop((r, s));

    // A huge line: an error, then the connection is closed; nothing buffered past the cap.
    let mut s = UnixStream::connect(&path).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).ok();
    let huge = vec![b'x'; 4 * 1024 * 1024];
    let writer = {
        let mut w = s.try_clone().expect("clone");
        std::thread::spawn(move || {
            let _ = w.write_all(&huge);
        })
    };
    let v = reply_of(&mut s).expect("a reply to the huge line");
    assert_eq!(v["ok"], false, "{v}");
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    drop(s);
    let _ = writer.join();

    // Disconnects mid-request, truncated JSON and invalid UTF-8 without a newline.
    for bytes in [
        &b"{\"cmd\": \"sta"[..],
        b"\xff\xfe",
        b"{\"cmd\":\"status\"}",
    ] {
        let mut s = UnixStream::connect(&path).expect("connect");
        let _ = s.write_all(bytes);
        let _ = s.shutdown(std::net::Shutdown::Write);
        drop(s);
    }
    // Clients that connect and say nothing fill the slots, the reserved one too; the next one
    // is told, not hung.
    let idle: Vec<UnixStream> = (0..MAX_CLIENTS + RESERVED_CLIENTS)
        .filter_map(|_| UnixStream::connect(&path).ok())
        .collect();
    wait_until(
        Duration::from_secs(20),
        "a client over the limit is refused",
        || raw_request(&path, b"{\"cmd\":\"status\"}\n").is_some_and(|r| r.contains("too many")),
    );
    drop(idle);
    wait_until(Duration::from_secs(20), "slots freed", || {
        raw_request(&path, b"{\"cmd\":\"status\"}\n").is_some_and(|r| r.contains("sleeper"))
    });
    let status = ctl(&path, "status", &[]);
    assert_eq!(status["ok"], true, "{status}");
    assert_eq!(tm.info("sleeper").pid, pid, "garbage touched no process");
    eprintln!(
        "chaos_input: socket: {} garbage requests, huge 4 MiB line, 3 mid-request \
         disconnects, {MAX_CLIENTS} idle clients; still serving",
        garbage.len()
    );
    drop(server);
    tm.shutdown();
}
