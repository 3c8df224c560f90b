//! A set of words and phrases matched together against a [`FoldedText`]: on word boundaries,
//! longest match first, without overlaps. A trailing `*` on a term matches word prefixes.
//!
//! Matching tolerates the spellings people use to slip past filters and the ways romanised
//! Hindi is written: a letter repeated in the text matches it once or more in the term
//! (`fuuuck`, `chuuutiya`; but `as` does not match `ass`, which needs two), `v`/`w`, `j`/`z`
//! and `k`/`q`/`c` are the same letter (`bewakoof`/`bevakoof`, `zaleel`/`jaleel`, `fuk`/`fuck`),
//! and `oo` is `u` (`chootiya`). `ee` is deliberately not `i`: "sheet" must not match "shit".

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
    /// Runs of one letter (spelling variants folded): the letter and how many times the term
    /// has it in a row (word breaks inside a term are ignored, as in the text).
    runs: Vec<(char, usize)>,
    prefix: bool,
}

impl Term {
    /// Whether the term can match where its first letter occurs `run` times in a row followed
    /// by `after` (a necessary condition, cheap to test; [`match_at`] decides). A run may take
    /// fewer letters than are there, but then the next letter is its own again, which a
    /// term's second run (a different letter) cannot take; only `u`, which `oo` also spells,
    /// is not ruled out this way.
    fn may_start(&self, run: usize, after: Option<char>) -> bool {
        let (Some(&(_, min)), second) = (self.runs.first(), self.runs.get(1)) else {
            return false;
        };
        if run < min {
            return false;
        }
        match second {
            None => true,
            Some(&(c, _)) => c == 'u' || after == Some(c),
        }
    }
}

/// Letters romanised Hindi (and evaders) use interchangeably.
fn variant(c: char) -> char {
    match c {
        'w' => 'v',
        'z' => 'j',
        'q' | 'c' => 'k',
        other => other,
    }
}

/// Compiled terms, indexed by their first folded character.
#[derive(Debug, Clone, Default)]
pub struct TermSet {
    terms: Vec<Term>,
    by_first: HashMap<char, Vec<usize>>,
    /// `by_first` for ASCII first characters, looked up without hashing: most words of most
    /// messages start with one.
    by_ascii: Vec<Vec<usize>>,
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
            let mut runs: Vec<(char, usize)> = Vec::new();
            for fc in FoldedText::new(word).chars() {
                let c = variant(fc.c);
                match runs.last_mut() {
                    Some((last, n)) if *last == c => *n += 1,
                    _ => runs.push((c, 1)),
                }
            }
            for run in &mut runs {
                if run.0 == 'o' && run.1 >= 2 {
                    *run = ('u', 1);
                }
            }
            let Some(&(first, _)) = runs.first() else {
                return Err(format!("term {raw:?} has no letters or digits"));
            };
            set.by_first.entry(first).or_default().push(set.terms.len());
            set.terms.push(Term {
                raw: raw.to_owned(),
                runs,
                prefix,
            });
        }
        // Longest terms first, so a phrase wins over a word it starts with.
        for ids in set.by_first.values_mut() {
            let terms = &set.terms;
            ids.sort_by_key(|&i| {
                std::cmp::Reverse(terms[i].runs.iter().map(|r| r.1).sum::<usize>())
            });
        }
        set.by_ascii = vec![Vec::new(); 128];
        for (c, ids) in &set.by_first {
            if c.is_ascii() {
                set.by_ascii[*c as usize] = ids.clone();
            }
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

    /// The terms starting with `c`, longest first.
    fn candidates(&self, c: char) -> &[usize] {
        if c.is_ascii() {
            return self.by_ascii.get(c as usize).map_or(&[], Vec::as_slice);
        }
        self.by_first.get(&c).map_or(&[], Vec::as_slice)
    }

    /// Non-overlapping matches in text order.
    pub fn find(&self, text: &FoldedText) -> Vec<TermMatch> {
        find_each(&[self], text).pop().unwrap_or_default()
    }

    /// The longest of this set's terms that starts at word start `p` (whose first letter,
    /// folded, is `first`, repeated `run` times and followed by `after`): its index and where
    /// it ends.
    fn longest_at(
        &self,
        chars: &[super::FoldedChar],
        p: usize,
        first: char,
        (run, after): (usize, Option<char>),
    ) -> Option<(usize, usize)> {
        self.candidates(first).iter().find_map(|&i| {
            let term = &self.terms[i];
            if !term.may_start(run, after) {
                return None;
            }
            match_at(chars, p, term).map(|end| (i, end))
        })
    }
}

/// The matches of several sets in one walk over the text: for each set exactly what
/// [`TermSet::find`] returns (its own non-overlapping matches in text order, longest first),
/// but the text is walked once and each word start's run of letters measured once for all
/// the sets, not once per set.
pub fn find_each(sets: &[&TermSet], text: &FoldedText) -> Vec<Vec<TermMatch>> {
    let chars = text.chars();
    let mut found = vec![Vec::new(); sets.len()];
    // Where each set may match next: a match's characters are not matched again by its set.
    let mut next = vec![0usize; sets.len()];
    for (p, at) in chars.iter().enumerate() {
        if !at.word_start {
            continue;
        }
        let first = variant(at.c);
        // What every candidate's first run sees here, computed once: how many of the letter
        // there are, and the letter after them. A term whose second run wants another letter
        // cannot match (most do not), so it is not tried.
        let mut seen: Option<(usize, Option<char>)> = None;
        for (s, set) in sets.iter().enumerate() {
            if next[s] > p || set.candidates(first).is_empty() {
                continue;
            }
            let here = *seen.get_or_insert_with(|| {
                let run = chars[p..]
                    .iter()
                    .take_while(|fc| variant(fc.c) == first)
                    .count();
                (run, chars.get(p + run).map(|fc| variant(fc.c)))
            });
            if let Some((i, end)) = set.longest_at(chars, p, first, here) {
                found[s].push(TermMatch {
                    term: i,
                    start: at.start,
                    end: chars[end - 1].end,
                });
                next[s] = end;
            }
        }
    }
    found
}

