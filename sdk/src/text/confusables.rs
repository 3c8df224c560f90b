//! Homoglyph folding: Cyrillic, Greek and other letters that look like Latin ones.
//!
//! A curated subset of Unicode's confusables table (UTS #39) restricted to single letters that
//! are visually identical to one lower-case Latin letter. The full skeleton algorithm also maps
//! Latin sequences onto each other (`rn`→`m`, `l`→`I`), which turns innocent words into
//! blocked ones, so it is not used for matching.

/// Fold homoglyphs of lower-case Latin letters in already lower-cased text.
pub fn fold_confusables(text: &str) -> String {
    text.chars().map(fold_confusable).collect()
}

/// Fold one lower-case character (see [`fold_confusables`]).
pub fn fold_confusable(c: char) -> char {
    match c {
        // Cyrillic
        'а' => 'a',
        'в' => 'b',
        'с' => 'c',
        'ѕ' => 's',
        'е' | 'ё' | 'є' => 'e',
        'һ' => 'h',
        'і' | 'ї' | 'ӏ' => 'i',
        'ј' => 'j',
        'к' => 'k',
        'м' => 'm',
        'н' => 'h',
        'о' => 'o',
        'р' => 'p',
        'ԛ' => 'q',
        'г' => 'r',
        'т' => 't',
        'у' | 'ү' => 'y',
        'х' => 'x',
        'ԝ' | 'ш' => 'w',
        'ԁ' => 'd',
        'ь' => 'b',
        'п' => 'n',
        // Greek
        'α' => 'a',
        'β' => 'b',
        'ε' => 'e',
        'η' => 'n',
        'ι' | 'ί' => 'i',
        'κ' => 'k',
        'ν' => 'v',
        'ο' | 'ό' | 'σ' => 'o',
        'ρ' => 'p',
        'τ' => 't',
        'υ' | 'ύ' => 'u',
        'χ' => 'x',
        'γ' => 'y',
        'ω' => 'w',
        // Latin look-alikes outside ASCII
        'ı' => 'i',
        'ȷ' => 'j',
        'ɑ' => 'a',
        'ɡ' => 'g',
        'ʀ' => 'r',
        'ꜱ' => 's',
        'ᴀ' => 'a',
        'ʙ' => 'b',
        'ᴄ' => 'c',
        'ᴅ' => 'd',
        'ᴇ' => 'e',
        'ɢ' => 'g',
        'ʜ' => 'h',
        'ɪ' => 'i',
        'ᴊ' => 'j',
        'ᴋ' => 'k',
        'ʟ' => 'l',
        'ᴍ' => 'm',
        'ɴ' => 'n',
        'ᴏ' => 'o',
        'ᴘ' => 'p',
        'ᴛ' => 't',
        'ᴜ' => 'u',
        'ᴠ' => 'v',
        'ᴡ' => 'w',
        'ʏ' => 'y',
        'ᴢ' => 'z',
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cyrillic_and_greek_lookalikes_fold_to_latin() {
        assert_eq!(fold_confusables("ѕрам"), "spam");
        assert_eq!(fold_confusables("ιdιοτ"), "idiot");
        assert_eq!(fold_confusables("ꜱᴘᴀᴍ"), "spam");
    }

    #[test]
    fn latin_text_is_unchanged() {
        assert_eq!(fold_confusables("burn modern"), "burn modern");
    }
}
