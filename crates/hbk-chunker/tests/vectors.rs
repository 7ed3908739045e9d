//! Chunker test vectors from the format spec §6.7 (b)–(e).
//!
//! §6.7(a) (upstream `chunks1`) is not reproduced: its data comes from Go's
//! `math/rand` lagged-Fibonacci source, which needs Go's 607-entry seed
//! table. Vectors (b) and (c) were computed with the real Go chunker on a
//! stream that is easy to generate here.

use std::sync::OnceLock;

use hbk_chunker::{Chunks, FindCut, Polynomial, RabinChunker};
use sha2::{Digest, Sha256};

const P: Polynomial = Polynomial(0x3DA3358B4DC173);
const STREAM_LEN: usize = 33_554_432;
const MIN: usize = 524_288;

/// `SHA256(le64(0)) || SHA256(le64(1)) || …`, 32 MiB.
fn stream() -> &'static [u8] {
    static DATA: OnceLock<Vec<u8>> = OnceLock::new();
    DATA.get_or_init(|| {
        let mut data = Vec::with_capacity(STREAM_LEN);
        for i in 0u64.. {
            if data.len() >= STREAM_LEN {
                break;
            }
            data.extend_from_slice(&Sha256::digest(i.to_le_bytes()));
        }
        data.truncate(STREAM_LEN);
        data
    })
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// (start, length, cut) of every chunk, using `find_cut` on `data` split
/// into pieces of `step` bytes. The EOF chunk reports cut 0.
fn chunk_all(c: &mut RabinChunker, data: &[u8], step: usize) -> Vec<(usize, usize, u64)> {
    c.reset();
    let mut out = Vec::new();
    let mut start = 0;
    let mut pos = 0;
    for piece in data.chunks(step) {
        let mut rest = piece;
        while let Some(n) = c.find_cut(rest) {
            pos += n;
            out.push((start, pos - start, c.last_cut_fingerprint()));
            start = pos;
            rest = &rest[n..];
        }
        pos += rest.len();
    }
    if start < data.len() {
        out.push((start, data.len() - start, 0));
    }
    out
}

fn check_against(data: &[u8], got: &[(usize, usize, u64)], expected: &[(usize, usize, u64, &str)]) {
    assert_eq!(got.len(), expected.len(), "number of chunks");
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        assert_eq!((g.0, g.1), (e.0, e.1), "chunk {i} (start, length)");
        if i + 1 < expected.len() {
            assert_eq!(g.2, e.2, "chunk {i} cut fingerprint");
        }
        assert_eq!(sha256_hex(&data[g.0..g.0 + g.1]), e.3, "chunk {i} SHA-256");
    }
}

#[test]
fn sha256_counter_stream_digest() {
    assert_eq!(
        sha256_hex(stream()),
        "e8b10ee1485f66037afca792113ce0e75116962aeda104b71a9fdaf0a8ec896b"
    );
}

// §6.7(b).
#[test]
fn sha256_counter_stream_chunks() {
    let data = stream();
    let mut c = RabinChunker::new(P).unwrap();
    let got = chunk_all(&mut c, data, data.len());
    check_against(data, &got, SHA256CTR_CHUNKS);
    assert_eq!(
        sha256_hex(&data[..got[0].1]),
        "f3d509f80ced030c820556a720ed8a395ba468bf124218fde1df63139d2df0ae"
    );
    let last = got.last().unwrap();
    assert_eq!(*last, (32_487_316, 1_067_116, 0));
    assert_eq!(
        sha256_hex(&data[last.0..]),
        "c36d77cdd5ad7c13e5d6e089a703e9f782fa5751ef110d18334e3096df737530"
    );
    // Streaming in odd pieces finds the same cuts.
    assert_eq!(chunk_all(&mut c, data, 65_537), got);
}

