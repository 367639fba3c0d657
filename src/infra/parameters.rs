//! Deployment parameters: files (`deploymentParameters` or a plain object), inline JSON and
//! `key=value` overrides, merged in order (later wins, as az does) and checked against the template.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::error::InfraError;
use super::template::{ParamDef, ParamType, Template, check_type, looks_like_parameters};

/// One `--parameters` argument.
#[derive(Debug, Clone, PartialEq)]
pub enum ParameterSource {
    File(PathBuf),
    Inline(String),
    KeyValue { name: String, value: String },
}

impl ParameterSource {
    /// Classifies an argument: `@file`, inline `{…}` JSON, `name=value`, or an existing file path.
    pub fn parse(argument: &str) -> Result<Self, InfraError> {
        if let Some(path) = argument.strip_prefix('@') {
            return Ok(ParameterSource::File(PathBuf::from(path)));
        }
        if argument.trim_start().starts_with('{') {
            return Ok(ParameterSource::Inline(argument.to_string()));
        }
        if let Some((name, value)) = argument.split_once('=') {
            if name.trim().is_empty() {
                return Err(InfraError::Argument {
                    argument: argument.to_string(),
                    reason: "the parameter name before '=' is empty".to_string(),
                });
            }
            return Ok(ParameterSource::KeyValue { name: name.trim().to_string(), value: value.to_string() });
        }
        if Path::new(argument).is_file() {
            return Ok(ParameterSource::File(PathBuf::from(argument)));
        }
        Err(InfraError::Argument {
            argument: argument.to_string(),
            reason: "expected @FILE, a JSON object, or NAME=VALUE".to_string(),
        })
    }

    fn describe(&self) -> String {
        match self {
            ParameterSource::File(path) => path.display().to_string(),
            ParameterSource::Inline(_) => "inline JSON".to_string(),
            ParameterSource::KeyValue { .. } => "the command line".to_string(),
        }
    }
}

/// The merged parameters, as the REST body's `properties.parameters` (`{name: {value}|{reference}}`).
pub type Parameters = Map<String, Value>;

/// Reads every source, merges them in order, and checks the result against the template.
pub fn resolve(template: &Template, sources: &[ParameterSource]) -> Result<Parameters, InfraError> {
    let mut merged = Parameters::new();
    let mut origin: Map<String, Value> = Map::new();
    for source in sources {
        let entries = read_source(template, source)?;
        for (name, entry) in entries {
            let def = template.parameter(&name).ok_or_else(|| InfraError::UnknownParameter {
                name: name.clone(),
                source_name: source.describe(),
                known: known(template),
            })?;
            check_entry(def, &entry, source)?;
            // Keep the template's spelling so a later override replaces rather than duplicates.
            merged.insert(def.name.clone(), entry);
            origin.insert(def.name.clone(), Value::String(source.describe()));
        }
    }
    let missing: Vec<String> = template
        .parameters
        .iter()
        .filter(|p| !p.has_default && !merged.contains_key(&p.name))
        .map(|p| p.name.clone())
        .collect();
    if !missing.is_empty() {
        return Err(InfraError::MissingParameters { names: missing });
    }
    Ok(merged)
}

fn known(template: &Template) -> String {
    if template.parameters.is_empty() {
        "(no parameters)".to_string()
    } else {
        template.parameters.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
    }
}

fn read_source(template: &Template, source: &ParameterSource) -> Result<Vec<(String, Value)>, InfraError> {
    match source {
        ParameterSource::File(path) => {
            let bytes = std::fs::read(path).map_err(|source| InfraError::Read {
                what: "parameters file",
                path: path.clone(),
                source,
            })?;
            let text = crate::decode::utf8(&bytes).map_err(|e| InfraError::not_text(path, e))?;
            let value = crate::decode::json(text).map_err(|e| InfraError::not_json(path, e))?;
            entries(template, value).map_err(|reason| InfraError::NotParameters { path: path.clone(), reason })
        }
        ParameterSource::Inline(text) => {
            let value = crate::decode::json(text).map_err(|e| InfraError::InlineJson {
                argument: text.clone(),
                line: e.line,
                column: e.column,
                message: e.message,
            })?;
            entries(template, value).map_err(|reason| InfraError::Argument { argument: text.clone(), reason })
        }
        ParameterSource::KeyValue { name, value } => {
            let def = template.parameter(name).ok_or_else(|| InfraError::UnknownParameter {
                name: name.clone(),
                source_name: source.describe(),
                known: known(template),
            })?;
            let typed = typed_value(def.ty, value).map_err(|reason| InfraError::InvalidValue {
                name: def.name.clone(),
                source_name: source.describe(),
                reason,
                from_command_line: true,
            })?;
            Ok(vec![(def.name.clone(), serde_json::json!({ "value": typed }))])
        }
    }
}

