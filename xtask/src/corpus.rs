//! Evaluating a chain on a labelled corpus: builds the plugins and the host, then runs
//! `chowk eval --corpus`, which reads the TSV itself (`label<TAB>text`, or the SME corpus's
//! `label<TAB>family<TAB>lang<TAB>text`; `PATH:even`/`PATH:odd` for one half) and prints the
//! summary: recall, ham flagged, rules by label, families.

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use crate::{plugins, shell};

/// Build the plugins and the host, then run `chowk eval --corpus` over `corpus`.
pub fn run(root: &Path, corpus: &str, chain: &Path) -> Result<()> {
    let file = corpus
        .rsplit_once(':')
        .filter(|(_, half)| matches!(*half, "even" | "odd"))
        .map_or(corpus, |(path, _)| path);
    fs::metadata(file).with_context(|| {
        format!(
            "reading {file}: a labelled TSV corpus. The default is the SMS Spam Collection in \
             ../shared/corpus/ beside the repository; corpus/sme/heldout.tsv is the Indian SME \
             held-out set"
        )
    })?;
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
            .arg("--corpus")
            .arg(corpus)
            .stdout(results_file),
    )
}
