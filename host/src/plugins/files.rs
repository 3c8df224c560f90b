//! The bytes a plugin is built from: its component and its assets, read from the files a
//! manifest names (or handed over by a fleet's object store), with the asset size limit.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::chain::PluginLoadError;
use super::manifest::{Manifest, PluginSpec, MAX_ASSET_BYTES};
pub use super::runtime::Assets;

/// One plugin's component and assets.
#[derive(Debug, Clone, Default)]
pub struct PluginFiles {
    /// The component's bytes.
    pub component: Arc<Vec<u8>>,
    /// The assets' bytes, by asset name.
    pub assets: Assets,
}

impl PluginFiles {
    /// Read a plugin's component and assets, paths relative to `base` (the manifest's folder).
    pub fn read(base: &Path, spec: &PluginSpec) -> Result<PluginFiles, PluginLoadError> {
        let path = Manifest::component_path(base, spec);
        let component =
            std::fs::read(&path).map_err(|error| PluginLoadError::Read { path, error })?;
        let mut assets = BTreeMap::new();
        for (name, path) in Manifest::asset_paths(base, spec) {
            let size = std::fs::metadata(&path)
                .map_err(|error| PluginLoadError::Read {
                    path: path.clone(),
                    error,
                })?
                .len();
            if size > MAX_ASSET_BYTES {
                return Err(PluginLoadError::AssetTooLarge {
                    name: name.to_owned(),
                    bytes: size,
                });
            }
            let bytes =
                std::fs::read(&path).map_err(|error| PluginLoadError::Read { path, error })?;
            assets.insert(name.to_owned(), Arc::new(bytes));
        }
        Ok(PluginFiles {
            component: Arc::new(component),
            assets: Arc::new(assets),
        })
    }

    /// SHA-256 over the component and every asset (name and content), hex: what identifies
    /// this plugin's code and data.
    pub fn content_hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(Sha256::digest(self.component.as_slice()));
        for (name, bytes) in self.assets.iter() {
            h.update(name.as_bytes());
            h.update([0]);
            h.update(Sha256::digest(bytes.as_slice()));
        }
        hex::encode(h.finalize())
    }
}
