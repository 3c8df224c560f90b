//! Derives the plugin contract the host implements from `wit/` itself: the package, the
//! interface every filter exports, and every interface a plugin may import (the world's
//! imports, with the ones they `use` elaborated by wit-parser). The contract check
//! (`src/plugins/runtime/contract.rs`) includes the result, so the list of allowed imports can
//! never drift from the world the bindings are generated from.

use std::fmt::Write as _;
use std::path::Path;

use wit_parser::{Resolve, WorldItem, WorldKey};

const WORLD: &str = "filter";

fn main() {
    let wit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
    println!("cargo:rerun-if-changed={}", wit.display());
    let mut resolve = Resolve::default();
    let (package, sources) = resolve
        .push_dir(&wit)
        .unwrap_or_else(|e| panic!("wit/ does not parse: {e:#}"));
    for path in sources.paths() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    let world = resolve
        .select_world(&[package], Some(WORLD))
        .unwrap_or_else(|e| panic!("wit/ has no world `{WORLD}`: {e:#}"));
    let interface_names = |items: &mut dyn Iterator<Item = (&WorldKey, &WorldItem)>| {
        let mut names: Vec<String> = items
            .filter_map(|(key, item)| match (key, item) {
                (WorldKey::Interface(id), WorldItem::Interface { .. }) => resolve.id_of(*id),
                _ => None,
            })
            .collect();
        names.sort();
        names
    };
    let world = &resolve.worlds[world];
    let imports = interface_names(&mut world.imports.iter());
    let exports = interface_names(&mut world.exports.iter());
    let package = &resolve.packages[package].name;
    let mut out = String::new();
    writeln!(
        out,
        "/// The WIT package this host implements (from `wit/`)."
    )
    .ok();
    writeln!(out, "pub const CONTRACT: &str = {:?};", package.to_string()).ok();
    writeln!(
        out,
        "/// What every plugin must export: world `{WORLD}`'s exports."
    )
    .ok();
    writeln!(out, "pub const GUEST_EXPORTS: &[&str] = &{exports:?};").ok();
    writeln!(
        out,
        "/// Everything a plugin may import: world `{WORLD}`'s imports."
    )
    .ok();
    writeln!(out, "pub const HOST_IMPORTS: &[&str] = &{imports:?};").ok();
    let dest = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("contract.rs");
    std::fs::write(&dest, out).expect("writing contract.rs");
}
