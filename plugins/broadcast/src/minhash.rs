//! MinHash signatures of a text's folded words and word pairs, banded for locality-sensitive
//! hashing: two texts share a band exactly with probability about `J^rows` (J: the Jaccard
//! similarity of their shingles), so near-duplicates share one of several bands while unrelated
//! texts, and even texts on the same topic, practically never do.

use chowk_sdk::text::{find_urls, is_letter_or_digit, normalize};

/// MinHash values per band.
pub const ROWS: usize = 3;

/// The folded text with every link replaced by `<link>`.
fn plain_text(text: &str) -> String {
    let folded = normalize(text);
    let mut plain = String::with_capacity(folded.len());
    let mut last = 0;
    for url in find_urls(&folded) {
        plain.push_str(&folded[last..url.start]);
        plain.push_str(" <link> ");
        last = url.end;
    }
    plain.push_str(&folded[last..]);
    plain
}

/// Words of [`plain_text`], numbers as `#`, links as `<link>`, `@handles` as `@`: slices of it,
/// no copies.
fn words(plain: &str) -> Vec<&str> {
    plain
        .split(|c: char| {
            !(is_letter_or_digit(c)
                || c == '<'
                || c == '>'
                || c == '@'
                || ('\u{0900}'..='\u{0DFF}').contains(&c))
        })
        .filter(|w| !w.is_empty())
        .map(|w| {
            if w.starts_with('@') {
                "@"
            } else if w.bytes().any(|b| b.is_ascii_digit()) {
                "#"
            } else {
                w
            }
        })
        .collect()
}

/// FNV-1a of words (each ended by a zero byte), then a finalising mix.
fn hash(words: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for w in words {
        for b in w.bytes().chain([0]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    mix(h)
}

/// A 64-bit finaliser (MurmurHash3's): every input bit moves every output bit.
fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

/// The band keys of `text` (`bands` of them, each a hash of [`ROWS`] MinHash values), or
/// `None` when its folded words are shorter than `min_chars`. Each shingle is hashed once;
/// the `bands × ROWS` hash functions are that hash mixed with a seed of their own.
pub fn band_keys(text: &str, min_chars: usize, bands: usize) -> Option<Vec<u64>> {
    let plain = plain_text(text);
    let words = words(&plain);
    let chars: usize = words.iter().map(|w| w.chars().count() + 1).sum();
    if chars < min_chars || words.is_empty() {
        return None;
    }
    let shingles: Vec<u64> = words.windows(1).chain(words.windows(2)).map(hash).collect();
    let keys = (0..bands)
        .map(|band| {
            let mut key: u64 = 0x9e37_79b9_7f4a_7c15 ^ band as u64;
            for row in 0..ROWS {
                let seed = ((band * ROWS + row) as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                let min = shingles.iter().map(|&h| mix(h ^ seed)).min().unwrap_or(0);
                key = mix(key ^ min);
            }
            key
        })
        .collect();
    Some(keys)
}