/// Where a match of `term` starting at `p` ends (exclusive), if it matches: each run of the
/// term needs at least as many of its letter in the text (separators inside the match are
/// allowed: `s p a m`, `F*U*C*K`); unless the term is a prefix, the match must end at a word
/// end. A run takes as many letters as it can and gives some back if the rest needs them
/// (`papaya again` is `papaya` followed by another word, not `papayaa` + `gain`).
fn match_at(chars: &[super::FoldedChar], p: usize, term: &Term) -> Option<usize> {
    match_runs(chars, p, &term.runs, term.prefix)
}

fn match_runs(
    chars: &[super::FoldedChar],
    q: usize,
    runs: &[(char, usize)],
    prefix: bool,
) -> Option<usize> {
    let Some((&(c, min), rest)) = runs.split_first() else {
        return (q > 0 && (prefix || chars[q - 1].word_end)).then_some(q);
    };
    let available = chars[q..]
        .iter()
        .take_while(|fc| variant(fc.c) == c)
        .count();
    if available == 0 && c == 'u' && min == 1 {
        // `oo` is how romanised Hindi often writes `u` (chootiya, bhoot).
        let os = chars[q..].iter().take_while(|fc| fc.c == 'o').count();
        return (2..=os)
            .rev()
            .find_map(|n| match_runs(chars, q + n, rest, prefix));
    }
    (min..=available)
        .rev()
        .find_map(|n| match_runs(chars, q + n, rest, prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-set walk [`find_each`] replaced, kept as its reference.
    fn find_alone(set: &TermSet, text: &FoldedText) -> Vec<TermMatch> {
        let chars = text.chars();
        let mut found = Vec::new();
        let mut p = 0;
        while p < chars.len() {
            let hit = if chars[p].word_start {
                let first = variant(chars[p].c);
                let run = chars[p..]
                    .iter()
                    .take_while(|fc| variant(fc.c) == first)
                    .count();
                let after = chars.get(p + run).map(|fc| variant(fc.c));
                set.candidates(first).iter().find_map(|&i| {
                    let term = &set.terms[i];
                    if !term.may_start(run, after) {
                        return None;
                    }
                    match_at(chars, p, term).map(|end| (i, end))
                })
            } else {
                None
            };
            match hit {
                Some((i, end)) => {
                    found.push(TermMatch {
                        term: i,
                        start: chars[p].start,
                        end: chars[end - 1].end,
                    });
                    p = end;
                }
                None => p += 1,
            }
        }
        found
    }

    #[test]
    fn several_sets_in_one_walk_match_as_each_set_alone() {
        let sets = [
            TermSet::new(["call", "call now", "free*"]).expect("valid"),
            TermSet::new(["now for", "free", "me"]).expect("valid"),
            TermSet::new(["fuck*", "ass", "bewakoof", "chutiya"]).expect("valid"),
            TermSet::new(["zzz"]).expect("valid"),
        ];
        let refs: Vec<&TermSet> = sets.iter().collect();
        for text in [
            "Call NOW for freebies, call me",
            "free free call now now for me",
            "fuuuck off, chooootiya bevakoof; as in class, asss",
            "",
            "कॉल now ₹ 500 f.r.e.e",
        ] {
            let folded = FoldedText::new(text);
            let each = find_each(&refs, &folded);
            for (set, found) in sets.iter().zip(&each) {
                assert_eq!(found, &find_alone(set, &folded), "{text:?}");
                assert_eq!(found, &set.find(&folded), "{text:?}");
            }
        }
    }

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
    fn repeated_letters_and_romanised_variants_match_but_not_fewer_letters() {
        let set =
            TermSet::new(["fuck*", "ass", "bewakoof", "zaleel", "ullu ka pattha"]).expect("valid");
        let terms = |text: &str| -> Vec<String> {
            set.find(&FoldedText::new(text))
                .iter()
                .map(|m| set.term(m.term).to_owned())
                .collect()
        };
        assert_eq!(terms("fuuuuck off"), ["fuck*"]);
        assert_eq!(terms("bewakoof aadmi"), ["bewakoof"]);
        assert_eq!(terms("FUKKING hell"), ["fuck*"]);
        assert_eq!(terms("what an asss"), ["ass"]);
        assert!(terms("as soon as possible, in class").is_empty());
        assert_eq!(terms("bevakoof"), ["bewakoof"]);
        assert_eq!(terms("jaleel aadmi"), ["zaleel"]);
        assert_eq!(terms("bewakuf"), ["bewakoof"]);
        assert_eq!(terms("ulu ka patha"), Vec::<String>::new());
        assert_eq!(terms("ullllu ka patttha"), ["ullu ka pattha"]);
        let text = "you fuuuck";
        let m = set.find(&FoldedText::new(text))[0];
        assert_eq!(&text[m.start..m.end], "fuuuck");
    }

    #[test]
    fn a_run_gives_back_letters_the_next_word_needs() {
        let set = TermSet::new(["papaya", "ka"]).expect("valid");
        let found = |text: &str| set.find(&FoldedText::new(text)).len();
        assert_eq!(found("papaya again"), 1);
        assert_eq!(found("ka aaj"), 1);
        assert_eq!(
            found("papayaa"),
            1,
            "a repeated last letter still ends the word"
        );
    }

    #[test]
    fn empty_terms_are_refused() {
        assert!(TermSet::new(["ok", "--"]).is_err());
    }
}
