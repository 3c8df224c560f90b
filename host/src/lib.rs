//! Chowk host: the server behind community chat, in which every message passes through a chain
//! of sandboxed WebAssembly plugins before it is stored and relayed.
//!
//! Today this crate holds the plugin system ([`plugins`]) and the clock it runs on ([`clock`]);
//! the HTTP API, storage and relay join it as their issues land (see ARCHITECTURE.md).

pub mod chat;
pub mod clock;
pub mod plugins;
pub mod relay;
pub mod store;
