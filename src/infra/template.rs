//! ARM templates: loading (compiling `.bicep` first), the target scope, and the declared parameters.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Map, Value};

use super::bicep;
use super::error::{InfraError, json_position};

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
    let text = if is_bicep {
        match compiler {
            BicepCompiler::Native => native_bicep(path)?,
            BicepCompiler::External => compile_bicep(path)?,
            BicepCompiler::Check => check_bicep(path)?,
        }
    } else {
        std::fs::read_to_string(path).map_err(|source| InfraError::Read {
            what: "template",
            path: path.to_path_buf(),
            source,
        })?
    };
    parse(path, &text)
}

/// Parses template text; `path` names it in errors.
pub fn parse(path: &Path, text: &str) -> Result<Template, InfraError> {
    let json: Value = serde_json::from_str(text).map_err(|e| {
        let (line, column) = json_position(&e);
        InfraError::NotJson { path: path.to_path_buf(), line, column, message: e.to_string() }
    })?;
    let not_template = |reason: String| InfraError::NotTemplate { path: path.to_path_buf(), reason };
    let object = json.as_object().ok_or_else(|| not_template("the top level is not a JSON object".to_string()))?;
    let schema = object
        .get("$schema")
        .and_then(Value::as_str)
        .ok_or_else(|| not_template("it has no \"$schema\"".to_string()))?;
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
    Ok(Template { path: path.to_path_buf(), json, scope, parameters })
}

fn param_def(name: &str, def: &Value) -> Result<ParamDef, String> {
    let def: &Map<String, Value> = def.as_object().ok_or_else(|| format!("parameter {name:?} is not an object"))?;
    let ty_text =
        def.get("type").and_then(Value::as_str).ok_or_else(|| format!("parameter {name:?} has no \"type\""))?;
    let ty = ParamType::parse(ty_text).ok_or_else(|| format!("parameter {name:?} has unknown type {ty_text:?}"))?;
    let uint = |key: &str| def.get(key).and_then(Value::as_u64);
    let int = |key: &str| def.get(key).and_then(Value::as_i64);
    Ok(ParamDef {
        name: name.to_string(),
        ty,
        has_default: def.contains_key("defaultValue"),
        allowed_values: def.get("allowedValues").and_then(Value::as_array).cloned(),
        min_length: uint("minLength"),
        max_length: uint("maxLength"),
        min_value: int("minValue"),
        max_value: int("maxValue"),
    })
}

/// Compiles a Bicep file with the first external compiler found: `bicep build --stdout`, then
/// `az bicep build --stdout`. The native compiler, when there is one, plugs in here.
fn native_bicep(path: &Path) -> Result<String, InfraError> {
    let template = bicep::compile_file(path)?;
    Ok(bicep::to_pretty_json(&template))
}

/// Compiles both ways and insists on the same template (after the corpus normalisation).
fn check_bicep(path: &Path) -> Result<String, InfraError> {
    let native = bicep::compile_file(path)?;
    let external_text = compile_bicep(path)?;
    let external: Value = serde_json::from_str(&external_text).map_err(|e| InfraError::BicepFailed {
        path: path.to_path_buf(),
        compiler: "bicep build --stdout".to_string(),
        stderr: format!("printed something that is not JSON: {e}"),
    })?;
    if let Some(difference) = bicep::compare::first_difference(&native, &external) {
        return Err(InfraError::BicepMismatch { path: path.to_path_buf(), difference });
    }
    Ok(bicep::to_pretty_json(&native))
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
    }
}
