//! The rules themselves: compiled once from the config, then run on every message.

use chowk_sdk::text::{
    find_each, find_phone_numbers, find_urls, is_letter, is_letter_or_digit, FoldedText, TermMatch,
    TermSet,
};
use chowk_sdk::Hit;

use crate::config::{defaults, Config, CountRule, DomainRule, PairRule, WordRule};

struct WordList {
    label: &'static str,
    weight: f64,
    max_hits: usize,
    terms: TermSet,
}

impl WordList {
    fn compile(
        label: &'static str,
        cfg: WordRule,
        (weight, max_hits, words): (f64, u32, &[&str]),
    ) -> Result<Self, String> {
        let mut list: Vec<String> = match cfg.words {
            Some(words) => words,
            None => words.iter().map(|w| (*w).to_owned()).collect(),
        };
        list.extend(cfg.extra_words);
        Ok(WordList {
            label,
            weight: positive(label, cfg.weight.unwrap_or(weight))?,
            max_hits: cfg.max_hits.unwrap_or(max_hits) as usize,
            terms: TermSet::new(&list).map_err(|e| format!("{label}: {e}"))?,
        })
    }

    /// A list whose hits take points off (warnings vouch for a message).
    fn negated(mut self) -> Self {
        self.weight = -self.weight;
        self
    }

    /// `weight` per distinct matched term, at most `max_hits` of them. Repeats of one term do
    /// not add up: "win or lose ... we will win" is cricket talk, not a prize.
    fn score(&self, found: &[TermMatch], hits: &mut Vec<Hit>) {
        if self.weight == 0.0 || self.max_hits == 0 {
            return;
        }
        let mut matched: Vec<&str> = Vec::new();
        for m in found {
            let term = self.terms.term(m.term);
            if !matched.contains(&term) {
                matched.push(term);
            }
        }
        matched.truncate(self.max_hits);
        if !matched.is_empty() {
            hits.push(Hit::new(
                self.label,
                self.weight * matched.len() as f64,
                matched.join(", "),
            ));
        }
    }
}

#[derive(Clone, Copy)]
struct Threshold {
    weight: f64,
    threshold: f64,
}

impl Threshold {
    fn compile(
        label: &str,
        cfg: CountRule,
        (weight, threshold): (f64, f64),
    ) -> Result<Self, String> {
        Ok(Threshold {
            weight: positive(label, cfg.weight.unwrap_or(weight))?,
            threshold: cfg.threshold.unwrap_or(threshold),
        })
    }

    fn on(&self) -> bool {
        self.weight > 0.0
    }
}

fn positive(label: &str, weight: f64) -> Result<f64, String> {
    if weight.is_finite() && weight >= 0.0 {
        Ok(weight)
    } else {
        Err(format!(
            "{label}: weight must be a non-negative number, got {weight}"
        ))
    }
}

/// A pair rule, compiled: fires when both lists match and no negation does.
struct Pair {
    label: &'static str,
    weight: f64,
    first: TermSet,
    second: TermSet,
    negations: TermSet,
}

impl Pair {
    fn compile(
        label: &'static str,
        cfg: PairRule,
        (weight, first, second, negations): (f64, &[&str], &[&str], &[&str]),
    ) -> Result<Self, String> {
        let list = |custom: Option<Vec<String>>, default: &[&str]| {
            let words = custom.unwrap_or_else(|| default.iter().map(|w| (*w).to_owned()).collect());
            TermSet::new(&words).map_err(|e| format!("{label}: {e}"))
        };
        Ok(Pair {
            label,
            weight: positive(label, cfg.weight.unwrap_or(weight))?,
            first: list(cfg.first, first)?,
            second: list(cfg.second, second)?,
            negations: list(cfg.negations, negations)?,
        })
    }

