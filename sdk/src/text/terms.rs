//! A set of words and phrases matched together against a [`FoldedText`]: on word boundaries,
//! longest match first, without overlaps. A trailing `*` on a term matches word prefixes.

use std::collections::HashMap;

use super::FoldedText;

/// One match of a [`TermSet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TermMatch {
    /// Index of the term in the set.
    pub term: usize,
    /// Byte offset of the match in the original text.
    pub start: usize,
    /// Byte offset just past the match.
    pub end: usize,
}

#[derive(Debug, Clone)]
struct Term {
    raw: String,
    key: Vec<char>,
    prefix: bool,
}

/// Compiled terms, indexed by their first folded character.
#[derive(Debug, Clone, Default)]
pub struct TermSet {
    terms: Vec<Term>,
    by_first: HashMap<char, Vec<usize>>,
}

impl TermSet {
    /// Compile terms. A term that folds to nothing (no letters or digits) is an error.
    pub fn new<I, S>(terms: I) -> Result<Self, String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set = TermSet::default();
        for raw in terms {
            let raw = raw.as_ref();
            let (word, prefix) = match raw.strip_suffix('*') {
                Some(w) => (w, true),
                None => (raw, false),
            };
            let key: Vec<char> = FoldedText::new(word).chars().iter().map(|c| c.c).collect();
            let Some(&first) = key.first() else {
                return Err(format!("term {raw:?} has no letters or digits"));
            };
            set.by_first.entry(first).or_default().push(set.terms.len());
            set.terms.push(Term {
                raw: raw.to_owned(),
                key,
                prefix,
            });
        }
        // Longest terms first, so a phrase wins over a word it starts with.
        for ids in set.by_first.values_mut() {
            let terms = &set.terms;
            ids.sort_by_key(|&i| std::cmp::Reverse(terms[i].key.len()));
        }
        Ok(set)
    }

    /// Number of terms.
    pub fn len(&self) -> usize {
        self.terms.len()
    }

    /// Whether the set has no terms.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The term as configured (with its `*`, if any).
    pub fn term(&self, i: usize) -> &str {
        &self.terms[i].raw
    }

    /// Non-overlapping matches in text order.
    pub fn find(&self, text: &FoldedText) -> Vec<TermMatch> {
        let chars = text.chars();
        let mut found = Vec::new();
        let mut p = 0;
        while p < chars.len() {
            let at = &chars[p];
            let hit = if at.word_start {
                self.by_first.get(&at.c).and_then(|ids| {
                    ids.iter().copied().find(|&i| {
                        let t = &self.terms[i];
                        let n = t.key.len();
                        p + n <= chars.len()
                            && (t.prefix || chars[p + n - 1].word_end)
                            && chars[p..p + n].iter().zip(&t.key).all(|(a, b)| a.c == *b)
                    })
                })
            } else {
                None
            };
            match hit {
                Some(i) => {
                    let n = self.terms[i].key.len();
                    found.push(TermMatch {
                        term: i,
                        start: chars[p].start,
                        end: chars[p + n - 1].end,
                    });
                    p += n;
                }
                None => p += 1,
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_match_wins_and_matches_do_not_overlap() {
        let set = TermSet::new(["call", "call now", "free*"]).expect("valid");
        let text = "Call NOW for freebies, call me";
        let found: Vec<&str> = set
            .find(&FoldedText::new(text))
            .iter()
            .map(|m| set.term(m.term))
            .collect();
        assert_eq!(found, ["call now", "free*", "call"]);
    }

    #[test]
    fn empty_terms_are_refused() {
        assert!(TermSet::new(["ok", "--"]).is_err());
    }
}
