//! Features of a message: what the classifier sees. The text is normalised as every filter
//! does ([`crate::text::normalize`]: NFKC, lower case, homoglyphs, invisible characters), links
//! become their host and top-level domain, digit runs become their shape (a phone number, an
//! amount), and the words give unigrams and adjacent pairs. Character 3- and 4-grams are taken
//! from each whitespace-separated token of the normalised text as written, punctuation, emoji
//! and the text of links included (digit runs reduced to their length), so that spelling
//! variants ("kyc", "k.y.c", "kycc") share most of their features and the style of a message
//! ("₹999/-", "👉", "!!!", "-kyc.top/") counts too: in 5-fold cross-validation on the SME
//! corpus, n-grams of tokens as written caught 11 points more spam at 1% of ham flagged than
//! n-grams of the bare words did.

use crate::text::{find_urls, is_letter_or_digit, normalize};

/// One feature: its readable name (shown to moderators as a reason) and its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feature {
    /// Readable name, for example `w:lottery`, `b:scan qr`, `c:yc ` or `u:tld:xyz`.
    pub name: String,
    /// FNV-1a hash of the name.
    pub hash: u32,
}

impl Feature {
    #[cfg(test)]
    fn new(name: String) -> Feature {
        let hash = fnv1a(name.as_bytes());
        Feature { name, hash }
    }
}

/// Most features taken from one message (long texts are cut, so scoring stays cheap).
const MAX_FEATURES: usize = 600;

/// The distinct features of a text, their names kept in one buffer: what scoring needs,
/// without a string per feature.
#[derive(Debug, Clone, Default)]
pub struct FeatureSet {
    names: String,
    /// Each feature's name (a range of `names`) and hash, in first-seen order.
    items: Vec<(u32, u32, u32)>,
}

impl FeatureSet {
    /// The distinct features of `text`, in first-seen order.
    pub fn of(original: &str) -> FeatureSet {
        // About what a message of this length needs, so the buffers do not grow step by step.
        let mut set = FeatureSet {
            names: String::with_capacity(original.len() * 24),
            items: Vec::with_capacity(original.len() * 3),
        };
        collect(original, &mut set);
        set.keep_first_of_each();
        set.items.truncate(MAX_FEATURES);
        set
    }

    /// Number of features.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are none (never: every text has at least its length feature).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Each feature's hash, in order.
    pub fn hashes(&self) -> impl ExactSizeIterator<Item = u32> + '_ {
        self.items.iter().map(|&(_, _, hash)| hash)
    }

    /// The `i`-th feature's readable name.
    pub fn name(&self, i: usize) -> &str {
        let (start, end, _) = self.items[i];
        &self.names[start as usize..end as usize]
    }

    /// Start a feature name; finish it with [`FeatureSet::end`].
    fn begin(&mut self, prefix: &str) {
        self.names.push_str(prefix);
    }

    /// Finish the feature whose name was written to the buffer since `start`.
    fn end(&mut self, start: usize) {
        let hash = fnv1a(&self.names.as_bytes()[start..]);
        self.items
            .push((start as u32, self.names.len() as u32, hash));
    }

    /// A feature whose name is `parts` joined.
    fn add(&mut self, parts: &[&str]) {
        let start = self.names.len();
        for part in parts {
            self.begin(part);
        }
        self.end(start);
    }

    /// Keep only the first of equal names: an open-addressing table of the kept items, keyed
    /// by hash, names compared when hashes are equal.
    fn keep_first_of_each(&mut self) {
        let size = (self.items.len() * 2).next_power_of_two().max(16);
        let mask = size - 1;
        let mut table: Vec<u32> = vec![u32::MAX; size];
        let mut kept = 0;
        for i in 0..self.items.len() {
            let hash = self.items[i].2;
            let mut slot = hash as usize & mask;
            let repeat = loop {
                match table[slot] {
                    u32::MAX => break false,
                    j if self.items[j as usize].2 == hash
                        && self.name(j as usize) == self.name(i) =>
                    {
                        break true
                    }
                    _ => slot = (slot + 1) & mask,
                }
            };
            if !repeat {
                self.items[kept] = self.items[i];
                table[slot] = kept as u32;
                kept += 1;
            }
        }
        self.items.truncate(kept);
    }
}

/// The distinct features of `text`, in first-seen order.
pub fn features(original: &str) -> Vec<Feature> {
    let set = FeatureSet::of(original);
    set.items
        .iter()
        .enumerate()
        .map(|(i, &(_, _, hash))| Feature {
            name: set.name(i).to_owned(),
            hash,
        })
        .collect()
}

