//! libFuzzer driving `chowk_tests::fuzz::verdict` (see that module for what it checks).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| chowk_tests::fuzz::verdict(data));
