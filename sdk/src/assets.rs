//! The plugin's assets: read-only files the operator attached to it in `plugins.toml`
//! (`assets = { model = "models/sme.bin" }`). Read them in [`crate::Plugin::new`]; a changed
//! asset reloads the chain, so a new instance reads the new bytes.

#[cfg(not(target_arch = "wasm32"))]
use std::cell::RefCell;
#[cfg(not(target_arch = "wasm32"))]
use std::collections::BTreeMap;

/// The bytes of this plugin's asset `name`, or `None` if the manifest names no such asset.
pub fn read(name: &str) -> Option<Vec<u8>> {
    #[cfg(target_arch = "wasm32")]
    {
        crate::wit::chowk::plugin0_2_0::assets::read(name)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        NATIVE.with(|a| a.borrow().get(name).cloned())
    }
}

#[cfg(not(target_arch = "wasm32"))]
thread_local! {
    /// Natively, the assets [`crate::testing::TestPlugin::with_assets`] provides.
    static NATIVE: RefCell<BTreeMap<String, Vec<u8>>> = RefCell::default();
}

/// Natively: run `f` with `assets` readable through [`read`] (what the test harness does
/// around `Plugin::new`).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn with_native<T>(assets: BTreeMap<String, Vec<u8>>, f: impl FnOnce() -> T) -> T {
    let previous = NATIVE.with(|a| a.replace(assets));
    let out = f();
    NATIVE.with(|a| a.replace(previous));
    out
}
