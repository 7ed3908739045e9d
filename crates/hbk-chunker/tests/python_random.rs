//! Format spec §9.3: a 3 MiB file of Python `random.Random(1)` bytes, backed
//! up by restic 0.14 with two polynomials. The file's bytes are
//! `bytes(r.getrandbits(8) for _ in range(3 << 20))`, i.e. the top byte of
//! each MT19937 output, with CPython's `init_by_array([1])` seeding.
//!
//! MT19937 is written here from its published definition (Matsumoto and
//! Nishimura, 1998).

use hbk_chunker::{FindCut, Polynomial, RabinChunker};
use sha2::{Digest, Sha256};

const N: usize = 624;
const M: usize = 397;

struct Mt19937 {
    state: [u32; N],
    index: usize,
}

impl Mt19937 {
    fn from_seed(seed: u32) -> Self {
        let mut state = [0u32; N];
        state[0] = seed;
        for i in 1..N {
            let prev = state[i - 1];
            state[i] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        Mt19937 { state, index: N }
    }

    /// CPython's seeding for `random.seed(int)`: the absolute value split
    /// into 32-bit words, least significant first.
    fn from_key(key: &[u32]) -> Self {
        let mut g = Mt19937::from_seed(19_650_218);
        let mt = &mut g.state;
        let (mut i, mut j) = (1usize, 0usize);
        for _ in 0..N.max(key.len()) {
            let prev = mt[i - 1];
            mt[i] = (mt[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1_664_525))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            let prev = mt[i - 1];
            mt[i] =
                (mt[i] ^ (prev ^ (prev >> 30)).wrapping_mul(1_566_083_941)).wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
        }
        mt[0] = 0x8000_0000;
        g
    }

    fn twist(&mut self) {
        for k in 0..N {
            let y = (self.state[k] & 0x8000_0000) | (self.state[(k + 1) % N] & 0x7fff_ffff);
            let mag = if y & 1 == 1 { 0x9908_b0df } else { 0 };
            self.state[k] = self.state[(k + M) % N] ^ (y >> 1) ^ mag;
        }
        self.index = 0;
    }

    fn next_u32(&mut self) -> u32 {
        if self.index >= N {
            self.twist();
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }
}

fn python_random_1_bytes(n: usize) -> Vec<u8> {
    let mut g = Mt19937::from_key(&[1]);
    // getrandbits(8) keeps the top 8 bits of one output.
    (0..n).map(|_| (g.next_u32() >> 24) as u8).collect()
}

#[test]
fn mt19937_matches_cpython() {
    let mut g = Mt19937::from_key(&[1]);
    let first: Vec<u32> = (0..4).map(|_| g.next_u32()).collect();
    assert_eq!(
        first,
        [577_090_037, 2_444_712_010, 3_639_700_191, 3_445_702_192]
    );
    assert_eq!(
        hex::encode(python_random_1_bytes(16)),
        "2291d8cdc310411e7ec27378a661c935"
    );
}

#[test]
fn restic_cuts_of_python_random_file() {
    let data = python_random_1_bytes(3 << 20);
    assert_eq!(
        hex::encode(Sha256::digest(&data)),
        "11f907f1fea1bc73d3b75183b4f965153f5741caf589d110f680ec4c138c841a"
    );
    let mut c = RabinChunker::new(Polynomial(0x2a8542b446e9b3)).unwrap();
    assert_eq!(c.chunk_lengths(&data), [683_184, 2_462_544]);
    let mut c = RabinChunker::new(Polynomial(0x214ebe12809505)).unwrap();
    assert_eq!(c.chunk_lengths(&data), [1_408_151, 917_431, 820_146]);
}
