//! Every file in `tests/manifests/invalid/` is refused with the error its first line expects
//! (`# expect: <text>`), and the shipped `plugins.toml` is valid.

use chowk_host::plugins::Manifest;

#[test]
fn invalid_manifests_are_refused_with_their_expected_errors() {
    let dir = chowk_tests::repo_root().join("tests/manifests/invalid");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("invalid examples folder") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("readable");
        let expected = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} must start with `# expect: `", path.display()));
        let err = Manifest::parse(&text)
            .expect_err(&format!("{} should be refused", path.display()))
            .to_string();
        assert!(
            err.contains(expected),
            "{}:\n  expected: {expected}\n  got:      {err}",
            path.display()
        );
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} examples found");
}

#[test]
fn the_shipped_manifest_is_valid() {
    let m = Manifest::load(&chowk_tests::repo_root().join("plugins.toml")).expect("valid");
    let names: Vec<&str> = m.plugins.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "rate-limit",
            "keyword-filter",
            "link-safety",
            "spam-rules",
            "classifier",
            "broadcast"
        ]
    );
    let classifier = &m.plugins[4];
    let model = chowk_tests::repo_root().join(&classifier.assets["model"]);
    assert!(
        model.is_file(),
        "the shipped model {} is in the repository",
        model.display()
    );
}
