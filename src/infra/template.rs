//! ARM templates: loading (compiling `.bicep` first), the target scope, and the declared parameters.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Map, Value};

use super::bicep;
use super::error::InfraError;

/// Where a template deploys, from its `$schema`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateScope {
    ResourceGroup,
    Subscription,
    ManagementGroup,
    Tenant,
}

impl TemplateScope {
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateScope::ResourceGroup => "resource group",
            TemplateScope::Subscription => "subscription",
            TemplateScope::ManagementGroup => "management group",
            TemplateScope::Tenant => "tenant",
        }
    }

    /// The scope named by a `$schema` URL (`…/deploymentTemplate.json#` and friends), as az reads it.
    fn from_schema(schema: &str) -> Option<Self> {
        let file = schema.rsplit('/').next()?.trim_end_matches('#');
        match file.to_ascii_lowercase().as_str() {
            "deploymenttemplate.json" => Some(TemplateScope::ResourceGroup),
            "subscriptiondeploymenttemplate.json" => Some(TemplateScope::Subscription),
            "managementgroupdeploymenttemplate.json" => Some(TemplateScope::ManagementGroup),
            "tenantdeploymenttemplate.json" => Some(TemplateScope::Tenant),
            _ => None,
        }
    }
}

/// The JSON type of a template parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    String,
    SecureString,
    Int,
    Bool,
    Object,
    SecureObject,
    Array,
}

impl ParamType {
    fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_lowercase().as_str() {
            "string" => ParamType::String,
            "securestring" => ParamType::SecureString,
            "int" => ParamType::Int,
            "bool" => ParamType::Bool,
            "object" => ParamType::Object,
            "secureobject" => ParamType::SecureObject,
            "array" => ParamType::Array,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::SecureString => "securestring",
            ParamType::Int => "int",
            ParamType::Bool => "bool",
            ParamType::Object => "object",
            ParamType::SecureObject => "secureObject",
            ParamType::Array => "array",
        }
    }

    pub fn is_secure(self) -> bool {
        matches!(self, ParamType::SecureString | ParamType::SecureObject)
    }
}

/// One declared parameter and the constraints ARM would check.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamDef {
    pub name: String,
    pub ty: ParamType,
    pub has_default: bool,
    pub allowed_values: Option<Vec<Value>>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub min_value: Option<i64>,
    pub max_value: Option<i64>,
}

/// A template ready to send.
#[derive(Debug, Clone)]
pub struct Template {
    pub path: PathBuf,
    pub json: Value,
    pub scope: TemplateScope,
    pub parameters: Vec<ParamDef>,
    /// What the native Bicep compiler warned about (none for ARM JSON or an external compiler).
    pub warnings: Vec<bicep::Warning>,
}

impl Template {
    pub fn parameter(&self, name: &str) -> Option<&ParamDef> {
        // ARM parameter names are case-insensitive.
        self.parameters.iter().find(|p| p.name.eq_ignore_ascii_case(name))
    }
}

/// Which compiler turns a `.bicep` template into ARM JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BicepCompiler {
    /// The compiler built into mlops.
    #[default]
    Native,
    /// `bicep build --stdout` or `az bicep build --stdout` from PATH.
    External,
    /// Both; any difference after the corpus normalisation is an error.
    Check,
}

/// Reads an ARM JSON template, or compiles a `.bicep` file first.
pub fn load(path: &Path, compiler: BicepCompiler) -> Result<Template, InfraError> {
    let is_bicep = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("bicep"));
    let (text, warnings) = if is_bicep {
        match compiler {
            BicepCompiler::Native => native_bicep(path)?,
            BicepCompiler::External => (compile_bicep(path)?, Vec::new()),
            BicepCompiler::Check => check_bicep(path)?,
        }
    } else {
        let bytes = std::fs::read(path).map_err(|source| InfraError::Read {
            what: "template",
            path: path.to_path_buf(),
            source,
        })?;
        return parse_bytes(path, &bytes);
    };
    Ok(Template { warnings, ..parse(path, &text)? })
}

