//! Throughput of the chunkers on 64 MiB of pseudo-random data.
//!
//! Run with `cargo bench -p hbk-chunker`.

#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hbk_chunker::{Chunks, FastCdcChunker, FindCut, Polynomial, RabinChunker};

const LEN: usize = 64 << 20;

fn data() -> Vec<u8> {
    let mut x = 0x2545f4914f6cdd1du64;
    (0..LEN / 8)
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let data = data();
    let mut g = c.benchmark_group("chunk");
    g.throughput(Throughput::Bytes(LEN as u64));
    g.sample_size(10);

    let mut rabin = RabinChunker::new(Polynomial(0x3DA3358B4DC173)).unwrap();
    g.bench_function("rabin/slice", |b| {
        b.iter(|| rabin.chunk_lengths(&data).len())
    });
    let mut rabin_nomin = rabin.clone().with_sizes(64, 8 << 20, 20).unwrap();
    g.bench_function("rabin/slice-min64", |b| {
        b.iter(|| rabin_nomin.chunk_lengths(&data).len())
    });
    g.bench_function("rabin/read-1MiB", |b| {
        b.iter(|| Chunks::new(&data[..], rabin.clone()).count())
    });

    let mut fast = FastCdcChunker::default();
    g.bench_function("fastcdc/slice", |b| {
        b.iter(|| fast.chunk_lengths(&data).len())
    });
    g.bench_function("fastcdc/read-1MiB", |b| {
        b.iter(|| Chunks::new(&data[..], fast.clone()).count())
    });
    g.bench_function("fastcdc-crate/slice", |b| {
        b.iter(|| fastcdc::v2020::FastCDC::new(&data, 512 << 10, 1 << 20, 8 << 20).count())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
