//! Followed output as text: a [`Decoder`] per stream holds back the end of a chunk that
//! stops inside a UTF-8 character or an escape sequence, and puts it in front of the next
//! chunk. Without it, a character cut by a pipe read or by the 64 KiB follow chunks shows as
//! `��`, and a cut escape sequence as stray `[31m`. Owned by whichever front end decodes
//! (tail -f, attach, the dashboard): one decoder per stream of each view.

/// An escape sequence longer than this is not waited for: it is shown as it is.
const MAX_ESCAPE: usize = 256;

#[derive(Debug, Default, Clone)]
pub struct Decoder {
    pending: Vec<u8>,
}

impl Decoder {
    /// The complete part of what came so far, as bytes; the cut end is kept for next time.
    pub fn feed_bytes(&mut self, data: &[u8]) -> Vec<u8> {
        let mut buf = std::mem::take(&mut self.pending);
        buf.extend_from_slice(data);
        let cut = complete_len(&buf);
        self.pending = buf.split_off(cut);
        buf
    }

    /// The complete part as text (bytes that are not UTF-8 at all become U+FFFD).
    pub fn feed(&mut self, data: &[u8]) -> String {
        String::from_utf8_lossy(&self.feed_bytes(data)).into_owned()
    }

    /// What is still held (the stream ended), as text.
    pub fn finish(&mut self) -> String {
        String::from_utf8_lossy(&std::mem::take(&mut self.pending)).into_owned()
    }

    /// Bytes held back now.
    pub fn held(&self) -> usize {
        self.pending.len()
    }
}

/// One [`Decoder`] per stream of a view that shows both (attach, `tail -f` of both): a
/// character cut in stdout stays whole even when stderr output comes in between.
#[derive(Debug, Default, Clone)]
pub struct StreamDecoders {
    decoders: [Decoder; 2],
}

impl StreamDecoders {
    /// The complete part of `data` for `stream`, as bytes (see [`Decoder::feed_bytes`]).
    pub fn feed_bytes(&mut self, stream: super::Stream, data: &[u8]) -> Vec<u8> {
        self.decoder(stream).feed_bytes(data)
    }

    /// The complete part of `data` for `stream`, as text (see [`Decoder::feed`]).
    pub fn feed(&mut self, stream: super::Stream, data: &[u8]) -> String {
        self.decoder(stream).feed(data)
    }

    fn decoder(&mut self, stream: super::Stream) -> &mut Decoder {
        &mut self.decoders[usize::from(stream == super::Stream::Stderr)]
    }
}

/// How much of `buf` can be shown now: all of it, less an unfinished UTF-8 character or
/// escape sequence at its end.
fn complete_len(buf: &[u8]) -> usize {
    let end = utf8_complete_len(buf);
    match unfinished_escape(&buf[..end]) {
        Some(start) => start,
        None => end,
    }
}

/// `buf.len()` less the bytes of a UTF-8 character started but not finished at the end.
fn utf8_complete_len(buf: &[u8]) -> usize {
    // A character is at most 4 bytes: its lead byte is within the last 3 if it is cut.
    for back in 1..=buf.len().min(3) {
        let i = buf.len() - back;
        let b = buf[i];
        if b & 0xC0 == 0x80 {
            continue; // a continuation byte: the lead is further back
        }
        let need = match b {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return buf.len(), // ASCII or invalid: nothing to wait for
        };
        return if back < need { i } else { buf.len() };
    }
    buf.len()
}

/// Where an escape sequence that `buf` ends inside of starts, if it does.
fn unfinished_escape(buf: &[u8]) -> Option<usize> {
    let from = buf.len().saturating_sub(MAX_ESCAPE);
    let start = from + buf[from..].iter().rposition(|&b| b == 0x1b)?;
    let seq = &buf[start + 1..];
    let finished = match seq.first() {
        None => false,
        // CSI: parameters and intermediates, then a final byte 0x40..=0x7E.
        Some(b'[') => seq[1..].iter().any(|b| (0x40..=0x7e).contains(b)),
        // OSC, DCS, SOS, PM, APC: up to BEL or ST (ESC \).
        Some(b']' | b'P' | b'X' | b'^' | b'_') => {
            seq[1..].contains(&0x07) || seq.windows(2).any(|w| w == [0x1b, b'\\'])
        }
        // Intermediates 0x20..=0x2F, then one final byte.
        Some(_) => seq.iter().any(|b| (0x30..=0x7e).contains(b)),
    };
    (!finished).then_some(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_cut_at_the_64_kib_follow_chunk_is_whole() {
        // The regression: one write of 65,535 x `a` + `é` came out as `aa��`.
        let mut data = vec![b'a'; 65_535];
        data.extend_from_slice("é".as_bytes());
        let mut d = Decoder::default();
        let mut text = String::new();
        for chunk in data.chunks(64 * 1024) {
            text.push_str(&d.feed(chunk));
        }
        assert!(!text.contains('\u{fffd}'));
        assert!(text.ends_with("aé"));
        assert_eq!(text.len(), 65_537);
    }

    #[test]
    fn every_cut_of_mixed_text_decodes_the_same() {
        let sample = "héllo 日本 🎉 \x1b[1;31mred\x1b[0m \x1b]0;title\x07 end \x1b(B.".as_bytes();
        let want = String::from_utf8_lossy(sample).into_owned();
        for a in 0..sample.len() {
            for b in a..sample.len() {
                let mut d = Decoder::default();
                let mut got = String::new();
                for part in [&sample[..a], &sample[a..b], &sample[b..]] {
                    let text = d.feed(part);
                    assert!(!text.contains('\u{fffd}'), "cut at {a}, {b}: {text:?}");
                    got.push_str(&text);
                }
                got.push_str(&d.finish());
                assert_eq!(got, want, "cut at {a}, {b}");
            }
        }
    }

    #[test]
    fn invalid_bytes_and_endless_escapes_are_not_held_forever() {
        let mut d = Decoder::default();
        assert_eq!(d.feed(b"x\xff"), "x\u{fffd}");
        assert_eq!(d.held(), 0);
        let mut long = vec![0x1b, b'['];
        long.extend(std::iter::repeat_n(b'1', MAX_ESCAPE + 10));
        assert_eq!(d.feed(&long).len(), long.len());
        assert_eq!(d.feed(b"\xe6\x97"), "");
        assert_eq!(d.held(), 2);
        assert_eq!(d.feed(b"\xa5!"), "日!");
    }
}