    /// `found`: the matches of `first`, `second` and `negations`, in that order.
    fn score(&self, found: &[Vec<TermMatch>], hits: &mut Vec<Hit>) {
        if self.weight == 0.0 {
            return;
        }
        let [first, second, negations] = found else {
            return;
        };
        let (Some(a), Some(b)) = (first.first(), second.first()) else {
            return;
        };
        if !negations.is_empty() {
            return;
        }
        hits.push(Hit::new(
            self.label,
            self.weight,
            format!("{} … {}", self.first.term(a.term), self.second.term(b.term)),
        ));
    }
}

/// All rules, compiled.
pub(crate) struct Rules {
    words: Vec<WordList>,
    /// Points off a message that quotes another and doubts or warns about it.
    quoted_warning: WordList,
    pay_to_receive: Pair,
    shortener_weight: f64,
    shorteners: Vec<String>,
    link: Threshold,
    phone: Threshold,
    shortcode: Threshold,
    sms_keyword: Threshold,
    money_amount: Threshold,
    rupee_threshold: f64,
    caps: Threshold,
    repeats: Threshold,
    emoji: Threshold,
    punctuation: Threshold,
}

impl Rules {
    pub(crate) fn from_config(c: Config) -> Result<Self, String> {
        let DomainRule {
            weight,
            domains,
            extra_domains,
        } = c.shorteners;
        let mut shorteners: Vec<String> = domains.unwrap_or_else(|| {
            defaults::SHORTENERS
                .1
                .iter()
                .map(|d| (*d).to_owned())
                .collect()
        });
        shorteners.extend(extra_domains);
        for d in &mut shorteners {
            *d = d.to_ascii_lowercase();
        }
        Ok(Rules {
            words: vec![
                WordList::compile("prize_words", c.prize, defaults::PRIZE)?,
                WordList::compile("money_words", c.money, defaults::MONEY)?,
                WordList::compile("urgency_words", c.urgency, defaults::URGENCY)?,
                WordList::compile("call_to_action", c.call_to_action, defaults::ACTION)?,
                WordList::compile("premium_rate", c.premium_rate, defaults::PREMIUM)?,
                WordList::compile("scam_words", c.scam, defaults::SCAM)?,
                WordList::compile("scam_warning", c.warnings, defaults::WARNINGS)?.negated(),
            ],
            quoted_warning: WordList::compile(
                "quoted_warning",
                c.quoted_warning,
                defaults::QUOTED_WARNING,
            )?
            .negated(),
            shortener_weight: positive("link_shortener", weight.unwrap_or(defaults::SHORTENERS.0))?,
            shorteners,
            link: Threshold::compile("link", c.links, defaults::LINK)?,
            phone: Threshold::compile("phone_number", c.phone_numbers, defaults::PHONE)?,
            shortcode: Threshold::compile("sms_shortcode", c.shortcodes, defaults::SHORTCODE)?,
            sms_keyword: Threshold::compile("sms_keyword", c.sms_keywords, defaults::SMS_KEYWORD)?,
            rupee_threshold: c
                .money_amounts
                .rupee_threshold
                .unwrap_or(defaults::RUPEE_AMOUNT),
            money_amount: Threshold::compile(
                "money_amount",
                CountRule {
                    weight: c.money_amounts.weight,
                    threshold: c.money_amounts.threshold,
                },
                defaults::MONEY_AMOUNT,
            )?,
            caps: Threshold::compile("all_caps", c.caps, defaults::CAPS)?,
            repeats: Threshold::compile("repeated_chars", c.repeats, defaults::REPEATS)?,
            emoji: Threshold::compile("emoji_flood", c.emoji, defaults::EMOJI)?,
            punctuation: Threshold::compile(
                "excess_punctuation",
                c.punctuation,
                defaults::PUNCTUATION,
            )?,
            pay_to_receive: Pair::compile(
                "pay_to_receive",
                c.pay_to_receive,
                defaults::PAY_TO_RECEIVE,
            )?,
        })
    }