/// The entries of a parameters document: a `deploymentParameters` file (its `parameters`; the
/// `$schema` may be missing when the shape says it), or a plain object whose members are either
/// `{value|reference|expression}` wrappers or bare values.
fn entries(template: &Template, document: Value) -> Result<Vec<(String, Value)>, String> {
    let Value::Object(mut object) = document else {
        return Err("the top level is not a JSON object".to_string());
    };
    let is_file_format = object.contains_key("$schema")
        || object.contains_key("contentVersion")
        || (template.parameter("parameters").is_none() && looks_like_parameters(&object));
    let map = if is_file_format {
        if let Some(schema) = object.get("$schema").and_then(Value::as_str)
            && !schema.to_ascii_lowercase().contains("deploymentparameters")
        {
            return Err(format!("\"$schema\" {schema:?} is not a deploymentParameters schema"));
        }
        match object.remove("parameters") {
            Some(Value::Object(map)) => map,
            Some(_) => return Err("\"parameters\" must be an object".to_string()),
            None => Map::new(),
        }
    } else {
        object
    };
    Ok(map
        .into_iter()
        .map(|(name, value)| {
            let wrapped = match &value {
                Value::Object(inner)
                    if inner.len() == 1
                        && ["value", "reference", "expression"].iter().any(|k| inner.contains_key(*k)) =>
                {
                    value
                }
                _ => serde_json::json!({ "value": value }),
            };
            (name, wrapped)
        })
        .collect())
}

/// A command-line string as the JSON value of the parameter's type.
fn typed_value(ty: ParamType, text: &str) -> Result<Value, String> {
    match ty {
        ParamType::String | ParamType::SecureString => Ok(Value::String(text.to_string())),
        ParamType::Int => {
            text.trim().parse::<i64>().map(Value::from).map_err(|_| format!("expected an int, got {text:?}"))
        }
        ParamType::Bool => match text.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!("expected true or false, got {text:?}")),
        },
        ParamType::Object | ParamType::SecureObject | ParamType::Array => {
            let value = crate::decode::json(text).map_err(|e| format!("expected JSON ({}): {e}", ty.as_str()))?;
            check_type(ty, &value)?;
            Ok(value)
        }
    }
}

