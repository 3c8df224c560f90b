//! Chowk's benchmarks in one binary (one link, one plugin engine): the plugin chain as wasm
//! against the same plugins compiled natively (and how fast a looping plugin is stopped), the
//! store against bare
//! Redis commands, the relay against a bare NATS publish, the HTTP request path against an
//! empty round trip, hot reload through the watcher against a direct reload, and the memory an
//! idle connection costs against a bare axum server's. Each runs its
//! baseline in the same run against real `redis-server` and `nats-server` processes started on
//! free ports.
//!
//! `cargo bench -p chowk-tests --bench system` runs them all (or `cargo xtask bench`);
//! `cargo bench -p chowk-tests --bench system -- api` runs those whose name contains `api`
//! (the same filter selects criterion's `api/...` measurements). Under `cargo test` each runs a
//! few iterations as a smoke test.

mod api;
mod chain;
mod connections;
mod relay;
mod reload;
mod store;

type Bench = (&'static str, fn(bool));

const BENCHES: [Bench; 6] = [
    ("chain", chain::run),
    ("store", store::run),
    ("relay", relay::run),
    ("api", api::run),
    ("reload", reload::run),
    ("connections", connections::run),
];

/// Criterion's options that take a value (the value is not a filter).
const VALUED: [&str; 14] = [
    "--save-baseline",
    "--baseline",
    "--baseline-lenient",
    "--load-baseline",
    "--sample-size",
    "--warm-up-time",
    "--measurement-time",
    "--nresamples",
    "--noise-threshold",
    "--confidence-level",
    "--significance-level",
    "--profile-time",
    "--output-format",
    "--color",
];

/// The positional filter, skipping the values of criterion's options.
fn filter(args: &[String]) -> Option<&String> {
    let mut previous: Option<&str> = None;
    for arg in args {
        let is_value = previous.is_some_and(|p| VALUED.contains(&p));
        if !arg.starts_with('-') && !is_value {
            return Some(arg);
        }
        previous = Some(arg);
    }
    None
}

fn main() {
    if let Ok(kind) = std::env::var(connections::PROBE) {
        connections::probe(&kind);
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let benching = args.iter().any(|a| a == "--bench");
    let filter = filter(&args);
    for (name, run) in BENCHES {
        if filter.is_none_or(|f| name.contains(f.as_str()) || f.starts_with(name)) {
            run(benching);
        }
    }
}
