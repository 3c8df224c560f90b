//! The import rules of ARCHITECTURE.md ("Layers, and who may import whom"), checked against the
//! source: every `crate::<module>` a module of `host/src/` names (outside comments) must be one
//! it may import. A new arrow that points up or across the adapters fails here, naming the file.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const LEAVES: &[&str] = &["ids", "codes", "clock"];
const CORE: &[&str] = &["plugins", "store", "metrics", "chat"];
const SHARED: &[&str] = &["wire", "live", "bus", "auth"];

/// What each module may import, beside itself.
fn allowed(module: &str) -> Vec<&'static str> {
    let mut allowed: Vec<&'static str> = Vec::new();
    let mut add = |names: &[&'static str]| allowed.extend_from_slice(names);
    match module {
        "ids" | "codes" | "clock" => {}
        "plugins" => add(LEAVES),
        "store" | "metrics" => {
            add(LEAVES);
            add(&["plugins"]);
        }
        "chat" => {
            add(LEAVES);
            add(&["plugins", "store", "metrics"]);
        }
        "wire" | "bus" | "auth" => {
            add(LEAVES);
            add(CORE);
        }
        "live" => {
            add(LEAVES);
            add(CORE);
            add(&["wire"]);
        }
        // Inbound adapters and the outbound relay: the core and the shared modules, never
        // each other, never the assembly.
        "http" | "ingest" | "relay" => {
            add(LEAVES);
            add(CORE);
            add(SHARED);
        }
        "config" => {
            add(LEAVES);
            add(CORE);
            add(SHARED);
            add(&["http", "ingest", "relay"]);
        }
        "server" => {
            add(LEAVES);
            add(CORE);
            add(SHARED);
            add(&["http", "ingest", "relay", "config"]);
        }
        other => {
            panic!("host/src/{other} is not in the layer table: add it here and to ARCHITECTURE.md")
        }
    }
    allowed
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The crate-level modules a source text names as `crate::<name>` (or in a `crate::{a, b}`
/// group), comments left out. Text inside string literals is not code either: a `//` in a
/// URL string does not start a comment, and `crate::` in a string is not an import.
fn crate_paths(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let code = code_of(line);
        let mut rest = code.as_str();
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let group = rest
                .strip_prefix('{')
                .and_then(|g| g.split_once('}'))
                .map(|(inside, _)| inside);
            let candidates: Vec<&str> = match group {
                Some(inside) => inside.split(',').collect(),
                None => vec![rest],
            };
            for candidate in candidates {
                let name: String = candidate
                    .trim_start()
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    names.insert(name);
                }
            }
        }
    }
    names
}

/// `line` without its comment and without the contents of its string literals.
fn code_of(line: &str) -> String {
    let mut code = String::new();
    let mut in_string = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (in_string, c) {
            (true, '\\') => {
                chars.next();
            }
            (true, '"') => {
                in_string = false;
                code.push('"');
            }
            (true, _) => {}
            (false, '"') => {
                in_string = true;
                code.push('"');
            }
            (false, '/') if chars.peek() == Some(&'/') => break,
            (false, c) => code.push(c),
        }
    }
    code
}

#[test]
fn modules_import_only_what_their_layer_allows() {
    let root = src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut violations = Vec::new();
    let mut seen = BTreeSet::new();
    for file in &files {
        let relative = file.strip_prefix(&root).expect("under src");
        let module = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .map(|s| s.trim_end_matches(".rs").to_owned())
            .expect("a module name");
        // The binary (`main.rs`, `cli/`) assembles everything; `lib.rs` declares the modules.
        if matches!(module.as_str(), "main" | "cli" | "lib") {
            continue;
        }
        seen.insert(module.clone());
        let allowed = allowed(&module);
        let text = std::fs::read_to_string(file).expect("readable source");
        for name in crate_paths(&text) {
            if name != module && !allowed.contains(&name.as_str()) {
                violations.push(format!("{} imports crate::{name}", relative.display()));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports against the layer rules of ARCHITECTURE.md:\n{}",
        violations.join("\n")
    );
    for module in [
        "chat", "http", "relay", "ingest", "wire", "store", "plugins",
    ] {
        assert!(seen.contains(module), "no source found for {module}");
    }
}

#[test]
fn the_checker_sees_imports_and_skips_comments_and_strings() {
    let names = crate_paths(
        "use crate::chat::Chat;\n// use crate::http::x;\nlet x = crate::store::Store::open(); // crate::relay\n\
         use crate::{ids::RoomId, wire};\nlet u = \"http://x\"; let y = crate::live::f();\n\
         let s = \"crate::server\";\n",
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["chat", "ids", "live", "store", "wire"].map(String::from)
    );
}
