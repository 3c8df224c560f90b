//! The shipped plugins, loaded as real components, behave as documented, and the chain
//! combines their verdicts as specified.

use chowk_host::plugins::{Action, RunOutcome};
use chowk_tests::{msg, text, World};

const KEYWORDS: &str = r#"
version = 1
[[plugins]]
name = "keyword-filter"
path = "keyword-filter.wasm"
[[plugins.config.lists]]
name = "slurs"
action = "reject"
terms = ["cunt", "chutiya", "fuck*", "casino", "चूतिया"]
[[plugins.config.lists]]
name = "insults"
action = "mask"
terms = ["idiot", "ass"]
"#;

#[test]
fn keyword_evasions_are_caught_and_scunthorpe_passes() {
    let world = World::default();
    let chain = world.chain(KEYWORDS);
    for evasion in [
        "you cunt",
        "ＣＵＮＴ",     // fullwidth
        "сunt",         // Cyrillic es
        "c\u{200B}unt", // zero-width space
        "c u n t",      // spaced out
        "c.u.n.t",
        "ⓒⓤⓝⓣ",    // circled
        "chut1ya", // leetspeak
        "F*U*C*K off",
        "fuuuuck off",  // repeated letters
        "FUKKING hell", // romanised spelling
        "chootiya",     // oo for u
        "play ¢asino",  // currency look-alike
        "चुतिया",        // Devanagari, short vowel
        "चूँतिया",        // with chandrabindu
        "च़ूतिया",        // with nukta
    ] {
        let d = chain.evaluate(&text(evasion));
        assert_eq!(d.action, Action::Reject, "{evasion:?} → {d:?}");
        let r = d.rejection.expect("rejection");
        assert_eq!(
            (r.plugin.as_str(), r.code.as_str()),
            ("keyword-filter", "blocked_keyword")
        );
    }
    for innocent in [
        "Scunthorpe United won",
        "class assignment due",
        "Assam tea, 500 g",
        "passing by",
        "as soon as possible",  // `ass` needs two s
        "send the price sheet", // `ee` is not `i`
    ] {
        let d = chain.evaluate(&text(innocent));
        assert_eq!(d.action, Action::Allow, "{innocent:?} → {d:?}");
    }
}

#[test]
fn masking_rewrites_and_later_plugins_see_the_new_text() {
    let world = World::default();
    let chain = world.chain(&format!(
        "{KEYWORDS}\n{}",
        r#"
[[plugins]]
name = "second-filter"
path = "keyword-filter.wasm"
[[plugins.config.lists]]
name = "stars"
action = "reject"
terms = ["xyzzy"]
"#
    ));
    let d = chain.evaluate(&text("you idiot, sit on your ass"));
    assert_eq!(d.action, Action::Rewrite);
    assert_eq!(d.text, "you *****, sit on your ***");
    assert_eq!(d.reasons[0].rule, "masked_keyword");
    assert_eq!(d.trace.len(), 2, "both plugins ran: {:?}", d.trace);
}

const SPAM: &str = r#"
version = 1
[chain]
flag_at = 3.5
reject_at = 8.0
[[plugins]]
name = "spam-rules"
path = "spam-rules.wasm"
"#;

#[test]
fn spam_scores_add_up_to_flag_or_reject() {
    let world = World::default();
    let chain = world.chain(SPAM);
    let ham = chain.evaluate(&text("Fresh stock of basmati rice arrived, Rs 85 per kg"));
    assert_eq!(ham.action, Action::Allow, "{ham:?}");

    let flagged = chain.evaluate(&text("Congrats! You won a prize, reply to claim"));
    assert_eq!(flagged.action, Action::Flag, "{flagged:?}");
    assert!(flagged.reasons.iter().any(|r| r.rule == "prize_words"));

    let spam = chain.evaluate(&text(
        "URGENT! You have WON a £2000 cash prize. Call 09061701461 now to claim, T&C 150p/msg",
    ));
    assert_eq!(spam.action, Action::Reject, "{spam:?}");
    let r = spam.rejection.expect("rejection");
    assert_eq!(
        (r.plugin.as_str(), r.code.as_str()),
        ("chain", "spam_score")
    );
    assert!(spam.score >= 8.0);
}

const RATE: &str = r#"
version = 1
[[plugins]]
name = "rate-limit"
path = "rate-limit.wasm"
[plugins.config]
per_sender = { max = 3, window_ms = 1000 }
per_sender_room = { max = 100, window_ms = 1000 }
per_room = { max = 100, window_ms = 1000 }
"#;

