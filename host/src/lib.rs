//! Chowk host: the server behind community chat, in which every message passes through a chain
//! of sandboxed WebAssembly plugins before it is stored and relayed. See ARCHITECTURE.md for the
//! code map and the path of a message.

pub mod auth;
pub mod chat;
pub mod clock;
pub mod config;
pub mod http;
pub mod metrics;
pub mod plugins;
pub mod relay;
pub mod server;
pub mod store;
