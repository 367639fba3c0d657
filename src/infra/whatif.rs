//! Rendering a what-if result the way `az deployment … what-if` does: one line per resource with
//! its change symbol, property deltas beneath, and a summary.

use serde_json::Value;

/// Whether a what-if result predicts any change (anything but NoChange and Ignore).
pub fn has_changes(result: &Value) -> bool {
    changes(result).iter().any(|c| !matches!(c.get("changeType").and_then(Value::as_str), Some("NoChange" | "Ignore")))
}

fn changes(result: &Value) -> Vec<Value> {
    result
        .pointer("/properties/changes")
        .or_else(|| result.get("changes"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn symbol(change_type: &str) -> &'static str {
    match change_type {
        "Create" => "+",
        "Delete" => "-",
        "Modify" => "~",
        "Deploy" => "!",
        "NoChange" => "=",
        "Ignore" => "*",
        _ => "x",
    }
}

/// The result as text for people.
pub fn render(result: &Value) -> String {
    let changes = changes(result);
    let mut out = String::from(
        "Resource and property changes are indicated with these symbols:\n  + Create\n  ~ Modify\n  - Delete\n  = NoChange\n  * Ignore\n\n",
    );
    if changes.is_empty() {
        out.push_str("No resource changes.\n");
        return out;
    }
    let mut counts: Vec<(String, usize)> = Vec::new();
    for change in &changes {
        let change_type = change.get("changeType").and_then(Value::as_str).unwrap_or("Unsupported");
        let id = change.get("resourceId").and_then(Value::as_str).unwrap_or("(unknown resource)");
        let api_version = change
            .pointer("/after/apiVersion")
            .or_else(|| change.pointer("/before/apiVersion"))
            .and_then(Value::as_str)
            .map(|v| format!(" [{v}]"))
            .unwrap_or_default();
        out.push_str(&format!("  {} {id}{api_version}\n", symbol(change_type)));
        if let Some(reason) = change.get("unsupportedReason").and_then(Value::as_str) {
            out.push_str(&format!("      unsupported: {reason}\n"));
        }
        if let Some(delta) = change.get("delta").and_then(Value::as_array) {
            for property in delta {
                render_delta(&mut out, property, 2);
            }
        }
        match counts.iter_mut().find(|(t, _)| t == change_type) {
            Some((_, n)) => *n += 1,
            None => counts.push((change_type.to_string(), 1)),
        }
    }
    let summary = counts.iter().map(|(t, n)| format!("{n} to {}", verb(t))).collect::<Vec<_>>().join(", ");
    out.push_str(&format!("\nResource changes: {summary}.\n"));
    out
}

fn verb(change_type: &str) -> String {
    match change_type {
        "Create" => "create".to_string(),
        "Delete" => "delete".to_string(),
        "Modify" => "modify".to_string(),
        "Deploy" => "deploy".to_string(),
        "NoChange" => "leave unchanged".to_string(),
        "Ignore" => "ignore".to_string(),
        other => other.to_lowercase(),
    }
}

fn render_delta(out: &mut String, property: &Value, depth: usize) {
    let indent = "  ".repeat(depth + 1);
    let path = property.get("path").and_then(Value::as_str).unwrap_or("?");
    let kind = property.get("propertyChangeType").and_then(Value::as_str).unwrap_or("Modify");
    let before = property.get("before").map(compact);
    let after = property.get("after").map(compact);
    let symbol = match kind {
        "Create" => "+",
        "Delete" => "-",
        "Array" | "Modify" => "~",
        "NoEffect" => "x",
        _ => "?",
    };
    let detail = match (kind, before, after) {
        ("Create", _, Some(after)) => format!(": {after}"),
        ("Delete", Some(before), _) => format!(": {before}"),
        (_, Some(before), Some(after)) => format!(": {before} => {after}"),
        _ => String::new(),
    };
    out.push_str(&format!("{indent}{symbol} {path}{detail}\n"));
    if let Some(children) = property.get("children").and_then(Value::as_array) {
        for child in children {
            render_delta(out, child, depth + 1);
        }
    }
}

fn compact(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 120 { format!("{}…", text.chars().take(120).collect::<String>()) } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_each_change_and_a_summary() {
        let result = serde_json::json!({"status":"Succeeded","properties":{"changes":[
            {"resourceId":"/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/sa","changeType":"Create","after":{"apiVersion":"2023-05-01"}},
            {"resourceId":"/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/kv","changeType":"Modify",
             "delta":[{"path":"properties.enableSoftDelete","propertyChangeType":"Modify","before":false,"after":true}]},
            {"resourceId":"/subscriptions/s/resourceGroups/g/providers/Microsoft.Web/sites/old","changeType":"Delete"},
            {"resourceId":"/subscriptions/s/resourceGroups/g/providers/Microsoft.Insights/components/ai","changeType":"NoChange"}]}});
        let text = render(&result);
        assert!(
            text.contains(
                "  + /subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/sa [2023-05-01]\n"
            ),
            "{text}"
        );
        assert!(text.contains("      ~ properties.enableSoftDelete: false => true\n"), "{text}");
        assert!(text.contains("  - /subscriptions/s/resourceGroups/g/providers/Microsoft.Web/sites/old\n"), "{text}");
        assert!(
            text.ends_with("Resource changes: 1 to create, 1 to modify, 1 to delete, 1 to leave unchanged.\n"),
            "{text}"
        );
        assert!(has_changes(&result));
        let none = serde_json::json!({"properties":{"changes":[{"resourceId":"x","changeType":"NoChange"}]}});
        assert!(!has_changes(&none));
    }
}