/// Every feature of `original`, repeats included, in order.
fn collect(original: &str, set: &mut FeatureSet) {
    let text = normalize(original);
    let mut rest = String::with_capacity(text.len());
    let mut last = 0;
    for url in find_urls(&text) {
        rest.push_str(&text[last..url.start]);
        rest.push(' ');
        last = url.end;
        set.add(&["u:link"]);
        let host = url.host.trim_start_matches("www.");
        set.add(&["u:host:", host]);
        if let Some((_, tld)) = host.rsplit_once('.') {
            set.add(&["u:tld:", tld]);
        }
        if let Some(path) = url.url.split_once(host).map(|(_, p)| p) {
            for part in path.split(|c: char| !c.is_alphanumeric()) {
                if part.len() >= 3 && part.chars().all(|c| c.is_alphabetic()) {
                    set.add(&["u:path:", part]);
                }
            }
        }
    }
    rest.push_str(&text[last.min(text.len())..]);

    let words = words(&rest);
    if words.is_empty() && set.is_empty() {
        set.add(&["t:empty"]);
    }
    for (i, w) in words.iter().enumerate() {
        let next = words.get(i + 1).map(String::as_str);
        if let Some(prefix) = w.strip_prefix("#phone:") {
            // The number's first digits say what kind it is (premium, mobile, toll-free).
            set.add(&["w:#phone"]);
            set.add(&["n:prefix:", prefix]);
            if let Some(next) = next {
                set.add(&["b:#phone ", next]);
            }
            continue;
        }
        set.add(&["w:", w]);
        if let Some(next) = next {
            set.add(&["b:", w, " ", next]);
        }
    }
    char_grams(&text, set);
    let length = match words.len() {
        0..=3 => "t:len:short",
        4..=15 => "t:len:medium",
        _ => "t:len:long",
    };
    set.add(&[length]);
    if is_shouting(original) {
        set.add(&["t:shouting"]);
    }
}

/// Character 3- and 4-grams of each whitespace-separated token of normalised `text`, padded
/// with a space on each side: link schemes and `www.` dropped, a run of 10 or more digits
/// written `#p`, a shorter one `#` and its length (`rs.#3/-`).
fn char_grams(text: &str, set: &mut FeatureSet) {
    let mut padded: Vec<char> = Vec::new();
    for token in text.split_whitespace() {
        let mut token = token;
        for prefix in ["https://", "http://", "www."] {
            token = token.strip_prefix(prefix).unwrap_or(token);
        }
        padded.clear();
        padded.push(' ');
        let mut chars = token.chars().peekable();
        while let Some(c) = chars.next() {
            if !c.is_ascii_digit() {
                padded.push(c);
                continue;
            }
            let mut run = 1;
            while chars.next_if(char::is_ascii_digit).is_some() {
                run += 1;
            }
            padded.push('#');
            match run {
                10.. => padded.push('p'),
                _ => padded.push(char::from(b'0' + run as u8)),
            }
        }
        padded.push(' ');
        for n in [3, 4] {
            for gram in padded.windows(n) {
                let start = set.names.len();
                set.begin("c:");
                set.names.extend(gram);
                set.end(start);
            }
        }
    }
}

/// Whether most of at least 8 cased letters are upper case.
fn is_shouting(text: &str) -> bool {
    let (mut upper, mut cased) = (0, 0);
    for c in text.chars() {
        if c.is_uppercase() {
            upper += 1;
            cased += 1;
        } else if c.is_lowercase() {
            cased += 1;
        }
    }
    cased >= 8 && upper * 10 >= cased * 7
}

