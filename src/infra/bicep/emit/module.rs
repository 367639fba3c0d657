//! Template assembly: one module as a nested `Microsoft.Resources/deployments` resource.

use serde_json::{Map, Value, json};

use crate::infra::bicep::arm::Arm;
use crate::infra::bicep::ast::*;
use crate::infra::bicep::convert::resources::Placement;
use crate::infra::bicep::convert::{Compiler, DEPLOYMENTS_API_VERSION, Env};
use crate::infra::bicep::deps::Dep;
use crate::infra::bicep::error::{DResult, Diag, ErrorKind};
use crate::infra::bicep::model::TargetScope;

impl Compiler<'_> {
    pub(super) fn module(&self, m: usize, deps: &[Dep]) -> DResult<Value> {
        let module = &self.model.modules[m];
        for d in &module.decl.decorators {
            if !matches!(d.name.as_str(), "batchSize" | "description") {
                return Err(Diag::unsupported(d.span, &format!("the decorator '@{}' on a module", d.name)));
            }
        }
        let env = self.module_env(m, None)?;
        let mut out = Map::new();
        if let Some(f) = module.for_loop {
            out.insert("copy".into(), self.copy(&module.decl.name, f, &module.decl.decorators, &Env::default())?);
        }
        if let Some(c) = module.condition {
            out.insert("condition".into(), self.json(c, &env)?);
        }
        out.insert("type".into(), Value::from("Microsoft.Resources/deployments"));
        out.insert("apiVersion".into(), Value::from(DEPLOYMENTS_API_VERSION));
        out.insert("name".into(), self.module_name(m, None)?.to_json());
        // A deployment to another kind of scope needs a location; at resource-group scope
        // `deployment()` has none, so bicep build takes the resource group's.
        let deployment_location = || {
            let source = if self.model.scope == TargetScope::ResourceGroup { "resourceGroup" } else { "deployment" };
            Arm::call(source, vec![]).prop("location").to_json()
        };
        match self.module_placement(m)? {
            Placement::Default => {
                if self.model.scope != TargetScope::ResourceGroup {
                    out.insert("location".into(), deployment_location());
                }
            }
            Placement::ResourceGroup(args) => match args.as_slice() {
                [] => {}
                [rg] => {
                    out.insert("resourceGroup".into(), rg.to_json());
                }
                [sub, rg] => {
                    out.insert("subscriptionId".into(), sub.to_json());
                    out.insert("resourceGroup".into(), rg.to_json());
                }
                _ => {}
            },
            Placement::Subscription(args) => {
                if let [sub] = args.as_slice() {
                    out.insert("subscriptionId".into(), sub.to_json());
                } else if self.model.scope == TargetScope::ResourceGroup {
                    let sub = Arm::call("subscription", vec![]).prop("subscriptionId");
                    out.insert("subscriptionId".into(), sub.to_json());
                }
                out.insert("location".into(), deployment_location());
            }
            Placement::Tenant => {
                out.insert("scope".into(), Value::from("/"));
                out.insert("location".into(), deployment_location());
            }
            Placement::ManagementGroup(args) => {
                let id =
                    Arm::call("format", vec![Arm::str("Microsoft.Management/managementGroups/{0}"), args[0].clone()]);
                out.insert("scope".into(), id.to_json());
                out.insert("location".into(), deployment_location());
            }
            Placement::Extension(_) => {
                return Err(Diag::unsupported(module.decl.name_span, "this module scope"));
            }
        }
        let mut params = Map::new();
        for item in module.body {
            match item {
                ObjItem::Prop(p) if p.key == "params" => {
                    let items = match &p.value.kind {
                        ExprKind::Object(items) => items,
                        ExprKind::Call { name, .. } if name == "shallowMerge" => {
                            return Err(Diag::unsupported(
                                p.value.span,
                                "the spread operator '...' in module 'params'",
                            ));
                        }
                        _ => return Err(Diag::new(ErrorKind::Type, p.value.span, "'params' must be an object")),
                    };
                    for item in items {
                        let ObjItem::Prop(param) = item else { continue };
                        if params.contains_key(&param.key) {
                            return Err(Diag::new(
                                ErrorKind::Duplicate,
                                param.key_span,
                                format!("the parameter '{}' is given more than once", param.key),
                            ));
                        }
                        params.insert(param.key.clone(), self.module_param(m, param, &env)?);
                    }
                }
                ObjItem::Prop(p) if matches!(p.key.as_str(), "name" | "scope" | "dependsOn") => {
                    if p.key == "dependsOn" {
                        self.check_explicit_depends_on(&p.value, &env)?;
                    }
                }
                ObjItem::Prop(p) => {
                    return Err(Diag::unsupported(p.key_span, &format!("the module property '{}'", p.key)));
                }
                ObjItem::Resource(r) => {
                    return Err(Diag::new(
                        ErrorKind::Invalid,
                        r.name_span,
                        "a resource cannot be declared inside a module",
                    ));
                }
            }
        }
        self.check_module_params(m, &params)?;
        let mut properties = Map::new();
        properties.insert("expressionEvaluationOptions".into(), json!({"scope": "inner"}));
        properties.insert("mode".into(), Value::from("Incremental"));
        if !params.is_empty() {
            properties.insert("parameters".into(), Value::Object(params));
        }
        // A template spec is linked by id (the official `TemplateSpecWriter`), anything else embedded.
        let module_template = &self.module_templates[m];
        match &module_template.spec_id {
            Some(id) => properties.insert("templateLink".into(), json!({ "id": id })),
            None => properties.insert("template".into(), module_template.template.clone()),
        };
        out.insert("properties".into(), Value::Object(properties));
        if !deps.is_empty() {
            out.insert("dependsOn".into(), self.depends_on(deps)?);
        }
        // Last, after `dependsOn`, as `TemplateWriter` applies it (`ApplyDescription`).
        self.description_metadata(&module.decl.decorators, &mut out)?;
        Ok(Value::Object(out))
    }

    fn check_module_params(&self, m: usize, given: &Map<String, Value>) -> DResult<()> {
        let module = &self.model.modules[m];
        let declared = self.module_templates[m].template["parameters"].as_object().cloned().unwrap_or_default();
        let span = prop(module.body, "params").map_or(module.decl.name_span, |p| p.key_span);
        for key in given.keys() {
            if !declared.contains_key(key) {
                return Err(Diag::new(ErrorKind::Type, span, format!("the module has no parameter '{key}'")));
            }
        }
        let template = &self.module_templates[m].template;
        // A nullable parameter (itself or through the definition it refers to) is optional.
        let nullable = |decl: &Value| {
            decl["nullable"] == Value::Bool(true)
                || decl["$ref"].as_str().and_then(|r| r.strip_prefix("#/definitions/")).is_some_and(|name| {
                    !name.contains('/') && template["definitions"][name]["nullable"] == Value::Bool(true)
                })
        };
        for (key, decl) in &declared {
            if decl.get("defaultValue").is_none() && !nullable(decl) && !given.contains_key(key) {
                return Err(Diag::new(
                    ErrorKind::Type,
                    span,
                    format!("the module's required parameter '{key}' is missing"),
                ));
            }
        }
        Ok(())
    }

    /// Checks that module `m` has the output `name`; whether it is secure.
    pub fn check_output(&self, m: usize, name: &str, e: &Expr) -> DResult<bool> {
        let Some(output) = self.module_templates[m].template["outputs"].get(name) else {
            return Err(Diag::new(ErrorKind::Type, e.span, format!("the module has no output '{name}'")));
        };
        Ok(output["type"]
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case("securestring") || t.eq_ignore_ascii_case("secureobject")))
    }
}
