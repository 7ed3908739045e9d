//! A REST server's directory listing (prefix bit 0: version 2, names
//! with sizes; clear: version 1, names only): parsed, written back as a
//! server would send it and parsed again to the same listing.

use crate::{assert_round_trip, Input};
use hbk_backend::rest_listing::{parse_listing, Listing};

/// Feeds `data` to the `rest_listing` target: see the module documentation.
pub fn run(data: &[u8]) {
    let Some(input) = Input::new(data) else {
        return;
    };
    let v2 = input.version == 2;
    let Ok(listing) = parse_listing(input.body, v2) else {
        return;
    };
    let written = match &listing {
        Listing::Sized(entries) => {
            assert!(v2, "a version 1 listing came with sizes");
            let items: Vec<serde_json::Value> = entries
                .iter()
                .map(|(id, size)| serde_json::json!({ "name": id.to_hex(), "size": size }))
                .collect();
            serde_json::to_vec(&items)
        }
        Listing::Names(ids) => {
            assert!(!v2, "a version 2 listing came without sizes");
            serde_json::to_vec(&ids.iter().map(|id| id.to_hex()).collect::<Vec<_>>())
        }
    }
    .expect("a listing can be written");
    assert_round_trip("listing", &listing, parse_listing(&written, v2));
}