// §6.7(b) through the `Read` adaptor.
#[test]
fn sha256_counter_stream_read_adaptor() {
    let data = stream();
    let c = RabinChunker::new(P).unwrap();
    let mut start = 0;
    let mut n = 0;
    for (chunk, e) in Chunks::with_buffer_size(data, c, 300_001).zip(SHA256CTR_CHUNKS) {
        let chunk = chunk.unwrap();
        assert_eq!((start, chunk.len()), (e.0, e.1));
        assert_eq!(&chunk[..], &data[start..start + chunk.len()]);
        start += chunk.len();
        n += 1;
    }
    assert_eq!((n, start), (SHA256CTR_CHUNKS.len(), data.len()));
}

// §6.7(c).
#[test]
fn derive_polynomial_from_counter_stream() {
    let data = stream();
    let rejected = [
        0x2b81a1f57055afu64,
        0x260ac74baf8cf7,
        0x3df9ba421ef50d,
        0x3de8e08d32b2e5,
        0x3f41d436a19f7d,
        0x39b683e8373617,
        0x3d8cf875d6e133,
        0x34201833cfcb9d,
    ];
    for (i, &r) in rejected.iter().enumerate() {
        let bytes: [u8; 8] = data[8 * i..8 * i + 8].try_into().unwrap();
        let candidate = Polynomial::candidate_from_bytes(bytes);
        assert_eq!(candidate, Polynomial(r), "candidate {i}");
        assert!(!candidate.is_irreducible(), "candidate {i} is reducible");
    }
    let mut reader = data;
    let pol = Polynomial::derive(&mut reader).unwrap();
    assert_eq!(pol, Polynomial(0x24c4f312816ed9));
    assert_eq!(data.len() - reader.len(), 72, "bytes consumed");
    assert!(pol.is_irreducible());
    assert_eq!(pol.deg(), 53);

    let mut c = RabinChunker::new(pol).unwrap();
    let got = chunk_all(&mut c, data, 1 << 20);
    check_against(data, &got, DERIVED_POL_CHUNKS);
    assert_eq!(got[0].2, 0x000d352fdac00000);
    let lengths: Vec<usize> = got.iter().map(|g| g.1).collect();
    assert_eq!(
        lengths,
        [
            3245237, 848335, 675766, 856573, 1196659, 1718149, 582631, 937733, 3656987, 868157,
            720083, 1124463, 3665386, 578758, 2431360, 1309604, 1106402, 714138, 656337, 2025952,
            1194509, 1450079, 1660202, 330932
        ]
    );
}

const ZERO_CHUNK_SHA256: &str = "07854d2fef297a06ba81685e660c332de36d5d18d546927d30daad6d7fda1541";

// §6.7(e) and upstream `chunks2`.
#[test]
fn zeros_split_at_min_size() {
    let mut c = RabinChunker::new(P).unwrap();
    assert_eq!(sha256_hex(&[0u8; MIN]), ZERO_CHUNK_SHA256);

    let zeros = vec![0u8; 4 * MIN];
    let got = chunk_all(&mut c, &zeros, zeros.len());
    assert_eq!(got, (0..4).map(|i| (i * MIN, MIN, 0)).collect::<Vec<_>>());

    let zeros = vec![0u8; 2 * 1024 * 1024 + 1];
    assert_eq!(
        sha256_hex(&zeros),
        "e9a099c75ef837c28bc91683bee127e463fa0ee10c11fd816f8d2d428c0d610e"
    );
    let got = chunk_all(&mut c, &zeros, 4096);
    let lengths: Vec<usize> = got.iter().map(|g| g.1).collect();
    assert_eq!(lengths, [MIN, MIN, MIN, MIN, 1]);
    assert!(got[..4].iter().all(|g| g.2 == 0));
    for chunk in Chunks::new(&zeros[..], c.clone()).take(4) {
        assert_eq!(sha256_hex(&chunk.unwrap()), ZERO_CHUNK_SHA256);
    }
}

