//! The spam tools as operators use them: `chowk train` writes a model only when it is not worse
//! on the held-out set, `chowk eval` reports rules by label and families and compares two
//! chains, and `chowk plugin check` starts plugins that read assets or were built against
//! contract 0.1.0.

use std::path::PathBuf;

use super::cli::{chowk, component, repo};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chowk-spam-tools-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn s(p: &std::path::Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn train_writes_a_better_model_and_refuses_a_worse_one_unless_forced() {
    let dir = scratch("train");
    let model = dir.join("model.bin");
    let sme = repo().join("corpus/sme/train.tsv");
    let heldout = repo().join("corpus/sme/heldout.tsv");
    let (ok, stdout, stderr) = chowk(
        &[
            "train",
            "--corpus",
            s(&sme),
            "--heldout",
            s(&heldout),
            "--out",
            s(&model),
        ],
        "",
    );
    assert!(ok, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("spam recall") && stdout.contains("wrote"),
        "{stdout}"
    );
    let good = std::fs::read(&model).expect("model written");

    // A model trained on four lines is worse on the held-out set: refused, file unchanged.
    let tiny = dir.join("tiny.tsv");
    std::fs::write(
        &tiny,
        "spam\twin a prize\nham\tok ji\nspam\tfree money\nham\trate kya hai\n",
    )
    .expect("write corpus");
    let (ok, stdout, _) = chowk(
        &[
            "train",
            "--corpus",
            s(&tiny),
            "--heldout",
            s(&heldout),
            "--out",
            s(&model),
        ],
        "",
    );
    assert!(!ok, "{stdout}");
    assert!(
        stdout.contains("refused: the new model is worse"),
        "{stdout}"
    );
    assert_eq!(std::fs::read(&model).expect("model"), good);

    let (ok, stdout, _) = chowk(
        &[
            "train",
            "--corpus",
            s(&tiny),
            "--heldout",
            s(&heldout),
            "--out",
            s(&model),
            "--force",
        ],
        "",
    );
    assert!(ok, "{stdout}");
    assert_ne!(std::fs::read(&model).expect("model"), good);

    let (ok, _, stderr) = chowk(
        &[
            "train",
            "--corpus",
            s(&tiny),
            "--algorithm",
            "svm",
            "--out",
            s(&model),
        ],
        "",
    );
    assert!(!ok);
    assert!(stderr.contains("--algorithm"), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn eval_reports_rules_by_label_families_and_differences_between_chains() {
    component("link-safety.wasm");
    let dir = scratch("eval");
    let corpus = dir.join("corpus.tsv");
    std::fs::write(
        &corpus,
        "label\tfamily\tlang\ttext\n\
         spam\tkyc\ten\tYour SBI account is blocked, update KYC at https://sbi-kyc-update.xyz/login\n\
         spam\tkyc\ten\tVerify at hdfcbank-secure.co today\n\
         ham\ttrade\ten\tPayment done on https://www.amazon.in/order, thanks ji\n",
    )
    .expect("write corpus");
    let links_only = dir.join("links.toml");
    let plugin = repo().join("target/plugins/link-safety.wasm");
    std::fs::write(
        &links_only,
        format!(
            "version = 1\n[chain]\nflag_at = 3.5\nreject_at = 8.0\n[[plugins]]\nname = \"link-safety\"\npath = {:?}\n\
             [[plugins.config.brands]]\nname = \"SBI\"\nwords = [\"sbi\"]\ndomains = [\"sbi.co.in\"]\n\
             [[plugins.config.brands]]\nname = \"HDFC Bank\"\nwords = [\"hdfcbank\"]\ndomains = [\"hdfcbank.com\"]\n",
            s(&plugin)
        ),
    )
    .expect("write chain");
    let empty = dir.join("empty.toml");
    std::fs::write(&empty, "version = 1\n").expect("write chain");
    let (ok, stdout, stderr) = chowk(
        &[
            "eval",
            "--plugins",
            s(&links_only),
            "--corpus",
            s(&corpus),
            "--compare",
            s(&empty),
            "--summary-only",
        ],
        "",
    );
    assert!(ok, "{stderr}");
    assert!(
        stdout.is_empty(),
        "--summary-only prints no decisions: {stdout}"
    );
    assert!(
        stderr.contains("spam caught (flag or reject): 2/2"),
        "{stderr}"
    );
    assert!(stderr.contains("ham flagged or rejected: 0/1"), "{stderr}");
    let rule_line = stderr
        .lines()
        .find(|l| l.trim_start().starts_with("impersonation"))
        .unwrap_or_else(|| panic!("no impersonation line in {stderr}"));
    assert!(
        rule_line.contains("2 spam") && rule_line.contains("0 ham"),
        "{rule_line}"
    );
    assert!(stderr.contains("caught by family"), "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.trim_start().starts_with("kyc") && l.contains("2/2")),
        "{stderr}"
    );
    assert!(stderr.contains("2 decisions differ with"), "{stderr}");
    assert!(
        stderr.contains("[spam]: Flag") && stderr.contains("-> Allow"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn plugin_check_starts_plugins_with_assets_and_plugins_built_for_0_1_0() {
    let classifier = component("classifier.wasm");
    let model = repo().join("models/sme.bin");
    let (ok, stdout, _) = chowk(&["plugin", "check", s(&classifier)], "");
    assert!(!ok, "{stdout}");
    assert!(stdout.contains("no asset \"model\""), "{stdout}");
    let (ok, stdout, _) = chowk(
        &[
            "plugin",
            "check",
            s(&classifier),
            "--asset",
            &format!("model={}", s(&model)),
        ],
        "",
    );
    assert!(ok, "{stdout}");
    assert!(stdout.contains("chowk:plugin/assets@0.2.0"), "{stdout}");

    let legacy = component("fixtures/contract-0-1.wasm");
    let (ok, stdout, _) = chowk(&["plugin", "check", s(&legacy)], "");
    assert!(ok, "{stdout}");
    assert!(
        stdout.contains("exports  chowk:plugin/guest@0.1.0"),
        "{stdout}"
    );
    assert!(!stdout.contains("assets"), "{stdout}");
}
