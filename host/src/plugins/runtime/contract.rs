//! The contract check: a component is accepted only if it exports `chowk:plugin/guest` at the
//! version this host implements and imports nothing but the `chowk:plugin` host interfaces.
//! World 0.3.0 uses the interfaces of 0.1.0 and 0.2.0 unchanged (0.2.0 added `assets`, 0.3.0
//! adds `kv-batch`), so components built against any of the three pass; any other version is
//! refused. Refusals name what was expected
//! and what was found.

use wasmtime::component::Component;
use wasmtime::Engine;

// `CONTRACT`, `GUEST_EXPORTS` and `HOST_IMPORTS`, derived from `wit/` by `build.rs`.
include!(concat!(env!("OUT_DIR"), "/contract.rs"));

/// What a component imports and exports, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractInfo {
    /// Import names.
    pub imports: Vec<String>,
    /// Export names.
    pub exports: Vec<String>,
}

/// Why a component does not fit the contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    /// Built against another, incompatible version of the package.
    #[error("built against {found}, but this host implements {expected}; rebuild the plugin with a chowk-sdk for {expected}")]
    Version {
        /// The version this host implements.
        expected: String,
        /// The version the component names.
        found: String,
    },
    /// Imports a capability the host does not give (WASI filesystem, sockets, environment...).
    #[error("imports {}, which Chowk does not provide (plugins get only chowk:plugin/kv, log, clock and assets; build for wasm32-unknown-unknown with chowk-sdk)", .imports.join(", "))]
    ForbiddenImports {
        /// The offending import names.
        imports: Vec<String>,
    },
    /// Does not export the filter interface at all.
    #[error("does not export {expected}; it exports [{}]", .found.join(", "))]
    NotAFilter {
        /// The export it should have.
        expected: String,
        /// What it exports.
        found: Vec<String>,
    },
}

/// Check a compiled component against the contract.
pub fn check_contract(
    engine: &Engine,
    component: &Component,
) -> Result<ContractInfo, ContractError> {
    let ty = component.component_type();
    let imports: Vec<String> = ty.imports(engine).map(|(n, _)| n.to_owned()).collect();
    let exports: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_owned()).collect();

    let known = |name: &str| HOST_IMPORTS.contains(&name) || GUEST_EXPORTS.contains(&name);
    let foreign_version = imports
        .iter()
        .chain(&exports)
        .filter(|name| !known(name))
        .filter_map(|name| name.strip_prefix("chowk:plugin/"))
        .filter_map(|rest| rest.split_once('@').map(|(_, v)| v))
        .next();
    if let Some(v) = foreign_version {
        return Err(ContractError::Version {
            expected: CONTRACT.to_owned(),
            found: format!("chowk:plugin@{v}"),
        });
    }
    let forbidden: Vec<String> = imports
        .iter()
        .filter(|i| !HOST_IMPORTS.contains(&i.as_str()))
        .cloned()
        .collect();
    if !forbidden.is_empty() {
        return Err(ContractError::ForbiddenImports { imports: forbidden });
    }
    if let Some(missing) = GUEST_EXPORTS
        .iter()
        .find(|wanted| !exports.iter().any(|e| e == *wanted))
    {
        return Err(ContractError::NotAFilter {
            expected: (*missing).to_owned(),
            found: exports,
        });
    }
    Ok(ContractInfo { imports, exports })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_is_derived_from_the_world() {
        assert_eq!(CONTRACT, "chowk:plugin@0.3.0");
        assert_eq!(GUEST_EXPORTS, ["chowk:plugin/guest@0.1.0"]);
        assert_eq!(
            HOST_IMPORTS,
            [
                "chowk:plugin/assets@0.2.0",
                "chowk:plugin/clock@0.1.0",
                "chowk:plugin/kv-batch@0.3.0",
                "chowk:plugin/kv@0.1.0",
                "chowk:plugin/log@0.1.0",
                "chowk:plugin/types@0.1.0",
            ]
        );
    }
}
