//! The message mix: ordinary trade chat in English and romanised Hindi with some spam, taken
//! from the training part of the shipped corpus (`corpus/sme/train.tsv`), one spam in ten.

const CORPUS: &str = include_str!("../../../../corpus/sme/train.tsv");

/// Texts to post, by label.
#[derive(Debug)]
pub struct Mix {
    ham: Vec<&'static str>,
    spam: Vec<&'static str>,
}

impl Mix {
    /// The corpus's training texts.
    pub fn load() -> Self {
        let (mut ham, mut spam) = (Vec::new(), Vec::new());
        for line in CORPUS.lines().skip(1) {
            let mut cols = line.splitn(4, '\t');
            match (cols.next(), cols.nth(2)) {
                (Some("spam"), Some(text)) => spam.push(text),
                (Some(_), Some(text)) => ham.push(text),
                _ => {}
            }
        }
        assert!(
            !ham.is_empty() && !spam.is_empty(),
            "corpus/sme/train.tsv has both labels"
        );
        Mix { ham, spam }
    }

    /// The `k`th text of the sequence: every tenth is spam.
    pub fn text(&self, k: u64) -> &'static str {
        let k = k as usize;
        if k % 10 == 9 {
            self.spam[(k / 10) % self.spam.len()]
        } else {
            self.ham[k % self.ham.len()]
        }
    }
}