    pub(crate) fn score(&self, text: &str) -> Vec<Hit> {
        let mut hits = Vec::new();
        // Every word list and the pair's three lists in one walk over the folded text.
        let folded = FoldedText::new(text);
        let pair = &self.pay_to_receive;
        let sets: Vec<&TermSet> = self
            .words
            .iter()
            .map(|list| &list.terms)
            .chain([&pair.first, &pair.second, &pair.negations])
            .collect();
        let found = find_each(&sets, &folded);
        let (lists, pair_found) = found.split_at(self.words.len());
        for (list, matches) in self.words.iter().zip(lists) {
            list.score(matches, &mut hits);
        }
        pair.score(pair_found, &mut hits);
        if let Some(outside) = commentary_on_a_quote(text) {
            let found = self.quoted_warning.terms.find(&FoldedText::new(&outside));
            self.quoted_warning.score(&found, &mut hits);
        }
        self.premium_pattern(text, &mut hits);
        self.links(text, &mut hits);
        if self.phone.on() {
            let numbers: Vec<String> = find_phone_numbers(text)
                .into_iter()
                .filter(|m| m.digit_count() as f64 >= self.phone.threshold)
                .map(|m| m.digits)
                .collect();
            if !numbers.is_empty() {
                hits.push(Hit::new(
                    "phone_number",
                    self.phone.weight,
                    numbers.join(", "),
                ));
            }
        }
        if self.shortcode.on() {
            if let Some(code) = shortcode(text) {
                hits.push(Hit::new("sms_shortcode", self.shortcode.weight, code));
            }
        }
        if self.sms_keyword.on() {
            if let Some(k) = sms_keyword(text, self.sms_keyword.threshold as usize) {
                hits.push(Hit::new("sms_keyword", self.sms_keyword.weight, k));
            }
        }
        if self.money_amount.on() {
            if let Some(amount) =
                big_amount(text, self.money_amount.threshold, self.rupee_threshold)
            {
                hits.push(Hit::new("money_amount", self.money_amount.weight, amount));
            }
        }
        self.shape(text, &mut hits);
        hits
    }

    /// Charges per message, minute or week: `150p`, `150p/msg`, `Rs 5/min`, `£1.50/wk`. Adds to
    /// (or creates) the `premium_rate` hit of the word list, within its cap.
    fn premium_pattern(&self, text: &str, hits: &mut Vec<Hit>) {
        let Some(list) = self.words.iter().find(|l| l.label == "premium_rate") else {
            return;
        };
        if list.weight == 0.0 || hits.iter().any(|h| h.rule == "premium_rate") {
            return;
        }
        if let Some(found) = premium_charge(text) {
            hits.push(Hit::new("premium_rate", list.weight, found));
        }
    }

    fn links(&self, text: &str, hits: &mut Vec<Hit>) {
        let urls = find_urls(text);
        if urls.is_empty() {
            return;
        }
        if self.link.on() && urls.len() as f64 >= self.link.threshold {
            let hosts: Vec<&str> = urls.iter().map(|u| u.host.as_str()).collect();
            hits.push(Hit::new("link", self.link.weight, hosts.join(", ")));
        }
        if self.shortener_weight > 0.0 {
            if let Some(u) = urls.iter().find(|u| self.shorteners.contains(&u.host)) {
                hits.push(Hit::new(
                    "link_shortener",
                    self.shortener_weight,
                    u.host.clone(),
                ));
            }
        }
    }

