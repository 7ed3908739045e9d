//! Memory advice for large, long-lived buffers.

/// Asks for the memory a vector has reserved to be backed by 2 MiB pages
/// where whole ones fit in it (Linux's transparent huge pages, where the
/// system lets a program ask for them).
///
/// For buffers that are reserved once and passed over many times: the
/// key derivation's tables, read at random (with 4 KiB pages nearly every
/// read missed the TLB), and a restore's blob buffers, each byte of which
/// is read, decrypted, hashed and written (a 4 KiB page's fault and TLB
/// misses cost a restore of large files 2% of its time). The faults are
/// 512 times fewer too. Pages are taken when first touched, a whole 2 MiB
/// at a time, so a buffer mostly left untouched should not ask.
pub fn huge_pages<T>(v: &mut Vec<T>) {
    #[cfg(target_os = "linux")]
    advise(
        v.as_mut_ptr() as usize,
        v.capacity() * std::mem::size_of::<T>(),
    );
}

/// Size of a transparent huge page on x86-64 and most other targets.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
const HUGE: usize = 2 << 20;

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn advise(start: usize, len: usize) {
    if let Some((from, to)) = whole_huge_pages(start, len) {
        // SAFETY: the range lies inside the caller's own allocation
        // ([`whole_huge_pages`]), and MADV_HUGEPAGE changes how its pages
        // are backed, not their contents. A refusal (no transparent huge
        // pages) changes nothing.
        unsafe {
            libc::madvise(from as *mut libc::c_void, to - from, libc::MADV_HUGEPAGE);
        }
    }
}

/// The huge-page-aligned part of the `len` bytes at `start`, when it
/// holds at least one whole huge page.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn whole_huge_pages(start: usize, len: usize) -> Option<(usize, usize)> {
    let from = start.checked_next_multiple_of(HUGE)?;
    let to = start.checked_add(len)? / HUGE * HUGE;
    (from < to).then_some((from, to))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_advised_range_is_whole_huge_pages_inside_the_buffer(
            start in 0usize..(64 << 20),
            len in 0usize..(16 << 20),
        ) {
            match whole_huge_pages(start, len) {
                Some((from, to)) => {
                    prop_assert!(start <= from && from < to && to <= start + len);
                    prop_assert!(from % HUGE == 0 && to % HUGE == 0);
                }
                // None only when no aligned 2 MiB fits.
                None => prop_assert!(start.next_multiple_of(HUGE) + HUGE > start + len),
            }
        }
    }

    #[test]
    fn advised_buffers_keep_their_contents() {
        for cap in [0, 1, 4 << 20, (6 << 20) + 5] {
            let mut v: Vec<u8> = (0..cap).map(|i| i as u8).collect();
            huge_pages(&mut v);
            assert!(v.iter().enumerate().all(|(i, b)| *b == i as u8), "{cap}");
            // Growing after the advice works as ever.
            v.extend_from_slice(&[1, 2, 3]);
            assert_eq!(v.len(), cap + 3);
        }
    }
}
