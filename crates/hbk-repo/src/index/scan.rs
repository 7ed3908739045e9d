//! A fast reader of index documents in the form restic and hbk write.
//!
//! Loading the index of a big repository is mostly JSON parsing: five
//! million blobs are ~750 MB of JSON. The generic serde path builds an
//! [`IndexFile`](crate::IndexFile) with a `String`-backed id per blob
//! first; this scanner instead walks the bytes once and hands every pack
//! and blob straight to an [`IndexSink`].
//!
//! It accepts a strict subset of what [`IndexFile::from_json`] accepts,
//! with the same meaning: both top-level forms, any whitespace and key
//! order, `null` for empty lists, the `supersedes` list, and unknown keys
//! whose values are plain strings, non-negative integers, `true`, `false`
//! or `null` (rustic adds a `time` to each pack), which the generic path
//! ignores too. Anything else (string escapes, unknown keys with other
//! values, repeated keys, a pack's `blobs` before its `id`, numbers with a
//! sign, fraction or exponent, invalid values) makes
//! it give up with [`Unsupported`], and the caller parses the document
//! with the generic path, which then decides, exactly as before, whether
//! it is valid and what it means.
//!
//! [`IndexFile::from_json`]: crate::IndexFile::from_json

use crate::{BlobType, Id, IndexBlob};

/// Receives the packs and blobs of an index document, in document order.
pub(crate) trait IndexSink {
    /// A pack starts; the blobs that follow belong to it.
    fn pack(&mut self, id: Id);
    /// A blob of the last started pack.
    fn blob(&mut self, blob: IndexBlob);
}

/// The document is outside the subset this scanner reads; parse it with
/// the generic path. What the sink received so far must be discarded.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Unsupported;

type Scan<T> = std::result::Result<T, Unsupported>;

