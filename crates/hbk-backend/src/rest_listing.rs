//! The REST protocol's directory listings: a JSON array of names
//! (version 1) or of `{"name", "size"}` objects (version 2), as the
//! server sends them. A module of its own, free of HTTP, so the parser
//! of these untrusted bytes can be tested and fuzzed alone.

use hbk_repo::Id;

use crate::layout;

#[derive(serde::Deserialize)]
struct V2Entry {
    name: String,
    size: u64,
}

/// A directory listing as the server sent it.
#[derive(Debug, PartialEq)]
pub enum Listing {
    /// Version 2: ids with their sizes.
    Sized(Vec<(Id, u64)>),
    /// Version 1: ids only; each size takes a HEAD request.
    Names(Vec<Id>),
}

/// Parses a listing body, of version 2 when the server said so. Names that
/// are not ids (temporary files, strays) are skipped.
pub fn parse_listing(body: &[u8], v2: bool) -> Result<Listing, serde_json::Error> {
    if v2 {
        let entries: Vec<V2Entry> = serde_json::from_slice(body)?;
        Ok(Listing::Sized(
            entries
                .into_iter()
                .filter_map(|e| Some((layout::parse_name(&e.name)?, e.size)))
                .collect(),
        ))
    } else {
        let names: Vec<String> = serde_json::from_slice(body)?;
        Ok(Listing::Names(
            names.iter().filter_map(|n| layout::parse_name(n)).collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_of_both_versions_parse() {
        let id = Id::hash(b"x");
        let v2 = format!(r#"[{{"name":"{id}","size":7}},{{"name":"tmp","size":1}}]"#);
        assert_eq!(
            parse_listing(v2.as_bytes(), true).unwrap(),
            Listing::Sized(vec![(id, 7)])
        );
        let v1 = format!(r#"["{id}","x"]"#);
        assert_eq!(
            parse_listing(v1.as_bytes(), false).unwrap(),
            Listing::Names(vec![id])
        );
        assert!(parse_listing(b"{}", true).is_err());
    }

    proptest::proptest! {
        /// Arbitrary bytes as a listing of either version: no panic.
        #[test]
        fn random_listings_never_panic(
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..300),
            v2 in proptest::bool::ANY,
        ) {
            let _ = parse_listing(&body, v2);
        }

        /// A valid listing with one byte changed or the tail cut: no panic.
        #[test]
        fn mutated_listings_never_panic(
            pos in proptest::num::usize::ANY,
            byte in proptest::num::u8::ANY,
            cut in proptest::num::usize::ANY,
            sizes in proptest::collection::vec(proptest::num::u64::ANY, 1..4),
        ) {
            let entries: Vec<String> = sizes
                .iter()
                .map(|s| format!(r#"{{"name":"{}","size":{s}}}"#, Id::hash(&s.to_le_bytes())))
                .collect();
            let mut body = format!("[{}]", entries.join(",")).into_bytes();
            let i = pos % body.len();
            body[i] = byte;
            body.truncate(cut % (body.len() + 1));
            let _ = parse_listing(&body, true);
            let _ = parse_listing(&body, false);
        }
    }
}
