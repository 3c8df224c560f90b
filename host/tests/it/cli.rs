//! The `chowk` binary as plugin authors and moderators use it: `chowk eval` and
//! `chowk plugin check`, run against the real built components.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_owned()
}

pub(crate) fn component(rel: &str) -> PathBuf {
    let path = repo().join("target/plugins").join(rel);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo xtask plugins` first",
        path.display()
    );
    path
}

pub(crate) fn chowk(args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chowk"))
        .args(args)
        .current_dir(repo())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chowk starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("chowk finishes");
    (
        out.status.success(),
        String::from_utf8(out.stdout).expect("utf-8 stdout"),
        String::from_utf8(out.stderr).expect("utf-8 stderr"),
    )
}

#[test]
fn eval_writes_one_decision_per_line_and_a_summary() {
    component("spam-rules.wasm");
    let input = [
        r#"{"text": "Namaste ji, kal delivery ho jayegi", "label": "ham"}"#,
        r#"{"text": "WINNER!! You have won a £1000 cash prize. Txt CLAIM to 80086 now, 150p/msg", "sender": "s1", "room": "lobby", "label": "spam"}"#,
        r#"{"text": "you chutiya"}"#,
        r#"{"text": "you idiot"}"#,
        r#"not json"#,
        r#"{"text": "x", "colour": "red"}"#,
    ]
    .join("\n");
    let (ok, stdout, stderr) = chowk(&["eval", "--plugins", "plugins.toml"], &input);
    assert!(ok, "{stderr}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("each output line is JSON"))
        .collect();
    assert_eq!(lines.len(), 6, "{stdout}");
    assert_eq!(lines[0]["action"], "allow");
    assert_eq!(lines[1]["action"], "reject");
    assert_eq!(lines[1]["code"], "spam_score");
    assert!(lines[1]["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .any(|r| r["rule"] == "prize_words"));
    assert_eq!(lines[2]["code"], "blocked_keyword");
    assert_eq!(lines[3]["action"], "rewrite");
    assert_eq!(lines[3]["text"], "you *****");
    assert!(lines[4]["error"]
        .as_str()
        .expect("error")
        .contains("line 5"));
    assert!(lines[5]["error"]
        .as_str()
        .expect("error")
        .contains("unknown field `colour`"));
    assert!(
        stderr.contains("6 lines: 1 allow, 1 rewrite, 0 flag, 2 reject, 2 malformed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("spam caught (flag or reject): 1/1"),
        "{stderr}"
    );
    assert!(stderr.contains("ham flagged or rejected: 0/1"), "{stderr}");
}

#[test]
fn eval_reports_a_bad_chain_and_fails() {
    let dir = std::env::temp_dir().join(format!("chowk-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let manifest = dir.join("plugins.toml");
    std::fs::write(
        &manifest,
        "version = 1\n[[plugins]]\nname = \"x\"\npath = \"nope.wasm\"\n",
    )
    .expect("write");
    let (ok, _, stderr) = chowk(
        &["eval", "--plugins", manifest.to_str().expect("utf-8")],
        "",
    );
    assert!(!ok);
    assert!(
        stderr.contains("plugin \"x\": cannot read") && stderr.contains("nope.wasm"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn plugin_check_accepts_a_filter_and_refuses_foreign_components() {
    let good = component("rate-limit.wasm");
    let (ok, stdout, _) = chowk(&["plugin", "check", good.to_str().expect("utf-8")], "");
    assert!(ok, "{stdout}");
    assert!(
        stdout.contains("ok, a chowk:plugin@0.3.0 filter"),
        "{stdout}"
    );
    assert!(
        stdout.contains("exports  chowk:plugin/guest@0.1.0"),
        "{stdout}"
    );

    let wasi = component("fixtures/misbehave-wasi.wasm");
    let (ok, stdout, _) = chowk(&["plugin", "check", wasi.to_str().expect("utf-8")], "");
    assert!(!ok);
    assert!(
        stdout.contains("refused") && stdout.contains("wasi:filesystem"),
        "{stdout}"
    );

    let old = component("fixtures/wrong-version.wasm");
    let (ok, stdout, _) = chowk(&["plugin", "check", old.to_str().expect("utf-8")], "");
    assert!(!ok);
    assert!(
        stdout.contains("built against chowk:plugin@0.9.0"),
        "{stdout}"
    );

    let (ok, stdout, _) = chowk(
        &[
            "plugin",
            "check",
            good.to_str().expect("utf-8"),
            "--config",
            r#"{"lists": 3}"#,
        ],
        "",
    );
    assert!(!ok);
    assert!(
        stdout.contains("init refused the config: invalid config"),
        "{stdout}"
    );
}
