//! The glue behind [`crate::export_plugin!`]: the generated WIT bindings (wasm only) and the
//! conversions between them and the SDK's plain types.

#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code, missing_debug_implementations, missing_docs, clippy::all)]
pub mod wit {
    wit_bindgen::generate!({
        path: "../wit",
        world: "chowk:plugin/filter@0.3.0",
        // 0.3.0 uses the interfaces of 0.1.0 and 0.2.0: generate those too.
        generate_all,
        pub_export_macro: true,
        export_macro_name: "__export_filter",
        default_bindings_module: "::chowk_sdk::wit",
        runtime_path: "::chowk_sdk::__wit_bindgen::rt",
    });
}

/// Runtime support for the export macro. Not part of the public API.
#[doc(hidden)]
pub mod __rt {
    pub use crate::plugin::init_plugin as init;

    #[cfg(target_arch = "wasm32")]
    pub use wasm::*;

    #[cfg(target_arch = "wasm32")]
    mod wasm {
        use super::super::wit::chowk::plugin0_1_0::{clock, kv, log, types as w};
        use super::super::wit::chowk::plugin0_3_0::kv_batch as b;
        use crate::{Host, HostApi, Level, Message, Op, Outcome, Plugin, StateError, Verdict};

        /// The host as seen from inside a component: every call goes through the WIT imports.
        struct WasmHost;

        impl HostApi for WasmHost {
            fn kv_get(&self, key: &str) -> Result<Option<String>, StateError> {
                kv::get(key).map_err(StateError)
            }
            fn kv_set(
                &self,
                key: &str,
                value: &str,
                ttl_ms: Option<u64>,
            ) -> Result<(), StateError> {
                kv::set(key, value, ttl_ms).map_err(StateError)
            }
            fn kv_incr(
                &self,
                key: &str,
                delta: i64,
                ttl_ms: Option<u64>,
            ) -> Result<i64, StateError> {
                kv::incr(key, delta, ttl_ms).map_err(StateError)
            }
            fn kv_batch(&self, ops: &[Op]) -> Result<Vec<Outcome>, StateError> {
                let ops: Vec<b::Op> = ops
                    .iter()
                    .map(|op| match op {
                        Op::Get(key) => b::Op::Get(key.clone()),
                        Op::Set { key, value, ttl_ms } => b::Op::Set(b::SetOp {
                            key: key.clone(),
                            value: value.clone(),
                            ttl_ms: *ttl_ms,
                        }),
                        Op::Incr { key, delta, ttl_ms } => b::Op::Incr(b::IncrOp {
                            key: key.clone(),
                            delta: *delta,
                            ttl_ms: *ttl_ms,
                        }),
                    })
                    .collect();
                let outcomes = b::run(&ops).map_err(StateError)?;
                Ok(outcomes
                    .into_iter()
                    .map(|o| match o {
                        b::Outcome::Value(v) => Outcome::Value(v),
                        b::Outcome::Done => Outcome::Done,
                        b::Outcome::Count(n) => Outcome::Count(n),
                    })
                    .collect())
            }
            fn log(&self, level: Level, message: &str) {
                let level = match level {
                    Level::Trace => log::Level::Trace,
                    Level::Debug => log::Level::Debug,
                    Level::Info => log::Level::Info,
                    Level::Warn => log::Level::Warn,
                    Level::Error => log::Level::Error,
                };
                log::write(level, message)
            }
            fn now_ms(&self) -> u64 {
                clock::now_ms()
            }
        }

        /// Run `plugin.check` on a message coming from the host and convert the verdict back.
        pub fn check<P: Plugin>(plugin: &P, message: w::Message) -> w::Verdict {
            let message = Message {
                id: message.id,
                room: message.room,
                sender: message.sender,
                text: message.text,
                sent_at_ms: message.sent_at,
                metadata: message.metadata,
            };
            match plugin.check(&message, &Host::new(&WasmHost)) {
                Verdict::Allow => w::Verdict::Allow,
                Verdict::Score(hits) => w::Verdict::Score(
                    hits.into_iter()
                        .map(|h| w::Hit {
                            rule: h.rule,
                            points: h.points,
                            detail: h.detail,
                        })
                        .collect(),
                ),
                Verdict::Rewrite(r) => w::Verdict::Rewrite(w::Rewrite {
                    text: r.text,
                    rule: r.rule,
                    detail: r.detail,
                }),
                Verdict::Reject(r) => w::Verdict::Reject(w::Reject {
                    code: r.code,
                    reason: r.reason,
                    retry_after_ms: r.retry_after_ms,
                }),
            }
        }
    }
}

/// Export a [`crate::Plugin`] implementation as the component's `chowk:plugin/guest`.
///
/// On wasm targets this generates the component exports; natively it expands to nothing, so the
/// same crate can be unit-tested with [`crate::testing`].
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        #[allow(unsafe_code)]
        mod __chowk_plugin_export {
            #[allow(unused_imports)]
            use super::*;

            ::std::thread_local! {
                static PLUGIN: ::std::cell::OnceCell<$plugin> =
                    const { ::std::cell::OnceCell::new() };
            }

            struct Exports;

            impl $crate::wit::exports::chowk::plugin0_1_0::guest::Guest for Exports {
                fn init(
                    config: ::std::string::String,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    let plugin = $crate::__rt::init::<$plugin>(&config)?;
                    PLUGIN.with(|slot| {
                        slot.set(plugin)
                            .map_err(|_| ::std::string::String::from("init called twice"))
                    })
                }

                fn check(
                    message: $crate::wit::chowk::plugin0_1_0::types::Message,
                ) -> $crate::wit::chowk::plugin0_1_0::types::Verdict {
                    PLUGIN.with(|slot| match slot.get() {
                        ::std::option::Option::Some(plugin) => $crate::__rt::check(plugin, message),
                        ::std::option::Option::None => {
                            ::std::panic!("chowk: check called before init")
                        }
                    })
                }
            }

            $crate::wit::__export_filter!(Exports);
        }
    };
}
