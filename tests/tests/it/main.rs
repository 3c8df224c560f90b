//! Chowk's integration tests: one test binary (linking wasmtime, axum, redis and NATS once
//! instead of once per file), one module per area. Every module starts the real processes it
//! needs (redis-server, Sentinel, nats-server, `chowk serve`) on free ports through
//! `chowk_tests::servers`; a missing binary fails the test with the install line.

mod api;
mod api_e2e;
mod assets;
mod bus;
mod chain;
mod connections;
mod failover;
mod first_hour;
mod fleet;
mod flood;
mod fuzz;
mod harness;
mod hostile;
mod isolation;
mod learning;
mod load;
mod manifests;
mod relay;
mod reliability;
mod reload;
mod schema;
mod serve;
mod shared_state;
mod store;
