//! The control-socket wire format, shared by the server ([`crate::frontend::socket`]) and the
//! client ([`crate::frontend::ctl`]): one JSON object per line each way.
//!
//! Client to server, one of:
//! - `{"cmd": "status", "args": ["nginx"]}` — a command as words (for simple scripts);
//! - `{"request": {"cmd": "status", "targets": [{"process": "nginx"}]}}` — a typed
//!   [`Command`] (what `ctl` sends);
//! - `{"stdin": "text\n"}` — while attached (`attach NAME`), bytes for the process's stdin;
//!   also `{"input": "<base64>"}` (any bytes: raw attach to a pty program), `{"resize": [rows,
//!   cols]}` (a pty program's terminal takes the client's size; the last one sent wins) and
//!   `{"eof": true}` (end of input).
//!
//! Server to client:
//! - the final reply: `{"ok": true, "output": "...", "code": 0, "kind": "status", "data": [...]}`
//!   or `{"ok": false, "error": "...", "code": 1, "fault": {...}}`. `output`/`error` is the text
//!   the shell prints; `kind` + `data` is the typed [`Reply`] (`ctl --json` prints `data`;
//!   clients render their text from it); `code` is `ctl`'s exit code and `"quit": true` marks
//!   a `shutdown`;
//! - for `tail -f` and `attach`, any number of `{"ok": true, "stream": "stdout", "bytes":
//!   "<base64>"}` chunks first: output travels as bytes, whatever it holds. The stream goes on
//!   until the client closes the connection (or the process is removed by a reload, which
//!   ends it with a final reply).
//!
//! Lines are capped at [`MAX_LINE`] bytes: a reader never buffers more than that.

use std::io::{self, BufRead, Write};

use serde::{Deserialize, Serialize};

use crate::supervisor::{Answer, Command, Fault, Reply};

/// The longest request line the server accepts, newline excluded.
pub const MAX_LINE: usize = 64 * 1024;
/// The longest reply line a client accepts: `status` of 10,000 processes is about 3 MB.
pub const MAX_REPLY_LINE: usize = 64 * 1024 * 1024;

/// A message from a client.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientMsg {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Command>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
    /// While attached: bytes for the process's input, base64 (raw attach to a pty program:
    /// every key, whatever it is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// While attached to a pty program: the client's terminal size, `[rows, cols]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resize: Option<[u16; 2]>,
    /// While attached: end of input (a pipe program's stdin is closed).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub eof: bool,
}

impl ClientMsg {
    pub fn words(cmd: &str, args: &[String]) -> ClientMsg {
        ClientMsg {
            cmd: Some(cmd.to_string()),
            args: args.to_vec(),
            ..ClientMsg::default()
        }
    }

    pub fn request(cmd: Command) -> ClientMsg {
        ClientMsg {
            request: Some(cmd),
            ..ClientMsg::default()
        }
    }

    pub fn input(bytes: &[u8]) -> ClientMsg {
        ClientMsg {
            input: Some(base64::encode(bytes)),
            ..ClientMsg::default()
        }
    }

    pub fn resize(size: crate::spawn::TtySize) -> ClientMsg {
        ClientMsg {
            resize: Some([size.rows, size.cols]),
            ..ClientMsg::default()
        }
    }

    pub fn eof() -> ClientMsg {
        ClientMsg {
            eof: true,
            ..ClientMsg::default()
        }
    }

    pub fn stdin(text: &str) -> ClientMsg {
        ClientMsg {
            stdin: Some(text.to_string()),
            ..ClientMsg::default()
        }
    }
}

/// A message from the server: a final reply, or one chunk of a stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerMsg {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default)]
    pub code: i32,
    #[serde(default, skip_serializing_if = "is_false")]
    pub quit: bool,
    /// The [`Reply`] variant, with its content in `data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<Fault>,
    /// `stdout` or `stderr` on a stream chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// A stream chunk's bytes, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !b
}

impl ServerMsg {
    /// The final reply for an answer, with the text the shell would print and its exit code.
    pub fn reply(answer: &Answer, outcome: &crate::command::Outcome) -> ServerMsg {
        let text = outcome.text.clone();
        let base = ServerMsg {
            ok: answer.is_ok() && outcome.code != 1,
            code: outcome.code,
            quit: outcome.quit,
            ..ServerMsg::default()
        };
        match answer {
            Ok(reply) => {
                let (kind, data) = split_reply(reply);
                let (output, error) = if base.ok {
                    (Some(text), None)
                } else {
                    (None, Some(text))
                };
                ServerMsg {
                    output,
                    error,
                    kind,
                    data,
                    ..base
                }
            }
            Err(fault) => ServerMsg {
                error: Some(text),
                fault: Some(fault.clone()),
                ..base
            },
        }
    }