    /// Rules about the text's shape rather than its words.
    fn shape(&self, text: &str, hits: &mut Vec<Hit>) {
        let letters = text.chars().filter(|&c| is_letter(c)).count();
        let upper = text.chars().filter(|c| c.is_uppercase()).count();
        if self.caps.on() && letters >= 12 && upper as f64 >= self.caps.threshold * letters as f64 {
            hits.push(Hit::new(
                "all_caps",
                self.caps.weight,
                format!("{upper} of {letters} letters upper-case"),
            ));
        }
        if self.repeats.on() {
            if let Some((c, n)) = longest_run(text, |c| is_letter(c) || "!?$#".contains(c)) {
                if n as f64 >= self.repeats.threshold {
                    hits.push(Hit::new(
                        "repeated_chars",
                        self.repeats.weight,
                        format!("{c:?} ×{n}"),
                    ));
                }
            }
        }
        if self.emoji.on() {
            let n = text.chars().filter(|&c| is_emoji(c)).count();
            if n as f64 >= self.emoji.threshold {
                hits.push(Hit::new(
                    "emoji_flood",
                    self.emoji.weight,
                    format!("{n} emoji"),
                ));
            }
        }
        if self.punctuation.on() {
            let run = longest_class_run(text, |c| c == '!' || c == '?');
            if run as f64 >= self.punctuation.threshold {
                hits.push(Hit::new(
                    "excess_punctuation",
                    self.punctuation.weight,
                    format!("{run} ! or ? in a row"),
                ));
            }
        }
    }
}

/// Shortest quotation that counts as quoting a message, in characters.
const MIN_QUOTE_CHARS: usize = 20;
/// Fewest words outside the quotes that count as commentary on them.
const MIN_COMMENT_WORDS: usize = 3;

/// The text outside double quotes (`"…"`, `“…”`, `«…»`), when the message quotes at least
/// [`MIN_QUOTE_CHARS`] characters and says at least [`MIN_COMMENT_WORDS`] words of its own.
fn commentary_on_a_quote(text: &str) -> Option<String> {
    let mut outside = String::new();
    let mut quoted = 0;
    let mut rest = text;
    while let Some(open) = rest.find(['"', '“', '«', '„']) {
        let opener = rest[open..].chars().next()?;
        let after = &rest[open + opener.len_utf8()..];
        let closers: &[char] = match opener {
            '«' => &['»'],
            '"' => &['"', '”'],
            _ => &['”', '"', '“'],
        };
        let Some(close) = after.find(closers) else {
            break;
        };
        outside.push_str(&rest[..open]);
        outside.push(' ');
        let inner = &after[..close];
        quoted = quoted.max(inner.chars().count());
        let closer = after[close..].chars().next()?;
        rest = &after[close + closer.len_utf8()..];
    }
    outside.push_str(rest);
    let words = outside
        .split(|c: char| !is_letter_or_digit(c))
        .filter(|w| !w.is_empty())
        .count();
    (quoted >= MIN_QUOTE_CHARS && words >= MIN_COMMENT_WORDS).then_some(outside)
}

/// "... to 80086", "... to No: 83355": a 4–6 digit number right after the word "to".
fn shortcode(text: &str) -> Option<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    (0..words.len()).find_map(|i| {
        if !words[i].eq_ignore_ascii_case("to") {
            return None;
        }
        let mut next = i + 1;
        let is_no = |w: &str| {
            let w = w.trim_end_matches([':', '.']).to_ascii_lowercase();
            w == "no" || w == "number"
        };
        if words.get(next).copied().is_some_and(is_no) {
            next += 1;
        }
        let code = words
            .get(next)?
            .trim_end_matches(|c: char| !c.is_ascii_digit());
        let is_code = (4..=6).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit());
        is_code.then(|| code.to_owned())
    })
}

