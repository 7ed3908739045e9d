//! JSON written the way Go's `encoding/json` writes it.
//!
//! Tree ids are hashes of tree JSON, so identical directories deduplicate
//! against trees restic wrote only if hbk produces the same bytes. Go
//! escapes `<`, `>`, `&`, U+2028 and U+2029, and (up to Go 1.21, which
//! built restic 0.14) writes backspace and form feed as `\u0008` and
//! `\u000c`; serde_json does none of that, so this formatter adds it.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter};

/// A serde_json formatter producing Go's compact encoding.
#[derive(Default)]
pub struct GoFormatter;

impl Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let bytes = fragment.as_bytes();
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let esc: &[u8] = match c {
                '<' => b"\\u003c",
                '>' => b"\\u003e",
                '&' => b"\\u0026",
                '\u{2028}' => b"\\u2028",
                '\u{2029}' => b"\\u2029",
                _ => continue,
            };
            w.write_all(&bytes[start..i])?;
            w.write_all(esc)?;
            start = i + c.len_utf8();
        }
        w.write_all(&bytes[start..])
    }

    fn write_char_escape<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        escape: CharEscape,
    ) -> io::Result<()> {
        let s: &[u8] = match escape {
            CharEscape::Quote => b"\\\"",
            CharEscape::ReverseSolidus => b"\\\\",
            CharEscape::Solidus => b"/",
            CharEscape::Backspace => b"\\u0008",
            CharEscape::FormFeed => b"\\u000c",
            CharEscape::LineFeed => b"\\n",
            CharEscape::CarriageReturn => b"\\r",
            CharEscape::Tab => b"\\t",
            CharEscape::AsciiControl(b) => {
                return write!(w, "\\u{:04x}", b);
            }
        };
        w.write_all(s)
    }
}

/// Serializes `value` as Go's `json.Marshal` would.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(256);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, GoFormatter);
    value.serialize(&mut ser)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_go() {
        let s = "a\"b\\c<>&\u{8}\u{c}\u{1}\n\u{2028}ü";
        let out = String::from_utf8(to_vec(&s).unwrap()).unwrap();
        assert_eq!(
            out,
            r#""a\"b\\c\u003c\u003e\u0026\u0008\u000c\u0001\n\u2028ü""#
        );
    }
}
