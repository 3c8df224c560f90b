//! Chowk host: the server behind community chat, in which every message passes through a chain
//! of sandboxed WebAssembly plugins before it is stored and relayed. See ARCHITECTURE.md for the
//! code map, the path of a message and the import rules between these layers (each layer may
//! import only the ones listed before it):
//!
//! - leaves: [`ids`], [`codes`], [`clock`]
//! - core: [`plugins`], [`store`], [`metrics`], [`chat`] — no HTTP, no NATS, no wire shapes
//! - shared by adapters: [`wire`] (JSON shapes), [`live`] (this host's live feed), [`bus`]
//!   (NATS plumbing), [`auth`] (bearer tokens)
//! - adapters: [`http`] and [`ingest`] (inbound, above chat), [`relay`] (outbound only)
//! - assembly: [`config`], [`server`]

pub mod clock;
pub mod codes;
pub mod ids;

pub mod chat;
pub mod metrics;
pub mod plugins;
pub mod store;

pub mod auth;
pub mod bus;
pub mod live;
pub mod wire;

pub mod http;
pub mod ingest;
pub mod relay;

pub mod config;
pub mod server;
