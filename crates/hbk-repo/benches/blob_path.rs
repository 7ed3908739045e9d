//! The per-chunk cost of a backup and a restore: SHA-256, zstd, and the
//! AES-256-CTR + Poly1305-AES seal and open, on a 1 MiB chunk.

#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
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

fn bench(c: &mut Criterion) {
    let key = Key::random();
    let mut g = c.benchmark_group("blob_1MiB");
    g.throughput(Throughput::Bytes(1 << 20));
    for (name, data) in [("random", chunk(false)), ("text", chunk(true))] {
        g.bench_with_input(BenchmarkId::new("sha256", name), &data, |b, d| {
            b.iter(|| Id::hash(d))
        });
        g.bench_with_input(BenchmarkId::new("seal", name), &data, |b, d| {
            b.iter(|| key.seal(d))
        });
        let sealed = key.seal(&data);
        g.bench_with_input(BenchmarkId::new("open", name), &sealed, |b, s| {
            b.iter(|| key.open(s).unwrap())
        });
        let id = Id::hash(&data);
        for (cname, comp) in [
            ("encode_off", Compression::Off),
            ("encode_zstd3", Compression::IfSmaller(3)),
        ] {
            g.bench_with_input(BenchmarkId::new(cname, name), &data, |b, d| {
                let mut scratch = BlobScratch::default();
                b.iter(|| {
                    encode_blob(&key, BlobType::Data, Id::hash(d), d, comp, &mut scratch)
                        .sealed
                        .len()
                })
            });
        }
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
        g.bench_with_input(
            BenchmarkId::new("decode_zstd3", name),
            &sealed,
            |b, sealed| {
                b.iter(|| {
                    let mut s = sealed.clone();
                    decode_blob(&key, &id, ulen, &mut s).unwrap()
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
