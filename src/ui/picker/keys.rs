//! Turning the bytes a terminal sends in raw mode into the keys the picker
//! knows (pure). An escape byte alone is the Esc key only when nothing
//! follows it soon: the reader says so with `at_rest`.

/// A key the picker acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Backspace,
    /// Ctrl-W: the last word of the query.
    DeleteWord,
    /// Ctrl-U: the whole query.
    ClearQuery,
    Up,
    Down,
    PageUp,
    PageDown,
    Enter,
    /// Esc, Ctrl-C, Ctrl-G, Ctrl-D.
    Cancel,
}

const ESC: u8 = 0x1b;

/// Parses the keys at the front of `bytes`; returns them and how many bytes
/// they took. An unfinished sequence at the end is left for more bytes,
/// unless `at_rest` (nothing more came): then a lone escape is Esc and the
/// rest is dropped.
pub fn parse(bytes: &[u8], at_rest: bool) -> (Vec<Key>, usize) {
    let mut keys = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match sequence(&bytes[i..]) {
            Parsed::Key(key, len) => {
                keys.extend(key);
                i += len;
            }
            Parsed::Incomplete if at_rest => {
                if bytes[i] == ESC && bytes.len() - i == 1 {
                    keys.push(Key::Cancel);
                }
                i = bytes.len();
            }
            Parsed::Incomplete => break,
        }
    }
    (keys, i)
}

enum Parsed {
    /// A key (or a sequence to ignore) and its length.
    Key(Option<Key>, usize),
    Incomplete,
}

fn sequence(bytes: &[u8]) -> Parsed {
    let key = |k: Key, len| Parsed::Key(Some(k), len);
    match bytes {
        [ESC] | [ESC, b'[' | b'O'] => Parsed::Incomplete,
        [ESC, b'[' | b'O', rest @ ..] => csi(rest),
        // Alt-something: not for the picker.
        [ESC, _, ..] => Parsed::Key(None, 2),
        [b'\r' | b'\n', ..] => key(Key::Enter, 1),
        [0x7f | 0x08, ..] => key(Key::Backspace, 1),
        [0x03 | 0x07 | 0x04, ..] => key(Key::Cancel, 1),
        [0x15, ..] => key(Key::ClearQuery, 1),
        [0x17, ..] => key(Key::DeleteWord, 1),
        [0x10 | 0x0b, ..] => key(Key::Up, 1),
        [0x0e | b'\t', ..] => key(Key::Down, 1),
        [b, ..] if *b < 0x20 => Parsed::Key(None, 1),
        [b, ..] => {
            let len = utf8_len(*b);
            match bytes.get(..len).map(std::str::from_utf8) {
                None => Parsed::Incomplete,
                Some(Ok(text)) => Parsed::Key(text.chars().next().map(Key::Char), len),
                Some(Err(_)) => Parsed::Key(None, 1),
            }
        }
        [] => Parsed::Key(None, 0),
    }
}

/// After `ESC [` (or `ESC O`): parameters, then a final byte.
fn csi(rest: &[u8]) -> Parsed {
    let Some(end) = rest.iter().position(|b| (0x40..=0x7e).contains(b)) else {
        return Parsed::Incomplete;
    };
    let len = 2 + end + 1;
    let key = match (&rest[..end], rest[end]) {
        (_, b'A') => Some(Key::Up),
        (_, b'B') => Some(Key::Down),
        (b"5", b'~') => Some(Key::PageUp),
        (b"6", b'~') => Some(Key::PageDown),
        _ => None,
    };
    Parsed::Key(key, len)
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xf0..=0xf7 => 4,
        0xe0..=0xef => 3,
        0xc0..=0xdf => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_to_keys() {
        let table: Vec<(&[u8], bool, Vec<Key>, usize)> = vec![
            (
                b"web",
                false,
                vec![Key::Char('w'), Key::Char('e'), Key::Char('b')],
                3,
            ),
            (b"a\r", false, vec![Key::Char('a'), Key::Enter], 2),
            (
                b"\x1b[A\x1b[B\x1bOB",
                false,
                vec![Key::Up, Key::Down, Key::Down],
                9,
            ),
            (
                b"\x1b[5~\x1b[6~",
                false,
                vec![Key::PageUp, Key::PageDown],
                8,
            ),
            (
                b"\x7f\x08\x15\x17",
                false,
                vec![
                    Key::Backspace,
                    Key::Backspace,
                    Key::ClearQuery,
                    Key::DeleteWord,
                ],
                4,
            ),
            (b"\x03", false, vec![Key::Cancel], 1),
            (b"\x10\x0e\t", false, vec![Key::Up, Key::Down, Key::Down], 3),
            (
                "é→".as_bytes(),
                false,
                vec![Key::Char('é'), Key::Char('→')],
                5,
            ),
            // Left, right, delete and Alt-x are not the picker's.
            (b"\x1b[C\x1b[D\x1b[3~\x1bx", false, vec![], 12),
            // Unfinished: wait for more...
            (b"a\x1b", false, vec![Key::Char('a')], 1),
            (b"\x1b[", false, vec![], 0),
            (b"\x1b[1;5", false, vec![], 0),
            (&[0xc3], false, vec![], 0),
            // ...unless nothing more came: a lone escape is Esc.
            (b"\x1b", true, vec![Key::Cancel], 1),
            (b"a\x1b", true, vec![Key::Char('a'), Key::Cancel], 2),
            (b"\x1b[", true, vec![], 2),
        ];
        for (bytes, at_rest, keys, used) in table {
            assert_eq!(
                parse(bytes, at_rest),
                (keys, used),
                "{bytes:?} at_rest={at_rest}"
            );
        }
    }
}