/// Reads the index document `json`, handing its packs and blobs to `sink`.
pub(crate) fn scan(json: &[u8], sink: &mut impl IndexSink) -> Scan<()> {
    let mut s = Scanner { b: json, i: 0 };
    s.ws();
    match s.peek()? {
        b'[' => s.packs(sink)?,
        b'{' => s.top(sink)?,
        _ => return Err(Unsupported),
    }
    s.ws();
    match s.i == s.b.len() {
        true => Ok(()),
        false => Err(Unsupported),
    }
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Scan<u8> {
        self.b.get(self.i).copied().ok_or(Unsupported)
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    /// Skips whitespace, then consumes `c` or gives up.
    fn expect(&mut self, c: u8) -> Scan<()> {
        self.ws();
        match self.peek()? == c {
            true => {
                self.i += 1;
                Ok(())
            }
            false => Err(Unsupported),
        }
    }

    /// Skips whitespace; consumes `c` and returns true if it is next.
    fn eat(&mut self, c: u8) -> Scan<bool> {
        self.ws();
        let hit = self.peek()? == c;
        if hit {
            self.i += 1;
        }
        Ok(hit)
    }

    /// A string without escapes, returned without its quotes.
    fn string(&mut self) -> Scan<&'a [u8]> {
        self.expect(b'"')?;
        let b: &'a [u8] = self.b;
        let rest = b.get(self.i..).ok_or(Unsupported)?;
        let len = rest.iter().position(|&c| c == b'"').ok_or(Unsupported)?;
        let s = rest.get(..len).ok_or(Unsupported)?;
        if s.iter().any(|&c| c == b'\\' || c < 0x20) {
            return Err(Unsupported);
        }
        self.i += len + 1;
        Ok(s)
    }

    /// An object key (valid UTF-8, as the generic parser insists even for
    /// keys it ignores) and its colon.
    fn key(&mut self) -> Scan<&'a [u8]> {
        let k = self.string()?;
        std::str::from_utf8(k).map_err(|_| Unsupported)?;
        self.expect(b':')?;
        Ok(k)
    }

    /// A 64-digit hex id. A string of 64 hex digits cannot hold a quote,
    /// an escape or a control character, so checking the digits and the
    /// closing quote checks the whole string.
    fn id(&mut self) -> Scan<Id> {
        self.expect(b'"')?;
        let b: &'a [u8] = self.b;
        let digits = b
            .get(self.i..)
            .and_then(|r| r.first_chunk::<65>())
            .ok_or(Unsupported)?;
        if digits[64] != b'"' {
            return Err(Unsupported);
        }
        let id = Id::from_hex(&digits[..64]).ok_or(Unsupported)?;
        self.i += 65;
        Ok(id)
    }

    /// Consumes the literal `s` if the bytes at the cursor are exactly it.
    fn lit<const N: usize>(&mut self, s: &[u8; N]) -> bool {
        let hit = self.b.get(self.i..).and_then(|r| r.first_chunk::<N>()) == Some(s);
        if hit {
            self.i += N;
        }
        hit
    }

    /// A blob entry written exactly as restic and hbk write it (compact,
    /// keys in their order); `None` with the cursor where it was if not.
    fn compact_blob(&mut self) -> Option<IndexBlob> {
        let start = self.i;
        let blob = self.compact_blob_inner();
        if blob.is_none() {
            self.i = start;
        }
        blob
    }

    fn compact_blob_inner(&mut self) -> Option<IndexBlob> {
        if !self.lit(b"{\"id\":") {
            return None;
        }
        let id = self.id().ok()?;
        let blob_type = match () {
            _ if self.lit(b",\"type\":\"data\",\"offset\":") => BlobType::Data,
            _ if self.lit(b",\"type\":\"tree\",\"offset\":") => BlobType::Tree,
            _ => return None,
        };
        let offset = self.number(u64::MAX).ok()?;
        if !self.lit(b",\"length\":") {
            return None;
        }
        let length = narrow(self.number(u64::from(u32::MAX)).ok()?).ok()?;
        let uncompressed_length = match self.lit(b",\"uncompressed_length\":") {
            true => match narrow(self.number(u64::from(u32::MAX)).ok()?).ok()? {
                0 => return None,
                n => Some(n),
            },
            false => None,
        };
        match self.lit(b"}") {
            true => Some(IndexBlob {
                id,
                blob_type,
                offset,
                length,
                uncompressed_length,
            }),
            false => None,
        }
    }

    /// A non-negative integer as serde_json reads one into an unsigned
    /// field: no sign, fraction, exponent or leading zero; at most `max`.
    fn number(&mut self, max: u64) -> Scan<u64> {
        self.ws();
        let start = self.i;
        let mut v: u64 = 0;
        while let Some(c @ b'0'..=b'9') = self.b.get(self.i) {
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(c - b'0')))
                .ok_or(Unsupported)?;
            self.i += 1;
        }
        let digits = self.i - start;
        let leading_zero = digits > 1 && self.b.get(start) == Some(&b'0');
        let continues = matches!(self.b.get(self.i), Some(b'.' | b'e' | b'E'));
        if digits == 0 || leading_zero || continues || v > max {
            return Err(Unsupported);
        }
        Ok(v)
    }

    /// Skips the value of a key the index does not use, if it is a plain
    /// string (valid UTF-8, no escapes), a non-negative integer, `true`,
    /// `false` or `null`.
    fn skip_simple(&mut self) -> Scan<()> {
        self.ws();
        match self.peek()? {
            b'"' => std::str::from_utf8(self.string()?)
                .map(drop)
                .map_err(|_| Unsupported),
            b'0'..=b'9' => self.number(u64::MAX).map(drop),
            _ if self.lit(b"true") || self.lit(b"false") || self.lit(b"null") => Ok(()),
            _ => Err(Unsupported),
        }
    }

    /// Consumes `null` if it is next.
    fn null(&mut self) -> Scan<bool> {
        self.ws();
        let hit = self.b.get(self.i..self.i + 4) == Some(b"null".as_slice());
        if hit {
            self.i += 4;
        }
        Ok(hit)
    }

    /// Calls `item` for each element of an array (or nothing for `null`).
    fn array(&mut self, mut item: impl FnMut(&mut Self) -> Scan<()>) -> Scan<()> {
        if self.null()? {
            return Ok(());
        }
        self.expect(b'[')?;
        if self.eat(b']')? {
            return Ok(());
        }
        loop {
            item(self)?;
            if self.eat(b']')? {
                return Ok(());
            }
            self.expect(b',')?;
        }
    }

    /// Calls `field` with each key of an object, positioned at its value.
    fn object(&mut self, mut field: impl FnMut(&mut Self, &[u8]) -> Scan<()>) -> Scan<()> {
        self.expect(b'{')?;
        if self.eat(b'}')? {
            return Ok(());
        }
        loop {
            let k = self.key()?;
            field(self, k)?;
            if self.eat(b'}')? {
                return Ok(());
            }
            self.expect(b',')?;
        }
    }

    /// The modern form: `{"supersedes": [...], "packs": [...]}`.
    fn top(&mut self, sink: &mut impl IndexSink) -> Scan<()> {
        let mut seen = 0u8;
        self.object(|s, k| {
            let bit = match k {
                b"supersedes" => 1,
                b"packs" => 2,
                _ => return s.skip_simple(),
            };
            once(&mut seen, bit)?;
            match bit {
                1 => s.array(|s| s.id().map(drop)),
                _ => s.packs(sink),
            }
        })
    }

    /// An array of packs.
    fn packs(&mut self, sink: &mut impl IndexSink) -> Scan<()> {
        self.array(|s| s.pack(sink))
    }

    /// One pack: its id first, then its blobs.
    fn pack(&mut self, sink: &mut impl IndexSink) -> Scan<()> {
        let mut seen = 0u8;
        self.object(|s, k| match k {
            b"id" => {
                once(&mut seen, 1)?;
                sink.pack(s.id()?);
                Ok(())
            }
            b"blobs" => {
                if seen & 1 == 0 {
                    return Err(Unsupported);
                }
                once(&mut seen, 2)?;
                s.array(|s| {
                    let blob = s.blob()?;
                    sink.blob(blob);
                    Ok(())
                })
            }
            _ => s.skip_simple(),
        })?;
        match seen & 1 {
            1 => Ok(()),
            _ => Err(Unsupported),
        }
    }

    /// One blob entry.
    fn blob(&mut self) -> Scan<IndexBlob> {
        self.ws();
        if let Some(blob) = self.compact_blob() {
            return Ok(blob);
        }
        let mut seen = 0u8;
        let mut blob = IndexBlob {
            id: Id::default(),
            blob_type: BlobType::Data,
            offset: 0,
            length: 0,
            uncompressed_length: None,
        };
        self.object(|s, k| {
            match k {
                b"id" => {
                    once(&mut seen, 1)?;
                    blob.id = s.id()?;
                }
                b"type" => {
                    once(&mut seen, 2)?;
                    blob.blob_type = match s.string()? {
                        b"data" => BlobType::Data,
                        b"tree" => BlobType::Tree,
                        _ => return Err(Unsupported),
                    };
                }
                b"offset" => {
                    once(&mut seen, 4)?;
                    blob.offset = s.number(u64::MAX)?;
                }
                b"length" => {
                    once(&mut seen, 8)?;
                    blob.length = narrow(s.number(u64::from(u32::MAX))?)?;
                }
                b"uncompressed_length" => {
                    once(&mut seen, 16)?;
                    // 0 is an error of the generic path; let it say so.
                    match narrow(s.number(u64::from(u32::MAX))?)? {
                        0 => return Err(Unsupported),
                        n => blob.uncompressed_length = Some(n),
                    }
                }
                _ => s.skip_simple()?,
            }
            Ok(())
        })?;
        match seen & 15 {
            15 => Ok(blob),
            _ => Err(Unsupported),
        }
    }
}

