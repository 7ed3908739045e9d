//! Key files (`keys/<id>`): the master key, wrapped with a password.

use hbk_crypto::{KdfParams, Key};
use serde::{Deserialize, Serialize};

use crate::{serde_util, Error, GoTime, Result};

/// A key file as restic writes it (plain JSON, field order kept).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyFile {
    /// When the key was added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<GoTime>,
    /// Who added it.
    #[serde(default)]
    pub username: String,
    /// On which host.
    #[serde(default)]
    pub hostname: String,
    /// Always `scrypt`.
    pub kdf: String,
    /// scrypt `N`.
    #[serde(rename = "N")]
    pub n: u64,
    /// scrypt `r`.
    pub r: u32,
    /// scrypt `p`.
    pub p: u32,
    /// 64 random bytes.
    #[serde(with = "serde_util::base64_bytes")]
    pub salt: Vec<u8>,
    /// The sealed master-key JSON.
    #[serde(with = "serde_util::base64_bytes")]
    pub data: Vec<u8>,
    /// Unknown fields, kept.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The master key JSON inside a key file.
#[derive(Serialize, Deserialize)]
struct MasterKeyJson {
    mac: MacJson,
    #[serde(with = "serde_util::base64_bytes")]
    encrypt: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct MacJson {
    #[serde(with = "serde_util::base64_bytes")]
    k: Vec<u8>,
    #[serde(with = "serde_util::base64_bytes")]
    r: Vec<u8>,
}

/// Why a key file did not open.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The password does not open this key file.
    #[error("wrong password for this key")]
    WrongPassword,
    /// The key file itself is malformed.
    #[error(transparent)]
    Invalid(#[from] Error),
}

impl KeyFile {
    /// Parses a key file's bytes and checks its fixed fields.
    pub fn from_json(bytes: &[u8]) -> Result<KeyFile> {
        let k: KeyFile = serde_json::from_slice(bytes).map_err(|e| Error::format("key file", e))?;
        if k.kdf != "scrypt" {
            return Err(Error::format(
                "key file",
                format!("unknown kdf {:?}", k.kdf),
            ));
        }
        if k.salt.len() != 64 {
            return Err(Error::format(
                "key file",
                format!("salt has {} bytes, expected 64", k.salt.len()),
            ));
        }
        Ok(k)
    }

    /// The file's bytes: compact JSON, no newline. The id is their hash.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| Error::serialize("key file", e))
    }

    /// The scrypt parameters stored in the file.
    pub fn kdf_params(&self) -> KdfParams {
        KdfParams {
            n: self.n,
            r: self.r,
            p: self.p,
        }
    }

    /// Derives the user key from `password` and unwraps the master key.
    pub fn open(&self, password: &[u8]) -> std::result::Result<Key, KeyFileError> {
        let user = Key::derive(password, &self.salt, self.kdf_params())
            .map_err(|e| Error::format("key file", e))?;
        self.open_with_user_key(&user)
    }

    /// Unwraps the master key with an already derived user key.
    pub fn open_with_user_key(&self, user: &Key) -> std::result::Result<Key, KeyFileError> {
        let json = user.open(&self.data).map_err(|e| match e {
            hbk_crypto::Error::MacMismatch => KeyFileError::WrongPassword,
            other => Error::format("key file", other).into(),
        })?;
        let m: MasterKeyJson =
            serde_json::from_slice(&json).map_err(|e| Error::format("master key", e))?;
        Key::from_slices(&m.encrypt, &m.mac.k, &m.mac.r)
            .map_err(|e| Error::format("master key", e).into())
    }

    /// Wraps `master` with a new password: a fresh salt and scrypt run.
    pub fn create(
        master: &Key,
        password: &[u8],
        params: KdfParams,
        username: &str,
        hostname: &str,
    ) -> Result<KeyFile> {
        let mut salt = vec![0u8; 64];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut salt);
        let user =
            Key::derive(password, &salt, params).map_err(|e| Error::format("key file", e))?;
        let master_json = serde_json::to_vec(&MasterKeyJson {
            mac: MacJson {
                k: master.mac_k().to_vec(),
                r: master.mac_r().to_vec(),
            },
            encrypt: master.encrypt_key().to_vec(),
        })
        .map_err(|e| Error::format("master key", e))?;
        Ok(KeyFile {
            created: Some(GoTime::now()),
            username: username.to_string(),
            hostname: hostname.to_string(),
            kdf: "scrypt".into(),
            n: params.n,
            r: params.r,
            p: params.p,
            salt,
            data: user.seal(&master_json),
            extra: Default::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `key` fuzz target: an unknown field holding a float
    /// came back from write and parse with its last digit changed, until
    /// serde_json parsed floats exactly (`float_roundtrip`). Fields hbk
    /// does not know are kept as written; their values must not drift.
    #[test]
    fn unknown_float_fields_survive_a_round_trip() {
        let master = Key::random();
        let kf = KeyFile::create(&master, b"pw", KdfParams::INSECURE_FOR_TESTS, "u", "h").unwrap();
        let mut text = String::from_utf8(kf.to_json().unwrap()).unwrap();
        let end = text.rfind('}').unwrap();
        // Integers too large for 64 bits are floats to serde_json (the
        // crashing inputs of the `key` and `index` targets).
        text.insert_str(
            end,
            r#","nanamm":6666666666600000066917613680459778,"offset":1100000004983108671024019679"#,
        );
        let once = KeyFile::from_json(text.as_bytes()).unwrap();
        let twice = KeyFile::from_json(&once.to_json().unwrap()).unwrap();
        assert_eq!(once.to_json().unwrap(), twice.to_json().unwrap());
    }

    #[test]
    fn create_then_open() {
        let master = Key::random();
        let kf = KeyFile::create(&master, b"pw", KdfParams::INSECURE_FOR_TESTS, "u", "h").unwrap();
        let parsed = KeyFile::from_json(&kf.to_json().unwrap()).unwrap();
        assert_eq!(parsed.open(b"pw").unwrap(), master);
        assert!(matches!(
            parsed.open(b"nope"),
            Err(KeyFileError::WrongPassword)
        ));
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            if let Ok(k) = KeyFile::from_json(&data) {
                let _ = k.kdf_params().validate();
            }
        }

        /// A real key file with several edits: parsing and parameter
        /// checks never panic (no derivation: it would be slow).
        #[test]
        fn edited_key_json_never_panics(edits in crate::fuzz::edits(6)) {
            let master = Key::random();
            let kf = KeyFile::create(&master, b"pw", KdfParams::INSECURE_FOR_TESTS, "u", "h").unwrap();
            let bytes = crate::fuzz::apply(&kf.to_json().unwrap(), &edits);
            if let Ok(k) = KeyFile::from_json(&bytes) {
                let _ = k.kdf_params().validate();
                let _ = k.to_json();
            }
        }

        #[test]
        fn mutated_key_json_never_panics(pos in 0usize..400, byte in proptest::num::u8::ANY) {
            let master = Key::random();
            let kf = KeyFile::create(&master, b"pw", KdfParams::INSECURE_FOR_TESTS, "u", "h").unwrap();
            let mut bytes = kf.to_json().unwrap();
            let i = pos % bytes.len();
            bytes[i] = byte;
            if let Ok(k) = KeyFile::from_json(&bytes) {
                if k.kdf_params().validate().is_ok() && k.n <= 1 << 14 && k.p <= 4 && k.r <= 16 {
                    let _ = k.open(b"pw");
                }
            }
        }
    }
}
