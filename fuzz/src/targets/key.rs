//! Key files. Plaintext inputs are key files (stored unencrypted):
//! parsed, written and parsed again to the same bytes, their scrypt
//! parameters checked, tiny ones derived, and the wrapped master key
//! opened with the fixture's user key (it opens only to the fixture's
//! master key). Sealed inputs are the wrapped master-key JSON itself,
//! sealed by the target with the fixture's user key so that mutations
//! reach the master-key parser.

use crate::{Input, PASSWORD};
use hbk_repo::{KeyFile, KeyFileError};

/// Feeds `data` to the `key` target: see the module documentation.
pub fn run(data: &[u8]) {
    let Some(input) = Input::new(data) else {
        return;
    };
    let fixture = input.fixture();
    if input.sealed {
        let mut wrapped = fixture.key_file.clone();
        wrapped.data.clear();
        fixture
            .user
            .seal_with_iv(&[7; 16], input.body, &mut wrapped.data);
        match wrapped.open_with_user_key(&fixture.user) {
            Ok(_) | Err(KeyFileError::Invalid(_)) => {}
            Err(KeyFileError::WrongPassword) => {
                panic!("a correctly sealed master key fails its MAC")
            }
        }
        return;
    }
    let Ok(file) = KeyFile::from_json(input.body) else {
        return;
    };
    let written = file.to_json().expect("a parsed key file can be written");
    let again = KeyFile::from_json(&written).expect("a written key file parses");
    assert_eq!(
        again.to_json().expect("written again"),
        written,
        "key file: written and parsed again, it changed"
    );
    let params = file.kdf_params();
    if params.validate().is_ok() && params.n <= 1 << 10 && params.r <= 8 && params.p <= 2 {
        let _ = file.open(PASSWORD);
    }
    if let Ok(master) = file.open_with_user_key(&fixture.user) {
        assert!(
            master == fixture.master,
            "the user key opened some other master key"
        );
    }
}