// §6.7(e): inputs of (almost) exactly the minimum size are one chunk.
#[test]
fn min_size_inputs_are_one_chunk() {
    let data = stream();
    let mut c = RabinChunker::new(P).unwrap();
    assert_eq!(c.chunk_lengths(&data[..MIN]), [MIN]);
    assert_eq!(
        sha256_hex(&data[..MIN]),
        "28b2ed04bfe82f5fe31ff9a8a586cee29b10303cf9197a0efd26742479a9793b"
    );
    assert_eq!(c.chunk_lengths(&data[..MIN - 1]), [MIN - 1]);
    assert_eq!(
        sha256_hex(&data[..MIN - 1]),
        "63b2e977e5d562b535f06eb15f7d327c8162264b40f9f5e9061483a962c691ed"
    );
    assert_eq!(c.chunk_lengths(&[]), Vec::<usize>::new());
    assert_eq!(Chunks::new(&[][..], c).count(), 0);
}

// Forced cut at the maximum size: 8 MiB + 3 bytes of a stream without
// boundaries (mask with all 53 bits cannot be met by this data).
#[test]
fn max_size_forced_cut() {
    let data = &stream()[..8 * 1024 * 1024 + 3];
    let mut c = RabinChunker::new(P)
        .unwrap()
        .with_sizes(MIN, 8 * 1024 * 1024, 53)
        .unwrap();
    assert_eq!(c.chunk_lengths(data), [8 * 1024 * 1024, 3]);
    let mut c = c.with_sizes(MIN, MIN, 53).unwrap();
    assert_eq!(c.chunk_lengths(&data[..3 * MIN + 10]), [MIN, MIN, MIN, 10]);
}
/// (start, length, cut fingerprint, SHA-256) from the Go chunker; the
/// last entry is the EOF remainder, whose cut value is meaningless.
const SHA256CTR_CHUNKS: &[(usize, usize, u64, &str)] = &[
    (
        0,
        1015968,
        0x001051a055300000,
        "f3d509f80ced030c820556a720ed8a395ba468bf124218fde1df63139d2df0ae",
    ),
    (
        1015968,
        1087132,
        0x000e8c1a55300000,
        "a5e07d7324e2fdcc706d70f39cf41e7045abddb793548406951eae3fbb7260f4",
    ),
    (
        2103100,
        693439,
        0x000c0ae224600000,
        "10b46118bf46f7b5054ee5e19d93a6c022636835115c136c98013c2ddf7fbcbd",
    ),
    (
        2796539,
        2344058,
        0x000cb24676900000,
        "0f8c4a4ff60f6c0316c2f53f6b04ca55d9b5d68c90288ebf537374ce93a5b235",
    ),
    (
        5140597,
        903280,
        0x00029da140500000,
        "5647a39c8263e250dad1dd2b7b6cc176fdbd81fcf43be0658770d48cc5af7317",
    ),
    (
        6043877,
        1709091,
        0x001f1e119c800000,
        "9bd9c9f3a863b862524ccc5b7d0235cc9a7a665bb2d4eabff73211f51357e161",
    ),
    (
        7752968,
        1791277,
        0x0002af80b1400000,
        "2456d6222d1ec9580910803169667a5037b3badc1fed91d0a4c2adc6b05d936b",
    ),
    (
        9544245,
        1802453,
        0x00040aca61100000,
        "18a83fd6c22e203b6a607c4dfdbda600c2e9398abb10192efee2829fb4848438",
    ),
    (
        11346698,
        1190352,
        0x001ef2be1c000000,
        "5b142bd3bcf6b1a8a1a5f84efe79af6a25c08b4290f4f992247da868c3b9c5b8",
    ),
    (
        12537050,
        528291,
        0x000b3f8771600000,
        "1d84450ab74ab66f6f27ff5d39568868ba6550505280d933f7906905e885099e",
    ),
    (
        13065341,
        868679,
        0x0004bca4b3400000,
        "d5887d93b65c1396ad8f8303021e43968a89531f3f9045d22627853932002eaf",
    ),
    (
        13934020,
        1105126,
        0x001d27f356a00000,
        "7d8eec1f48a4cc758b6ff9d750b839e1b6a97fbeda6bac317a12882f72bf1416",
    ),
    (
        15039146,
        1847403,
        0x0015356ad1f00000,
        "e87fdb97d1718be682065d9309d320259b6239f12c76d989afe6e75342d9a739",
    ),
    (
        16886549,
        1069115,
        0x000afdd4d0300000,
        "79900e33e13922f7271973f47a6fa5912d77564f5fc57fd70989c43bc6adada3",
    ),
    (
        17955664,
        789535,
        0x0012f47f1d300000,
        "a602332df45c3c07c44614682fefb7705f885eff7dd4369d27a027cb8e8ff402",
    ),
    (
        18745199,
        691238,
        0x0009d5a66b300000,
        "31e2f4a280a16b2a429ec5af5412b09e39c23a3fd1ab16ef2be4f7d5d4719aa8",
    ),
    (
        19436437,
        1662910,
        0x000a444986100000,
        "a40fb86d7910b3654065cd1a9faa2acfded44f83c076c5feddf671f8e87cd28d",
    ),
    (
        21099347,
        569729,
        0x0019fb2b46c00000,
        "bbc8ab90e1927defe59e186bb920e5a589db3b079b9544e7ba4a8a4c66e759f9",
    ),
    (
        21669076,
        3507138,
        0x0019c1fd6fc00000,
        "86f9fcb6996e922a8b67689359b9ed24e59a6cda86c703a2b52165a0255cecc6",
    ),
    (
        25176214,
        2066827,
        0x001178d994900000,
        "e0eeafc847a61771efa9b4e7f4e88bf3dafe2ebbfb0ecc3cbfedee98e968c8c2",
    ),
    (
        27243041,
        599745,
        0x001bccdd85600000,
        "d27d28339ed3f081b23ca8ec4bcaa261704d1645ba1f50ad6c85b81be63c4ffc",
    ),
    (
        27842786,
        617098,
        0x000a5ddc87500000,
        "b6db6e1d483792dc8ac2b1d0f6a8c31b64ecd40a7ba09972368af6fd5c8a984c",
    ),
    (
        28459884,
        2039634,
        0x000b072741b00000,
        "95a6a5e46d94305db83dc2967ba39da0d0c09d3698881e87d175b79a84f48978",
    ),
    (
        30499518,
        658998,
        0x001687499b100000,
        "d24616592dfb606254e51def8b060410dfb50589cf2b71bd43b05a4bfb68691f",
    ),
    (
        31158516,
        1328800,
        0x0000d2fdb2e00000,
        "33ac11f6b26c5693246ee1f83421ab68033aa0e1f030ce0d9a561352baafe2a0",
    ),
    (
        32487316,
        1067116,
        0x00155ac47ee0f31f,
        "c36d77cdd5ad7c13e5d6e089a703e9f782fa5751ef110d18334e3096df737530",
    ),
];

