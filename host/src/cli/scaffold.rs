//! `chowk plugin new NAME`: a working Rust plugin crate in the plugins workspace — source with
//! a typed config, native tests, a README and the `plugins.toml` snippet — that builds with
//! `cargo xtask plugins` (which adds it to the workspace) and passes `chowk plugin check` as
//! generated.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use chowk_host::ids::is_valid_name;

/// Write the crate `dir/name` and print what to do next.
pub fn new_plugin(name: &str, dir: &Path) -> Result<ExitCode> {
    if !is_valid_name(name) || !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        bail!("{name:?} is not a plugin name: start with a letter, then use a-z, 0-9, _ and - (64 at most; it is also the crate's and the component's name)");
    }
    let root = dir.join(name);
    if root.exists() {
        bail!("{} exists already", root.display());
    }
    // `my-filter` → `MyFilterPlugin`: the suffix keeps it clear of the template's own names
    // (`Config`, `Host`, `Message`, ...).
    let type_name: String = name
        .split(['-', '_'])
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .chain(["Plugin".to_owned()])
        .collect();
    let files: [(PathBuf, String); 3] = [
        (root.join("Cargo.toml"), cargo_toml(name)),
        (root.join("src/lib.rs"), lib_rs(name, &type_name)),
        (root.join("README.md"), readme(name)),
    ];
    for (path, text) in &files {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    println!(
        "\nNext:\n  cargo xtask plugins                      # builds target/plugins/{name}.wasm\
         \n  chowk plugin check target/plugins/{name}.wasm\
         \n  cargo test --manifest-path plugins/Cargo.toml -p {name}\
         \n\nThen add it to plugins.toml:\n\n{}",
        manifest_snippet(name)
    );
    Ok(ExitCode::SUCCESS)
}

/// The `[[plugins]]` entry for the new plugin.
pub fn manifest_snippet(name: &str) -> String {
    format!(
        "[[plugins]]\nname = \"{name}\"\npath = \"target/plugins/{name}.wasm\"\non_error = \"allow\"\n\n\
         [plugins.config]\nwords = [\"lottery\", \"jackpot\"]\npoints = 2.0\n"
    )
}

fn cargo_toml(name: &str) -> String {
    format!(
        r#"[package]
name = "{name}"
version.workspace = true
edition.workspace = true
license.workspace = true
publish.workspace = true

[lib]
# cdylib: the wasm component; rlib: the native tests.
crate-type = ["cdylib", "rlib"]

[dependencies]
chowk-sdk.workspace = true
serde.workspace = true

[dev-dependencies]
serde_json.workspace = true

[lints]
workspace = true
"#
    )
}

fn lib_rs(name: &str, type_name: &str) -> String {
    format!(
        r#"//! `{name}`: scores messages that contain any of the configured words (whole words). A starting point:
//! change `Config` and `check`, keep the tests passing, and rebuild with `cargo xtask plugins`.

use chowk_sdk::{{export_plugin, Hit, Host, Message, Plugin, Verdict}};
use serde::Deserialize;

/// The plugin's `[plugins.config]` table in `plugins.toml`.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {{
    /// Words that count against a message (whole words, any case). For evasions (accents,
    /// look-alike letters, leetspeak) see `chowk_sdk::text::FoldedText`.
    pub words: Vec<String>,
    /// Points each matching word adds.
    pub points: f64,
}}

impl Default for Config {{
    fn default() -> Self {{
        Config {{
            words: vec!["lottery".into()],
            points: 2.0,
        }}
    }}
}}

/// The plugin.
#[derive(Debug)]
pub struct {type_name} {{
    /// The words, lower-cased.
    words: Vec<String>,
    points: f64,
}}

impl Plugin for {type_name} {{
    type Config = Config;

    fn new(config: Config) -> Result<Self, String> {{
        if config.points.is_nan() {{
            return Err("points must be a number".into());
        }}
        Ok({type_name} {{
            words: config.words.iter().map(|w| w.to_lowercase()).collect(),
            points: config.points,
        }})
    }}

    fn check(&self, message: &Message, _host: &Host<'_>) -> Verdict {{
        let text = message.text.to_lowercase();
        let words: Vec<&str> = text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        let hits = self
            .words
            .iter()
            .filter(|w| words.contains(&w.as_str()))
            .map(|w| Hit::new("word", self.points, w.clone()))
            .collect();
        Verdict::from_hits(hits)
    }}
}}

export_plugin!({type_name});

#[cfg(test)]
mod tests {{
    use super::*;
    use chowk_sdk::testing::TestPlugin;

    #[test]
    fn scores_configured_words_and_lets_the_rest_pass() {{
        let plugin = TestPlugin::<{type_name}>::new(serde_json::json!({{"words": ["jackpot"], "points": 3.0}}))
            .expect("config is valid");
        assert_eq!(plugin.check_text("You won the JACKPOT!").points(), 3.0);
        assert!(plugin.check_text("Fresh mangoes today").is_allow());
    }}

    #[test]
    fn a_bad_config_is_refused() {{
        assert!(TestPlugin::<{type_name}>::new(serde_json::json!({{"points": "many"}})).is_err());
    }}
}}
"#
    )
}

fn readme(name: &str) -> String {
    format!(
        "# {name}\n\nScores messages that contain any of the configured words.\n\n\
         - Build: `cargo xtask plugins` (writes `target/plugins/{name}.wasm`).\n\
         - Check: `chowk plugin check target/plugins/{name}.wasm`.\n\
         - Test: `cargo test --manifest-path plugins/Cargo.toml -p {name}`.\n\n\
         ## Config\n\n```toml\n{}```\n",
        manifest_snippet(name)
    )
}
