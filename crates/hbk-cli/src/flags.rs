//! Engine errors in the words of the command line: the engine names what
//! a value is ("counting mode", "data subset"); the CLI knows which flag
//! the user typed it into.

/// Maps an engine error to one that names `flag` when the engine rejected
/// the flag's value ([`hbk_engine::Error::InvalidArgument`]); any other
/// error passes unchanged.
pub fn invalid_flag(flag: &'static str) -> impl Fn(hbk_engine::Error) -> anyhow::Error {
    move |e| match e {
        hbk_engine::Error::InvalidArgument { reason, .. } => {
            anyhow::anyhow!("invalid {flag}: {reason}")
        }
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_flag_only_for_rejected_values() {
        let e = invalid_flag("--mode")(hbk_engine::Error::invalid("counting mode", "unknown: x"));
        assert_eq!(e.to_string(), "invalid --mode: unknown: x");
        let e = invalid_flag("--mode")(hbk_engine::Error::SnapshotNotFound("a".into()));
        assert!(!e.to_string().contains("--mode"), "{e}");
    }
}