/// (start, length, cut fingerprint, SHA-256) from the Go chunker; the
/// last entry is the EOF remainder, whose cut value is meaningless.
const DERIVED_POL_CHUNKS: &[(usize, usize, u64, &str)] = &[
    (
        0,
        3245237,
        0x000d352fdac00000,
        "fc9c7071c20abfe33a05ee958a50feb0a9bdbc1c40f284c9fec58580129c1d10",
    ),
    (
        3245237,
        848335,
        0x0007b0ce31100000,
        "3ff63d4c9d9d24fa82a7df3126810506d6ca6e2619bd4f70a794590cf3632e67",
    ),
    (
        4093572,
        675766,
        0x0006f28780100000,
        "a091cde9fbe5d61453314b09f549e6e734c2bfa7f18baf2ce3b4fb112758d5c3",
    ),
    (
        4769338,
        856573,
        0x0004a6f798f00000,
        "15946de131bf513a096b747899350c56f8c6a954bed03f8ce2ac8801d896fc35",
    ),
    (
        5625911,
        1196659,
        0x001984ea91100000,
        "b5670ec6b998f574b2eaee1fa58e31f6ee3ce1ef5a90d2964d06fd50ddb98a5a",
    ),
    (
        6822570,
        1718149,
        0x00153a16aa900000,
        "3c7229e6d1b205b80267d636f3858960f0a21445de4294f169a822e320605555",
    ),
    (
        8540719,
        582631,
        0x001c47657fb00000,
        "302f1daf5ac2741b761e9f621b695ba872a5815d51692cc2a4d8525e97c706d2",
    ),
    (
        9123350,
        937733,
        0x000d57b2cc600000,
        "0502cab403ebe823f4c5f6db50479d9d013531c03804b371b99fbcc689aea290",
    ),
    (
        10061083,
        3656987,
        0x0014ce8d4f800000,
        "3196c4dac859d40bd78a7b87a0563fdaf2ac30998a011ca2a2f5ed1ce8f89a1c",
    ),
    (
        13718070,
        868157,
        0x0014ee43bd100000,
        "0ef4441e4c0cfadc4afb52b91b50073e0edbec6995c93b4895acab3cfcf56946",
    ),
    (
        14586227,
        720083,
        0x0017f617f5c00000,
        "00fa3152f2f0f00584344ef06011bdc8437c944a6c4b1a6b856c4b1c026d21c7",
    ),
    (
        15306310,
        1124463,
        0x000bec8310f00000,
        "3560f6b095dc48868477d0165896e9a2d6146837d628c388b4a4cddba3f674c4",
    ),
    (
        16430773,
        3665386,
        0x000291573d500000,
        "0aaeb51c592e5051a4105da209b47e85c31792bcddfe0d8751709b3fc9b0c601",
    ),
    (
        20096159,
        578758,
        0x000e7aa082200000,
        "298f1faba0104d9e3f8503d63b56708bd8b37150526a75d09cbb859ddb325f82",
    ),
    (
        20674917,
        2431360,
        0x0016f2f048d00000,
        "b7f3371ab599c1f318301e89bee57ad4043ecd6c61d568249b2229c852f8950e",
    ),
    (
        23106277,
        1309604,
        0x000cd31570800000,
        "db96db9b07f7bf1903fb0c813a90d9d7a203eeae1a9f4626f84f58593a8ad4eb",
    ),
    (
        24415881,
        1106402,
        0x001481a344100000,
        "d9f8ec7b6c8f698dbaf998143b7b7e6143313ac603dd2eb4e5c06bcb628e50a0",
    ),
    (
        25522283,
        714138,
        0x0002914ed2400000,
        "056880d3b3d5b209e2e2ba956d066de57fa7803e4f6c1a4d6d256362e183cdb6",
    ),
    (
        26236421,
        656337,
        0x000a19ee86300000,
        "1a93f37f7fe7610517c200e225500a1e130328013da2bea88af17465b6040cef",
    ),
    (
        26892758,
        2025952,
        0x001248ec44600000,
        "90e9e7090783c77a9bc5849d0a888afa79fd0b4f70c06c6a9948c1db24585550",
    ),
    (
        28918710,
        1194509,
        0x001006f3e1b00000,
        "4548787a992e9a03ab44a3c98aa5ccb7d5815ce4fbb0eb9696ee50ce2a281b15",
    ),
    (
        30113219,
        1450079,
        0x0013ae810b900000,
        "5ea7340f44851ed7e4226880ecee7b9c922b8e31009ab394a343ef7562f979d9",
    ),
    (
        31563298,
        1660202,
        0x00052d7dc8900000,
        "5360294435413ac34c59be28974d9ac6bfd735d4b0e7cf4e71c2f54ff6de50ed",
    ),
    (
        33223500,
        330932,
        0x0000000000000001,
        "8c187250d544c087db449464bbe7b54752e10bd4a6dea1a5ed0544c8f4b07bd7",
    ),
];
