//! Test vectors from restic-format.md §9: restic's own crypto vectors and an
//! end-to-end key file made by restic 0.14.

use hbk_crypto::{KdfParams, Key};

fn h<const N: usize>(s: &str) -> [u8; N] {
    hex::decode(s).unwrap().try_into().unwrap()
}

fn vector_key() -> Key {
    Key::from_parts(
        h("303e8687b1d7db18421bdc6bb8588ccadac4d59ee87b8ff70c44e635790cafef"),
        h("ef4d8824cb80b2bcc5fbff8a9b12a42c"),
        h("cc8d4b948ee0ebfe1d415de921d10353"),
    )
}

const SEALED: &str = "69fb41c62d12def4593bd71757138606338f621aeaeb39da0fe4f99233f8037a54ea63338a813bcf3f75d8c3cc75dddf8750";

#[test]
fn opens_restic_vector() {
    let sealed = hex::decode(SEALED).unwrap();
    assert_eq!(vector_key().open(&sealed).unwrap(), b"Dies ist ein Test!");
}

#[test]
fn seals_restic_vector_with_its_iv() {
    let sealed = hex::decode(SEALED).unwrap();
    let iv: [u8; 16] = sealed[..16].try_into().unwrap();
    let mut out = Vec::new();
    vector_key().seal_with_iv(&iv, b"Dies ist ein Test!", &mut out);
    assert_eq!(out, sealed);
}

#[test]
fn every_flipped_bit_is_detected() {
    let sealed = hex::decode(SEALED).unwrap();
    for i in 0..sealed.len() * 8 {
        let mut bad = sealed.clone();
        bad[i / 8] ^= 1 << (i % 8);
        assert!(vector_key().open(&bad).is_err(), "bit {i}");
    }
}

#[test]
fn short_buffers_are_errors() {
    for n in 0..32 {
        assert!(vector_key().open(&vec![7u8; n]).is_err());
        assert!(vector_key().seal_in_place(&mut vec![7u8; n]).is_err());
    }
}

/// Bernstein's Poly1305-AES vectors, checked through the sealed-box MAC:
/// the ciphertext is the message, the IV is the nonce.
#[test]
fn poly1305_aes_vectors() {
    let cases = [
        (
            "f3f6",
            "851fc40c3467ac0be05cc20404f3f700",
            "ec074c835580741701425b623235add6",
            "fb447350c4e868c52ac3275cf9d4327e",
            "f4c633c3044fc145f84f335cb81953de",
        ),
        (
            "",
            "a0f3080000f46400d0c7e9076c834403",
            "75deaa25c09f208e1dc4ce6b5cad3fbf",
            "61ee09218d29b0aaed7e154a2c5509cc",
            "dd3fab2251f11ac759f0887129cc2ee7",
        ),
        (
            "663cea190ffb83d89593f3f476b6bc24d7e679107ea26adb8caf6652d0656136",
            "48443d0bb0d21109c89a100b5ce2c208",
            "6acb5f61a7176dd320c5c1eb2edcdc74",
            "ae212a55399729595dea458bc621ff0e",
            "0ee1c16bb73f0f4fd19881753c01cdbe",
        ),
        (
            "ab0812724a7f1e342742cbed374d94d136c6b8795d45b3819830f2c04491faf0990c62e48b8018b2c3e4a0fa3134cb67fa83e158c994d961c4cb21095c1bf9",
            "12976a08c4426d0ce8a82407c4f48207",
            "e1a5668a4d5b66a5f68cc5424ed5982d",
            "9ae831e743978d3a23527c7128149e3a",
            "5154ad0d2cb26e01274fc51148491f1b",
        ),
    ];
    for (msg, r, k, nonce, mac) in cases {
        let key = Key::from_parts([1; 32], h(k), h(r));
        let mut sealed = hex::decode(nonce).unwrap();
        sealed.extend(hex::decode(msg).unwrap());
        sealed.extend(hex::decode(mac).unwrap());
        assert!(key.open(&sealed).is_ok(), "vector {msg}");
    }
}

#[test]
fn unclamped_and_clamped_r_agree() {
    let clamped = vector_key();
    let mut r = *clamped.mac_r();
    r[3] |= 0xf0;
    r[4] |= 0x03;
    let raw = Key::from_parts(*clamped.encrypt_key(), *clamped.mac_k(), r);
    let sealed = hex::decode(SEALED).unwrap();
    assert_eq!(raw.open(&sealed).unwrap(), b"Dies ist ein Test!");
}

