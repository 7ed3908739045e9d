//! cargo-fuzz entry of the `pbs_chunk` target; its body is
//! `hbk_fuzz::targets::pbs_chunk::run`, which the stable smoke test
//! (fuzz/tests/smoke.rs) runs too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hbk_fuzz::targets::pbs_chunk::run(data));
