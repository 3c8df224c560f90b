//! Test fixture: a plugin built against `chowk:plugin@0.2.0` (from `wit/deps/plugin-0.2.0/`),
//! as every plugin was before the `kv-batch` import. It scores the word `assets` with the size
//! of its asset `model` and a count kept in state, so a test can prove that a host
//! implementing 0.3.0 still loads and runs it, assets and state included.

#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "chowk:plugin/filter@0.2.0",
        generate_all,
    });

    use chowk::plugin0_1_0::kv;
    use chowk::plugin0_1_0::types::{Hit, Message, Verdict};
    use chowk::plugin0_2_0::assets;
    use exports::chowk::plugin0_1_0::guest::Guest;

    struct TwoPointZero;

    impl Guest for TwoPointZero {
        fn init(_config: String) -> Result<(), String> {
            Ok(())
        }

        fn check(message: Message) -> Verdict {
            if !message.text.contains("assets") {
                return Verdict::Allow;
            }
            let seen = kv::incr("seen", 1, None).unwrap_or(-1);
            let bytes = assets::read("model").map_or(0, |b| b.len());
            Verdict::Score(vec![Hit {
                rule: "assets".into(),
                points: 1.0,
                detail: format!("seen {seen}, model of {bytes} bytes"),
            }])
        }
    }

    export!(TwoPointZero);
}
