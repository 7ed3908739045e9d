//! The repository's `config` file.

use serde::{Deserialize, Serialize};

use crate::{Error, Id, Result};

/// The decrypted `config`: format version, repository id and the chunker
/// polynomial. Fields other tools add (rustic's chunker settings, …) are
/// kept in `extra` so a rewrite does not lose them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// Repository format version, 1 or 2.
    pub version: u32,
    /// The repository's random id.
    pub id: Id,
    /// The Rabin chunker's polynomial, lowercase hex without `0x`.
    #[serde(with = "hex_pol")]
    pub chunker_polynomial: u64,
    /// Fields this version does not know, kept verbatim.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Config {
    /// Parses and checks the decrypted config JSON.
    pub fn from_json(bytes: &[u8]) -> Result<Config> {
        let c: Config = serde_json::from_slice(bytes).map_err(|e| Error::format("config", e))?;
        if !(1..=2).contains(&c.version) {
            return Err(Error::UnsupportedVersion(c.version));
        }
        Ok(c)
    }

    /// The JSON text to encrypt and store.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| Error::serialize("config", e))
    }
}

mod hex_pol {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{v:x}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let s = String::deserialize(d)?;
        let s = s.trim_start_matches("0x");
        u64::from_str_radix(s, 16).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config as restic writes it, plus a field another tool added.
    const CONFIG: &str = r#"{"version":2,"id":"25fff36f1e5bc61414d8e698e280ada9c8967ffb7367ee4c7039312dadaa2734","chunker_polynomial":"2a8542b446e9b3","x_other":{"a":1}}"#;

    #[test]
    fn round_trip_keeps_unknown_fields() {
        let json = CONFIG;
        let c = Config::from_json(json.as_bytes()).unwrap();
        assert_eq!(c.chunker_polynomial, 0x2a8542b446e9b3);
        assert_eq!(String::from_utf8(c.to_json().unwrap()).unwrap(), json);
    }

    #[test]
    fn rejects_unknown_versions() {
        let json = r#"{"version":3,"id":"25fff36f1e5bc61414d8e698e280ada9c8967ffb7367ee4c7039312dadaa2734","chunker_polynomial":"2a8542b446e9b3"}"#;
        assert!(matches!(
            Config::from_json(json.as_bytes()),
            Err(Error::UnsupportedVersion(3))
        ));
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = Config::from_json(&data);
        }

        #[test]
        fn mutated_configs_never_panic(edits in crate::fuzz::edits(6)) {
            let bytes = crate::fuzz::apply(CONFIG.as_bytes(), &edits);
            if let Ok(c) = Config::from_json(&bytes) {
                let _ = c.to_json();
            }
        }
    }
}
