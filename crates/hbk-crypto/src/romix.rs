//! scrypt with its `p` independent lanes computed on several threads.
//!
//! scrypt(P, S, N, r, p) is PBKDF2-HMAC-SHA256(P, B', 1, len), where B' is
//! the concatenation of ROMix(Bᵢ) over the p blocks Bᵢ of
//! B = PBKDF2-HMAC-SHA256(P, S, 1, p·128·r) (RFC 7914). The ROMix calls
//! do not depend on each other, so they run in parallel: restic's default
//! p = 5 takes three rounds instead of five on two cores. Every command
//! derives a key first, so this is time off every command.

use sha2::Sha256;

/// One salsa20/8 core application to a 64-byte block, in place.
fn salsa20_8(block: &mut [u32; 16]) {
    let input = *block;
    let x = block;
    let quarter = |x: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize| {
        x[b] ^= x[a].wrapping_add(x[d]).rotate_left(7);
        x[c] ^= x[b].wrapping_add(x[a]).rotate_left(9);
        x[d] ^= x[c].wrapping_add(x[b]).rotate_left(13);
        x[a] ^= x[d].wrapping_add(x[c]).rotate_left(18);
    };
    for _ in 0..4 {
        quarter(x, 0, 4, 8, 12);
        quarter(x, 5, 9, 13, 1);
        quarter(x, 10, 14, 2, 6);
        quarter(x, 15, 3, 7, 11);
        quarter(x, 0, 1, 2, 3);
        quarter(x, 5, 6, 7, 4);
        quarter(x, 10, 11, 8, 9);
        quarter(x, 15, 12, 13, 14);
    }
    for (o, i) in x.iter_mut().zip(input) {
        *o = o.wrapping_add(i);
    }
}

/// BlockMix of `input` (2r blocks of 16 words) into `output`.
fn block_mix(input: &[[u32; 16]], output: &mut [[u32; 16]]) {
    let r = input.len() / 2;
    let mut x = input.last().copied().unwrap_or([0; 16]);
    for (i, block) in input.iter().enumerate() {
        for (a, b) in x.iter_mut().zip(block) {
            *a ^= b;
        }
        salsa20_8(&mut x);
        // Even results go to the first half, odd ones to the second.
        let slot = if i % 2 == 0 { i / 2 } else { r + i / 2 };
        if let Some(out) = output.get_mut(slot) {
            *out = x;
        }
    }
}

/// ROMix of one lane (`lane`: 128·r bytes), in place, with a table of
/// `n` lane copies.
fn romix(lane: &mut [u8], n: usize) {
    let blocks = lane.len() / 64;
    let mut x: Vec<[u32; 16]> = lane
        .chunks_exact(64)
        .map(|b| {
            let mut w = [0u32; 16];
            for (word, bytes) in w.iter_mut().zip(b.chunks_exact(4)) {
                *word = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
            }
            w
        })
        .collect();
    let mut table: Vec<[u32; 16]> = Vec::with_capacity(n * blocks);
    let mut t = vec![[0u32; 16]; blocks];
    for _ in 0..n {
        table.extend_from_slice(&x);
        block_mix(&x, &mut t);
        std::mem::swap(&mut x, &mut t);
    }
    for _ in 0..n {
        // Integerify: the first word of the last block, modulo n (a power
        // of two).
        let j = x.last().map_or(0, |b| b[0] as usize) & (n - 1);
        let v = table.get(j * blocks..(j + 1) * blocks).unwrap_or_default();
        for (xb, vb) in x.iter_mut().zip(v) {
            for (a, b) in xb.iter_mut().zip(vb) {
                *a ^= b;
            }
        }
        block_mix(&x, &mut t);
        std::mem::swap(&mut x, &mut t);
    }
    for (out, w) in lane.chunks_exact_mut(64).zip(&x) {
        for (bytes, word) in out.chunks_exact_mut(4).zip(w) {
            bytes.copy_from_slice(&word.to_le_bytes());
        }
    }
}

/// scrypt(`password`, `salt`, `n`, `r`, `p`) into `out`, the lanes spread
/// over at most `threads` threads. `n` must be a power of two above 1 and
/// the parameters already checked against the memory ceiling.
pub fn scrypt(
    password: &[u8],
    salt: &[u8],
    n: usize,
    r: usize,
    p: usize,
    threads: usize,
    out: &mut [u8],
) {
    let lane_len = 128 * r;
    let mut b = vec![0u8; lane_len * p];
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, 1, &mut b);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let lanes: Vec<std::sync::Mutex<&mut [u8]>> = b
        .chunks_exact_mut(lane_len)
        .map(std::sync::Mutex::new)
        .collect();
    let work = || loop {
        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let Some(lane) = lanes.get(i) else {
            break;
        };
        let mut lane = lane.lock().unwrap_or_else(|e| e.into_inner());
        romix(&mut lane, n);
    };
    std::thread::scope(|s| {
        for _ in 1..threads.clamp(1, p.max(1)) {
            s.spawn(work);
        }
        work();
    });
    drop(lanes);
    pbkdf2::pbkdf2_hmac::<Sha256>(password, &b, 1, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7914's vector for N = 1024, r = 8, p = 16.
    #[test]
    fn rfc_7914_vector() {
        let mut out = [0u8; 64];
        scrypt(b"password", b"NaCl", 1024, 8, 16, 2, &mut out);
        let hex: String = out.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162\
             2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640"
        );
    }

    proptest::proptest! {
        /// Any small parameters and thread count give the scrypt crate's
        /// result.
        #[test]
        fn equals_the_reference(
            password in proptest::collection::vec(proptest::num::u8::ANY, 0..20),
            salt in proptest::collection::vec(proptest::num::u8::ANY, 0..20),
            log_n in 1u8..7,
            r in 1u32..4,
            p in 1u32..6,
            threads in 1usize..4,
        ) {
            let mut ours = [0u8; 64];
            scrypt(&password, &salt, 1 << log_n, r as usize, p as usize, threads, &mut ours);
            let params = scrypt::Params::new(log_n, r, p, 64).unwrap();
            let mut reference = [0u8; 64];
            scrypt::scrypt(&password, &salt, &params, &mut reference).unwrap();
            proptest::prop_assert_eq!(ours, reference);
        }
    }
}