/// "Reply WIN", "txt CLUB to": a send/reply verb followed by an upper-case keyword of at least
/// `min_len` letters (in a message that is not itself all upper case).
fn sms_keyword(text: &str, min_len: usize) -> Option<String> {
    let letters = text.chars().filter(|&c| is_letter(c)).count();
    let upper = text.chars().filter(|c| c.is_uppercase()).count();
    if upper * 10 > letters * 6 {
        return None;
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    words.windows(2).find_map(|w| {
        let is_verb = ["txt", "text", "reply", "send", "sms", "rply"]
            .iter()
            .any(|v| w[0].eq_ignore_ascii_case(v));
        let keyword = w[1].trim_matches(|c: char| !is_letter_or_digit(c));
        let is_keyword = keyword.chars().filter(|c| c.is_ascii_uppercase()).count() >= min_len
            && keyword
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        (is_verb && is_keyword).then(|| format!("{} {keyword}", w[0]))
    })
}

/// A per-unit charge: digits then `p` (pence) as a whole token or before `/`, or any amount
/// followed by `/min`, `/msg`, `/wk`, `/week`, `/day`; an age gate, `18+` or `16+`, as a
/// token of its own; or terms and conditions written with their ampersand (`T&Cs`).
fn premium_charge(text: &str) -> Option<String> {
    let lower = text.to_lowercase();
    if let Some(found) = terms_and_conditions(&lower) {
        return Some(found);
    }
    for token in lower.split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')') {
        let t = token.trim_matches(|c: char| ".!?:;\"'".contains(c));
        let digits = t
            .trim_start_matches(['£', '$', '€'])
            .chars()
            .take_while(char::is_ascii_digit)
            .count();
        let rest = &t.trim_start_matches(['£', '$', '€'])[digits..];
        let pence = digits > 0 && (rest == "p" || rest.starts_with("p/") || rest == "ppm");
        let per_unit = t.contains('/')
            && ["/min", "/msg", "/wk", "/week", "/day", "/mt"]
                .iter()
                .any(|u| t.contains(u))
            && t.chars().any(|c| c.is_ascii_digit());
        let age_gate = t == "18+" || t == "16+";
        if pence || per_unit || age_gate {
            return Some(t.to_owned());
        }
    }
    // Each phrase has "per" or a '/': most messages have neither, and one search for each
    // rules all five out.
    let worded = lower.contains("per");
    let slashed = lower.contains('/');
    [
        ("per min", worded),
        ("per msg", worded),
        ("pence per", worded),
        ("/min", slashed),
        ("/msg", slashed),
    ]
    .iter()
    .find(|(p, possible)| *possible && lower.contains(*p))
    .map(|(p, _)| (*p).to_owned())
}

/// `t&c`, `t&cs`, `t&c's`, `ts&cs`, `t & c`, in lower-case text: `t` or `ts` as the end of a
/// word (or after a digit, as in `4T&C`), `&` with spaces around it or not, then `c`, `cs` or
/// `c's` as a whole word. The ampersand is what tells them from "TCS", the tax collected at
/// source, and "tc", "take care".
fn terms_and_conditions(lower: &str) -> Option<String> {
    for (at, _) in lower.match_indices('&') {
        let before = lower[..at].trim_end_matches(' ');
        let after = lower[at + 1..].trim_start_matches(' ');
        let t = before
            .strip_suffix("ts")
            .or_else(|| before.strip_suffix('t'))
            .filter(|rest| !rest.chars().next_back().is_some_and(char::is_alphabetic));
        let c = ["c's", "cs", "c"].iter().find(|c| {
            after
                .strip_prefix(**c)
                .is_some_and(|rest| !rest.chars().next().is_some_and(char::is_alphanumeric))
        });
        if let (Some(rest), Some(c)) = (t, c) {
            return Some(format!("{}&{c}", &before[rest.len()..]));
        }
    }
    None
}