/// Marks `bit` as seen; a key seen twice is left to the generic path.
fn once(seen: &mut u8, bit: u8) -> Scan<()> {
    if *seen & bit != 0 {
        return Err(Unsupported);
    }
    *seen |= bit;
    Ok(())
}

fn narrow(v: u64) -> Scan<u32> {
    u32::try_from(v).map_err(|_| Unsupported)
}

/// Collects what the scanner hands out, as index packs.
#[cfg(any(test, feature = "fuzzing"))]
#[derive(Default)]
struct Collect(Vec<crate::IndexPack>);

#[cfg(any(test, feature = "fuzzing"))]
impl IndexSink for Collect {
    fn pack(&mut self, id: Id) {
        self.0.push(crate::IndexPack {
            id,
            blobs: Vec::new(),
        });
    }
    fn blob(&mut self, blob: IndexBlob) {
        if let Some(p) = self.0.last_mut() {
            p.blobs.push(blob);
        }
    }
}

/// The scanner's reading of `json` as index packs.
#[cfg(any(test, feature = "fuzzing"))]
fn scan_packs(json: &[u8]) -> Scan<Vec<crate::IndexPack>> {
    let mut c = Collect::default();
    scan(json, &mut c).map(|()| c.0)
}

/// What the fast index scanner reads from an index document, as packs;
/// `None` where it leaves the document to [`IndexFile::from_json`].
/// Only with the `fuzzing` feature: the fuzz target checks that whatever
/// the scanner accepts, the generic parser reads the same.
///
/// [`IndexFile::from_json`]: crate::IndexFile::from_json
#[cfg(feature = "fuzzing")]
pub fn scan_index(json: &[u8]) -> Option<Vec<crate::IndexPack>> {
    scan_packs(json).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{IndexFile, IndexPack};

    fn scanned(doc: &str) -> Scan<Vec<IndexPack>> {
        scan_packs(doc.as_bytes())
    }

    const A: &str = "2e2dd0f5092d28b34699d3b1b58ba25fb07c687cf4bfce29b571e0da503e49d0";
    const B: &str = "00ff00ff092d28b34699d3b1b58ba25fb07c687cf4bfce29b571e0da503e49d0";

    /// Documents the scanner must read exactly as the generic parser does.
    fn accepted() -> Vec<String> {
        let blob = |id: &str, t: &str, off: u64| {
            format!(
                r#"{{"id":"{id}","type":"{t}","offset":{off},"length":48,"uncompressed_length":7}}"#
            )
        };
        vec![
            format!(
                r#"{{"packs":[{{"id":"{A}","blobs":[{},{}]}},{{"id":"{B}","blobs":[{}]}}]}}"#,
                blob(A, "data", 0),
                blob(B, "tree", 48),
                blob(A, "data", 18446744073709551615)
            ),
            format!(
                "[{{\"id\":\"{A}\",\"blobs\":[{}]}}]\n",
                blob(B, "data", 4294967296)
            ),
            format!(
                " {{ \"supersedes\" : [ \"{B}\" ] , \"packs\" : [ {{ \"id\" : \"{}\" , \"blobs\" : null }} ] }} \n",
                A.to_uppercase()
            ),
            format!(
                r#"{{"packs":[{{"id":"{A}","blobs":[{{"length":40,"offset":0,"type":"data","id":"{B}"}}]}}]}}"#
            ),
            r#"{"packs":null}"#.to_string(),
            r#"{"supersedes":null}"#.to_string(),
            "{}".to_string(),
            "[]".to_string(),
            format!(r#"{{"packs":[{{"id":"{A}"}}]}}"#),
            format!(
                r#"{{"packs":[{{"id":"{A}","blobs":[{},{{"x":1,"id":"{B}","type":"data","offset":1,"length":4,"y":"é"}}],"time":"2026-01-02T03:04:05+01:00","size":null}}],"extra":true,"more":false}}"#,
                blob(A, "tree", 0)
            ),
        ]
    }

    #[test]
    fn accepted_documents_mean_what_the_generic_parser_reads() {
        for doc in accepted() {
            let generic = IndexFile::from_json(doc.as_bytes()).unwrap().packs;
            assert_eq!(scanned(&doc), Ok(generic), "{doc}");
        }
    }

    #[test]
    fn anything_else_is_left_to_the_generic_parser() {
        let blob = r#""type":"data","offset":0,"length":48"#;
        for doc in [
            format!(r#"{{"packs":[{{"id":"{A}","blobs":[{{"id":"{B}",{blob},"x":{{}}}}]}}]}}"#),
            format!(r#"{{"packs":[{{"id":"{A}","blobs":[{{"id":"{B}",{blob},"x":-1}}]}}]}}"#),
            format!(r#"{{"packs":[{{"id":"{A}","blobs":[{{"id":"{B}",{blob},"x":1.5}}]}}]}}"#),
            format!(r#"{{"packs":[{{"id":"{A}","time":"\u0041","blobs":[]}}]}}"#),
            format!(r#"{{"packs":[{{"id":"{A}","time":[],"blobs":[]}}]}}"#),
            format!(r#"{{"packs":[{{"blobs":[],"id":"{A}"}}]}}"#),
            format!(r#"{{"packs":[{{"id":"{A}","blobs":[{{"id":"{B}",{blob},"offset":1}}]}}]}}"#),
            format!(
                r#"{{"packs":[{{"id":"{A}","blobs":[{{"id":"{B}","type":"data","offset":1.0,"length":4}}]}}]}}"#
            ),
            format!(
                r#"{{"packs":[{{"id":"{A}","blobs":[{{"id":"{B}","type":"data","offset":01,"length":4}}]}}]}}"#
            ),
            format!(
                r#"{{"packs":[{{"id":"{A}","blobs":[{{"id":"{B}","type":"data","offset":-1,"length":4}}]}}]}}"#
            ),
            format!(
                r#"{{"packs":[{{"id":"{A}","blobs":[{{"id":"{B}","type":"data","offset":1,"length":4294967296}}]}}]}}"#
            ),
            format!(
                r#"{{"packs":[{{"id":"{A}","blobs":[{{"id":"{B}",{blob},"uncompressed_length":0}}]}}]}}"#
            ),
            format!(
                r#"{{"packs":[{{"id":"{A}","blobs":[{{"id":"{B}","type":"blob","offset":1,"length":4}}]}}]}}"#
            ),
            format!(r#"{{"packs":[{{"id":"{A}","blobs":[{{"id":"{B}",{blob}}}]}}],"extra":[1]}}"#),
            format!(r#"{{"packs":[{{"id":"\u0030{}"}}]}}"#, &A[1..]),
            format!(r#"{{"packs":[{{"id":"{}"}}]}}"#, &A[1..]),
            format!(r#"{{"packs":[{{"id":"{}g"}}]}}"#, &A[1..]),
            format!(r#"{{"packs":[{{"id":"{A}","blobs":[{{"id":"{B}",{blob}}}]}}]}} x"#),
            format!(r#"{{"packs":[{{"id":"{A}","blobs":[{{"id":"{B}",{blob}}},]}}]}}"#),
            format!(
                r#"{{"packs":[{{"id":"{A}","blobs":[{{"id":"{B}","type":"data","offset":1}}]}}]}}"#
            ),
            format!(r#"{{"packs":[{{"id":"{A}","blobs":[{{"id":"{B}",{blob}"#),
            r#"{"packs":[],"packs":[]}"#.to_string(),
            String::new(),
            "nul".to_string(),
        ] {
            assert_eq!(scanned(&doc), Err(Unsupported), "{doc}");
        }
    }

    proptest::proptest! {
        /// Whatever the scanner accepts, the generic parser reads the same.
        #[test]
        fn never_disagrees_with_the_generic_parser(
            edits in crate::fuzz::edits(6),
            which in 0usize..10,
        ) {
            let doc = accepted()[which].clone();
            let bytes = crate::fuzz::apply(doc.as_bytes(), &edits);
            if let Ok(packs) = scan_packs(&bytes) {
                let generic = IndexFile::from_json(&bytes);
                proptest::prop_assert_eq!(generic.map(|f| f.packs).ok(), Some(packs));
            }
        }
    }
}
