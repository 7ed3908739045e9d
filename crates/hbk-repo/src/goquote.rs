//! Go's `strconv.Quote` and `strconv.Unquote` without the outer quotes:
//! restic stores node names this way so that any byte string survives JSON.

use std::fmt::Write;

/// Undoes Go's quoting: escapes become bytes; raw UTF-8 stays as it is.
pub fn unquote(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let c = *b.get(i + 1).ok_or("trailing backslash")?;
        i += 2;
        match c {
            b'a' => out.push(7),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(11),
            b'\\' | b'"' | b'\'' => out.push(c),
            b'x' => {
                out.push(hex_value(b, i, 2)? as u8);
                i += 2;
            }
            b'u' | b'U' => {
                let n = if c == b'u' { 4 } else { 8 };
                let v = hex_value(b, i, n)?;
                i += n;
                let ch = char::from_u32(v).ok_or("invalid code point")?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            b'0'..=b'7' => {
                let digits = b.get(i - 1..i + 2).ok_or("short octal escape")?;
                let mut v: u32 = 0;
                for d in digits {
                    if !(b'0'..=b'7').contains(d) {
                        return Err("bad octal escape".into());
                    }
                    v = v * 8 + u32::from(d - b'0');
                }
                out.push(u8::try_from(v).map_err(|_| "octal escape too large")?);
                i += 2;
            }
            _ => return Err(format!("unknown escape \\{}", c as char)),
        }
    }
    Ok(out)
}

fn hex_value(b: &[u8], at: usize, n: usize) -> Result<u32, String> {
    let digits = b.get(at..at + n).ok_or("short hex escape")?;
    let s = std::str::from_utf8(digits).map_err(|_| "bad hex escape")?;
    u32::from_str_radix(s, 16).map_err(|_| "bad hex escape".into())
}

/// Whether Go's `unicode.IsPrint` holds: letters, marks, numbers,
/// punctuation, symbols and the ASCII space. Approximated with the
/// character classes the standard library offers: control, separator and
/// invisible format characters are not printable.
fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(c,
        '\u{00ad}' | '\u{061c}' | '\u{180e}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{206f}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}'
        | '\u{e000}'..='\u{f8ff}' | '\u{f0000}'..='\u{10ffff}')
}

/// Go's `strconv.Quote(name)` without the surrounding quotes.
pub fn quote(name: &[u8]) -> String {
    let mut out = String::with_capacity(name.len());
    for chunk in name.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\u{7}' => out.push_str("\\a"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{b}' => out.push_str("\\v"),
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                c if is_print(c) => out.push(c),
                c if (c as u32) < 0x80 => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c if (c as u32) < 0x10000 => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c => {
                    let _ = write!(out, "\\U{:08x}", c as u32);
                }
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observed_restic_names() {
        let cases: [(&[u8], &str); 5] = [
            (b"a\"b\\c<>&.txt", "a\\\"b\\\\c<>&.txt"),
            (b"bad\xffname", "bad\\xffname"),
            (b"new\nline", "new\\nline"),
            ("ümlaut".as_bytes(), "ümlaut"),
            ("nb\u{a0}sp".as_bytes(), "nb\\u00a0sp"),
        ];
        for (raw, quoted) in cases {
            assert_eq!(quote(raw), quoted);
            assert_eq!(unquote(quoted).unwrap(), raw);
        }
        assert_eq!(unquote("\\101\\U0001f600").unwrap(), "A😀".as_bytes());
        assert!(unquote("\\").is_err());
        assert!(unquote("\\q").is_err());
    }

    proptest::proptest! {
        #[test]
        fn quote_round_trips(name in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            proptest::prop_assert_eq!(unquote(&quote(&name)).unwrap(), name);
        }

        #[test]
        fn unquote_never_panics(s in r#"([\\]|[0-7xuU+a-fA-F"'nrtv]|\PC){0,40}"#) {
            let _ = unquote(&s);
        }
    }
}
