//! Helpers shared by the crate's unit tests.

use std::sync::Arc;

use crate::{Backend, Config, Id, KdfParams, Repository};

/// A fresh v2 repository on `backend`, password `pw`, with a cheap key
/// derivation so tests stay fast.
pub(crate) fn init_repository(backend: Arc<dyn Backend>) -> Repository {
    let config = Config {
        version: 2,
        id: Id::random(),
        chunker_polynomial: 0x3DA3358B4DC173,
        extra: Default::default(),
    };
    let kdf = KdfParams {
        n: 1024,
        r: 8,
        p: 1,
    };
    Repository::init(backend, b"pw", config, kdf, "me", "host").unwrap()
}
