//! When `bicep build` writes languageVersion 2.0 (symbolic resource names): the checks of
//! `EmitterSettings.EnableSymbolicNames` that can hold for the subset this compiler accepts.
//!
//! The others (extensions, a whole resource
//! collection used as a value, `@onlyIfNotExists`, `@retryOn`) are refused
//! before a template is written, so they never decide between the two forms here.

use serde_json::Value;

use super::ast::*;
use super::convert::ModuleTemplate;
use super::model::Model;

/// Whether the template is written with symbolic names (languageVersion 2.0).
pub fn symbolic_names(model: &Model<'_>, module_templates: &[ModuleTemplate]) -> bool {
    !model.types.is_empty()
        || !model.funcs.is_empty()
        || !model.imports.is_empty()
        || model.vars.iter().any(|v| v.ty.is_some())
        || model.outputs.iter().any(|o| o.decorators.iter().any(|d| d.name == "secure"))
        || module_templates.iter().any(|m| has_secure_outputs(&m.template))
        || model.params.iter().any(|p| uses_type_syntax(&p.ty))
        || model.outputs.iter().any(|o| uses_type_syntax(&o.ty))
        || model.vars.iter().filter_map(|v| v.ty.as_ref()).any(uses_type_syntax)
        || model.resources.iter().any(|r| r.decl.existing && prop(r.body, "dependsOn").is_some())
        || model.modules.iter().any(|m| prop(m.body, "name").is_none())
}

/// Object, array, tuple, union or nullable type syntax anywhere in the type (a literal type, a
/// name or a resource-derived type alone is not).
fn uses_type_syntax(t: &TypeNode) -> bool {
    match &t.kind {
        TypeKind::Object { .. }
        | TypeKind::Array(_)
        | TypeKind::Tuple(_)
        | TypeKind::Union(_)
        | TypeKind::Nullable(_) => true,
        TypeKind::Property(base, _) => uses_type_syntax(base),
        TypeKind::Named(_) | TypeKind::Literal(_) | TypeKind::Derived { .. } => false,
    }
}

/// A module whose template has a secure output (`listOutputsWithSecureValues` needs symbolic names).
fn has_secure_outputs(template: &Value) -> bool {
    template["outputs"].as_object().is_some_and(|outputs| {
        outputs.values().any(|o| {
            o["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("securestring") || t.eq_ignore_ascii_case("secureobject"))
        })
    })
}