/// A currency amount (`£500`, `$100`, `₹ 5,00,000`, `Rs.200000`, `INR 100000`): pounds,
/// dollars and euros from `min`, rupees from `min_rupees`.
fn big_amount(text: &str, min: f64, min_rupees: f64) -> Option<String> {
    let lower = text.to_lowercase();
    let markers: [(&str, bool); 9] = [
        ("£", false),
        ("$", false),
        ("€", false),
        ("gbp", false),
        ("usd", false),
        ("₹", true),
        ("rs.", true),
        ("rs ", true),
        ("inr", true),
    ];
    for (marker, rupees) in markers {
        let mut from = 0;
        while let Some(pos) = find_marker(&lower[from..], marker) {
            let at = from + pos;
            from = at + marker.len();
            let word_marker = marker
                .chars()
                .all(|c| c.is_ascii_alphabetic() || c == '.' || c == ' ');
            if word_marker
                && lower[..at]
                    .chars()
                    .next_back()
                    .is_some_and(is_letter_or_digit)
            {
                continue;
            }
            let rest = lower[from..].trim_start_matches([' ', '.']);
            let digits: String = rest
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == ',')
                .filter(char::is_ascii_digit)
                .collect();
            let floor = if rupees { min_rupees } else { min };
            if digits.parse::<f64>().is_ok_and(|amount| amount >= floor) {
                return Some(format!("{}{}", marker.trim(), digits));
            }
        }
    }
    None
}

/// `hay.find(marker)`, looking for the marker's first character (a fast single-character
/// search) rather than setting up a substring search for every marker of every message.
fn find_marker(hay: &str, marker: &str) -> Option<usize> {
    let first = marker.chars().next()?;
    hay.match_indices(first)
        .map(|(at, _)| at)
        .find(|&at| hay[at..].starts_with(marker))
}

fn longest_run(text: &str, counts: impl Fn(char) -> bool) -> Option<(char, usize)> {
    let mut best: Option<(char, usize)> = None;
    let mut prev: Option<(char, usize)> = None;
    for c in text.chars().flat_map(char::to_lowercase) {
        let run = match prev {
            Some((p, n)) if p == c => n + 1,
            _ => 1,
        };
        prev = Some((c, run));
        if counts(c) && best.is_none_or(|(_, b)| run > b) {
            best = Some((c, run));
        }
    }
    best
}

fn longest_class_run(text: &str, class: impl Fn(char) -> bool) -> usize {
    let (mut best, mut cur) = (0, 0);
    for c in text.chars() {
        cur = if class(c) { cur + 1 } else { 0 };
        best = best.max(cur);
    }
    best
}

fn is_emoji(c: char) -> bool {
    matches!(c as u32, 0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2B00..=0x2BFF)
}

#[cfg(test)]
mod tests {
    use crate::SpamRules;
    use chowk_sdk::testing::TestPlugin;
    use serde_json::json;

    fn rules() -> TestPlugin<SpamRules> {
        TestPlugin::with_defaults().expect("defaults are valid")
    }

    /// Below the shipped chain's `flag_at` (4.5), with room to spare.
    #[test]
    fn ordinary_business_chat_scores_low() {
        let p = rules();
        for text in [
            "Good morning everyone, fresh stock of basmati rice arrived today.",
            "Rate is Rs 85 per kg, delivery in Pune by Friday.",
            "Fresh mangoes Rs 800 per dozen, free home delivery, call 98765 43210",
            "Order of Rs 25,000 dispatched, invoice on WhatsApp",
            "I won't be at the shop now, call me at 5",
            "Bhai kal shop band rahegi, parso milte hain",
            "Thanks ji, payment received. Will dispatch tomorrow.",
        ] {
            let v = p.check_text(text);
            assert!(v.points() < 3.5, "{text:?} scored {v:?}");
        }
    }

