//! Text helpers every filter needs: normalisation against evasion (NFKC, homoglyphs, invisible
//! characters, leetspeak), a position-keeping folded form for matching, and URL and phone-number
//! detection.

mod class;
mod confusables;
mod folded;
mod normalize;
mod phone;
mod terms;
mod url;

pub use class::{is_letter, is_letter_or_digit};
pub use confusables::{fold_confusable, fold_confusables};
pub use folded::{FoldedChar, FoldedText};
pub use normalize::{fold_leet_char, is_invisible, nfkc, normalize, strip_invisible};
pub use phone::{find_phone_numbers, PhoneMatch};
pub use terms::{find_each, TermMatch, TermSet};
pub use url::{find_urls, UrlMatch};
