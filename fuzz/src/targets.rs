//! The fuzz targets' bodies, one module each, so that cargo-fuzz's
//! entries (fuzz/fuzz_targets) and the stable smoke test run the same
//! code.

pub mod config;
pub mod dir_states;
pub mod index;
pub mod key;
pub mod lock;
pub mod pack;
pub mod pbs_chunk;
pub mod plan;
pub mod rest_listing;
pub mod snapshot;
pub mod tree;

/// A target's body: takes any bytes, panics only on a fault.
pub type Body = fn(&[u8]);

/// Every target by name (the name of its cargo-fuzz entry and of its
/// seed directory, fuzz/seeds/NAME), with its body.
pub const ALL: [(&str, Body); 11] = [
    ("pack", pack::run),
    ("index", index::run),
    ("key", key::run),
    ("tree", tree::run),
    ("snapshot", snapshot::run),
    ("config", config::run),
    ("lock", lock::run),
    ("rest_listing", rest_listing::run),
    ("plan", plan::run),
    ("pbs_chunk", pbs_chunk::run),
    ("dir_states", dir_states::run),
];
