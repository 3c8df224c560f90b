//! Evaluating a chain on a labelled corpus: converts `label<TAB>text` lines to the JSON lines
//! `chowk eval` reads, runs it, and lets `chowk eval` print the confusion summary.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use crate::{plugins, shell};

/// Build the plugins and the host, then run `chowk eval` over the corpus.
pub fn run(root: &Path, tsv: &Path, chain: &Path) -> Result<()> {
    let text = fs::read_to_string(tsv).with_context(|| {
        format!(
            "reading {}: a `label<TAB>text` corpus (first line a header, labels ham/spam). The \
             default is the SMS Spam Collection in ../shared/corpus/ beside the repository; pass \
             another file as the argument",
            tsv.display()
        )
    })?;
    let mut jsonl = String::new();
    for line in text.lines().skip(1) {
        let Some((label, body)) = line.split_once('\t') else {
            continue;
        };
        let label = if label == "spam" { "spam" } else { "ham" };
        writeln!(jsonl, "{}", serde_json_line(label, body))?;
    }
    let out = root.join("target/corpus.jsonl");
    fs::write(&out, jsonl)?;
    plugins::build(root)?;
    shell::cargo(&["build", "--release", "--locked", "-p", "chowk-host"])?;
    let results = root.join("target/corpus-results.jsonl");
    let results_file = fs::File::create(&results)?;
    eprintln!("writing per-message results to {}", results.display());
    shell::run(
        Command::new(root.join("target/release/chowk"))
            .arg("eval")
            .arg("--plugins")
            .arg(chain)
            .arg("--input")
            .arg(&out)
            .stdout(results_file),
    )
}

/// One `chowk eval` input line.
fn serde_json_line(label: &str, text: &str) -> String {
    serde_json::json!({"text": text, "label": label}).to_string()
}
