//! What hbk's fuzz targets share: the keys of the restic-made fixture
//! repositories, so that stored files (sealed with those keys) are real
//! seeds, and the one-byte prefix that says where in the read path an
//! input enters: as the file is stored (sealed) or as its plaintext.

pub mod targets;

use std::fmt::Debug;
use std::sync::OnceLock;

use hbk_crypto::Key;
use hbk_repo::KeyFile;

/// The password of both fixture repositories (fixtures/README.md).
pub const PASSWORD: &[u8] = b"testpass";

/// The key files of `fixtures/restic-0.14/repo-v1` and `repo-v2`.
const KEY_FILES: [&[u8]; 2] = [
    include_bytes!(
        "../../fixtures/restic-0.14/repo-v1/keys/a71f177e87333ddc44a475e6ea3f441bd09aa70781fdd7e98e04c241800d24d2"
    ),
    include_bytes!(
        "../../fixtures/restic-0.14/repo-v2/keys/73a8de34c58ab4f27dd5d9fd73cae96861fb6d285f85110f96835c647305d922"
    ),
];

/// Each fixture repository's user key (scrypt of [`PASSWORD`]) and
/// master key, 64 bytes each, written by `fuzz/seed.sh`: a process
/// starts fuzzing at once instead of spending seconds in scrypt.
const KEYS: [&[u8; 128]; 2] = [
    include_bytes!("../keys/v1.bin"),
    include_bytes!("../keys/v2.bin"),
];

/// One fixture repository's keys.
pub struct Fixture {
    /// Its key file as restic wrote it, parsed.
    pub key_file: KeyFile,
    /// The key the password derives: it opens `key_file.data`.
    pub user: Key,
    /// The master key: it opens every other file of the repository.
    pub master: Key,
}

/// A key from its 64 bytes: AES key, MAC `k`, MAC `r`.
fn key(b: &[u8]) -> Key {
    Key::from_slices(&b[..32], &b[32..48], &b[48..64]).expect("64 key bytes")
}

/// The fixture repository of format `version` (1, or 2 for anything
/// else); checked once per process: the stored user key opens the
/// fixture's key file to the stored master key.
pub fn fixture(version: u32) -> &'static Fixture {
    static FIXTURES: [OnceLock<Fixture>; 2] = [OnceLock::new(), OnceLock::new()];
    let i = usize::from(version == 2);
    FIXTURES[i].get_or_init(|| {
        let key_file = KeyFile::from_json(KEY_FILES[i]).expect("the fixture key file parses");
        let (user, master) = (key(&KEYS[i][..64]), key(&KEYS[i][64..]));
        let opened = key_file
            .open_with_user_key(&user)
            .expect("fuzz/keys holds the fixture's user key (rerun fuzz/seed.sh)");
        assert!(opened == master, "fuzz/keys holds the fixture's master key");
        Fixture {
            key_file,
            user,
            master,
        }
    })
}

/// An input split into its prefix byte and the body. Prefix bit 0 picks
/// the repository format (set: version 2, clear: version 1), bit 1 says
/// the body is sealed (the file as stored, sealed with that fixture's
/// master key, so a mutated body meets the MAC check) rather than the
/// plaintext (which reaches the parsers themselves). Other bits are
/// ignored.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// Repository format version, 1 or 2.
    pub version: u32,
    /// The body is sealed.
    pub sealed: bool,
    /// Everything after the prefix byte.
    pub body: &'a [u8],
}

/// Prefix bit: the body is of repository format 2.
pub const V2: u8 = 1;
/// Prefix bit: the body is sealed.
pub const SEALED: u8 = 2;

impl<'a> Input<'a> {
    /// Splits `data`; `None` when it is empty.
    pub fn new(data: &'a [u8]) -> Option<Input<'a>> {
        let (&flags, body) = data.split_first()?;
        Some(Input {
            version: if flags & V2 != 0 { 2 } else { 1 },
            sealed: flags & SEALED != 0,
            body,
        })
    }

    /// The fixture repository of this input's version.
    pub fn fixture(&self) -> &'static Fixture {
        fixture(self.version)
    }

    /// The plaintext: the body opened with the master key when sealed
    /// (`None` when it does not authenticate), else the body itself.
    pub fn plaintext(&self) -> Option<Vec<u8>> {
        match self.sealed {
            true => self.fixture().master.open(self.body).ok(),
            false => Some(self.body.to_vec()),
        }
    }

    /// The JSON of an unpacked file (index, snapshot, lock): the
    /// plaintext with the version's framing (v2: maybe zstd) undone, by
    /// the decoder the repository uses for these files.
    pub fn unpacked(&self) -> Option<Vec<u8>> {
        hbk_repo::unpacked::decode_unpacked(self.version, self.plaintext()?).ok()
    }
}

/// Checks that a document that parsed, written back and parsed again,
/// means the same: `again` is the second parse of what `first` wrote.
pub fn assert_round_trip<T: PartialEq + Debug, E: Debug>(
    what: &str,
    first: &T,
    again: Result<T, E>,
) {
    match again {
        Ok(again) => assert_eq!(
            &again, first,
            "{what}: written and parsed again, it changed"
        ),
        Err(e) => panic!("{what}: parsed, written, then rejected: {e:?}"),
    }
}
