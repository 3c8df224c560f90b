//! Native tests of every rule, through the SDK's test harness.

use chowk_sdk::testing::TestPlugin;
use chowk_sdk::{Message, Verdict};
use serde_json::json;

use super::LinkSafety;

fn plugin() -> TestPlugin<LinkSafety> {
    TestPlugin::new(json!({
        "brands": [
            {"name": "SBI", "words": ["sbi", "onlinesbi"], "domains": ["sbi.co.in", "onlinesbi.sbi", "sbi"]},
            {"name": "HDFC Bank", "words": ["hdfc", "hdfcbank"], "domains": ["hdfcbank.com"]},
            {"name": "Paytm", "words": ["paytm"], "domains": ["paytm.com"]},
        ],
        "allow": ["mychowk.in"],
    }))
    .expect("valid config")
}

fn rules(p: &TestPlugin<LinkSafety>, text: &str) -> Vec<String> {
    match p.check_text(text) {
        Verdict::Score(hits) => hits.into_iter().map(|h| h.rule).collect(),
        Verdict::Allow => Vec::new(),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn impersonation_of_brands_on_foreign_domains() {
    let p = plugin();
    assert_eq!(
        rules(&p, "KYC pending: https://sbi-kyc-update.xyz/login"),
        ["impersonation", "risky_tld"]
    );
    assert_eq!(
        rules(&p, "verify at hdfcbank-secure.co now"),
        ["impersonation"]
    );
    assert_eq!(rules(&p, "renew http://paytmkyc.in/app"), ["impersonation"]);
    assert!(rules(&p, "login at https://netbanking.hdfcbank.com").is_empty());
    assert!(rules(&p, "use https://onlinesbi.sbi for payments").is_empty());
    assert!(rules(&p, "our site www.mychowk.in/offers").is_empty());
    // A short brand word must be a whole word of the host, or spelled out letter by letter.
    assert!(rules(&p, "see https://sbisoft.com").is_empty());
    assert_eq!(
        rules(&p, "pIs update PAN at s-b-i-kyc.click"),
        ["impersonation", "risky_tld"]
    );
    assert!(rules(&p, "see https://a-b-c-traders.in").is_empty());
}

#[test]
fn look_alike_encoded_ip_and_apk_links() {
    let p = plugin();
    let homoglyph = rules(&p, "open https://sbі.co.in.verify-now.com"); // Cyrillic і
    assert!(
        homoglyph.contains(&"homoglyph_domain".to_owned()),
        "{homoglyph:?}"
    );
    assert!(
        homoglyph.contains(&"impersonation".to_owned()),
        "{homoglyph:?}"
    );
    assert_eq!(
        rules(&p, "see https://xn--sb-ekc.com/x"),
        ["punycode_domain"]
    );
    assert_eq!(rules(&p, "claim http://103.21.4.5/kyc"), ["ip_link"]);
    assert_eq!(
        rules(&p, "install https://rewards-app.in/SBI_Rewards.apk"),
        ["apk_link"]
    );
}

#[test]
fn shorteners_and_risky_tlds_score_less() {
    let p = plugin();
    assert_eq!(rules(&p, "details bit.ly/3xYz"), ["shortener"]);
    assert_eq!(
        rules(&p, "offer at https://best-deals.top/x"),
        ["risky_tld"]
    );
    assert!(rules(&p, "order on https://www.amazon.in/dp/B0C1").is_empty());
    assert!(rules(&p, "no links here, price 3.50 per kg").is_empty());
}

#[test]
fn invite_links_count_only_from_new_senders() {
    let p = plugin();
    let invite = |sender: &str| {
        let mut m = Message::new("join our group https://chat.whatsapp.com/AbC123");
        m.sender = sender.into();
        p.check(&m)
    };
    assert!(
        matches!(invite("newbie"), Verdict::Score(ref h) if h[0].rule == "invite_from_new_sender")
    );
    for _ in 0..5 {
        let mut m = Message::new("ok ji");
        m.sender = "regular".into();
        p.check(&m);
    }
    assert_eq!(invite("regular"), Verdict::Allow);
    // A store fault must not flag members.
    p.host().fail_state(true);
    assert_eq!(invite("another"), Verdict::Allow);
}

#[test]
fn invalid_brands_are_refused_naming_them() {
    let err = TestPlugin::<LinkSafety>::new(json!({
        "brands": [{"name": "X", "words": [], "domains": ["x.com"]}]
    }))
    .expect_err("refused");
    assert!(err.contains("brands[0] (X)"), "{err}");
}