#[test]
fn rate_limits_reject_with_retry_after_and_reset_with_time() {
    let world = World::default();
    let chain = world.chain(RATE);
    let m = msg("hi", "asha", "lobby");
    for _ in 0..3 {
        assert_eq!(chain.evaluate(&m).action, Action::Allow);
    }
    let d = chain.evaluate(&m);
    assert_eq!(d.action, Action::Reject);
    let r = d.rejection.expect("rejection");
    assert_eq!(r.code, "rate_limited");
    let wait = r.retry_after_ms.expect("retry-after");
    assert!(wait > 0 && wait <= 2_000, "retry after {wait} ms");
    assert_eq!(
        chain.evaluate(&msg("hi", "ravi", "lobby")).action,
        Action::Allow,
        "others unaffected"
    );

    world.clock.advance_ms(wait);
    assert_eq!(
        chain.evaluate(&m).action,
        Action::Allow,
        "allowed after retry-after"
    );
    world.clock.advance_ms(2_000);
    for _ in 0..3 {
        assert_eq!(chain.evaluate(&m).action, Action::Allow, "fresh window");
    }
}

#[test]
fn plugin_state_is_namespaced_and_survives_a_new_chain_generation() {
    let world = World::default();
    let two = format!(
        "{RATE}\n{}",
        RATE.replace("version = 1", "")
            .replace("\"rate-limit\"\npath", "\"rate-limit-b\"\npath")
    );
    let chain = world.chain(&two);
    let m = msg("hi", "asha", "lobby");
    for _ in 0..3 {
        assert_eq!(chain.evaluate(&m).action, Action::Allow);
    }
    // Had the two plugins shared keys, the second would have counted the first's increments
    // and rejected the second message. Each namespace holds its own three buckets.
    assert_eq!(
        world.state.len(),
        6,
        "sender, sender+room and room buckets per namespace"
    );

    // A new generation of the same plugin names sees the same counters.
    let next = world.try_chain(&two, 2).expect("loads");
    let d = next.evaluate(&m);
    assert_eq!(d.action, Action::Reject, "{d:?}");
    assert_eq!(d.generation, 2);
}

#[test]
fn a_reject_stops_the_chain() {
    let world = World::default();
    let chain = world.chain(&format!(
        "{KEYWORDS}\n{}",
        SPAM.replace("version = 1", "")
            .replace("[chain]\nflag_at = 3.5\nreject_at = 8.0", "")
    ));
    let d = chain.evaluate(&text("chutiya"));
    assert_eq!(d.action, Action::Reject);
    assert_eq!(d.trace.len(), 1, "spam-rules never ran: {:?}", d.trace);
}

#[test]
fn shadow_plugins_are_recorded_not_enforced() {
    let world = World::default();
    let chain = world.chain(&KEYWORDS.replace(
        "path = \"keyword-filter.wasm\"",
        "path = \"keyword-filter.wasm\"\nmode = \"shadow\"",
    ));
    let d = chain.evaluate(&text("you cunt"));
    assert_eq!(d.action, Action::Allow, "{d:?}");
    assert_eq!(d.text, "you cunt");
    assert_eq!(d.trace[0].outcome, RunOutcome::Reject);
    assert!(d.trace[0].shadow);
    assert!(d.reasons.is_empty());
}

#[test]
fn plugins_apply_only_to_their_rooms() {
    let world = World::default();
    let chain = world.chain(&KEYWORDS.replace(
        "path = \"keyword-filter.wasm\"",
        "path = \"keyword-filter.wasm\"\nrooms = [\"kids\"]",
    ));
    assert_eq!(
        chain.evaluate(&msg("cunt", "u", "kids")).action,
        Action::Reject
    );
    let d = chain.evaluate(&msg("cunt", "u", "adults"));
    assert_eq!(d.action, Action::Allow);
    assert_eq!(d.trace[0].outcome, RunOutcome::Skipped);
}

#[test]
fn the_shipped_chain_loads_and_judges() {
    let world = World::default();
    chowk_tests::plugins_dir();
    let chain = chowk_host::plugins::Chain::load_file(
        &world.context(),
        &chowk_tests::repo_root().join("plugins.toml"),
        1,
    )
    .expect("the shipped chain loads");
    let d = chain.evaluate(&text("Namaste, aaj ka rate: tomato Rs 30/kg"));
    assert_eq!(d.action, Action::Allow, "{d:?}");
    assert_eq!(d.trace.len(), 6);
    let phish = chain.evaluate(&text(
        "Dear customer your SBI account is blocked today, update KYC at https://sbi-kyc-update.xyz/login",
    ));
    assert_ne!(phish.action, Action::Allow, "{phish:?}");
    let rules: Vec<&str> = phish.reasons.iter().map(|r| r.rule.as_str()).collect();
    assert!(
        rules.contains(&"impersonation") && rules.contains(&"classifier"),
        "{rules:?}"
    );
    assert!(d
        .trace
        .iter()
        .all(|r| r.elapsed_us > 0 || r.outcome == RunOutcome::Allow));
}
