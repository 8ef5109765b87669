//! Any bytes as a stream of socket frames: the reader must not panic, nor buffer more than
//! MAX_LINE of one line.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use taskmaster::protocol::{self, ClientMsg, FrameError, ServerMsg};

fuzz_target!(|data: &[u8]| {
    let mut cur = Cursor::new(data);
    loop {
        match protocol::read_msg::<ClientMsg>(&mut cur) {
            Ok(Some(_)) | Err(FrameError::Invalid(_)) => {}
            Ok(None) | Err(FrameError::TooLong) | Err(FrameError::Io(_)) => break,
        }
    }
    let _ = protocol::read_msg::<ServerMsg>(&mut Cursor::new(data));
});
