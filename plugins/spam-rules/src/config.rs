//! Configuration of the spam rules: every rule's weight and word list, with built-in defaults.

use serde::Deserialize;

/// The `config` table of the plugin. Every field is optional; omitted values use the defaults
/// documented in the plugin's README. A weight of 0 turns a rule off.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `link`: any URL.
    pub links: CountRule,
    /// `link_shortener`: a URL whose host is a known shortener.
    pub shorteners: DomainRule,
    /// `phone_number`: a run of at least `threshold` digits (default 10).
    pub phone_numbers: CountRule,
    /// `sms_shortcode`: "send WIN to 80086".
    pub shortcodes: CountRule,
    /// `premium_rate`: per-minute or per-message charges ("150p/msg", "Rs 5/min", "£1.50/wk"),
    /// matched as patterns, plus this word list (t&c, po box, 18+...).
    pub premium_rate: WordRule,
    /// `money_words`: cash, free, earn, lakh, crore, muft, kamao...
    pub money: WordRule,
    /// `money_amount`: a pound, dollar or euro amount of at least `threshold` (default 100), or
    /// a rupee amount of at least `rupee_threshold` (default 1,00,000; prices in rupees are
    /// everyday business talk, prize money is not).
    pub money_amounts: MoneyRule,
    /// `prize_words`: prize, winner, lottery, claim, inaam, jeeto...
    pub prize: WordRule,
    /// `urgency_words`: urgent, act now, last chance, jaldi, turant...
    pub urgency: WordRule,
    /// `call_to_action`: txt, reply, click here, call now...
    pub call_to_action: WordRule,
    /// `scam_words`: account and reward phishing: kyc, otp, cvv, un-redeemed points, voicemail,
    /// subscriber, entitled...
    pub scam: WordRule,
    /// `scam_warning`: members warning each other ("beware", "don't believe", "fraud hai",
    /// "सावधान"), often quoting the scam itself: *negative* points, once, so the quoted scam
    /// words do not flag the warning. `weight` is the points taken off.
    pub warnings: WordRule,
    /// `quoted_warning`: a message that quotes another in double quotes and, outside the
    /// quotes, doubts or warns about it ("Is this real?", "fake hai", "don't click"):
    /// *negative* points, once. The cue words are looked for outside the quotes only, so a
    /// quoted scam cannot vouch for itself. `weight` is the points taken off.
    pub quoted_warning: WordRule,
    /// `sms_keyword`: "Reply WIN", "txt CLUB": a send/reply verb followed by an upper-case
    /// keyword, the shape of subscription and premium-SMS offers.
    pub sms_keywords: CountRule,
    /// `all_caps`: share of upper-case letters at least `threshold` (default 0.7) in a message of
    /// at least 12 letters.
    pub caps: CountRule,
    /// `repeated_chars`: one character repeated at least `threshold` times (default 5).
    pub repeats: CountRule,
    /// `emoji_flood`: at least `threshold` emoji (default 6).
    pub emoji: CountRule,
    /// `pay_to_receive`: the collect-request and QR scam: an action that only ever sends money
    /// (scan, approve, enter the UPI PIN) offered as the way to *receive* it ("scan to receive",
    /// "approve karke PIN daalo, paise aa jayenge"); not when negated ("never scan to receive").
    pub pay_to_receive: PairRule,
    /// `excess_punctuation`: a run of at least `threshold` `!`/`?` (default 3).
    pub punctuation: CountRule,
}

/// A rule scored from a word or phrase list.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WordRule {
    /// Points per distinct matched term.
    pub weight: Option<f64>,
    /// At most this many distinct terms count.
    pub max_hits: Option<u32>,
    /// Replace the built-in list. A trailing `*` matches word prefixes.
    pub words: Option<Vec<String>>,
    /// Add to the (built-in or replaced) list.
    pub extra_words: Vec<String>,
}

/// A rule that fires when a term of each of two lists appears, and no negation does.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PairRule {
    /// Points when the rule fires.
    pub weight: Option<f64>,
    /// Replace the built-in first list.
    pub first: Option<Vec<String>>,
    /// Replace the built-in second list.
    pub second: Option<Vec<String>>,
    /// Replace the built-in negations.
    pub negations: Option<Vec<String>>,
}

/// A rule with a weight and a numeric threshold.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CountRule {
    /// Points when the rule fires.
    pub weight: Option<f64>,
    /// The rule's threshold (its meaning depends on the rule).
    pub threshold: Option<f64>,
}

/// The money-amount rule.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MoneyRule {
    /// Points when the rule fires.
    pub weight: Option<f64>,
    /// Smallest pound, dollar or euro amount that counts.
    pub threshold: Option<f64>,
    /// Smallest rupee amount that counts.
    pub rupee_threshold: Option<f64>,
}

/// A rule matching URL hosts.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DomainRule {
    /// Points when the rule fires.
    pub weight: Option<f64>,
    /// Replace the built-in host list.
    pub domains: Option<Vec<String>>,
    /// Add to the host list.
    pub extra_domains: Vec<String>,
}

