//! Throughput of the chunkers on 64 MiB of pseudo-random data.
//!
//! Run with `cargo bench -p hbk-chunker`.

#![allow(missing_docs)]

#[path = "../../../benches/throughput.rs"]
mod throughput;

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

fn main() {
    let data = data();
    let len = LEN as u64;
    let mut rabin = RabinChunker::new(Polynomial(0x3DA3358B4DC173)).unwrap();
    throughput::report("chunk/rabin/slice", len, || {
        rabin.chunk_lengths(&data).len()
    });
    let mut rabin_nomin = rabin.clone().with_sizes(64, 8 << 20, 20).unwrap();
    throughput::report("chunk/rabin/slice-min64", len, || {
        rabin_nomin.chunk_lengths(&data).len()
    });
    throughput::report("chunk/rabin/read-1MiB", len, || {
        Chunks::new(&data[..], rabin.clone()).count()
    });
    let mut fast = FastCdcChunker::default();
    throughput::report("chunk/fastcdc/slice", len, || {
        fast.chunk_lengths(&data).len()
    });
    throughput::report("chunk/fastcdc/read-1MiB", len, || {
        Chunks::new(&data[..], fast.clone()).count()
    });
    throughput::report("chunk/fastcdc-crate/slice", len, || {
        fastcdc::v2020::FastCDC::new(&data, 512 << 10, 1 << 20, 8 << 20).count()
    });
}