    #[test]
    fn paying_to_receive_is_the_scam_and_warnings_about_it_are_not() {
        let p = rules();
        let rule = |text: &str| match p.check_text(text) {
            chowk_sdk::Verdict::Score(hits) => hits.iter().any(|h| h.rule == "pay_to_receive"),
            _ => false,
        };
        for text in [
            "Sir I am sending QR code, please scan to receive the advance payment",
            "Maine request bheji hai, approve karke PIN daal do, paise aa jayenge",
            "भैया रिक्वेस्ट आई होगी, अप्रूव करके पिन डाल दीजिए, पैसे आ जाएंगे",
            "Enter your UPI PIN to receive Rs 5000 cashback",
            "Advance ka QR bhej diya hai, scan karo aur amount daal ke pin dalo, aapko mil jayega",
            "You'll get a request from my husband, just approve it please",
        ] {
            assert!(rule(text), "{text:?} should be pay_to_receive");
        }
        for text in [
            "Scan my QR to pay, payment received thanks",
            "Savdhan: koi bole scan karo paise aa jayenge to mat karna, fraud hai",
            "Never enter your PIN to receive money. PIN is only for paying.",
            "Please send your shop QR, I will scan and pay",
            "QR scan karke payment bhej diya, check karo",
            "I scanned your QR and sent 500, did you receive?",
            "Payment received, thank you. Invoice bhej diya",
        ] {
            assert!(!rule(text), "{text:?} should not be pay_to_receive");
        }
    }

    #[test]
    fn a_warning_that_quotes_a_scam_scores_less_than_the_scam() {
        let p = rules();
        let scam = "Congrats! You won Rs 25,00,000 in the lucky draw, claim now";
        let warning = "Beware, fake message going around: \"Congrats! You won Rs 25,00,000 in \
                       the lucky draw, claim now\"";
        let (s, w) = (p.check_text(scam).points(), p.check_text(warning).points());
        assert!(w <= s - 2.5, "warning {w} vs scam {s}");
        match p.check_text("सावधान! KYC अपडेट का लिंक फ्रॉड है")
        {
            chowk_sdk::Verdict::Score(hits) => {
                assert!(hits
                    .iter()
                    .any(|h| h.rule == "scam_warning" && h.points < 0.0));
            }
            other => panic!("expected a score, got {other:?}"),
        }
    }

    #[test]
    fn classic_prize_spam_scores_high() {
        let p = rules();
        let v = p.check_text(
            "CONGRATULATIONS! You have WON a £2000 cash prize! Call 09061701461 now to claim. T&Cs apply",
        );
        assert!(v.points() >= 8.0, "{v:?}");
        for rule in [
            "prize_words",
            "money_amount",
            "phone_number",
            "premium_rate",
        ] {
            assert!(v.has_rule(rule), "{rule} missing in {v:?}");
        }
    }

    #[test]
    fn romanised_hindi_lottery_spam_scores_high() {
        let p = rules();
        let v = p.check_text(
            "Badhai ho! Aapne 25 lakh ka inaam jeeta hai, turant bit.ly/kbc-lucky pe click karein",
        );
        assert!(v.points() >= 6.0, "{v:?}");
        assert!(v.has_rule("link_shortener"), "{v:?}");
        assert!(v.has_rule("prize_words"), "{v:?}");
    }

    #[test]
    fn repeating_one_word_does_not_add_up() {
        let v = rules().check_text("Dhoni has the luck to win big titles, so we will win");
        assert_eq!(v.points(), 2.0, "{v:?}");
    }

    /// Whether `rule` scores `text`.
    fn fires(p: &TestPlugin<SpamRules>, text: &str, rule: &str) -> bool {
        p.check_text(text).hits().iter().any(|h| h.rule == rule)
    }

    #[test]
    fn age_gates_are_premium_but_the_number_18_is_not() {
        let p = rules();
        let premium = |text: &str| fires(&p, text, "premium_rate");
        assert!(premium("Hot singles near you, 18+ only, txt DATE to 69696"));
        assert!(premium("Adult chat (16+) at 10p/min"));
        assert!(!premium(
            "Refurbished laptops at ₹18,500 with 6 months warranty"
        ));
        assert!(!premium("Card se pay karo but charges 1.8% lagte hai"));
        assert!(!premium("GST 18% extra on all items"));
    }

