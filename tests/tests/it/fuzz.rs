//! The fuzz targets (`chowk_tests::fuzz`) on random inputs and on hand-picked ones, in every
//! `cargo xtask test`; `cargo xtask fuzz` runs them under libFuzzer for as long as one likes.

use chowk_tests::fuzz;
use proptest::prelude::*;

/// Inputs that reach the interesting branches at once.
const SEEDS: [&[u8]; 12] = [
    b"",
    b"version = 1\n[[plugins]]\nname = \"a\"\npath = \"a.wasm\"\ndeadline_ms = 99999999999999999999\n",
    b"CHOWK_REDIS_URL=[1, 2]\n[server]\nlisten = \"x\"\n",
    b"s*1000 spam|1e308|x|spam|1e308|y",
    b"sa|NaN|nan points",
    b"sa|inf|infinite|b|-inf|minus",
    b"w\x00\x1b[31m",
    b"w*9000 aaaaaaaa",
    b"r|",
    b"r||reason|18446744073709551615",
    b"\x01\x00\xff\xfe{\"id\": [1]}",
    b"\x00\x80{\"text\": \"\\u0000\\u202e\"}",
];

#[test]
fn the_targets_survive_hand_picked_inputs() {
    for seed in SEEDS {
        fuzz::manifest(seed);
        fuzz::config(seed);
        fuzz::verdict(seed);
        fuzz::request(seed);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn manifests_and_configs(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        fuzz::manifest(&data);
        fuzz::config(&data);
    }

    #[test]
    fn verdicts(kind in prop::sample::select(vec!['s', 'w', 'r', 'a']), rest in ".{0,200}") {
        fuzz::verdict(format!("{kind}{rest}").as_bytes());
    }

    #[test]
    fn requests(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        fuzz::request(&data);
    }
}
