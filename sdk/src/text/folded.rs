//! A folded, position-keeping form of a text for evasion-resistant matching.
//!
//! Each character is decomposed (NFKD), stripped of combining marks and invisible characters,
//! lower-cased and homoglyph-folded; separators are dropped; leetspeak is folded inside words
//! that contain a letter. Every folded character remembers the byte span of the original
//! character it came from and whether it starts or ends a word, so a match can be mapped back
//! (for masking) and required to sit on word boundaries (so "Scunthorpe" does not contain a
//! blocked word, while "s p a m" and "s.p.a.m" still spell one).

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use super::class::{is_letter, is_letter_or_digit};
use super::normalize::{fold_leet_char, is_invisible};

/// One character of a [`FoldedText`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FoldedChar {
    /// The folded character: a lower-case letter or a digit.
    pub c: char,
    /// Byte offset of the original character it came from.
    pub start: usize,
    /// Byte offset just past that original character.
    pub end: usize,
    /// Whether it is the first character of a word of the original text.
    pub word_start: bool,
    /// Whether it is the last character of a word of the original text.
    pub word_end: bool,
}

/// A text folded for matching. See the module documentation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FoldedText {
    chars: Vec<FoldedChar>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Alnum,
    /// An apostrophe inside a word (`won't`): dropped, but does not split the word.
    Joiner,
    Symbol,
    Separator,
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '\u{2019}' | '\u{02BC}' | '`')
}

impl FoldedText {
    /// Fold `text`.
    pub fn new(text: &str) -> Self {
        // 1. Per original character: decompose, drop marks and invisibles, fold.
        let mut raw: Vec<(char, usize, usize)> = Vec::with_capacity(text.len());
        for (start, orig) in text.char_indices() {
            let end = start + orig.len_utf8();
            if orig.is_ascii() {
                raw.push((orig.to_ascii_lowercase(), start, end));
                continue;
            }
            if is_invisible(orig) {
                continue;
            }
            for d in std::iter::once(orig).nfkd() {
                if is_combining_mark(d) || is_invisible(d) {
                    continue;
                }
                for l in d.to_lowercase() {
                    raw.push((super::fold_confusable(l), start, end));
                }
            }
        }
        // 2. Classify: letters and digits are word characters; leet symbols are word
        //    characters only inside a word; everything else separates words.
        let class: Vec<Class> = raw
            .iter()
            .enumerate()
            .map(|(i, &(c, _, _))| {
                let between_letters = i > 0
                    && is_letter(raw[i - 1].0)
                    && raw.get(i + 1).is_some_and(|n| is_letter(n.0));
                if is_letter_or_digit(c) {
                    Class::Alnum
                } else if is_apostrophe(c) && between_letters {
                    Class::Joiner
                } else if fold_leet_char(c).is_some() {
                    Class::Symbol
                } else {
                    Class::Separator
                }
            })
            .collect();
        let mut in_word = vec![false; raw.len()];
        for i in 0..raw.len() {
            in_word[i] = match class[i] {
                Class::Alnum | Class::Joiner => true,
                Class::Separator => false,
                Class::Symbol => {
                    let followed = class[i + 1..]
                        .iter()
                        .find(|&&k| k != Class::Symbol)
                        .is_some_and(|&k| k == Class::Alnum);
                    let sticky = matches!(raw[i].0, '$' | '@') && i > 0 && in_word[i - 1];
                    followed || sticky
                }
            };
        }
        // 3. Words: runs of word characters. Fold leet inside words that have a letter.
        let mut chars = Vec::with_capacity(raw.len());
        let mut i = 0;
        while i < raw.len() {
            if !in_word[i] {
                i += 1;
                continue;
            }
            let mut j = i;
            while j < raw.len() && in_word[j] {
                j += 1;
            }
            let has_letter = raw[i..j].iter().any(|&(c, _, _)| is_letter(c));
            let word = (i..j)
                .filter(|&k| class[k] != Class::Joiner)
                .map(|k| raw[k]);
            let n = word.clone().count();
            for (k, (c, start, end)) in word.enumerate() {
                let c = if has_letter || !is_letter_or_digit(c) {
                    fold_leet_char(c).unwrap_or(c)
                } else {
                    c
                };
                chars.push(FoldedChar {
                    c,
                    start,
                    end,
                    word_start: k == 0,
                    word_end: k + 1 == n,
                });
            }
            i = j;
        }
        FoldedText { chars }
    }

    /// The folded characters.
    pub fn chars(&self) -> &[FoldedChar] {
        &self.chars
    }

    /// The folded characters as a string (separators removed).
    pub fn as_key(&self) -> String {
        self.chars.iter().map(|c| c.c).collect()
    }

    /// Whether the text folded to nothing (no letters or digits).
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// Byte spans in the original text where `needle` (folded the same way) occurs starting at a
    /// word start and, unless `prefix`, ending at a word end.
    pub fn find(&self, needle: &FoldedText, prefix: bool) -> Vec<(usize, usize)> {
        let n = needle.chars.len();
        if n == 0 || n > self.chars.len() {
            return Vec::new();
        }
        let mut spans = Vec::new();
        let mut p = 0;
        while p + n <= self.chars.len() {
            let window = &self.chars[p..p + n];
            let matches = window[0].word_start
                && (prefix || window[n - 1].word_end)
                && window.iter().zip(&needle.chars).all(|(a, b)| a.c == b.c);
            if matches {
                spans.push((window[0].start, window[n - 1].end));
                p += n;
            } else {
                p += 1;
            }
        }
        spans
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(text: &str, word: &str) -> usize {
        FoldedText::new(text)
            .find(&FoldedText::new(word), false)
            .len()
    }

    #[test]
    fn folds_case_marks_homoglyphs_and_invisibles() {
        assert_eq!(FoldedText::new("Spä\u{200B}m").as_key(), "spam");
        assert_eq!(FoldedText::new("ＳＰＡＭ").as_key(), "spam");
        assert_eq!(FoldedText::new("ѕрам").as_key(), "spam");
    }

    #[test]
    fn leet_is_folded_inside_words_only() {
        assert_eq!(FoldedText::new("sp4m").as_key(), "spam");
        assert_eq!(FoldedText::new("$pam").as_key(), "spam");
        assert_eq!(FoldedText::new("a$$").as_key(), "ass");
        assert_eq!(FoldedText::new("call 1800").as_key(), "call1800");
        assert_eq!(FoldedText::new("wow!!").as_key(), "wow");
        assert_eq!(FoldedText::new("won't").as_key(), "wont");
    }

    #[test]
    fn spaced_out_words_match_but_embedded_ones_do_not() {
        assert_eq!(hits("buy s p a m now", "spam"), 1);
        assert_eq!(hits("s.p.a.m", "spam"), 1);
        assert_eq!(hits("Scunthorpe", "cunt"), 0);
        assert_eq!(hits("class assignment", "ass"), 0);
        assert_eq!(hits("grasp amazing", "spam"), 0);
        assert_eq!(hits("I won't go", "won"), 0);
    }

    #[test]
    fn spans_point_into_the_original_text() {
        let text = "no Ｓpam here";
        let spans = FoldedText::new(text).find(&FoldedText::new("spam"), false);
        assert_eq!(spans.len(), 1);
        let (s, e) = spans[0];
        assert_eq!(&text[s..e], "Ｓpam");
    }
}
