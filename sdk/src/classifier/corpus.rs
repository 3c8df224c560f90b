//! Labelled corpora as tab-separated text: `label<TAB>text`, or
//! `label<TAB>family<TAB>lang<TAB>text` (the Indian SME corpus in `corpus/sme/`). Labels are
//! `spam` or `ham`; a first line whose label is neither is a header and skipped.

use super::train::Example;

/// One labelled line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labelled {
    /// The example.
    pub example: Example,
    /// The scam or trade family, when the corpus names one.
    pub family: Option<String>,
}

/// Which lines of a corpus to take: all, or one half of a fixed split (alternate data lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Half {
    /// Every line.
    #[default]
    All,
    /// Data lines 0, 2, 4, …
    Even,
    /// Data lines 1, 3, 5, …
    Odd,
}

impl Half {
    /// Split a corpus argument `PATH`, `PATH:even` or `PATH:odd` into the path and the half.
    pub fn split_spec(spec: &str) -> (&str, Half) {
        match spec.rsplit_once(':') {
            Some((path, "even")) => (path, Half::Even),
            Some((path, "odd")) => (path, Half::Odd),
            _ => (spec, Half::All),
        }
    }

    /// Whether the `n`-th data line (from 0) belongs to this half.
    pub fn takes(self, n: usize) -> bool {
        match self {
            Half::All => true,
            Half::Even => n.is_multiple_of(2),
            Half::Odd => !n.is_multiple_of(2),
        }
    }
}

/// A line that is not a labelled example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorpusError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for CorpusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for CorpusError {}

/// Parse a corpus.
pub fn parse_tsv(text: &str, half: Half) -> Result<Vec<Labelled>, CorpusError> {
    let mut out = Vec::new();
    let mut data_line = 0usize;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let columns: Vec<&str> = line.split('\t').collect();
        let spam = match columns[0].trim() {
            "spam" => true,
            "ham" => false,
            _ if i == 0 => continue,
            other => {
                return Err(CorpusError {
                    line: i + 1,
                    message: format!("label must be spam or ham, got {other:?}"),
                })
            }
        };
        let (family, text) = match columns.as_slice() {
            [_, text] => (None, *text),
            [_, family, _, text] => (Some((*family).to_owned()), *text),
            _ => {
                return Err(CorpusError {
                    line: i + 1,
                    message: format!(
                        "expected 2 or 4 tab-separated columns, got {}",
                        columns.len()
                    ),
                })
            }
        };
        let take = half.takes(data_line);
        data_line += 1;
        if take {
            out.push(Labelled {
                example: Example {
                    text: text.to_owned(),
                    spam,
                },
                family,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_layouts_skips_the_header_and_splits_halves() {
        let text = "Label\tSMS\nham\tok\nspam\twin\nham\tsee you\n";
        let all = parse_tsv(text, Half::All).expect("parses");
        assert_eq!(all.len(), 3);
        assert!(all[1].example.spam);
        let even = parse_tsv(text, Half::Even).expect("parses");
        let odd = parse_tsv(text, Half::Odd).expect("parses");
        assert_eq!((even.len(), odd.len()), (2, 1));
        assert_eq!(odd[0].example.text, "win");
        assert_eq!(Half::split_spec("a/b.tsv:odd"), ("a/b.tsv", Half::Odd));
        assert_eq!(Half::split_spec("c:/x.tsv"), ("c:/x.tsv", Half::All));
        let four = parse_tsv("spam\tloan\ten\tloan now\n", Half::All).expect("parses");
        assert_eq!(four[0].family.as_deref(), Some("loan"));
        let bad = parse_tsv("ham\tok\nspmm\tx\n", Half::All).expect_err("bad label");
        assert_eq!(bad.line, 2);
    }
}
