//! Keys as a terminal sends them: the bytes an xterm writes for a key event, so a program
//! attached raw in the dashboard sees what it would see in a real terminal (Ctrl-C is 0x03,
//! arrows are `ESC [ A` or, in application cursor mode, `ESC O A`). Used by the dashboard
//! thread in raw attach.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// The bytes for `key`; `None` for keys a terminal sends nothing for. `app_cursor` is the
/// program's DECCKM mode (arrows, Home and End as `ESC O x`).
pub fn encode(key: &KeyEvent, app_cursor: bool) -> Option<Vec<u8>> {
    let m = key.modifiers;
    let ctrl = m.contains(KeyModifiers::CONTROL);
    let alt = m.contains(KeyModifiers::ALT);
    // xterm's modifier parameter: 1 + shift + 2·alt + 4·ctrl.
    let param =
        1 + u8::from(m.contains(KeyModifiers::SHIFT)) + 2 * u8::from(alt) + 4 * u8::from(ctrl);
    let cursor = |c: u8| -> Vec<u8> {
        if param > 1 {
            format!("\x1b[1;{param}{}", c as char).into_bytes()
        } else if app_cursor {
            vec![0x1b, b'O', c]
        } else {
            vec![0x1b, b'[', c]
        }
    };
    let tilde = |n: u8| -> Vec<u8> {
        if param > 1 {
            format!("\x1b[{n};{param}~").into_bytes()
        } else {
            format!("\x1b[{n}~").into_bytes()
        }
    };
    let bytes = match key.code {
        KeyCode::Char(c) if ctrl => vec![control(c)?],
        KeyCode::Char(c) => c.to_string().into_bytes(),
        KeyCode::Enter => vec![b'\r'],
        KeyCode::Tab => vec![b'\t'],
        KeyCode::BackTab => b"\x1b[Z".to_vec(),
        KeyCode::Backspace if ctrl => vec![0x08],
        KeyCode::Backspace => vec![0x7f],
        KeyCode::Esc => vec![0x1b],
        KeyCode::Up => cursor(b'A'),
        KeyCode::Down => cursor(b'B'),
        KeyCode::Right => cursor(b'C'),
        KeyCode::Left => cursor(b'D'),
        KeyCode::Home => cursor(b'H'),
        KeyCode::End => cursor(b'F'),
        KeyCode::Insert => tilde(2),
        KeyCode::Delete => tilde(3),
        KeyCode::PageUp => tilde(5),
        KeyCode::PageDown => tilde(6),
        KeyCode::F(n @ 1..=4) if param == 1 => vec![0x1b, b'O', b'P' + (n - 1)],
        KeyCode::F(n @ 1..=4) => format!("\x1b[1;{param}{}", (b'P' + n - 1) as char).into_bytes(),
        KeyCode::F(n @ 5..=12) => tilde([15, 17, 18, 19, 20, 21, 23, 24][usize::from(n - 5)]),
        _ => return None,
    };
    // Alt (meta) before a plain character: ESC first, as xterm's metaSendsEscape.
    let plain = matches!(
        key.code,
        KeyCode::Char(_) | KeyCode::Enter | KeyCode::Backspace
    );
    if alt && plain {
        let mut v = vec![0x1b];
        v.extend(bytes);
        return Some(v);
    }
    Some(bytes)
}

/// Ctrl with a character: the C0 control it stands for.
fn control(c: char) -> Option<u8> {
    Some(match c.to_ascii_lowercase() {
        c @ 'a'..='z' => c as u8 - b'a' + 1,
        '@' | ' ' | '2' => 0,
        '[' | '3' => 0x1b,
        '\\' | '4' => 0x1c,
        ']' | '5' => 0x1d,
        '^' | '6' => 0x1e,
        '_' | '-' | '7' => 0x1f,
        '?' | '8' => 0x7f,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, m: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, m)
    }

    #[test]
    fn keys_become_the_bytes_an_xterm_sends() {
        let none = KeyModifiers::NONE;
        let ctrl = KeyModifiers::CONTROL;
        let cases: Vec<(KeyEvent, bool, &[u8])> = vec![
            (key(KeyCode::Char('a'), none), false, b"a"),
            (key(KeyCode::Char('é'), none), false, "é".as_bytes()),
            (key(KeyCode::Char('c'), ctrl), false, b"\x03"),
            (key(KeyCode::Char('d'), ctrl), false, b"\x04"),
            (key(KeyCode::Char(' '), ctrl), false, b"\x00"),
            (key(KeyCode::Enter, none), false, b"\r"),
            (key(KeyCode::Backspace, none), false, b"\x7f"),
            (key(KeyCode::Up, none), false, b"\x1b[A"),
            (key(KeyCode::Up, none), true, b"\x1bOA"),
            (key(KeyCode::Left, ctrl), true, b"\x1b[1;5D"),
            (key(KeyCode::PageUp, none), false, b"\x1b[5~"),
            (
                key(KeyCode::Delete, KeyModifiers::SHIFT),
                false,
                b"\x1b[3;2~",
            ),
            (key(KeyCode::F(1), none), false, b"\x1bOP"),
            (key(KeyCode::F(12), none), false, b"\x1b[24~"),
            (key(KeyCode::Char('x'), KeyModifiers::ALT), false, b"\x1bx"),
            (key(KeyCode::BackTab, KeyModifiers::SHIFT), false, b"\x1b[Z"),
        ];
        for (k, app, want) in cases {
            assert_eq!(encode(&k, app).as_deref(), Some(want), "{k:?} app={app}");
        }
        assert_eq!(encode(&key(KeyCode::CapsLock, none), false), None);
    }
}
