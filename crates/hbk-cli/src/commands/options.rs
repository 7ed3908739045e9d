//! `hbk options`: the extended options `-o key=value` accepts, as
//! restic's `options` lists its own.

use anyhow::Result;
use clap::Args;
use hbk_backend::options::KNOWN_KEYS;

use crate::exit;
use crate::global::GlobalOpts;

/// `options`.
#[derive(Args, Debug)]
pub struct OptionsArgs {}

/// The listing: a heading, then each key padded to the longest, and its
/// description.
fn listing() -> String {
    let width = KNOWN_KEYS.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::from("All Extended Options:\n");
    for (key, text) in KNOWN_KEYS {
        out.push_str(&format!("  {key:<width$}  {text}\n"));
    }
    out
}

/// Prints the options.
pub fn run(_g: &GlobalOpts, _a: OptionsArgs) -> Result<i32> {
    print!("{}", listing());
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_listed_aligned() {
        let text = listing();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "All Extended Options:");
        assert_eq!(lines.len(), KNOWN_KEYS.len() + 1);
        let column = lines[1].find(KNOWN_KEYS[0].1).unwrap();
        for ((key, desc), line) in KNOWN_KEYS.iter().zip(&lines[1..]) {
            assert!(line.starts_with(&format!("  {key}")), "{line}");
            assert_eq!(line.find(desc), Some(column), "{line}");
        }
    }
}