    #[test]
    fn terms_and_conditions_are_premium_but_tax_at_source_and_take_care_are_not() {
        let p = rules();
        let premium = |text: &str| fires(&p, text, "premium_rate");
        for text in [
            "Claim your prize now, T&Cs apply",
            "Holiday awaits. Ts&Cs SAE Box 334",
            "Win a phone! 4T&C's txt STOP",
            "Offer ends soon (T & C apply)",
        ] {
            assert!(premium(text), "{text}");
        }
        for text in [
            "TCS of 1% is deducted by marketplaces on net taxable sales",
            "TCS share price is up today",
            "ok gn tc",
            "Transfer certificate (TC) from the old school is ready",
            "Tea & coffee at the meeting, R&D team too",
        ] {
            assert!(!premium(text), "{text}");
        }
    }

    #[test]
    fn quoted_scams_in_a_warning_get_points_off_and_a_quote_cannot_vouch_for_itself() {
        let p = rules();
        let points = |text: &str, rule: &str| -> f64 {
            p.check_text(text)
                .hits()
                .iter()
                .filter(|h| h.rule == rule)
                .map(|h| h.points)
                .sum()
        };
        let warning = "Is this real? \"Congratulations! Your number won Rs 25,000 cashback, \
                       claim at gst-reward.in\". Never heard of it.";
        assert!(points(warning, "quoted_warning") < 0.0);
        assert!(
            points(warning, "prize_words") > 0.0,
            "the quote is still read"
        );
        // The cue only inside the quotes, or no quote at all: no points off.
        let scam = "Claim now \"this is not fake, real cashback of Rs 25,000\" at gst-reward.in";
        assert_eq!(points(scam, "quoted_warning"), 0.0);
        let bare = "Is this real? Congratulations! Your number won Rs 25,000 cashback";
        assert_eq!(points(bare, "quoted_warning"), 0.0);
        // A short quote is not a quoted message.
        assert_eq!(
            points("Is this \"free\" delivery real? fake?", "quoted_warning"),
            0.0
        );
    }

    #[test]
    fn shape_rules_fire() {
        let p = rules();
        assert!(p
            .check_text("BUY NOW BEST PRICE GUARANTEED")
            .has_rule("all_caps"));
        assert!(p.check_text("sooooooo cheap").has_rule("repeated_chars"));
        assert!(p.check_text("deal 🔥🔥🔥🔥🔥🔥🔥").has_rule("emoji_flood"));
        assert!(p.check_text("really?!?!").has_rule("excess_punctuation"));
        assert!(p.check_text("send WIN to 80086").has_rule("sms_shortcode"));
        assert!(p
            .check_text("Txt word: COLLECT to No: 83355")
            .has_rule("sms_shortcode"));
        assert!(p.check_text("only 150p/msg").has_rule("premium_rate"));
        assert!(p.check_text("calls Rs 5/min").has_rule("premium_rate"));
        assert!(!p.check_text("see you at 2pm").has_rule("premium_rate"));
        assert!(p.check_text("Reply WIN to enter").has_rule("sms_keyword"));
        assert!(!p.check_text("reply to me soon").has_rule("sms_keyword"));
    }

    #[test]
    fn weights_and_lists_are_configurable() {
        let p = TestPlugin::<SpamRules>::new(json!({
            "prize": {"weight": 5.0, "words": ["dhamaka"]},
            "caps": {"weight": 0.0}
        }))
        .expect("valid");
        let v = p.check_text("DIWALI DHAMAKA SALE TODAY");
        assert_eq!(v.points(), 5.0, "{v:?}");
        assert!(!p.check_text("you won a prize").has_rule("prize_words"));
    }

    #[test]
    fn bad_config_is_refused() {
        let err =
            TestPlugin::<SpamRules>::new(json!({"prize": {"weight": -1.0}})).expect_err("bad");
        assert!(err.contains("prize_words"), "{err}");
        let err = TestPlugin::<SpamRules>::new(json!({"prizes": {}})).expect_err("bad");
        assert!(err.contains("unknown field `prizes`"), "{err}");
    }
}
