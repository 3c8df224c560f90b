//! Hostile plugins are contained: loops, memory bombs, deep recursion, panics, wrong contract
//! versions and WASI imports never take the host down; the configured policy applies and the
//! failure is visible in the decision trace.

use std::sync::Arc;

use chowk_host::plugins::chain::PluginLoadError;
use chowk_host::plugins::{Action, ContractError, LoadError, RunOutcome};
use chowk_tests::{text, World};

/// A chain of the `misbehave` fixture (configured by `config`) followed by a keyword filter,
/// so each test can check that the chain still works after the fixture fails.
fn chain_with(world: &World, config: &str, policy: &str) -> chowk_host::plugins::Chain {
    world.chain(&format!(
        r#"
version = 1
[[plugins]]
name = "misbehave"
path = "fixtures/misbehave.wasm"
on_error = "{policy}"
deadline_ms = 50
memory_mb = 8
breaker = {{ failures = 3, window_ms = 60000, cooldown_ms = 1000 }}
config = {config}

[[plugins]]
name = "keyword-filter"
path = "keyword-filter.wasm"
[[plugins.config.lists]]
name = "l"
action = "reject"
terms = ["blocked"]
"#
    ))
}

fn assert_contained(world: &World, behaviour: &str, expected: &str) {
    for policy in ["allow", "reject"] {
        let config = format!("{{ on_check = \"{behaviour}\", when_text = \"boom\" }}");
        let chain = chain_with(world, &config, policy);
        let d = chain.evaluate(&text("boom"));
        let run = &d.trace[0];
        assert_eq!(run.outcome, RunOutcome::Error, "{behaviour}: {d:?}");
        let error = run.error.as_deref().unwrap_or_default();
        assert!(
            error.contains(expected),
            "{behaviour}: trace says {error:?}, expected {expected:?}"
        );
        assert!(
            d.reasons
                .iter()
                .any(|r| r.rule.starts_with("plugin_error:")),
            "{d:?}"
        );
        if policy == "allow" {
            assert_eq!(d.action, Action::Allow, "fail-open: {d:?}");
            assert_eq!(d.trace.len(), 2, "the next plugin still ran");
        } else {
            assert_eq!(d.action, Action::Reject, "fail-closed: {d:?}");
            let r = d.rejection.as_ref().expect("rejection");
            assert_eq!(
                (r.plugin.as_str(), r.code.as_str()),
                ("misbehave", "plugin_error")
            );
        }
        // The same plugin keeps serving: a fresh instance replaces the broken one.
        let after = chain.evaluate(&text("fine"));
        assert_eq!(
            after.action,
            Action::Allow,
            "{behaviour}: host keeps answering: {after:?}"
        );
        assert_eq!(after.trace[0].outcome, RunOutcome::Allow);
        assert_eq!(
            chain.evaluate(&text("blocked")).action,
            Action::Reject,
            "rest of chain works"
        );
    }
}

#[test]
fn infinite_loop_times_out() {
    assert_contained(&World::default(), "loop", "timed out after 50 ms");
}

#[test]
fn memory_bomb_hits_the_cap() {
    assert_contained(&World::default(), "memory", "memory cap of 8 MiB");
}

#[test]
fn deep_recursion_overflows_the_stack() {
    assert_contained(&World::default(), "recurse", "stack overflow");
}

#[test]
fn panic_traps() {
    assert_contained(&World::default(), "panic", "trapped");
}

#[test]
fn a_plugin_without_wasi_cannot_read_files_or_environment() {
    let world = World::default();
    for behaviour in ["read_file", "env"] {
        let chain = chain_with(
            &world,
            &format!("{{ on_check = \"{behaviour}\" }}"),
            "allow",
        );
        let d = chain.evaluate(&text("anything"));
        assert_eq!(d.trace[0].outcome, RunOutcome::Score, "{d:?}");
        let detail = &d.reasons[0].detail;
        assert!(
            detail.starts_with("no file access") || detail.starts_with("no environment"),
            "{behaviour}: the plugin saw {detail:?}"
        );
    }
}

