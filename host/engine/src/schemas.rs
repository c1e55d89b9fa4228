//! The optional `tandem:agent/schemas` export (0.1.3): the JSON Schemas of an agent's operation
//! inputs, read once when the component loads and checked before they are believed.

use std::collections::BTreeMap;

use wasmtime::Store;
use wasmtime::component::Instance;

use crate::bindings::PACKAGE_VERSION;
use crate::sandbox::StoreData;

/// The interface, at the version this host implements (a component's own 0.1.x is found by
/// semver, as for every import and export of the package).
fn interface() -> String {
    format!("tandem:agent/schemas@{PACKAGE_VERSION}")
}

/// The largest schema one operation may declare.
pub const MAX_SCHEMA_BYTES: usize = 64 * 1024;

/// What the component's `input-schemas()` returned, as `(operation, schema text)`; empty when it
/// does not export the interface.
pub(crate) async fn read(
    store: &mut Store<StoreData>,
    instance: &Instance,
) -> wasmtime::Result<Vec<(String, String)>> {
    let Some(interface) = instance.get_export_index(&mut *store, None, &interface()) else {
        return Ok(Vec::new());
    };
    let Some(func) = instance.get_export_index(&mut *store, Some(&interface), "input-schemas")
    else {
        return Ok(Vec::new());
    };
    let func = instance
        .get_typed_func::<(), (Vec<(String, String)>,)>(&mut *store, &func)
        .map_err(|e| e.context("`input-schemas` does not have the contract's type"))?;
    let (schemas,) = func.call_async(&mut *store, ()).await?;
    Ok(schemas)
}

/// Checks what `input-schemas()` returned against the operations the agent offers: each schema
/// names an offered operation, once, and is a JSON object of at most [`MAX_SCHEMA_BYTES`].
pub(crate) fn check(
    declared: Vec<(String, String)>,
    offered: &[&str],
) -> Result<BTreeMap<String, serde_json::Value>, String> {
    let mut schemas = BTreeMap::new();
    for (operation, text) in declared {
        if !offered.contains(&operation.as_str()) {
            return Err(format!(
                "`input-schemas` declares a schema for `{operation}`, which it does not offer"
            ));
        }
        if text.len() > MAX_SCHEMA_BYTES {
            return Err(format!(
                "operation `{operation}`: its input schema is {} bytes, over the {MAX_SCHEMA_BYTES} allowed",
                text.len()
            ));
        }
        let schema: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| format!("operation `{operation}`: its input schema is not JSON: {e}"))?;
        if !schema.is_object() {
            return Err(format!(
                "operation `{operation}`: its input schema is not a JSON object"
            ));
        }
        if schemas.insert(operation.clone(), schema).is_some() {
            return Err(format!(
                "`input-schemas` lists operation `{operation}` twice"
            ));
        }
    }
    Ok(schemas)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(op, text)| (op.to_string(), text.to_string()))
            .collect()
    }

    #[test]
    fn schemas_of_offered_operations_are_kept() {
        let schemas = check(
            declared(&[("lint", r#"{"type": "object"}"#)]),
            &["lint", "fix"],
        )
        .unwrap();
        assert_eq!(schemas["lint"], serde_json::json!({"type": "object"}));
        assert!(!schemas.contains_key("fix"));
    }

    #[test]
    fn each_bad_schema_is_named() {
        let offered = ["lint"];
        for (pairs, says) in [
            (vec![("nope", "{}")], "`nope`, which it does not offer"),
            (
                vec![("lint", "{")],
                "operation `lint`: its input schema is not JSON",
            ),
            (
                vec![("lint", "[]")],
                "operation `lint`: its input schema is not a JSON object",
            ),
            (
                vec![("lint", "{}"), ("lint", "{}")],
                "lists operation `lint` twice",
            ),
        ] {
            let error = check(declared(&pairs), &offered).unwrap_err();
            assert!(error.contains(says), "{error}");
        }
        let huge = format!(r#"{{"description": "{}"}}"#, "x".repeat(MAX_SCHEMA_BYTES));
        let error = check(vec![("lint".into(), huge)], &offered).unwrap_err();
        assert!(error.contains("over the 65536 allowed"), "{error}");
    }
}