/// Words of normalised text: runs of letters, digits and Indic combining marks. Digit runs
/// become their shape: `#phone:NN` (10+ digits, with the first two), `#num` (4–9), `#n` (1–3);
/// currency signs become `rs`.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut Vec<String>| {
        if word.is_empty() {
            return;
        }
        let digits = word.chars().filter(char::is_ascii_digit).count();
        if digits == word.chars().count() {
            out.push(match digits {
                10.. => format!("#phone:{}", &word[..2]),
                4..=9 => "#num".into(),
                _ => "#n".into(),
            });
        } else {
            out.push(std::mem::take(word));
        }
        word.clear();
    };
    for c in text.chars() {
        if c == '₹' || c == '$' || c == '€' || c == '£' {
            flush(&mut word, &mut out);
            out.push("rs".into());
        } else if is_letter_or_digit(c) || is_indic_mark(c) {
            word.push(c);
        } else if (c == ',' || c == '.') && word.chars().last().is_some_and(|l| l.is_ascii_digit())
        {
            // 12,400 and 1.5 stay one number
        } else {
            flush(&mut word, &mut out);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Devanagari and other Indic vowel signs and marks are not alphanumeric, but belong to words.
fn is_indic_mark(c: char) -> bool {
    ('\u{0900}'..='\u{0DFF}').contains(&c)
}

fn fnv1a(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<String> {
        features(text).into_iter().map(|f| f.name).collect()
    }

    /// The features as a first, plain version computes them (one string per n-gram built
    /// twice, a copy of every name to find repeats): what the shipped model was trained on.
    fn reference(original: &str) -> Vec<Feature> {
        let text = normalize(original);
        let mut names: Vec<String> = Vec::new();
        let mut rest = String::with_capacity(text.len());
        let mut last = 0;
        for url in find_urls(&text) {
            rest.push_str(&text[last..url.start]);
            rest.push(' ');
            last = url.end;
            names.push("u:link".into());
            let host = url.host.trim_start_matches("www.");
            names.push(format!("u:host:{host}"));
            if let Some((_, tld)) = host.rsplit_once('.') {
                names.push(format!("u:tld:{tld}"));
            }
            if let Some(path) = url.url.split_once(host).map(|(_, p)| p) {
                for part in path.split(|c: char| !c.is_alphanumeric()) {
                    if part.len() >= 3 && part.chars().all(|c| c.is_alphabetic()) {
                        names.push(format!("u:path:{part}"));
                    }
                }
            }
        }
        rest.push_str(&text[last.min(text.len())..]);

        let words = words(&rest);
        if words.is_empty() && names.is_empty() {
            names.push("t:empty".into());
        }
        for (i, w) in words.iter().enumerate() {
            if let Some(prefix) = w.strip_prefix("#phone:") {
                // The number's first digits say what kind it is (premium, mobile, toll-free).
                names.push("w:#phone".into());
                names.push(format!("n:prefix:{prefix}"));
                if let Some(next) = words.get(i + 1) {
                    names.push(format!("b:#phone {next}"));
                }
                continue;
            }
            names.push(format!("w:{w}"));
            if let Some(next) = words.get(i + 1) {
                names.push(format!("b:{w} {next}"));
            }
        }
        for token in text.split_whitespace() {
            let mut token = token;
            for prefix in ["https://", "http://", "www."] {
                token = token.strip_prefix(prefix).unwrap_or(token);
            }
            let mut shaped = String::new();
            let mut digits = 0;
            for c in token.chars().chain([' ']) {
                if c.is_ascii_digit() {
                    digits += 1;
                    continue;
                }
                if digits >= 10 {
                    shaped.push_str("#p");
                } else if digits > 0 {
                    shaped.push_str(&format!("#{digits}"));
                }
                digits = 0;
                shaped.push(c);
            }
            let padded: Vec<char> = format!(" {shaped}").chars().collect();
            for n in [3, 4] {
                for gram in padded.windows(n) {
                    names.push(format!("c:{}", gram.iter().collect::<String>()));
                }
            }
        }
        let length = match words.len() {
            0..=3 => "t:len:short",
            4..=15 => "t:len:medium",
            _ => "t:len:long",
        };
        names.push(length.into());
        if is_shouting(original) {
            names.push("t:shouting".into());
        }
        let mut seen = std::collections::HashSet::new();
        names
            .into_iter()
            .filter(|n| seen.insert(n.clone()))
            .take(MAX_FEATURES)
            .map(Feature::new)
            .collect()
    }

    #[test]
    fn features_are_the_ones_the_shipped_model_was_trained_on() {
        let corpus = concat!(
            include_str!("../../../corpus/sme/train.tsv"),
            include_str!("../../../corpus/sme/heldout.tsv")
        );
        let mut checked = 0;
        for line in corpus.lines().skip(1) {
            let Some(text) = line.splitn(4, '\t').nth(3) else {
                continue;
            };
            assert_eq!(features(text), reference(text), "{text:?}");
            checked += 1;
        }
        assert!(checked > 2000, "{checked}");
        let long = "spam ".repeat(5000);
        assert_eq!(features(&long), reference(&long));
    }

    #[test]
    fn links_become_host_and_tld() {
        let n = names("Update KYC at http://sbi-kyc.xyz/login now");
        assert!(n.contains(&"u:host:sbi-kyc.xyz".to_owned()), "{n:?}");
        assert!(n.contains(&"u:tld:xyz".to_owned()));
        assert!(n.contains(&"u:path:login".to_owned()));
        assert!(n.contains(&"w:kyc".to_owned()));
        assert!(!n.iter().any(|f| f.contains("http")), "{n:?}");
    }

    #[test]
    fn numbers_become_shapes_and_devanagari_words_stay_whole() {
        let n = names("call 9876543210, pay ₹12,400 — खाता बंद");
        assert!(n.contains(&"w:#phone".to_owned()), "{n:?}");
        assert!(n.contains(&"n:prefix:98".to_owned()), "{n:?}");
        assert!(n.contains(&"w:rs".to_owned()));
        assert!(n.contains(&"w:#num".to_owned()));
        assert!(n.contains(&"w:खाता".to_owned()), "{n:?}");
        assert!(n.contains(&"w:बंद".to_owned()), "{n:?}");
    }

    #[test]
    fn features_are_distinct_and_bounded() {
        let text = "spam ".repeat(5000);
        let f = features(&text);
        let mut hashes: Vec<_> = f.iter().map(|f| f.name.clone()).collect();
        hashes.dedup();
        assert_eq!(hashes.len(), f.len());
        assert!(f.len() <= MAX_FEATURES);
        assert_eq!(names(""), ["t:empty", "t:len:short"]);
    }
}