    /// An error that is no command's answer (garbage, an over-long line).
    pub fn error(text: impl Into<String>) -> ServerMsg {
        ServerMsg {
            ok: false,
            error: Some(text.into()),
            code: 1,
            ..ServerMsg::default()
        }
    }

    pub fn chunk(stream: &str, data: &[u8]) -> ServerMsg {
        ServerMsg {
            ok: true,
            stream: Some(stream.to_string()),
            bytes: Some(base64::encode(data)),
            ..ServerMsg::default()
        }
    }

    pub fn is_chunk(&self) -> bool {
        self.stream.is_some()
    }

    /// A chunk's bytes (empty when they are not valid base64).
    pub fn chunk_bytes(&self) -> Vec<u8> {
        self.bytes
            .as_deref()
            .and_then(base64::decode)
            .unwrap_or_default()
    }

    /// The typed answer this reply carries, when it carries one this client understands.
    pub fn answer(&self) -> Option<Answer> {
        if let Some(fault) = &self.fault {
            return Some(Err(fault.clone()));
        }
        let kind = self.kind.clone()?;
        let mut obj = serde_json::Map::new();
        obj.insert("kind".into(), serde_json::Value::String(kind));
        if let Some(data) = &self.data {
            obj.insert("data".into(), data.clone());
        }
        serde_json::from_value::<Reply>(serde_json::Value::Object(obj))
            .ok()
            .map(Ok)
    }

    /// The text a client prints for a final reply.
    pub fn text(&self) -> &str {
        match (&self.output, &self.error) {
            (Some(out), _) if self.ok || self.error.is_none() => out,
            (_, Some(err)) => err,
            (Some(out), None) => out,
            (None, None) => "",
        }
    }
}

/// `kind` and `data` of a reply (a `Follow` is never sent: none).
fn split_reply(reply: &Reply) -> (Option<String>, Option<serde_json::Value>) {
    match serde_json::to_value(reply) {
        Ok(serde_json::Value::Object(mut obj)) => {
            let kind = obj
                .remove("kind")
                .and_then(|k| k.as_str().map(str::to_string));
            (kind, obj.remove("data"))
        }
        _ => (None, None),
    }
}

/// Standard base64 with padding (RFC 4648), for bytes inside JSON; also a serde `with` module.
pub mod base64 {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub fn encode(data: &[u8]) -> String {
        let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
        for chunk in data.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    pub fn decode(text: &str) -> Option<Vec<u8>> {
        let text = text.as_bytes();
        if !text.len().is_multiple_of(4) {
            return None;
        }
        let mut out = Vec::with_capacity(text.len() / 4 * 3);
        for quad in text.chunks(4) {
            let pad = quad.iter().rev().take_while(|&&c| c == b'=').count();
            if pad > 2 {
                return None;
            }
            let mut n = 0u32;
            for &c in &quad[..4 - pad] {
                let v = ALPHABET.iter().position(|&a| a == c)? as u32;
                n = (n << 6) | v;
            }
            n <<= 6 * pad as u32;
            let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            out.extend_from_slice(&bytes[..3 - pad]);
        }
        Some(out)
    }

    pub fn serialize<S: serde::Serializer>(data: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(data))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text: String = serde::Deserialize::deserialize(d)?;
        decode(&text).ok_or_else(|| serde::de::Error::custom("invalid base64"))
    }
}

/// Why a line could not be read.
#[derive(Debug)]
pub enum FrameError {
    /// More than [`MAX_LINE`] bytes without a newline; the rest of the stream is unusable.
    TooLong,
    /// Not UTF-8 or not the expected JSON; the next line may be fine.
    Invalid(String),
    Io(io::Error),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::TooLong => write!(f, "line too long"),
            FrameError::Invalid(why) => write!(f, "invalid message: {why}"),
            FrameError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for FrameError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FrameError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// Reads one line (without its newline), never buffering more than `max` bytes of it.
/// `Ok(None)` at end of stream; a last line without newline still counts as a line.
pub fn read_line_capped(
    reader: &mut impl BufRead,
    max: usize,
) -> Result<Option<Vec<u8>>, FrameError> {
    let mut line = Vec::new();
    loop {
        let buf = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(FrameError::Io(e)),
        };
        if buf.is_empty() {
            return Ok((!line.is_empty()).then_some(line));
        }
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i, true),
            None => (buf.len(), false),
        };
        if line.len() + take > max {
            return Err(FrameError::TooLong);
        }
        line.extend_from_slice(&buf[..take]);
        reader.consume(if done { take + 1 } else { take });
        if done {
            return Ok(Some(line));
        }
    }
}

