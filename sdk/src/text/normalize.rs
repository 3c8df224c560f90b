//! Unicode normalisation steps: NFKC, invisible-character stripping, leetspeak folding.

use unicode_normalization::UnicodeNormalization;

use super::fold_confusables;

/// Unicode NFKC: folds fullwidth (`ｆｒｅｅ`), circled (`ⓕ`), mathematical (`𝐟𝐫𝐞𝐞`) and other
/// compatibility forms to their plain letters.
pub fn nfkc(text: &str) -> String {
    // Most text is already in NFKC (Devanagari letters, emoji, curly quotes): the quick check
    // says so without decomposing and recomposing every character.
    if unicode_normalization::is_nfkc_quick(text.chars())
        == unicode_normalization::IsNormalized::Yes
    {
        return text.to_owned();
    }
    text.nfkc().collect()
}

/// Zero-width characters, bidi controls, soft hyphens and other invisible format characters
/// that can hide inside a word without changing how it looks.
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}'                // soft hyphen
        | '\u{034F}'              // combining grapheme joiner
        | '\u{061C}'              // arabic letter mark
        | '\u{115F}' | '\u{1160}' // hangul fillers
        | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' // mongolian variation selectors, vowel separator
        | '\u{200B}'..='\u{200F}' // zero-width space/non-joiner/joiner, LRM, RLM
        | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
        | '\u{2060}'..='\u{206F}' // word joiner, invisible operators, bidi isolates
        | '\u{3164}'              // hangul filler
        | '\u{FE00}'..='\u{FE0F}' // variation selectors
        | '\u{FEFF}'              // zero-width no-break space / BOM
        | '\u{FFA0}'
        | '\u{E0000}'..='\u{E007F}' // tag characters
    )
}

/// Remove every [`is_invisible`] character.
pub fn strip_invisible(text: &str) -> String {
    text.chars().filter(|&c| !is_invisible(c)).collect()
}

/// The letter a leetspeak digit or symbol stands for (`0`→`o`, `1`→`i`, `3`→`e`, `4`→`a`,
/// `5`→`s`, `7`→`t`, `8`→`b`, `9`→`g`, `@`→`a`, `$`→`s`, `!`→`i`, `|`→`i`, `+`→`t`,
/// `¢`/`©`→`c`, `€`→`e`, `£`→`l`), if any.
pub fn fold_leet_char(c: char) -> Option<char> {
    Some(match c {
        '0' => 'o',
        '1' | '!' | '|' => 'i',
        '3' => 'e',
        '4' | '@' => 'a',
        '5' | '$' => 's',
        '7' | '+' => 't',
        '8' => 'b',
        '9' => 'g',
        // Currency and symbol look-alikes: `¢asino`, `fr€€`, `©all`.
        '¢' | '©' => 'c',
        '€' => 'e',
        '£' => 'l',
        _ => return None,
    })
}

/// The normal form used to compare text: invisible characters removed, NFKC, lower case,
/// homoglyphs folded to Latin. Leetspeak is not folded here because digits are meaningful in
/// most text; [`super::FoldedText`] folds it inside words that contain letters.
pub fn normalize(text: &str) -> String {
    if text.is_ascii() {
        // NFKC, lower-casing and homoglyph folding all leave ASCII as ASCII, and only the
        // case changes: most trade chat takes this path.
        return text.to_ascii_lowercase();
    }
    let plain = nfkc(&strip_invisible(text)).to_lowercase();
    fold_confusables(&plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_takes_the_fast_path_with_the_same_result() {
        let every: String = (0u8..=127).map(char::from).collect();
        for text in [every.as_str(), "Rs 800 per DOZEN, CALL 98200 12345!", "  "] {
            let slow = fold_confusables(&nfkc(&strip_invisible(text)).to_lowercase());
            assert_eq!(normalize(text), slow, "{text:?}");
        }
    }

    #[test]
    fn nfkc_folds_fullwidth_circled_and_math_letters() {
        assert_eq!(nfkc("ｆｒｅｅ"), "free");
        assert_eq!(nfkc("ⓕⓡⓔⓔ"), "free");
        assert_eq!(nfkc("𝐟𝐫𝐞𝐞"), "free");
    }

    #[test]
    fn strips_zero_width_and_bidi_controls() {
        assert_eq!(
            strip_invisible("f\u{200B}r\u{200D}e\u{202E}e\u{FEFF}"),
            "free"
        );
    }

    #[test]
    fn normalize_combines_every_step() {
        assert_eq!(normalize("ＦＲ\u{200B}ЕЕ"), "free");
        assert_eq!(normalize("Ⓢⓟⓐⓜ"), "spam");
    }

    #[test]
    fn leet_table() {
        let folded: String = "5h1t"
            .chars()
            .map(|c| fold_leet_char(c).unwrap_or(c))
            .collect();
        assert_eq!(folded, "shit");
        assert_eq!(fold_leet_char('x'), None);
    }
}