/// Parses a template file's bytes (UTF-8, a byte-order mark allowed); `path` names it in errors.
pub fn parse_bytes(path: &Path, bytes: &[u8]) -> Result<Template, InfraError> {
    parse(path, crate::decode::utf8(bytes).map_err(|e| InfraError::not_text(path, e))?)
}

/// Parses template text; `path` names it in errors.
pub fn parse(path: &Path, text: &str) -> Result<Template, InfraError> {
    let json: Value = crate::decode::json(text).map_err(|e| InfraError::not_json(path, e))?;
    let not_template = |reason: String| InfraError::NotTemplate { path: path.to_path_buf(), reason };
    let object = json.as_object().ok_or_else(|| not_template("the top level is not a JSON object".to_string()))?;
    let schema = object.get("$schema").and_then(Value::as_str).ok_or_else(|| {
        not_template(if looks_like_parameters(object) {
            "it has no \"$schema\" and is shaped like a parameters file (pass it with --parameters @FILE)".to_string()
        } else {
            "it has no \"$schema\"".to_string()
        })
    })?;
    let scope = TemplateScope::from_schema(schema).ok_or_else(|| {
        not_template(format!(
            "\"$schema\" {schema:?} is not a deployment template schema (deploymentParameters files go to --parameters)"
        ))
    })?;
    match object.get("resources") {
        Some(Value::Array(_) | Value::Object(_)) => {}
        Some(_) => {
            return Err(not_template("\"resources\" must be an array or an object".to_string()));
        }
        None => return Err(not_template("it has no \"resources\"".to_string())),
    }
    let parameters = match object.get("parameters") {
        None => Vec::new(),
        Some(Value::Object(map)) => {
            map.iter().map(|(name, def)| param_def(name, def).map_err(&not_template)).collect::<Result<_, _>>()?
        }
        Some(_) => return Err(not_template("\"parameters\" must be an object".to_string())),
    };
    Ok(Template { path: path.to_path_buf(), json, scope, parameters, warnings: Vec::new() })
}

/// Whether a document without `$schema` is a parameters file by its shape: a `parameters` object
/// whose members are all `{"value": …}` or `{"reference": …}`, and no `resources`.
pub(crate) fn looks_like_parameters(object: &Map<String, Value>) -> bool {
    let Some(Value::Object(parameters)) = object.get("parameters") else { return false };
    !object.contains_key("resources")
        && parameters.values().all(|entry| {
            entry.as_object().is_some_and(|e| {
                (e.contains_key("value") || e.contains_key("reference"))
                    && e.keys().all(|k| matches!(k.as_str(), "value" | "reference" | "metadata"))
            })
        })
}

fn param_def(name: &str, def: &Value) -> Result<ParamDef, String> {
    let def: &Map<String, Value> = def.as_object().ok_or_else(|| format!("parameter {name:?} is not an object"))?;
    let fail = |reason: String| format!("parameter {name:?}: {reason}");
    let ty_text = def.get("type").and_then(Value::as_str).ok_or_else(|| fail("has no \"type\"".to_string()))?;
    let ty = ParamType::parse(ty_text).ok_or_else(|| fail(format!("unknown type {ty_text:?}")))?;
    let allowed_values = match def.get("allowedValues") {
        None => None,
        Some(Value::Array(values)) if values.is_empty() => {
            return Err(fail("\"allowedValues\" is empty, so no value would be allowed".to_string()));
        }
        Some(Value::Array(values)) => Some(values.clone()),
        Some(other) => return Err(fail(format!("\"allowedValues\" must be an array, not {}", json_kind(other)))),
    };
    let lengths = matches!(ty, ParamType::String | ParamType::SecureString | ParamType::Array);
    let length = |key: &str| constraint(def, key, ty, lengths, "string and array", 0).map_err(&fail);
    let value = |key: &str| constraint(def, key, ty, ty == ParamType::Int, "int", i64::MIN).map_err(&fail);
    let parsed = ParamDef {
        name: name.to_string(),
        ty,
        has_default: def.contains_key("defaultValue"),
        allowed_values,
        min_length: length("minLength")?.map(i64::unsigned_abs),
        max_length: length("maxLength")?.map(i64::unsigned_abs),
        min_value: value("minValue")?,
        max_value: value("maxValue")?,
    };
    for (min, max, what) in [
        (parsed.min_length.map(|n| n as i128), parsed.max_length.map(|n| n as i128), "Length"),
        (parsed.min_value.map(i128::from), parsed.max_value.map(i128::from), "Value"),
    ] {
        if let (Some(min), Some(max)) = (min, max)
            && min > max
        {
            return Err(fail(format!("min{what} {min} is greater than max{what} {max}")));
        }
    }
    // A null default (some generators write one for optional parameters) is left to ARM; other
    // literal defaults are checked.
    if let Some(default) = def.get("defaultValue").filter(|v| !v.is_null()) {
        parsed.check(default).map_err(|reason| fail(format!("the default value does not fit: {reason}")))?;
    }
    Ok(parsed)
}

