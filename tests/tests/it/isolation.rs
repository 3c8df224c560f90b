//! What a plugin can carry between rooms (issue 12, item 7), with real components: by default
//! a plugin's instances and key-value state span every room it applies to; with
//! `isolation = "room"` an instance serves one room and state is namespaced per room. Rewrites
//! obey the rules of posts. (That plugins' details reach only moderators is checked over the
//! API in `api::plugin_details_reach_only_moderators`.)

use chowk_host::plugins::{Action, RunOutcome};
use chowk_tests::{msg, World};

/// The `misbehave` fixture doing `on_check`, with `extra` manifest lines.
fn misbehave(world: &World, on_check: &str, extra: &str) -> chowk_host::plugins::Chain {
    world.chain(&format!(
        r#"
version = 1
[[plugins]]
name = "misbehave"
path = "fixtures/misbehave.wasm"
instances = 4
{extra}
config = {{ on_check = "{on_check}" }}
"#
    ))
}

fn detail(chain: &chowk_host::plugins::Chain, room: &str, text: &str) -> String {
    let d = chain.evaluate(&msg(text, "asha", room));
    d.reasons
        .iter()
        .find(|r| r.plugin == "misbehave")
        .map(|r| r.detail.clone())
        .unwrap_or_else(|| panic!("no detail: {d:?}"))
}

#[test]
fn a_plugin_isolated_per_room_remembers_nothing_of_other_rooms() {
    let world = World::default();
    // The default model: one pool of instances for every room, so guest memory crosses rooms.
    let shared = misbehave(&world, "remember", "");
    detail(&shared, "traders", "members-only price list");
    assert_eq!(
        detail(&shared, "lobby", "hello"),
        "previously traders: members-only price list"
    );

    let isolated = misbehave(&world, "remember", "isolation = \"room\"");
    assert_eq!(
        detail(&isolated, "traders", "members-only price list"),
        "nothing before"
    );
    assert_eq!(detail(&isolated, "lobby", "hello"), "nothing before");
    assert_eq!(
        detail(&isolated, "traders", "next"),
        "previously traders: members-only price list",
        "an instance stays with its room"
    );
}

/// The shipped rate limiter with a per-sender limit of one message.
fn one_message_per_sender(world: &World, extra: &str) -> chowk_host::plugins::Chain {
    world.chain(&format!(
        r#"
version = 1
[[plugins]]
name = "rate-limit"
path = "rate-limit.wasm"
{extra}
config = {{ per_sender = {{ max = 1, window_ms = 60000 }} }}
"#
    ))
}

#[test]
fn state_isolated_per_room_is_counted_per_room() {
    let world = World::default();
    let shared = one_message_per_sender(&world, "");
    let action = |chain: &chowk_host::plugins::Chain, room: &str| {
        chain.evaluate(&msg("hello", "ravi", room)).action
    };
    assert_eq!(action(&shared, "traders"), Action::Allow);
    assert_eq!(
        action(&shared, "lobby"),
        Action::Reject,
        "one count for all rooms"
    );

    let world = World::default();
    let isolated = one_message_per_sender(&world, "isolation = \"room\"");
    assert_eq!(action(&isolated, "traders"), Action::Allow);
    assert_eq!(action(&isolated, "traders"), Action::Reject);
    assert_eq!(
        action(&isolated, "lobby"),
        Action::Allow,
        "a count per room"
    );
}

#[test]
fn a_rewrite_no_post_could_be_is_the_plugins_failure() {
    let world = World::default();
    for (behaviour, expected) in [
        ("rewrite_empty", "must not be empty"),
        ("rewrite_long", "at most 4000 characters"),
    ] {
        for policy in ["allow", "reject"] {
            let chain = misbehave(&world, behaviour, &format!("on_error = \"{policy}\""));
            let d = chain.evaluate(&msg("fresh mangoes", "asha", "lobby"));
            let run = &d.trace[0];
            assert_eq!(run.outcome, RunOutcome::Error, "{behaviour}: {d:?}");
            let error = run.error.as_deref().unwrap_or_default();
            assert!(error.contains(expected), "{behaviour}: {error}");
            assert_eq!(d.text, "fresh mangoes", "the bad rewrite is not applied");
            let expected_action = if policy == "allow" {
                Action::Allow
            } else {
                Action::Reject
            };
            assert_eq!(d.action, expected_action, "{behaviour}, {policy}: {d:?}");
        }
    }
}
