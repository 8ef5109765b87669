//! Any bytes as a command line (lossy UTF-8) and as split words: parsing must not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    let _ = taskmaster::command::parse(&line);
    let words: Vec<String> = line.split(['\0', ' ']).map(str::to_string).collect();
    let _ = taskmaster::command::parse_words(&words);
});
