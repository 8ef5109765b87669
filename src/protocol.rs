//! The control-socket wire format, shared by the server ([`crate::frontend::socket`]) and the
//! client ([`crate::frontend::ctl`]): one JSON object per line each way.
//!
//! Client to server:
//! - `{"cmd": "status", "args": ["nginx"]}` — one command (the words after the command name);
//! - `{"stdin": "text\n"}` — while attached (`attach NAME`), bytes for the process's stdin.
//!
//! Server to client:
//! - the final reply: `{"ok": true, "output": "...", "code": 0}` or
//!   `{"ok": false, "error": "...", "code": 1}`; `code` is `ctl`'s exit code (3: `status`
//!   with a process not RUNNING) and `"quit": true` marks a `shutdown`;
//! - for `tail -f` and `attach`, any number of `{"ok": true, "stream": "stdout", "data": "..."}`
//!   lines first; the stream goes on until the client closes the connection (or the process
//!   is removed by a reload, which ends it with a final reply).
//!
//! Lines are capped at [`MAX_LINE`] bytes: a reader never buffers more than that.

use std::io::{self, BufRead, Write};

use serde::{Deserialize, Serialize};

/// The longest request line the server accepts, newline excluded.
pub const MAX_LINE: usize = 64 * 1024;
/// The longest reply line a client accepts: `status` of 10,000 processes is about 1 MB.
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
    pub stdin: Option<String>,
}

impl ClientMsg {
    pub fn command(cmd: &str, args: &[String]) -> ClientMsg {
        ClientMsg {
            cmd: Some(cmd.to_string()),
            args: args.to_vec(),
            stdin: None,
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// `stdout` or `stderr` on a stream chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !b
}

impl ServerMsg {
    pub fn output(text: String, code: i32, quit: bool) -> ServerMsg {
        ServerMsg {
            ok: code == 0 || code == 3,
            output: Some(text),
            code,
            quit,
            ..ServerMsg::default()
        }
    }

    pub fn error(text: impl Into<String>) -> ServerMsg {
        ServerMsg {
            ok: false,
            error: Some(text.into()),
            code: 1,
            ..ServerMsg::default()
        }
    }

    pub fn chunk(stream: &str, data: String) -> ServerMsg {
        ServerMsg {
            ok: true,
            stream: Some(stream.to_string()),
            data: Some(data),
            ..ServerMsg::default()
        }
    }

    /// The reply for a command's outcome: an error when the code is 1.
    pub fn from_outcome(outcome: crate::command::Outcome) -> ServerMsg {
        if outcome.code == 1 {
            ServerMsg {
                quit: outcome.quit,
                ..ServerMsg::error(outcome.text)
            }
        } else {
            ServerMsg::output(outcome.text, outcome.code, outcome.quit)
        }
    }

    pub fn is_chunk(&self) -> bool {
        self.stream.is_some()
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

    #[test]
    fn request_has_the_documented_shape() {
        let msg = ClientMsg::command("status", &["nginx".to_string()]);
        let json = serde_json::to_string(&msg).expect("serializable");
        assert_eq!(json, r#"{"cmd":"status","args":["nginx"]}"#);
    }

    #[test]
    fn reply_has_the_documented_shape() {
        let json =
            serde_json::to_string(&ServerMsg::output("x".into(), 0, false)).expect("serializable");
        assert_eq!(json, r#"{"ok":true,"output":"x","code":0}"#);
        let json = serde_json::to_string(&ServerMsg::error("bad")).expect("serializable");
        assert_eq!(json, r#"{"ok":false,"error":"bad","code":1}"#);
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
