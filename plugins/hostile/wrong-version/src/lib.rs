//! Test fixture: a plugin built against `chowk:plugin@0.9.0`, a contract version the host does
//! not support. The host must refuse it and name both versions.

#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({ path: "wit", world: "chowk:plugin/filter@0.9.0" });

    use chowk::plugin::types::{Message, Verdict};
    use exports::chowk::plugin::guest::Guest;

    struct Future;

    impl Guest for Future {
        fn init(_config: String) -> Result<(), String> {
            Ok(())
        }
        fn check(_message: Message) -> Verdict {
            Verdict::Allow
        }
    }

    export!(Future);
}
