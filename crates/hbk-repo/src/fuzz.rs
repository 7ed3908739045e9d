//! Test-only: structured mutations of valid encodings, for the property
//! tests that feed every parser of repository bytes. Arbitrary bytes rarely
//! get past a parser's first check; a real document with a few bytes
//! flipped, inserted or removed, or cut short, reaches the deep paths.

use proptest::prelude::*;

/// Fragments that tend to upset JSON and framing parsers when spliced in.
const SPLICES: &[&[u8]] = &[
    b"\"",
    b"\\",
    b"\\u",
    b"\\x",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"null",
    b"-1",
    b"1e999",
    b"18446744073709551616",
    b"4294967295",
    b"\"\\uD800\"",
    b"\xff\xfe",
    b"\0",
];

/// One edit of a byte string.
#[derive(Debug, Clone)]
pub enum Edit {
    /// Replace the byte at this position (modulo the length).
    Set(usize, u8),
    /// Insert a byte.
    Insert(usize, u8),
    /// Remove a byte.
    Remove(usize),
    /// Splice in one of [`SPLICES`].
    Splice(usize, usize),
    /// Cut everything from this position on.
    Truncate(usize),
}

/// Up to `max` edits.
pub fn edits(max: usize) -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        3 => (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Edit::Set(p, b)),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Edit::Insert(p, b)),
        2 => any::<usize>().prop_map(Edit::Remove),
        3 => (any::<usize>(), any::<usize>()).prop_map(|(p, s)| Edit::Splice(p, s)),
        1 => any::<usize>().prop_map(Edit::Truncate),
    ];
    proptest::collection::vec(edit, 1..=max)
}

/// `seed` with `edits` applied.
pub fn apply(seed: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for e in edits {
        let at = |p: usize, len: usize| if len == 0 { 0 } else { p % len };
        match *e {
            Edit::Set(p, b) => {
                let i = at(p, out.len());
                if let Some(x) = out.get_mut(i) {
                    *x = b;
                }
            }
            Edit::Insert(p, b) => {
                let i = at(p, out.len() + 1);
                out.insert(i, b);
            }
            Edit::Remove(p) => {
                if !out.is_empty() {
                    let i = at(p, out.len());
                    out.remove(i);
                }
            }
            Edit::Splice(p, s) => {
                let i = at(p, out.len() + 1);
                let piece = SPLICES[s % SPLICES.len()];
                out.splice(i..i, piece.iter().copied());
            }
            Edit::Truncate(p) => {
                let i = at(p, out.len() + 1);
                out.truncate(i);
            }
        }
    }
    out
}
