//! restic's environment variables, each also under an `HBK_*` spelling
//! that wins.

/// Reads `HBK_<name>`, then `RESTIC_<name>`; empty values count as unset.
pub fn env(name: &str) -> Option<String> {
    [format!("HBK_{name}"), format!("RESTIC_{name}")]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .find(|v| !v.is_empty())
}
