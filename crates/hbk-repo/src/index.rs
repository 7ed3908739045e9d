//! Index files and the in-memory index built from them.
//!
//! An index file lists packs and, for each, every blob with its offset and
//! length. The union of all index files is the global index; [`Index`] holds
//! it compactly (48 bytes a blob) for lookups by blob id. A repository's
//! index is built while its files are read ([`load`]), through a fast
//! scanner of the JSON ([`scan`]) and a merger of per-file entries
//! ([`build`]).

mod build;
mod file;
mod load;
mod memory;
mod scan;

pub use file::{IndexBlob, IndexFile, IndexPack};
pub use memory::{BlobLocation, Index};
#[cfg(feature = "fuzzing")]
pub use scan::scan_index;
