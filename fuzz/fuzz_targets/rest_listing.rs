//! cargo-fuzz entry of the `rest_listing` target; its body is
//! `hbk_fuzz::targets::rest_listing::run`, which the stable smoke test
//! (fuzz/tests/smoke.rs) runs too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hbk_fuzz::targets::rest_listing::run(data));
