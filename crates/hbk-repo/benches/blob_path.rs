//! The per-chunk cost of a backup and a restore: SHA-256, zstd, and the
//! AES-256-CTR + Poly1305-AES seal and open, on a 1 MiB chunk.

#![allow(missing_docs)]

#[path = "../../../benches/throughput.rs"]
mod throughput;

use hbk_repo::blob::{decode_blob, encode_blob, BlobScratch, Compression};
use hbk_repo::{BlobType, Id, Key};

fn chunk(compressible: bool) -> Vec<u8> {
    let mut x: u64 = 0x9e3779b97f4a7c15;
    (0..1 << 20)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if compressible && i % 4 != 0 {
                b'a' + (i % 7) as u8
            } else {
                x as u8
            }
        })
        .collect()
}

fn main() {
    const MIB: u64 = 1 << 20;
    let key = Key::random();
    for (name, data) in [("random", chunk(false)), ("text", chunk(true))] {
        let case = |what: &str| format!("blob_1MiB/{what}/{name}");
        throughput::report(&case("sha256"), MIB, || Id::hash(&data));
        let other = data.iter().rev().copied().collect::<Vec<u8>>();
        throughput::report(&case("sha256_pair"), 2 * MIB, || {
            Id::hash_pair(&data, &other)
        });
        throughput::report(&case("seal"), MIB, || key.seal(&data));
        let sealed = key.seal(&data);
        throughput::report(&case("open"), MIB, || key.open(&sealed).unwrap());
        for (cname, comp) in [
            ("encode_off", Compression::Off),
            ("encode_zstd3", Compression::IfSmaller(3)),
        ] {
            let mut scratch = BlobScratch::default();
            throughput::report(&case(cname), MIB, || {
                encode_blob(
                    &key,
                    BlobType::Data,
                    Id::hash(&data),
                    &data,
                    comp,
                    &mut scratch,
                )
                .sealed
                .len()
            });
        }
        let id = Id::hash(&data);
        let mut scratch = BlobScratch::default();
        let blob = encode_blob(
            &key,
            BlobType::Data,
            id,
            &data,
            Compression::IfSmaller(3),
            &mut scratch,
        );
        let sealed = blob.sealed.to_vec();
        let ulen = blob.uncompressed_length;
        throughput::report(&case("decode_zstd3"), MIB, || {
            let mut s = sealed.clone();
            decode_blob(&key, &id, ulen, &mut s).unwrap()
        });
    }
}
