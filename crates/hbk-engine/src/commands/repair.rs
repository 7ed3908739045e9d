//! `repair`: rebuild the index from the packs ([`index`]), and rewrite
//! snapshots whose trees reference missing blobs ([`snapshots`]).

pub mod index;
pub mod snapshots;
