//! `keyword-filter`: configured terms and phrases, matched after normalisation (case,
//! homoglyphs, fullwidth and circled letters, zero-width characters, spacing-out, leetspeak) on
//! word boundaries, so evasions are caught and innocent words that merely contain a term pass.
//! Each list either rejects the message or masks the matched words.

use chowk_sdk::text::{FoldedText, TermSet};
use chowk_sdk::{export_plugin, Host, Message, Plugin, Reject, Rewrite, Verdict};
use serde::Deserialize;

/// Plugin configuration: the `[plugins.config]` table in `plugins.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Term lists, checked in order; the first reject list that matches wins.
    pub lists: Vec<ListConfig>,
}

/// One list of terms with its action.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListConfig {
    /// Name shown in the decision trace.
    pub name: String,
    /// Words or phrases. A trailing `*` matches any word starting with the term (`fuck*`).
    pub terms: Vec<String>,
    /// What to do on a match.
    pub action: Action,
    /// Reason shown to the sender on reject.
    #[serde(default)]
    pub reason: Option<String>,
    /// Character used to mask matched words (default `*`).
    #[serde(default = "default_mask")]
    pub mask: char,
}

fn default_mask() -> char {
    '*'
}

/// What a list does when one of its terms matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Refuse the message with code `blocked_keyword`.
    Reject,
    /// Replace every letter of the matched words with the mask character.
    Mask,
}

struct List {
    name: String,
    action: Action,
    reason: String,
    mask: char,
    terms: TermSet,
}

/// The keyword filter.
pub struct KeywordFilter {
    lists: Vec<List>,
}

impl Plugin for KeywordFilter {
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {
        let mut lists = Vec::with_capacity(config.lists.len());
        for list in config.lists {
            let terms =
                TermSet::new(&list.terms).map_err(|e| format!("list {:?}: {e}", list.name))?;
            lists.push(List {
                reason: list.reason.unwrap_or_else(|| {
                    "your message contains a word that is not allowed here".to_owned()
                }),
                name: list.name,
                action: list.action,
                mask: list.mask,
                terms,
            });
        }
        Ok(KeywordFilter { lists })
    }

    fn check(&self, message: &Message, _host: &Host<'_>) -> Verdict {
        let folded = FoldedText::new(&message.text);
        let mut masks: Vec<(usize, usize, char)> = Vec::new();
        let mut masked_lists: Vec<&str> = Vec::new();
        for list in &self.lists {
            let spans: Vec<(usize, usize)> = list
                .terms
                .find(&folded)
                .into_iter()
                .map(|m| (m.start, m.end))
                .collect();
            if spans.is_empty() {
                continue;
            }
            match list.action {
                Action::Reject => {
                    return Verdict::Reject(Reject::new("blocked_keyword", list.reason.clone()))
                }
                Action::Mask => {
                    masks.extend(spans.into_iter().map(|(s, e)| (s, e, list.mask)));
                    masked_lists.push(&list.name);
                }
            }
        }
        if masks.is_empty() {
            return Verdict::Allow;
        }
        let count = masks.len();
        Verdict::Rewrite(Rewrite {
            text: apply_masks(&message.text, masks),
            rule: "masked_keyword".into(),
            detail: format!("masked {count} match(es) from {}", masked_lists.join(", ")),
        })
    }
}

/// Replace every non-whitespace character inside the spans with its mask character.
fn apply_masks(text: &str, mut masks: Vec<(usize, usize, char)>) -> String {
    masks.sort_unstable();
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.char_indices() {
        let masked = masks
            .iter()
            .find(|(s, e, _)| *s <= i && i < *e)
            .filter(|_| !c.is_whitespace());
        match masked {
            Some((_, _, m)) => out.push(*m),
            None => out.push(c),
        }
    }
    out
}

export_plugin!(KeywordFilter);

#[cfg(test)]
mod tests {
    use super::*;
    use chowk_sdk::testing::TestPlugin;
    use serde_json::json;

    fn filter() -> TestPlugin<KeywordFilter> {
        TestPlugin::new(json!({"lists": [
            {"name": "slurs", "action": "reject", "terms": ["cunt", "fuck*", "chutiya", "चूतिया", "bewakoof", "casino"]},
            {"name": "insults", "action": "mask", "terms": ["idiot", "ass", "free money", "shit"]},
        ]}))
        .expect("valid config")
    }

    #[test]
    fn rejects_listed_words_and_evasions() {
        let f = filter();
        for text in [
            "you cunt",
            "FUCKING hell",
            "ｃｕｎｔ",
            "с\u{200B}unt",
            "c u n t",
            "c.u.n.t",
            "chut1ya",
            "ⓒⓤⓝⓣ",
            // Repeated letters, symbol look-alikes, romanised and Devanagari spelling variants.
            "fuuuuck you",
            "chuuutiya",
            "chootiya",
            "¢unt",
            "play ¢asino",
            "bevakoof",
            "चुतिया",
            "चूँतिया",
            "च़ूतिया",
        ] {
            let v = f.check_text(text);
            assert_eq!(
                v.as_reject().map(|r| r.code.as_str()),
                Some("blocked_keyword"),
                "{text:?} should be rejected, got {v:?}"
            );
        }
    }

    #[test]
    fn scunthorpe_words_pass() {
        let f = filter();
        for text in [
            "Scunthorpe United",
            "class assignment",
            "pass the glass",
            "Assam tea",
            "grasshopper",
            "send the price sheet",
            "as soon as possible",
            "good food",
        ] {
            assert!(f.check_text(text).is_allow(), "{text:?} should pass");
        }
    }

    #[test]
    fn masks_words_and_phrases_in_place() {
        let f = filter();
        let v = f.check_text("you idiot, get FREE  MONEY now");
        let r = v.as_rewrite().expect("rewrite");
        assert_eq!(r.text, "you *****, get ****  ***** now");
        assert_eq!(r.rule, "masked_keyword");
    }

    #[test]
    fn empty_term_is_a_config_error() {
        let err = TestPlugin::<KeywordFilter>::new(json!({"lists": [
            {"name": "x", "action": "mask", "terms": ["!!"]}
        ]}))
        .expect_err("must fail");
        assert!(err.contains("no letters"), "{err}");
    }

    #[test]
    fn unknown_config_keys_are_errors() {
        let err = TestPlugin::<KeywordFilter>::new(json!({"list": []})).expect_err("must fail");
        assert!(err.contains("unknown field `list`"), "{err}");
    }
}