/// A numeric constraint: an integer at least `floor`, on a parameter type it applies to.
fn constraint(
    def: &Map<String, Value>,
    key: &str,
    ty: ParamType,
    applies: bool,
    types: &str,
    floor: i64,
) -> Result<Option<i64>, String> {
    let Some(value) = def.get(key) else { return Ok(None) };
    if !applies {
        return Err(format!("{key:?} applies to {types} parameters, not to {}", ty.as_str()));
    }
    match value.as_i64() {
        Some(n) if n >= floor => Ok(Some(n)),
        Some(n) => Err(format!("{key:?} must not be negative, got {n}")),
        None if floor == 0 => Err(format!("{key:?} must be a non-negative integer, got {}", excerpt_json(value))),
        None => Err(format!(
            "{key:?} must be an integer between {} and {}, got {}",
            i64::MIN,
            i64::MAX,
            excerpt_json(value)
        )),
    }
}

fn excerpt_json(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > crate::decode::EXCERPT_CHARS { crate::decode::excerpt(&text) } else { text }
}

impl ParamDef {
    /// Checks a literal value against the declared type and constraints, as ARM would. Template
    /// expressions (`"[…]"`) are evaluated by ARM and pass unchecked.
    pub fn check(&self, value: &Value) -> Result<(), String> {
        if value.as_str().is_some_and(|s| s.starts_with('[') && s.ends_with(']') && !s.starts_with("[[")) {
            return Ok(());
        }
        check_type(self.ty, value)?;
        if let Some(allowed) = &self.allowed_values {
            let accepted = match value {
                Value::Array(items) => items.iter().all(|i| allowed.contains(i)),
                other => allowed.contains(other),
            };
            if !accepted {
                let list = allowed.iter().map(Value::to_string).collect::<Vec<_>>().join(", ");
                return Err(format!("{} is not one of the allowed values: {}", self.shown(value), bounded(&list)));
            }
        }
        let length = match value {
            Value::String(s) => Some(s.chars().count() as u64),
            Value::Array(a) => Some(a.len() as u64),
            _ => None,
        };
        if let Some(length) = length {
            if let Some(min) = self.min_length
                && length < min
            {
                return Err(format!("length {length} is below minLength {min}"));
            }
            if let Some(max) = self.max_length
                && length > max
            {
                return Err(format!("length {length} is above maxLength {max}"));
            }
        }
        if let Some(n) = value.as_i64() {
            if let Some(min) = self.min_value
                && n < min
            {
                return Err(format!("{n} is below minValue {min}"));
            }
            if let Some(max) = self.max_value
                && n > max
            {
                return Err(format!("{n} is above maxValue {max}"));
            }
        }
        Ok(())
    }

    /// A value for an error message, bounded; secure parameters stay hidden.
    fn shown(&self, value: &Value) -> String {
        if self.ty.is_secure() { "the value".to_string() } else { excerpt_json(value) }
    }
}

fn bounded(text: &str) -> String {
    if text.chars().count() > crate::decode::EXCERPT_CHARS {
        let cut: String = text.chars().take(crate::decode::EXCERPT_CHARS).collect();
        format!("{cut}…")
    } else {
        text.to_string()
    }
}