/// Built-in defaults: (weight, max_hits, words).
pub(crate) mod defaults {
    pub const PRIZE: (f64, u32, &[&str]) = (
        2.0,
        2,
        &[
            "prize",
            "prizes",
            "winner*",
            "won",
            "win",
            "lottery",
            "jackpot",
            "lucky draw",
            "reward",
            "awarded",
            "award",
            "claim*",
            "congratulations",
            "congrats",
            "selected",
            "bonus",
            "gift card",
            "voucher*",
            "inaam",
            "inam",
            "jeeto",
            "jeeta",
            "jeetne",
            "bumper",
            "guaranteed",
            "claim code",
            "prize code",
            "bonus code",
            "voucher code",
            "lucky day",
            "chance to win",
        ],
    );
    pub const MONEY: (f64, u32, &[&str]) = (
        1.0,
        2,
        &[
            "cash",
            "free",
            "earn",
            "earning",
            "income",
            "lakh",
            "lakhs",
            "crore",
            "crores",
            "million",
            "loan",
            "loans",
            "investment",
            "double your money",
            "paisa kamao",
            "kamao",
            "kamaye",
            "muft",
            "mufat",
            "cashback",
            "rewards",
            "entry",
            "credit",
        ],
    );
    pub const URGENCY: (f64, u32, &[&str]) = (
        1.0,
        2,
        &[
            "urgent",
            "urgently",
            "immediately",
            "act now",
            "limited time",
            "limited offer",
            "expires",
            "expiring",
            "expiry",
            "hurry",
            "last chance",
            "final notice",
            "final attempt",
            "today only",
            "don't miss",
            "call now",
            "reply now",
            "txt now",
            "text now",
            "order now",
            "apply now",
            "claim now",
            "offer ends",
            "within 24 hours",
            "jaldi karo",
            "turant",
            "abhi call",
            "abhi claim",
        ],
    );
    pub const ACTION: (f64, u32, &[&str]) = (
        0.75,
        2,
        &[
            "txt",
            "text",
            "reply",
            "click",
            "click here",
            "call",
            "dial",
            "subscribe",
            "unsubscribe",
            "opt out",
            "optout",
            "stop",
            "send",
            "sms",
            "ringtone",
            "mobile",
            "customer service",
            "cust care",
        ],
    );
    /// `scam_warning`: points taken off (once), and the phrases of a warning.
    pub const WARNINGS: (f64, u32, &[&str]) = (
        2.5,
        1,
        &[
            "beware",
            "be careful",
            "be alert",
            "stay alert",
            "don't believe",
            "do not believe",
            "dont believe",
            "don't click",
            "do not click",
            "dont click",
            "don't share",
            "do not share",
            "never share",
            "is fake",
            "are fake",
            "fake message",
            "fake call",
            "fake sms",
            "is a scam",
            "are scams",
            "it's a scam",
            "its a scam",
            "scam alert",
            "fraud alert",
            "fraud hai",
            "fraud he",
            "froud hai",
            "savdhan",
            "saavdhan",
            "sawdhan",
            "dhokha",
            "mat kholna",
            "mat karna",
            "mat dena",
            "report and block",
            "block and report",
            "psa",
            "सावधान",
            "धोखा",
            "फ्रॉड",
            "मत खोलें",
            "मत करें",
            "ना बताएं",
            "न बताएं",
        ],
    );

    /// Doubt or warning about a quoted message, looked for outside the quotes.
    pub const QUOTED_WARNING: (f64, u32, &[&str]) = (
        4.0,
        1,
        &[
            "fake*",
            "fraud*",
            "froud",
            "scam*",
            "phishing",
            "is this real",
            "is it real",
            "is this legit",
            "is it legit",
            "is this true",
            "is this genuine",
            "anyone else get",
            "anyone else got",
            "got this",
            "received this",
            "don't click",
            "dont click",
            "do not click",
            "don't pay",
            "do not pay",
            "don't believe",
            "do not believe",
            "never sends",
            "never send",
            "never ask",
            "never asks",
            "beware",
            "careful",
            "ignore",
            "report",
            "blocked",
            "deleted",
            "asli hai",
            "sach hai",
            "nakli",
            "farzi",
            "jhooth*",
            "dhokha",
            "dhoka",
            "bachke",
            "bach ke",
            "savdhan",
            "saavdhan",
            "mat karna",
            "mat kholna",
            "mat dena",
            "kya ye",
            "kya yeh",
            "ye dekho",
            "yeh dekho",
            "फर्जी",
            "फ्रॉड",
            "धोखा",
            "नकली",
            "सावधान",
            "भरोसा न",
            "मत करें",
            "बचें",
        ],
    );

