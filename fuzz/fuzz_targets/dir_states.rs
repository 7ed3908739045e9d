//! cargo-fuzz entry of the `dir_states` target; its body is
//! `hbk_fuzz::targets::dir_states::run`, which the stable smoke test
//! (fuzz/tests/smoke.rs) runs too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hbk_fuzz::targets::dir_states::run(data));
