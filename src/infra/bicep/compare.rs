//! Template comparison up to what ARM ignores: generator metadata, `dependsOn` order, and the
//! API version of module deployments.

use serde_json::Value;

/// Normalises a template in place for comparison with another compiler's output.
pub fn normalise(template: &mut Value) {
    drop_generator(template);
    normalise_resources(template);
}

fn normalise_resources(template: &mut Value) {
    match template.get_mut("resources") {
        Some(Value::Array(items)) => items.iter_mut().for_each(normalise_resource),
        Some(Value::Object(items)) => items.values_mut().for_each(normalise_resource),
        _ => {}
    }
}

/// Removes `metadata._generator` (compiler name, version and template hash) at every level, nested
/// module templates included, and `metadata` left empty by that: the rest, key order included,
/// stays as it was, for comparisons that keep key order.
pub fn drop_generator(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(meta)) = map.get_mut("metadata") {
                meta.shift_remove("_generator");
                if meta.is_empty() {
                    map.shift_remove("metadata");
                }
            }
            map.values_mut().for_each(drop_generator);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_generator),
        _ => {}
    }
}

fn normalise_resource(resource: &mut Value) {
    let Some(obj) = resource.as_object_mut() else {
        return;
    };
    if let Some(Value::Array(deps)) = obj.get_mut("dependsOn") {
        deps.sort_by_key(|d| d.to_string());
        deps.dedup();
    }
    if obj.get("type").and_then(Value::as_str) == Some("Microsoft.Resources/deployments") {
        obj.insert("apiVersion".into(), Value::from("<deployments>"));
        if let Some(template) = obj.get_mut("properties").and_then(|p| p.get_mut("template")) {
            normalise_resources(template);
        }
    }
}

/// Whether two templates are equal after [`normalise`].
pub fn equivalent(a: &Value, b: &Value) -> bool {
    let (mut a, mut b) = (a.clone(), b.clone());
    normalise(&mut a);
    normalise(&mut b);
    a == b
}

/// The first JSON path at which two templates differ after [`normalise`], for reports.
pub fn first_difference(a: &Value, b: &Value) -> Option<String> {
    let (mut a, mut b) = (a.clone(), b.clone());
    normalise(&mut a);
    normalise(&mut b);
    diff(&a, &b, "$")
}

fn diff(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                match y.get(k) {
                    Some(w) => {
                        if let Some(d) = diff(v, w, &format!("{path}.{k}")) {
                            return Some(d);
                        }
                    }
                    None => return Some(format!("{path}.{k}: only on the left")),
                }
            }
            y.keys().find(|k| !x.contains_key(*k)).map(|k| format!("{path}.{k}: only on the right"))
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            x.iter().zip(y).enumerate().find_map(|(i, (v, w))| diff(v, w, &format!("{path}[{i}]")))
        }
        _ if a == b => None,
        _ => Some(format!("{path}: {a} != {b}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ignores_generator_depends_on_order_and_deployment_api_version() {
        let a = json!({"metadata": {"_generator": {"name": "bicep"}}, "resources": [
            {"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01",
             "dependsOn": ["a", "b"], "properties": {"template": {"metadata": {"_generator": {}}}}}]});
        let b = json!({"resources": [
            {"type": "Microsoft.Resources/deployments", "apiVersion": "2025-04-01",
             "dependsOn": ["b", "a"], "properties": {"template": {}}}]});
        assert!(equivalent(&a, &b));
        let c = json!({"resources": [{"type": "X/y", "dependsOn": ["a"]}]});
        let d = json!({"resources": [{"type": "X/y", "dependsOn": ["a", "b"]}]});
        assert!(!equivalent(&c, &d));
        assert!(first_difference(&c, &d).is_some());
    }
}