    pub const SCAM: (f64, u32, &[&str]) = (
        1.5,
        2,
        &[
            "kyc",
            "otp",
            "cvv",
            "pan card",
            "account blocked",
            "account suspended",
            "account will be blocked",
            "verify your account",
            "bank details",
            "redeem",
            "un-redeemed",
            "unredeemed",
            "account statement",
            "identifier code",
            "voicemail",
            "entitled",
            "subscriber",
            "subscribers",
            "subscription",
            "charges apply",
            "landline",
            "work from home",
            "ghar baithe",
            "part time job",
        ],
    );
    pub const PREMIUM: (f64, u32, &[&str]) = (
        2.5,
        1,
        &[
            "ppm",
            "per min",
            "per minute",
            "per msg",
            "per week",
            "std rate",
            "std rates",
            // Age gates ("18+", "16+") and terms and conditions ("T&Cs", "Ts&Cs") are matched
            // as written, in `premium_charge`: folded, "18+" is the number 18, which prices
            // and "1.8%" also spell, and "T&Cs" is "tcs", which Indian traders write for the
            // tax collected at source (and "tc" for "take care").
            "pobox*",
            "po box",
        ],
    );
    /// `pay_to_receive`: weight, the sending actions, the receiving outcomes, negations.
    pub const PAY_TO_RECEIVE: (f64, &[&str], &[&str], &[&str]) = (
        4.0,
        // What the victim is told to do: only ever needed to send money. Imperatives only:
        // "I scanned your QR and paid" is a buyer paying.
        &[
            "scan karo",
            "scan kare",
            "scan karein",
            "scan kijiye",
            "scan kar lo",
            "scan kar do",
            "please scan",
            "just scan",
            "scan this",
            "scan the qr",
            "scan and enter",
            "enter pin",
            "enter your pin",
            "enter the pin",
            "enter the amount and pin",
            "enter amount and pin",
            "upi pin",
            "pin dalo",
            "pin daalo",
            "pin daal do",
            "pin daal dijiye",
            "pin dal do",
            "pin dal dijiye",
            "pin daal ke",
            "pin dal ke",
            "approve it",
            "approve karo",
            "approve kar do",
            "approve karke",
            "approve kar dijiye",
            "accept the request",
            "accept the collect request",
            "accepting the collect request",
            "accept request",
            "request accept",
            "accept karo",
            "accept kar lo",
            "स्कैन करें",
            "स्कैन करो",
            "पिन डाल",
            "अप्रूव करके",
            "अप्रूव कर",
        ],
        // What they are told it does: money comes to them.
        &[
            "to receive",
            "for receiving",
            "receive the money",
            "receive money",
            "receive payment",
            "receive the payment",
            "receive karne",
            "receive ho jayega",
            "paise aa jayenge",
            "paisa aa jayega",
            "payment aa jayega",
            "amount aa jayega",
            "aa jayenge",
            "aa jayega",
            "mil jayega",
            "mil jayenge",
            "mil jaye",
            "mil jaega",
            "credit ho jayega",
            "paise mil jayenge",
            "to get the money",
            "to get money",
            "unlock the payment",
            "you will get",
            "you'll get",
            "i sent you",
            "sent you",
            "i have sent",
            "refund",
            "bhej diya",
            "bhej di",
            "bhej rahi",
            "bhej raha",
            "पैसे आ जाएंगे",
            "पैसे आ जायेंगे",
            "पैसा आ जाएगा",
            "प्राप्त करने",
            "मिल जाएगा",
            "भेज दी",
            "भेज दिया",
        ],
        &[
            "never",
            "don't",
            "dont",
            "do not",
            "not",
            "no one",
            "nobody",
            "mat",
            "nahi",
            "nahin",
            "kabhi",
            "fraud",
            "scam",
            "beware",
            "trick",
            "no real",
            "savdhan",
            "सावधान",
            "नहीं",
            "मत",
            "धोखा",
        ],
    );

    pub const SHORTENERS: (f64, &[&str]) = (
        2.5,
        &[
            "bit.ly",
            "tinyurl.com",
            "t.co",
            "goo.gl",
            "cutt.ly",
            "rb.gy",
            "is.gd",
            "ow.ly",
            "shorturl.at",
            "tiny.cc",
            "t.ly",
            "rebrand.ly",
            "buff.ly",
            "v.gd",
            "s.id",
            "bitly.com",
            "short.gy",
            "tinu.be",
        ],
    );
    /// (weight, threshold) of each threshold rule.
    pub const LINK: (f64, f64) = (1.5, 1.0);
    pub const PHONE: (f64, f64) = (1.5, 10.0);
    pub const SHORTCODE: (f64, f64) = (3.0, 0.0);
    pub const SMS_KEYWORD: (f64, f64) = (1.5, 2.0);
    pub const MONEY_AMOUNT: (f64, f64) = (2.0, 100.0);
    pub const RUPEE_AMOUNT: f64 = 100_000.0;
    pub const CAPS: (f64, f64) = (1.0, 0.7);
    pub const REPEATS: (f64, f64) = (0.5, 5.0);
    pub const EMOJI: (f64, f64) = (1.0, 6.0);
    pub const PUNCTUATION: (f64, f64) = (0.5, 3.0);
}