#[test]
fn scrypt_user_key_from_restic_key_file() {
    use base64::Engine;
    let salt = base64::engine::general_purpose::STANDARD
        .decode("JLqVZ1LtVorbAVkNDMFt8V2qu+d+5RDj2jueEmPE6uJUMbhvGq5gNvmSXapQhub/m4Q5cEeFYWklRVtfxchIrQ==")
        .unwrap();
    let key = Key::derive(b"testpass", &salt, KdfParams::RESTIC_DEFAULT).unwrap();
    assert_eq!(
        hex::encode(key.encrypt_key()),
        "0deb65d7680e7d2513d676e180fb0bd46d20aa792be4ae8bac520769545d2f08"
    );
    assert_eq!(hex::encode(key.mac_k()), "c50794798bb8441a970f9baaba0eb935");
    assert_eq!(hex::encode(key.mac_r()), "15d08efa6802a6e261545c0e1258fca6");
    let data = base64::engine::general_purpose::STANDARD.decode("QBzJmtUKbss0wXWyaL3tcAIB8Alw27r+4ZZFr814gUoGLp312W/Zr8N4rbE0CSooYBzR64CCr+RQGFw9qL3T7+tiFFTjsC7eOwWa+x+nH3J2eRKh8704GCaTNqdPCno87gVjCp/RbI5etWD4Km8OhKFc6op19gYnJoojSly+q5NLAwXu6TqKPDck3pmWx6ZWwR7u2vvnf7T1/Hsff2Bk5A==").unwrap();
    let master_json = key.open(&data).unwrap();
    assert_eq!(
        std::str::from_utf8(&master_json).unwrap(),
        r#"{"mac":{"k":"YO1FAd2zD/MOnQZsFCn9cQ==","r":"vzWrCBAFDApEQukDSDKWDQ=="},"encrypt":"3y401gJZ/FJmriWGXyQJ2SswmQLJkVCSw1lkbchLPeM="}"#
    );
    let master = Key::from_parts(
        h("df2e34d60259fc5266ae25865f2409d92b309902c9915092c359646dc84b3de3"),
        h("60ed4501ddb30ff30e9d066c1429fd71"),
        h("bf35ab0810050c0a4442e9034832960d"),
    );
    let config = hex::decode("a9edd4acceeed90217cafbf698b59ff64f93d1129586b8d4d9488c77f7dff6c4118555228eb193fcdd05db7f2ab87b965ef6a8145c7db614234297fd6e26dd11eb9d36983a4c4bf9fe0a3ece09bdded2d2844156875c31fc35ff49881177e0ada16c3ffdc86e5ce1be4963082dc6536abf20acab0fa1b7d48f7d0dbf6e443814c4920ca21f8d86b8120c9dc95550cc5dedfc9e754b9a21a4790c13").unwrap();
    assert_eq!(
        std::str::from_utf8(&master.open(&config).unwrap()).unwrap(),
        r#"{"version":2,"id":"25fff36f1e5bc61414d8e698e280ada9c8967ffb7367ee4c7039312dadaa2734","chunker_polynomial":"2a8542b446e9b3"}"#
    );
}

#[test]
fn bad_kdf_params_are_rejected() {
    for (n, r, p) in [
        (0, 8, 1),
        (1, 8, 1),
        (1000, 8, 1),
        (1024, 0, 1),
        (1024, 8, 0),
    ] {
        assert!(Key::derive(b"x", &[0; 64], KdfParams { n, r, p }).is_err());
    }
}

proptest::proptest! {
    #[test]
    fn seal_open_round_trip(data in proptest::collection::vec(proptest::num::u8::ANY, 0..2000)) {
        let key = Key::random();
        let sealed = key.seal(&data);
        proptest::prop_assert_eq!(key.open(&sealed).unwrap(), data);
    }

    #[test]
    fn seal_in_place_opens_like_seal(data in proptest::collection::vec(proptest::num::u8::ANY, 0..2000)) {
        let key = Key::random();
        let mut buf = vec![0u8; 16];
        buf.extend_from_slice(&data);
        buf.extend_from_slice(&[0u8; 16]);
        key.seal_in_place(&mut buf).unwrap();
        proptest::prop_assert_eq!(buf.len(), data.len() + 32);
        proptest::prop_assert_eq!(key.open(&buf).unwrap(), data);
    }

    #[test]
    fn open_never_panics(data in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
        let _ = vector_key().open(&data);
    }
}
