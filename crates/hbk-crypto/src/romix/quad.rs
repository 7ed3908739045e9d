//! Four 32-bit words worked on together, as salsa20's vectorised form
//! needs: one SSE2 register on x86-64 (which every x86-64 processor has),
//! a plain array elsewhere. Left to itself the compiler kept the array
//! form in scalar registers, so ROMix ran no faster than word by word.

// SAFETY (every `unsafe` block below): SSE2 belongs to x86-64's baseline,
// so the intrinsics exist on every processor this code runs on, and they
// only read and write registers, never memory.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod imp {
    use std::arch::x86_64::{
        __m128i, _mm_add_epi32, _mm_cvtsi128_si32, _mm_or_si128, _mm_set_epi32, _mm_shuffle_epi32,
        _mm_slli_epi32, _mm_srli_epi32, _mm_xor_si128,
    };

    /// Four words in one SSE2 register.
    #[derive(Clone, Copy)]
    pub struct Quad(__m128i);

    impl Quad {
        /// The words in lane order.
        #[inline(always)]
        pub fn from_words(w: [u32; 4]) -> Quad {
            let [a, b, c, d] = w.map(|x| x as i32);
            Quad(unsafe { _mm_set_epi32(d, c, b, a) })
        }

        /// Lane 0.
        #[inline(always)]
        pub fn first(self) -> u32 {
            (unsafe { _mm_cvtsi128_si32(self.0) }) as u32
        }

        /// The words in lane order.
        #[inline(always)]
        pub fn words(self) -> [u32; 4] {
            [self, self.turn1(), self.turn2(), self.turn3()].map(Quad::first)
        }

        /// Lane-wise wrapping sum.
        #[inline(always)]
        pub fn add(self, o: Quad) -> Quad {
            Quad(unsafe { _mm_add_epi32(self.0, o.0) })
        }

        /// Lane-wise exclusive or.
        #[inline(always)]
        pub fn xor(self, o: Quad) -> Quad {
            Quad(unsafe { _mm_xor_si128(self.0, o.0) })
        }

        /// `self ^ sum.rotate_left(L)` lane-wise; `R` must be `32 - L`.
        #[inline(always)]
        pub fn xor_rotl<const L: i32, const R: i32>(self, sum: Quad) -> Quad {
            Quad(unsafe {
                let rotated = _mm_or_si128(_mm_slli_epi32::<L>(sum.0), _mm_srli_epi32::<R>(sum.0));
                _mm_xor_si128(self.0, rotated)
            })
        }

        /// Lane `i` of the result is lane `i + 1` (mod 4).
        #[inline(always)]
        pub fn turn1(self) -> Quad {
            Quad(unsafe { _mm_shuffle_epi32::<0x39>(self.0) })
        }

        /// Lane `i` of the result is lane `i + 2` (mod 4).
        #[inline(always)]
        pub fn turn2(self) -> Quad {
            Quad(unsafe { _mm_shuffle_epi32::<0x4e>(self.0) })
        }

        /// Lane `i` of the result is lane `i + 3` (mod 4).
        #[inline(always)]
        pub fn turn3(self) -> Quad {
            Quad(unsafe { _mm_shuffle_epi32::<0x93>(self.0) })
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod imp {
    /// Four words in an array.
    #[derive(Clone, Copy)]
    pub struct Quad([u32; 4]);

    impl Quad {
        /// The words in lane order.
        #[inline(always)]
        pub fn from_words(w: [u32; 4]) -> Quad {
            Quad(w)
        }

        /// Lane 0.
        #[inline(always)]
        pub fn first(self) -> u32 {
            self.0[0]
        }

        /// The words in lane order.
        #[inline(always)]
        pub fn words(self) -> [u32; 4] {
            self.0
        }

        /// Lane-wise wrapping sum.
        #[inline(always)]
        pub fn add(self, o: Quad) -> Quad {
            Quad(std::array::from_fn(|i| self.0[i].wrapping_add(o.0[i])))
        }

        /// Lane-wise exclusive or.
        #[inline(always)]
        pub fn xor(self, o: Quad) -> Quad {
            Quad(std::array::from_fn(|i| self.0[i] ^ o.0[i]))
        }

        /// `self ^ sum.rotate_left(L)` lane-wise; `R` must be `32 - L`.
        #[inline(always)]
        pub fn xor_rotl<const L: i32, const R: i32>(self, sum: Quad) -> Quad {
            Quad(std::array::from_fn(|i| {
                self.0[i] ^ sum.0[i].rotate_left(L as u32)
            }))
        }

        fn turn(self, by: usize) -> Quad {
            Quad(std::array::from_fn(|i| self.0[(i + by) % 4]))
        }

        /// Lane `i` of the result is lane `i + 1` (mod 4).
        #[inline(always)]
        pub fn turn1(self) -> Quad {
            self.turn(1)
        }

        /// Lane `i` of the result is lane `i + 2` (mod 4).
        #[inline(always)]
        pub fn turn2(self) -> Quad {
            self.turn(2)
        }

        /// Lane `i` of the result is lane `i + 3` (mod 4).
        #[inline(always)]
        pub fn turn3(self) -> Quad {
            self.turn(3)
        }
    }
}

pub use imp::Quad;

#[cfg(test)]
mod tests {
    use super::Quad;

    #[test]
    fn lanes_move_and_rotate_as_named() {
        let q = Quad::from_words([1, 2, 3, 0x8000_0004]);
        assert_eq!(q.words(), [1, 2, 3, 0x8000_0004]);
        assert_eq!(q.turn1().words(), [2, 3, 0x8000_0004, 1]);
        assert_eq!(q.turn2().words(), [3, 0x8000_0004, 1, 2]);
        assert_eq!(q.turn3().words(), [0x8000_0004, 1, 2, 3]);
        let zero = Quad::from_words([0; 4]);
        assert_eq!(zero.xor_rotl::<1, 31>(q).words(), [2, 4, 6, 9]);
        assert_eq!(q.add(q).xor(q).words(), [3, 6, 5, 0x8000_000c]);
        assert_eq!(q.first(), 1);
    }
}