#[test]
fn repeated_failures_disable_the_plugin_until_the_cooldown() {
    let world = World::default();
    let chain = chain_with(
        &world,
        "{ on_check = \"panic\", when_text = \"boom\" }",
        "allow",
    );
    for _ in 0..3 {
        assert_eq!(
            chain.evaluate(&text("boom")).trace[0].outcome,
            RunOutcome::Error
        );
    }
    let d = chain.evaluate(&text("boom"));
    assert_eq!(d.trace[0].outcome, RunOutcome::Disabled, "{d:?}");
    assert_eq!(d.action, Action::Allow, "fail-open while disabled");
    let status = &chain.status()[0];
    assert_eq!(
        (status.breaker.state, status.breaker.trips),
        ("disabled", 1)
    );
    assert_eq!((status.calls, status.failures), (3, 3));

    world.clock.advance_ms(1_001);
    let probe = chain.evaluate(&text("ok now"));
    assert_eq!(
        probe.trace[0].outcome,
        RunOutcome::Allow,
        "probe after cooldown: {probe:?}"
    );
    assert_eq!(chain.status()[0].breaker.state, "active");
}

#[test]
fn init_failures_refuse_the_plugin_with_its_own_message() {
    let world = World::default();
    let bad_config = world
        .try_chain(
            "version = 1\n[[plugins]]\nname = \"m\"\npath = \"fixtures/misbehave.wasm\"\nconfig = { on_check = \"dance\" }\n",
            1,
        )
        .expect_err("bad config");
    let text = bad_config.to_string();
    assert!(
        text.contains("plugin \"m\"") && text.contains("unknown variant `dance`"),
        "{text}"
    );

    for (behaviour, kind) in [
        ("panic", "trap"),
        ("loop", "timeout"),
        ("memory", "memory_limit"),
    ] {
        let err = world
            .try_chain(
                &format!("version = 1\n[[plugins]]\nname = \"m\"\npath = \"fixtures/misbehave.wasm\"\ninit_deadline_ms = 1000\nmemory_mb = 8\nconfig = {{ on_init = \"{behaviour}\" }}\n"),
                1,
            )
            .expect_err("init fails");
        match err {
            LoadError::Plugin {
                reason: PluginLoadError::Start(f),
                ..
            } => assert_eq!(f.kind(), kind, "{f}"),
            other => panic!("{behaviour}: unexpected {other}"),
        }
    }
}

#[test]
fn wrong_contract_version_is_refused_naming_both_versions() {
    let err = World::default()
        .try_chain(
            "version = 1\n[[plugins]]\nname = \"w\"\npath = \"fixtures/wrong-version.wasm\"\n",
            1,
        )
        .expect_err("refused");
    match &err {
        LoadError::Plugin {
            reason: PluginLoadError::Contract(ContractError::Version { expected, found }),
            ..
        } => {
            assert_eq!(expected, "chowk:plugin@0.3.0");
            assert_eq!(found, "chowk:plugin@0.9.0");
        }
        other => panic!("unexpected {other}"),
    }
    let text = err.to_string();
    assert!(text.contains("0.9.0") && text.contains("0.3.0"), "{text}");
}

#[test]
fn wasi_imports_are_refused_naming_them() {
    let err = World::default()
        .try_chain(
            "version = 1\n[[plugins]]\nname = \"w\"\npath = \"fixtures/misbehave-wasi.wasm\"\n",
            1,
        )
        .expect_err("refused");
    match &err {
        LoadError::Plugin {
            reason: PluginLoadError::Contract(ContractError::ForbiddenImports { imports }),
            ..
        } => {
            assert!(
                imports.iter().any(|i| i.starts_with("wasi:filesystem/")),
                "{imports:?}"
            );
            assert!(
                imports.iter().all(|i| !i.starts_with("chowk:")),
                "{imports:?}"
            );
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn garbage_bytes_are_not_a_component() {
    let dir = std::env::temp_dir().join(format!("chowk-garbage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    std::fs::write(dir.join("junk.wasm"), b"\0asm garbage").expect("write");
    let err = World::default()
        .try_chain(
            &format!(
                "version = 1\n[[plugins]]\nname = \"j\"\npath = \"{}\"\n",
                dir.join("junk.wasm").display()
            ),
            1,
        )
        .expect_err("refused");
    assert!(
        matches!(
            err,
            LoadError::Plugin {
                reason: PluginLoadError::Compile(_),
                ..
            }
        ),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn concurrent_callers_share_the_pool_safely() {
    let world = World::default();
    let chain = Arc::new(chain_with(
        &world,
        "{ on_check = \"panic\", when_text = \"boom\" }",
        "allow",
    ));
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let chain = chain.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    let text = if (t + i) % 25 == 0 { "boom" } else { "fine" };
                    let d = chain.evaluate(&chowk_tests::text(text));
                    assert_eq!(d.action, Action::Allow);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("no panics");
    }
    let status = &chain.status()[0];
    assert!(
        status.failures >= 1,
        "the failing calls were counted: {status:?}"
    );
}