/// Whether a JSON value has the parameter type's shape.
pub(crate) fn check_type(ty: ParamType, value: &Value) -> Result<(), String> {
    let ok = match ty {
        ParamType::String | ParamType::SecureString => value.is_string(),
        ParamType::Int => value.is_i64() || value.is_u64(),
        ParamType::Bool => value.is_boolean(),
        ParamType::Object | ParamType::SecureObject => value.is_object(),
        ParamType::Array => value.is_array(),
    };
    if ok { Ok(()) } else { Err(format!("expected {}, got {}", ty.as_str(), json_kind(value))) }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(n) if n.is_f64() => "a non-integer number",
        Value::Number(_) => "an int",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Compiles a Bicep file with the compiler built into the binary (the default; no `bicep` or `az`).
fn native_bicep(path: &Path) -> Result<(String, Vec<bicep::Warning>), InfraError> {
    let compiled = bicep::build_file(path)?;
    Ok((bicep::to_pretty_json(&compiled.template), compiled.warnings))
}

/// Compiles both ways and insists on the same template (after the corpus normalisation).
fn check_bicep(path: &Path) -> Result<(String, Vec<bicep::Warning>), InfraError> {
    let bicep::Compiled { template: native, warnings } = bicep::build_file(path)?;
    let external_text = compile_bicep(path)?;
    let external: Value = serde_json::from_str(&external_text).map_err(|e| InfraError::BicepFailed {
        path: path.to_path_buf(),
        compiler: "bicep build --stdout".to_string(),
        stderr: format!("printed something that is not JSON: {e}"),
    })?;
    if let Some(difference) = bicep::compare::first_difference(&native, &external) {
        return Err(InfraError::BicepMismatch { path: path.to_path_buf(), difference });
    }
    Ok((bicep::to_pretty_json(&native), warnings))
}

/// Compiles with an external `bicep` (or `az bicep`) from PATH.
pub fn compile_bicep(path: &Path) -> Result<String, InfraError> {
    let candidates: [(&str, &[&str]); 2] =
        [("bicep", &["build", "--stdout"]), ("az", &["bicep", "build", "--stdout", "--file"])];
    for (program, args) in candidates {
        if which::which(program).is_err() {
            continue;
        }
        let output = Command::new(program).args(args).arg(path).output().map_err(|source| InfraError::Read {
            what: "Bicep compiler output for",
            path: path.to_path_buf(),
            source,
        })?;
        if !output.status.success() {
            return Err(InfraError::BicepFailed {
                path: path.to_path_buf(),
                compiler: format!("{program} {}", args.join(" ")),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    Err(InfraError::BicepUnavailable { path: path.to_path_buf() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> Result<Template, InfraError> {
        parse(Path::new("t.json"), text)
    }

    #[test]
    fn reads_scope_and_parameters() {
        let t = parse_text(r#"{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","contentVersion":"1.0.0.0",
            "parameters":{"name":{"type":"string","minLength":3,"maxLength":5,"allowedValues":["abc","abcd"]},"n":{"type":"int","defaultValue":1,"minValue":0,"maxValue":9}},
            "resources":[]}"#).expect("template");
        assert_eq!(t.scope, TemplateScope::ResourceGroup);
        let name = t.parameter("NAME").expect("case-insensitive");
        assert_eq!((name.min_length, name.max_length, name.has_default), (Some(3), Some(5), false));
        let n = t.parameter("n").expect("n");
        assert_eq!((n.ty, n.min_value, n.max_value, n.has_default), (ParamType::Int, Some(0), Some(9), true));
        let sub = parse_text(r#"{"$schema":"https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#","resources":[]}"#).expect("t");
        assert_eq!(sub.scope, TemplateScope::Subscription);
    }

    #[test]
    fn errors_point_at_the_problem() {
        let err = parse_text("{\n  \"a\": 1,\n  oops\n}").expect_err("not json");
        assert!(err.to_string().starts_with("t.json:3:3: not valid JSON"), "{err}");
        let err = parse_text(r#"{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#","parameters":{}}"#).expect_err("params file");
        assert!(err.to_string().contains("not a deployment template schema"), "{err}");
        let err = parse_text(r#"{"hello":"world"}"#).expect_err("no schema");
        assert!(err.to_string().contains("no \"$schema\""), "{err}");
        let err = parse_text(r#"[1]"#).expect_err("array");
        assert!(err.to_string().contains("not a JSON object"), "{err}");
        let err = parse_text(r#"{"parameters":{"a":{"value":1}}}"#).expect_err("a parameters file");
        assert!(err.to_string().contains("shaped like a parameters file (pass it with --parameters @FILE)"), "{err}");
        let err = parse_text("{\"$schema\": \"x\",\n \"$schema\": \"y\"}").expect_err("duplicate");
        assert!(err.to_string().starts_with("t.json:2:10: not valid JSON: duplicate key \"$schema\""), "{err}");
        let err = parse_bytes(Path::new("t.json"), b"{\n\"a\": \"\xe9\"}").expect_err("latin-1");
        assert_eq!(err.to_string(), "t.json:2:7: not valid UTF-8: byte 0xE9 at byte offset 8");
        let bom = format!(
            "\u{feff}{}",
            r#"{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","resources":[]}"#
        );
        parse_bytes(Path::new("t.json"), bom.as_bytes()).expect("a BOM is accepted");
    }

    /// Every malformed declaration is refused before any request, naming the parameter.
    #[test]
    fn malformed_declarations_are_refused() {
        let cases = [
            (r#"{"type":"string","minLength":-1}"#, r#"parameter "p": "minLength" must not be negative, got -1"#),
            (r#"{"type":"string","maxLength":-5}"#, r#""maxLength" must not be negative, got -5"#),
            (r#"{"type":"string","minLength":1.5}"#, r#""minLength" must be a non-negative integer, got 1.5"#),
            (r#"{"type":"string","minLength":"3"}"#, r#""minLength" must be a non-negative integer, got "3""#),
            (r#"{"type":"string","minLength":5,"maxLength":2}"#, "minLength 5 is greater than maxLength 2"),
            (r#"{"type":"int","defaultValue":1,"minValue":1e300}"#, r#""minValue" must be an integer between"#),
            (r#"{"type":"int","maxValue":18446744073709551615}"#, r#""maxValue" must be an integer between"#),
            (r#"{"type":"int","minValue":9,"maxValue":1}"#, "minValue 9 is greater than maxValue 1"),
            (r#"{"type":"string","minValue":1}"#, r#""minValue" applies to int parameters, not to string"#),
            (r#"{"type":"bool","maxLength":1}"#, r#""maxLength" applies to string and array parameters, not to bool"#),
            (r#"{"type":"string","allowedValues":"x"}"#, r#""allowedValues" must be an array, not a string"#),
            (r#"{"type":"string","allowedValues":[]}"#, r#""allowedValues" is empty"#),
            (
                r#"{"type":"string","defaultValue":"c","allowedValues":["a","b"]}"#,
                r#"the default value does not fit: "c" is not one of the allowed values"#,
            ),
            (
                r#"{"type":"int","defaultValue":0,"minValue":1}"#,
                "the default value does not fit: 0 is below minValue 1",
            ),
            (
                r#"{"type":"string","defaultValue":"ab","minLength":3}"#,
                "the default value does not fit: length 2 is below minLength 3",
            ),
            (r#"{"type":"int","defaultValue":"one"}"#, "the default value does not fit: expected int, got a string"),
            (r#"{"type":"int","defaultValue":1.5}"#, "expected int, got a non-integer number"),
        ];
        for (declaration, expected) in cases {
            let text = format!(
                r#"{{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","parameters":{{"p":{declaration}}},"resources":[]}}"#
            );
            let err = parse_text(&text).expect_err(declaration);
            assert!(err.to_string().contains(expected), "{declaration}: {err}");
            assert!(err.to_string().starts_with("t.json "), "{err}");
        }
        // Expressions as defaults are ARM's to evaluate.
        let ok = r#"{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","parameters":{"p":{"type":"string","minLength":3,"defaultValue":"[resourceGroup().location]"}},"resources":[]}"#;
        parse_text(ok).expect("an expression default");
        let null = ok.replace(r#""[resourceGroup().location]""#, "null");
        parse_text(&null).expect("a null default");
    }
}