/// Local checks ARM would make anyway, done before any request. Key Vault references and
/// expressions are resolved by ARM, so they pass through unchecked.
fn check_entry(def: &ParamDef, entry: &Value, source: &ParameterSource) -> Result<(), InfraError> {
    let Some(value) = entry.get("value") else {
        return Ok(());
    };
    let fail = |reason: String| InfraError::InvalidValue {
        name: def.name.clone(),
        source_name: source.describe(),
        reason,
        from_command_line: matches!(source, ParameterSource::KeyValue { .. }),
    };
    def.check(value).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infra::template::parse;

    fn template() -> Template {
        parse(
            Path::new("t.json"),
            r#"{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","contentVersion":"1.0.0.0",
            "parameters":{
              "name":{"type":"string","minLength":3,"maxLength":8},
              "sku":{"type":"string","defaultValue":"Standard_LRS","allowedValues":["Standard_LRS","Premium_LRS"]},
              "count":{"type":"int","defaultValue":1,"minValue":1,"maxValue":5},
              "flag":{"type":"bool","defaultValue":false},
              "tags":{"type":"object","defaultValue":{}},
              "pw":{"type":"securestring","defaultValue":""}},
            "resources":[]}"#,
        )
        .expect("template")
    }

    fn kv(name: &str, value: &str) -> ParameterSource {
        ParameterSource::KeyValue { name: name.into(), value: value.into() }
    }

    #[test]
    fn later_sources_override_and_values_are_typed() {
        let sources = vec![
            ParameterSource::Inline(r#"{"name":{"value":"first"},"count":2}"#.into()),
            kv("NAME", "second"),
            kv("count", "3"),
            kv("flag", "TRUE"),
            kv("tags", r#"{"a":"b"}"#),
        ];
        let twice = resolve(&template(), &[kv("name", "abc"), kv("tags", r#"{"a":1,"a":2}"#)]).expect_err("twice");
        assert!(twice.to_string().contains("expected JSON (object): 1:10: duplicate key \"a\""), "{twice}");
        let p = resolve(&template(), &sources).expect("resolved");
        assert_eq!(p["name"], serde_json::json!({"value": "second"}));
        assert_eq!(p["count"], serde_json::json!({"value": 3}));
        assert_eq!(p["flag"], serde_json::json!({"value": true}));
        assert_eq!(p["tags"], serde_json::json!({"value": {"a": "b"}}));
    }

    #[test]
    fn key_vault_references_pass_through() {
        let reference = r#"{"pw":{"reference":{"keyVault":{"id":"/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/kv"},"secretName":"p"}},"name":{"value":"abc"}}"#;
        let p = resolve(&template(), &[ParameterSource::Inline(reference.into())]).expect("ok");
        assert_eq!(p["pw"]["reference"]["secretName"], "p");
    }

    #[test]
    fn local_checks_name_the_parameter() {
        let t = template();
        let cases: Vec<(Vec<ParameterSource>, &str)> = vec![
            (vec![], "missing value for required template parameter name"),
            (vec![kv("name", "ab")], "parameter \"name\" (from the command line): length 2 is below minLength 3"),
            (vec![kv("name", "abc"), kv("sku", "Gold")], "\"Gold\" is not one of the allowed values"),
            (vec![kv("name", "abc"), kv("count", "9")], "9 is above maxValue 5"),
            (vec![kv("name", "abc"), kv("count", "two")], "expected an int, got \"two\""),
            (
                vec![kv("name", "abc"), kv("colour", "red")],
                "parameter \"colour\" (from the command line) is not declared",
            ),
            (vec![ParameterSource::Inline(r#"{"name":{"value":5}}"#.into())], "expected string, got an int"),
        ];
        for (sources, expected) in cases {
            let err = resolve(&t, &sources).expect_err(expected);
            assert!(err.to_string().contains(expected), "{err} / {expected}");
        }
    }

    #[test]
    fn classifies_arguments() {
        assert_eq!(ParameterSource::parse("@p.json").expect("file"), ParameterSource::File("p.json".into()));
        assert!(matches!(ParameterSource::parse(" {\"a\":1}").expect("inline"), ParameterSource::Inline(_)));
        assert_eq!(ParameterSource::parse("a=b=c").expect("kv"), kv("a", "b=c"));
        assert!(ParameterSource::parse("=x").is_err());
        assert!(ParameterSource::parse("nonsense").is_err());
    }

    #[test]
    fn deployment_parameters_files_are_unwrapped() {
        let doc = serde_json::json!({"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#","contentVersion":"1.0.0.0","parameters":{"name":{"value":"abc"}}});
        let t = template();
        assert_eq!(entries(&t, doc).expect("entries"), vec![("name".to_string(), serde_json::json!({"value":"abc"}))]);
        let template_doc = serde_json::json!({"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","parameters":{}});
        assert!(entries(&t, template_doc).is_err());
        // Without `$schema`, the shape says it is a parameters file, not one parameter "parameters".
        let bare = serde_json::json!({"parameters":{"name":{"value":"abc"},"pw":{"reference":{"secretName":"s"}}}});
        let names: Vec<String> = entries(&t, bare).expect("entries").into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["name", "pw"]);
    }
}
