//! `repair`: rebuild the index from the packs ([`index`]), salvage
//! damaged packs ([`packs`]), and rewrite snapshots whose trees reference
//! missing blobs ([`snapshots`]).

pub mod index;
pub mod packs;
pub mod snapshots;
