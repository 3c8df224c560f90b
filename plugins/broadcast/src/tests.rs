//! Native tests: near-duplicates across rooms, the threshold, and what is not tracked.

use chowk_sdk::testing::TestPlugin;
use chowk_sdk::{Message, Verdict};
use serde_json::json;

use super::{band_keys, Broadcast};

const SCAM: &str = "Part time job offer: earn Rs 3000 daily by liking YouTube videos, \
                    contact HR on WhatsApp 9876543210 now";

fn post(p: &TestPlugin<Broadcast>, room: &str, sender: &str, text: &str) -> Verdict {
    let mut m = Message::new(text);
    m.room = room.into();
    m.sender = sender.into();
    p.check(&m)
}

#[test]
fn near_duplicates_score_from_the_nth_room_by_any_sender() {
    let p = TestPlugin::<Broadcast>::new(json!({"min_rooms": 3})).expect("init");
    assert_eq!(post(&p, "r1", "a", SCAM), Verdict::Allow);
    // Another sender, a different phone number and amount: the same template.
    let variant = SCAM
        .replace("9876543210", "9123456780")
        .replace("3000", "2500");
    assert_eq!(post(&p, "r2", "b", &variant), Verdict::Allow);
    assert_eq!(
        post(&p, "r2", "b", &variant),
        Verdict::Allow,
        "same room twice is one room"
    );
    match post(&p, "r3", "c", &SCAM.to_uppercase()) {
        Verdict::Score(hits) => {
            assert_eq!(hits[0].rule, "broadcast");
            assert_eq!(hits[0].points, 3.0);
            assert!(hits[0].detail.contains("3 rooms"), "{hits:?}");
        }
        other => panic!("expected a score, got {other:?}"),
    }
    match post(&p, "r4", "a", SCAM) {
        Verdict::Score(hits) => assert_eq!(hits[0].points, 4.0),
        other => panic!("expected a score, got {other:?}"),
    }
}

#[test]
fn different_texts_short_texts_and_expired_windows_do_not_count() {
    let p = TestPlugin::<Broadcast>::new(json!({"min_rooms": 2, "window_ms": 1000})).expect("init");
    assert_eq!(post(&p, "r1", "a", "good morning ji"), Verdict::Allow);
    assert_eq!(post(&p, "r2", "a", "good morning ji"), Verdict::Allow);
    assert_eq!(post(&p, "r1", "a", SCAM), Verdict::Allow);
    let other =
        "Basmati rice 1121 steam available at Rs 92 per kg, minimum order 50 bags, delivery Friday";
    assert_eq!(post(&p, "r2", "a", other), Verdict::Allow);
    p.host().advance_ms(1001);
    assert_eq!(post(&p, "r2", "a", SCAM), Verdict::Allow, "window expired");
}

#[test]
fn bands_match_near_duplicates_and_not_other_texts() {
    let shared = |a: &str, b: &str| {
        let (a, b) = (
            band_keys(a, 10, 4).expect("long"),
            band_keys(b, 10, 4).expect("long"),
        );
        a.iter().zip(&b).filter(|(x, y)| x == y).count()
    };
    assert_eq!(shared(SCAM, &SCAM.replace("9876543210", "9000000001")), 4);
    let near = [
        ("now", "today"),
        ("daily", "every day"),
        ("contact HR", "message our HR"),
    ];
    for (from, to) in near {
        assert!(shared(SCAM, &SCAM.replace(from, to)) > 0, "{from} -> {to}");
    }
    let trade = [
        "Fresh stock of cotton kurtis arrived, wholesale rates for members only, visit the shop",
        "Part time helper needed at our shop, timing 10 to 6, salary as per experience, contact owner",
        "Earn money? No bhai, I only sell rice and dal, contact me on WhatsApp for the rate list",
    ];
    for t in trade {
        assert_eq!(shared(SCAM, t), 0, "{t}");
    }
    assert_eq!(band_keys("ok ji", 30, 4), None);
}

#[test]
fn bad_settings_are_refused() {
    assert!(TestPlugin::<Broadcast>::new(json!({"bands": 9})).is_err());
    assert!(TestPlugin::<Broadcast>::new(json!({"min_rooms": 1})).is_err());
}

/// Band keys are shared state: every host of a fleet, and every version during a rolling
/// upgrade, must compute the same keys for the same text, or copies go uncounted. A change to
/// them is a deliberate one (noted in the README), never a side effect of a refactoring.
#[test]
fn band_keys_do_not_change_between_versions() {
    let text = "Earn Rs 5000 daily from home, join our WhatsApp group now: wa.me/919876543210 \
                @recruiter";
    assert_eq!(
        band_keys(text, 30, 4),
        Some(vec![
            14131642451119860561,
            320467672887315116,
            1843204240202188371,
            2770719463130039266
        ])
    );
}
