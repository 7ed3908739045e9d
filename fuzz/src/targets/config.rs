//! The config file: sealed (opened with the master key, never framed,
//! as the repository reads it) or plaintext, parsed, written and parsed
//! again to the same config.

use crate::{assert_round_trip, Input};
use hbk_repo::Config;

/// Feeds `data` to the `config` target: see the module documentation.
pub fn run(data: &[u8]) {
    let Some(json) = Input::new(data).and_then(|i| i.plaintext()) else {
        return;
    };
    let Ok(config) = Config::from_json(&json) else {
        return;
    };
    assert!(
        (1..=2).contains(&config.version),
        "unsupported version accepted"
    );
    let written = config.to_json().expect("a parsed config can be written");
    assert_round_trip("config", &config, Config::from_json(&written));
}
