//! Resource type casing: `bicep build` writes a type as its type database spells it.
//!
//! The database itself is not available here; `resource_types.tsv` records the casings seen in
//! the official compiler's outputs. A type that is not listed is written as the source spells
//! it, which is also what `bicep build` does for types it does not know.

use std::collections::HashMap;
use std::sync::OnceLock;

const TABLE: &str = include_str!("resource_types.tsv");

fn table() -> &'static HashMap<String, &'static str> {
    static MAP: OnceLock<HashMap<String, &'static str>> = OnceLock::new();
    MAP.get_or_init(|| {
        TABLE
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('\t'))
            .map(|(t, v)| (key(t, v), t))
            .collect()
    })
}

fn key(ty: &str, version: &str) -> String {
    format!("{}@{}", ty.to_ascii_lowercase(), version.to_ascii_lowercase())
}

/// The type as `bicep build` would write it for this API version.
pub fn canonical(ty: &str, version: &str) -> String {
    table().get(&key(ty, version)).map_or_else(|| ty.to_string(), |t| (*t).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_types_take_the_database_casing() {
        assert_eq!(canonical("microsoft.storage/storageaccounts", "2021-04-01"), "Microsoft.Storage/storageAccounts");
        assert_eq!(canonical("Contoso.X/y", "2020-01-01"), "Contoso.X/y");
    }
}
