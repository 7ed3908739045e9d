//! Index files and the in-memory index built from them.
//!
//! An index file lists packs and, for each, every blob with its offset and
//! length. The union of all index files is the global index; [`Index`] holds
//! it compactly (about 56 bytes a blob) for lookups by blob id.

mod file;
mod memory;

pub use file::{IndexBlob, IndexFile, IndexPack};
pub use memory::{BlobLocation, Index};
