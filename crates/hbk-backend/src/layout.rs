//! restic's default layout: where each file lives, relative to the
//! repository root. Pure; shared by every path-based backend.

use hbk_repo::{FileType, Id};

/// The path of a file relative to the repository root, `/`-separated:
/// `config`, `keys/<id>`, `data/<id[..2]>/<id>`, ….
pub fn relative_path(t: FileType, id: &Id) -> String {
    let hex = id.to_hex();
    match t {
        FileType::Config => "config".to_string(),
        FileType::Pack => format!("data/{}/{}", &hex[..2], hex),
        _ => format!("{}/{}", t.dir_name(), hex),
    }
}

/// Parses a directory entry name into an id; other names (temporary
/// files, stray files) give `None` and are skipped by listings.
pub fn parse_name(name: &str) -> Option<Id> {
    name.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let id = Id::hash(b"x");
        let h = id.to_hex();
        assert_eq!(
            relative_path(FileType::Pack, &id),
            format!("data/{}/{h}", &h[..2])
        );
        assert_eq!(relative_path(FileType::Key, &id), format!("keys/{h}"));
        assert_eq!(relative_path(FileType::Config, &id), "config");
        assert_eq!(parse_name(&format!("{h}-tmp-1234")), None);
    }
}