/// Reads and decodes one JSON message; `Ok(None)` at end of stream.
pub fn read_msg<T: for<'de> Deserialize<'de>>(
    reader: &mut impl BufRead,
) -> Result<Option<T>, FrameError> {
    read_msg_capped(reader, MAX_LINE)
}

/// [`read_msg`] with another cap (clients reading replies use [`MAX_REPLY_LINE`]).
pub fn read_msg_capped<T: for<'de> Deserialize<'de>>(
    reader: &mut impl BufRead,
    cap: usize,
) -> Result<Option<T>, FrameError> {
    let Some(line) = read_line_capped(reader, cap)? else {
        return Ok(None);
    };
    let text = std::str::from_utf8(&line).map_err(|_| FrameError::Invalid("not UTF-8".into()))?;
    serde_json::from_str(text)
        .map(Some)
        .map_err(|e| FrameError::Invalid(e.to_string()))
}

/// Writes one message as a line and flushes it.
pub fn write_msg<T: Serialize>(writer: &mut impl Write, msg: &T) -> io::Result<()> {
    let mut line = serde_json::to_vec(msg).map_err(io::Error::other)?;
    line.push(b'\n');
    writer.write_all(&line)?;
    writer.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::supervisor::Target;

    #[test]
    fn request_has_the_documented_shape() {
        let msg = ClientMsg::words("status", &["nginx".to_string()]);
        let json = serde_json::to_string(&msg).expect("serializable");
        assert_eq!(json, r#"{"cmd":"status","args":["nginx"]}"#);
        let msg = ClientMsg::request(Command::Start {
            targets: vec![Target::All, Target::Process("web".into())],
        });
        let json = serde_json::to_string(&msg).expect("serializable");
        assert_eq!(
            json,
            r#"{"request":{"cmd":"start","targets":["all",{"process":"web"}]}}"#
        );
    }

    #[test]
    fn reply_has_the_documented_shape() {
        let answer: Answer = Ok(Reply::Pid(7));
        let outcome = crate::command::render(&answer);
        let json = serde_json::to_string(&ServerMsg::reply(&answer, &outcome)).expect("ser");
        assert_eq!(
            json,
            r#"{"ok":true,"output":"7","code":0,"kind":"pid","data":7}"#
        );
        let json = serde_json::to_string(&ServerMsg::error("bad")).expect("serializable");
        assert_eq!(json, r#"{"ok":false,"error":"bad","code":1}"#);
        let answer: Answer = Err(Fault::ShuttingDown);
        let msg = ServerMsg::reply(&answer, &crate::command::render(&answer));
        assert_eq!(msg.text(), "Error: taskmaster is shutting down");
        assert!(
            matches!(msg.answer(), Some(Err(Fault::ShuttingDown))),
            "the fault comes back typed"
        );
    }

    #[test]
    fn base64_round_trips_every_length() {
        for len in 0..20 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 200) as u8).collect();
            let text = base64::encode(&data);
            assert_eq!(base64::decode(&text), Some(data), "length {len}: {text}");
        }
        assert_eq!(base64::encode(b"Man"), "TWFu");
        assert_eq!(base64::encode(b"Ma"), "TWE=");
        assert_eq!(base64::decode("not base64!"), None, "garbage is refused");
    }

    #[test]
    fn lines_are_split_and_the_newline_dropped() {
        let mut input: &[u8] = b"one\ntwo\nthree";
        assert_eq!(
            read_line_capped(&mut input, 10).ok().flatten(),
            Some(b"one".to_vec())
        );
        assert_eq!(
            read_line_capped(&mut input, 10).ok().flatten(),
            Some(b"two".to_vec())
        );
        assert_eq!(
            read_line_capped(&mut input, 10).ok().flatten(),
            Some(b"three".to_vec())
        );
        assert!(
            matches!(read_line_capped(&mut input, 10), Ok(None)),
            "then end of stream"
        );
    }

    #[test]
    fn too_long_line_is_refused_without_reading_it_all() {
        let big = vec![b'x'; 1000];
        let mut reader = io::BufReader::with_capacity(16, &big[..]);
        assert!(matches!(
            read_line_capped(&mut reader, 100),
            Err(FrameError::TooLong)
        ));
    }

    #[test]
    fn garbage_is_invalid_not_fatal() {
        let mut input: &[u8] = b"\xff\xfe\n{\"cmd\":\"status\"}\nnot json\n";
        assert!(matches!(
            read_msg::<ClientMsg>(&mut input),
            Err(FrameError::Invalid(_))
        ));
        let msg: Option<ClientMsg> = read_msg(&mut input).ok().flatten();
        assert_eq!(msg.and_then(|m| m.cmd).as_deref(), Some("status"));
        assert!(matches!(
            read_msg::<ClientMsg>(&mut input),
            Err(FrameError::Invalid(_))
        ));
    }
}
