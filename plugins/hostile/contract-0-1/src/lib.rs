//! Test fixture: a plugin built against `chowk:plugin@0.1.0` directly from
//! `wit/deps/plugin-0.1.0/`, as every plugin was before the `assets` import. It scores the word
//! `legacy` and uses the 0.1.0 host imports (state and clock), so a test can prove that a host
//! implementing a later version (0.2.0, 0.3.0) still loads and runs it.

#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit/deps/plugin-0.1.0",
        world: "chowk:plugin/filter@0.1.0",
    });

    use chowk::plugin::types::{Hit, Message, Verdict};
    use chowk::plugin::{clock, kv};
    use exports::chowk::plugin::guest::Guest;

    struct Legacy;

    impl Guest for Legacy {
        fn init(_config: String) -> Result<(), String> {
            Ok(())
        }

        fn check(message: Message) -> Verdict {
            if !message.text.contains("legacy") {
                return Verdict::Allow;
            }
            let seen = kv::incr("seen", 1, None).unwrap_or(-1);
            Verdict::Score(vec![Hit {
                rule: "legacy".into(),
                points: 1.0,
                detail: format!("seen {seen} at {}", clock::now_ms() > 0),
            }])
        }
    }

    export!(Legacy);
}
