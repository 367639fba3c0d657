//! Template comparison up to what ARM ignores: generator metadata, `dependsOn` order, and the
//! API version of module deployments (on the deployment and where an expression names it, as in
//! `listOutputsWithSecureValues('module', '2022-09-01')`).

use serde_json::Value;

/// Normalises a template in place for comparison with another compiler's output.
pub fn normalise(template: &mut Value) {
    drop_generator(template);
    normalise_resources(template);
    normalise_secure_output_reads(template);
}

/// `listOutputsWithSecureValues('<module>', '<deployments API version>')` with the version
/// replaced, in every string: older compilers wrote module deployments at another API version.
fn normalise_secure_output_reads(value: &mut Value) {
    const CALL: &str = "listOutputsWithSecureValues('";
    match value {
        Value::String(text) if text.contains(CALL) => {
            let mut out = String::new();
            let mut rest = text.as_str();
            while let Some(at) = rest.find(CALL) {
                let after = &rest[at + CALL.len()..];
                out.push_str(&rest[..at + CALL.len()]);
                // `<module>', '<version>'`: keep the module, drop the version.
                match after.split_once("', '").and_then(|(module, tail)| Some((module, tail.split_once('\'')?.1))) {
                    Some((module, tail)) => {
                        out.push_str(module);
                        out.push_str("', '<deployments>'");
                        rest = tail;
                    }
                    None => rest = after,
                }
            }
            out.push_str(rest);
            *text = out;
        }
        Value::Object(map) => map.values_mut().for_each(normalise_secure_output_reads),
        Value::Array(items) => items.iter_mut().for_each(normalise_secure_output_reads),
        _ => {}
    }
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

    #[test]
    fn ignores_the_deployment_api_version_a_secure_output_read_names() {
        let old =
            json!({"outputs": {"k": {"value": "[if(c, listOutputsWithSecureValues('law', '2022-09-01').key, 'x')]"}}});
        let new =
            json!({"outputs": {"k": {"value": "[if(c, listOutputsWithSecureValues('law', '2025-04-01').key, 'x')]"}}});
        assert!(equivalent(&old, &new));
        let other =
            json!({"outputs": {"k": {"value": "[if(c, listOutputsWithSecureValues('la', '2025-04-01').key, 'x')]"}}});
        assert!(!equivalent(&old, &other));
    }
}
