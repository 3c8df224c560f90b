//! Fast character classes: [`is_letter`] and [`is_letter_or_digit`] answer exactly what
//! `char::is_alphabetic` and `char::is_alphanumeric` answer, faster for text that is not
//! ASCII. The standard library searches a table of ranges for every non-ASCII character
//! (about 800 instructions a call under callgrind); a message in Devanagari asks for every
//! character, several times over, and that search was 18% of everything the spam-rules plugin
//! did on the SME corpus. Here each 128-character block below U+20000 is classified once, on
//! first use, into two bitmaps.

use std::sync::OnceLock;

/// Characters per block.
const BLOCK: u32 = 128;
/// Blocks with a table: the Basic Multilingual Plane and the Supplementary Multilingual Plane
/// (emoji); rarer characters ask the standard library.
const BLOCKS: usize = 0x2_0000 / BLOCK as usize;

#[derive(Debug)]
struct Block {
    alphabetic: u128,
    alphanumeric: u128,
}

static TABLE: [OnceLock<Block>; BLOCKS] = [const { OnceLock::new() }; BLOCKS];

/// The classes of the block holding `c`, built on first use; `None` above the table.
fn block(c: char) -> Option<&'static Block> {
    let index = (c as u32 / BLOCK) as usize;
    let slot = TABLE.get(index)?;
    Some(slot.get_or_init(|| {
        let base = index as u32 * BLOCK;
        let (mut alphabetic, mut alphanumeric) = (0u128, 0u128);
        for offset in 0..BLOCK {
            if let Some(ch) = char::from_u32(base + offset) {
                alphabetic |= u128::from(ch.is_alphabetic()) << offset;
                alphanumeric |= u128::from(ch.is_alphanumeric()) << offset;
            }
        }
        Block {
            alphabetic,
            alphanumeric,
        }
    }))
}

/// One class of `c`: the ASCII test for ASCII, the block's bitmap `bits` picks, or the
/// standard library's `std` above the table.
#[inline]
fn classify(
    c: char,
    ascii: fn(&char) -> bool,
    bits: fn(&Block) -> u128,
    std: fn(char) -> bool,
) -> bool {
    if c.is_ascii() {
        return ascii(&c);
    }
    match block(c) {
        Some(b) => (bits(b) >> (c as u32 % BLOCK)) & 1 == 1,
        None => std(c),
    }
}

/// `c.is_alphabetic()`, faster.
#[inline]
pub fn is_letter(c: char) -> bool {
    classify(
        c,
        char::is_ascii_alphabetic,
        |b| b.alphabetic,
        char::is_alphabetic,
    )
}

/// `c.is_alphanumeric()`, faster.
#[inline]
pub fn is_letter_or_digit(c: char) -> bool {
    classify(
        c,
        char::is_ascii_alphanumeric,
        |b| b.alphanumeric,
        char::is_alphanumeric,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answers_are_the_standard_librarys_for_every_character() {
        for c in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
            assert_eq!(is_letter(c), c.is_alphabetic(), "{c:?}");
            assert_eq!(is_letter_or_digit(c), c.is_alphanumeric(), "{c:?}");
        }
    }
}
