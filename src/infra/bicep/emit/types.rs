//! Template assembly: type expressions as ARM type schemata (`type`, `nullable`, `items`,
//! `allowedValues`, `$ref`, resource-derived metadata), the decorators that modify them, and the
//! `definitions` section of `type` declarations — in the key order `bicep build` writes
//! (`TemplateWriter.TypePropertiesForTypeExpression` and `ApplyTypeModifiers`).

use serde_json::{Map, Value, json};

use crate::infra::bicep::ast::*;
use crate::infra::bicep::convert::{Compiler, Env};
use crate::infra::bicep::error::{DResult, Diag, ErrorKind};
use crate::infra::bicep::type_shapes::{self, ShapeError, Step};

/// Sets `key` as `MergeProperty` does: in place when present (objects merged deeply), else last.
pub(super) fn merge(map: &mut Map<String, Value>, key: &str, value: Value) {
    match (map.get_mut(key), value) {
        (Some(Value::Object(old)), Value::Object(new)) => {
            for (k, v) in new {
                merge(old, &k, v);
            }
        }
        (Some(old), value) => *old = value,
        (None, value) => {
            map.insert(key.to_string(), value);
        }
    }
}

fn literal_json(l: &LiteralType) -> Value {
    match l {
        LiteralType::Str(s) => Value::from(s.as_str()),
        LiteralType::Int(n) => Value::from(*n),
        LiteralType::Bool(b) => Value::from(*b),
        LiteralType::Null => Value::Null,
    }
}

fn literal_type_name(l: &LiteralType) -> Option<&'static str> {
    match l {
        LiteralType::Str(_) => Some("string"),
        LiteralType::Int(_) => Some("int"),
        LiteralType::Bool(_) => Some("bool"),
        LiteralType::Null => None,
    }
}

/// The name Bicep gives a literal type, by which union members are ordered (ordinal comparison).
fn literal_sort_name(l: &LiteralType) -> String {
    match l {
        LiteralType::Str(s) => {
            let escaped = s
                .replace('\\', "\\\\")
                .replace('\'', "\\'")
                .replace('\n', "\\n")
                .replace('\r', "\\r")
                .replace('\t', "\\t")
                .replace("${", "\\${");
            format!("'{escaped}'")
        }
        LiteralType::Int(n) => n.to_string(),
        LiteralType::Bool(b) => b.to_string(),
        LiteralType::Null => "null".into(),
    }
}

/// One member of a union of literals.
enum Member<'t> {
    Literal(&'t LiteralType),
    /// An object type whose properties are all literal types, in declaration order.
    Object(Vec<(&'t str, &'t LiteralType)>),
}

impl Member<'_> {
    /// Bicep's name of the type (`{ cpu: '1', memory: '2Gi' }` for an object).
    fn sort_name(&self) -> String {
        match self {
            Member::Literal(l) => literal_sort_name(l),
            // `ObjectTypeNameBuilder`: `{`, then ` key: type` joined by `,`, then ` }`.
            Member::Object(fields) => {
                let mut name = String::from("{");
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        name.push(',');
                    }
                    let identifier = key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                    let key = if identifier {
                        key.to_string()
                    } else {
                        literal_sort_name(&LiteralType::Str(key.to_string()))
                    };
                    name.push_str(&format!(" {key}: {}", literal_sort_name(value)));
                }
                name.push_str(" }");
                name
            }
        }
    }

    fn type_name(&self) -> Option<&'static str> {
        match self {
            Member::Literal(l) => literal_type_name(l),
            Member::Object(_) => Some("object"),
        }
    }

    fn json(&self) -> Value {
        match self {
            Member::Literal(l) => literal_json(l),
            Member::Object(fields) => {
                Value::Object(fields.iter().map(|(k, v)| (k.to_string(), literal_json(v))).collect())
            }
        }
    }
}

/// RFC 6901 escaping of one JSON pointer segment.
fn pointer_segment(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

impl Compiler<'_> {
    /// The schema of a type expression.
    pub(super) fn type_props(&self, t: &TypeNode) -> DResult<Map<String, Value>> {
        let mut out = Map::new();
        match &t.kind {
            TypeKind::Named(name) => match name.as_str() {
                "any" => {}
                "string" | "int" | "bool" | "object" | "array" => {
                    out.insert("type".into(), Value::from(name.as_str()));
                }
                alias if self.model.type_names.contains_key(alias) || self.imports.types.contains(alias) => {
                    out.insert("$ref".into(), Value::from(format!("#/definitions/{}", pointer_segment(alias))));
                }
                other => {
                    return Err(Diag::new(ErrorKind::Undefined, t.span, format!("'{other}' is not a known type")));
                }
            },
            TypeKind::Literal(LiteralType::Null) => return Err(Diag::unsupported(t.span, "the type 'null'")),
            TypeKind::Literal(l) => {
                out.insert("type".into(), Value::from(literal_type_name(l).unwrap_or_default()));
                out.insert("allowedValues".into(), json!([literal_json(l)]));
            }
            TypeKind::Nullable(inner) => {
                out = self.type_props(inner)?;
                merge(&mut out, "nullable", Value::Bool(true));
            }
            TypeKind::Array(inner) => {
                out.insert("type".into(), Value::from("array"));
                match self.allowed_values(inner)? {
                    Some(values) => out.insert("allowedValues".into(), values),
                    None => out.insert("items".into(), Value::Object(self.type_props(inner)?)),
                };
            }
            TypeKind::Union(_) => {
                let (nullable, name, values) = self.union(t)?;
                if let Some(name) = name {
                    out.insert("type".into(), Value::from(name));
                }
                out.insert("allowedValues".into(), values);
                if nullable {
                    out.insert("nullable".into(), Value::Bool(true));
                }
            }
            TypeKind::Object { props, additional } => {
                out.insert("type".into(), Value::from("object"));
                let mut schemata = Map::new();
                for p in props {
                    // `@allowed` on a property is accepted and, as `ApplyTypeModifiers` has no case
                    // for it, written nowhere (it only constrains parameters).
                    let schema =
                        self.type_modifiers(&p.decorators, self.schema(&p.decorators, &p.ty)?, &["allowed"])?;
                    schemata.insert(p.name.clone(), Value::Object(schema));
                }
                out.insert("properties".into(), Value::Object(schemata));
                if let Some(a) = additional {
                    let schema = self.type_modifiers(&a.decorators, self.schema(&a.decorators, &a.ty)?, &[])?;
                    out.insert("additionalProperties".into(), Value::Object(schema));
                }
            }
            TypeKind::Tuple(items) => {
                out.insert("type".into(), Value::from("array"));
                let mut prefix = Vec::new();
                for item in items {
                    prefix.push(Value::Object(self.type_modifiers(
                        &item.decorators,
                        self.type_props(&item.ty)?,
                        &[],
                    )?));
                }
                out.insert("prefixItems".into(), Value::Array(prefix));
                out.insert("items".into(), Value::Bool(false));
            }
            TypeKind::Property(base, name) if self.wildcard_type(base, name).is_some() => {
                let target = self.wildcard_type(base, name).unwrap_or_default();
                out.insert("$ref".into(), Value::from(format!("#/definitions/{}", pointer_segment(target))));
            }
            TypeKind::Property(..) => {
                let (pointer, _) = self.resolve_property(t)?;
                out.insert("$ref".into(), Value::from(pointer));
            }
            TypeKind::Derived { output, reference, path } => {
                return self.derived_type(t, *output, reference, path);
            }
        }
        Ok(out)
    }

    /// `ns.name` where `ns` is a wildcard import: the name of the imported definition.
    fn wildcard_type(&self, base: &TypeNode, name: &str) -> Option<&str> {
        let TypeKind::Named(ns) = &base.kind else { return None };
        self.imports.wildcard.get(&(ns.clone(), name.to_string())).map(String::as_str)
    }

    /// The schema of a declared type: a tagged union when the declaration has `@discriminator`.
    pub(super) fn schema(&self, decorators: &[Decorator], t: &TypeNode) -> DResult<Map<String, Value>> {
        let Some(d) = decorators.iter().find(|d| d.name == "discriminator") else {
            return self.type_props(t);
        };
        let property = match d.args.as_slice() {
            [Expr { kind: ExprKind::Str(p), .. }] => p,
            _ => return Err(Diag::new(ErrorKind::Type, d.span, "'@discriminator' expects one string literal")),
        };
        let (members, nullable) = match &t.kind {
            TypeKind::Union(members) => (members, false),
            TypeKind::Nullable(inner) => match &inner.kind {
                TypeKind::Union(members) => (members, true),
                _ => return Err(Diag::unsupported(t.span, "this '@discriminator' type")),
            },
            _ => return Err(Diag::unsupported(t.span, "this '@discriminator' type")),
        };
        // `GetDiscriminatedUnionMappingEntries`: each member, in source order, keyed by the string
        // literal its object type gives the discriminator property.
        let mut mapping = Map::new();
        for member in members {
            // An imported member: its tag is read from the imported definition (a literal type is
            // written `{"type": "string", "allowedValues": [<tag>]}`).
            if let TypeKind::Named(name) = &member.kind
                && self.imports.types.contains(name)
                && let Some((_, definition)) = self.imports.definitions.iter().find(|(n, _)| n == name)
            {
                let tag = &definition["properties"][property.as_str()];
                let key = match tag["allowedValues"].as_array().map(Vec::as_slice) {
                    Some([Value::String(v)]) if tag["type"] == "string" => v.clone(),
                    _ => return Err(Diag::unsupported(member.span, "this '@discriminator' union member")),
                };
                mapping.insert(key, Value::Object(self.type_props(member)?));
                continue;
            }
            let (object, schema) = match &member.kind {
                TypeKind::Named(_) => (self.declared_object(member)?, self.type_props(member)?),
                TypeKind::Object { props, .. } => (props.as_slice(), self.type_props(member)?),
                _ => return Err(Diag::unsupported(member.span, "this '@discriminator' union member")),
            };
            let key = object.iter().find(|p| p.name == *property).and_then(|p| match &p.ty.kind {
                TypeKind::Literal(LiteralType::Str(v)) => Some(v.clone()),
                _ => None,
            });
            let Some(key) = key else {
                return Err(Diag::unsupported(member.span, "this '@discriminator' union member"));
            };
            mapping.insert(key, Value::Object(schema));
        }
        let mut out = Map::new();
        out.insert("type".into(), Value::from("object"));
        out.insert("discriminator".into(), json!({"propertyName": property, "mapping": mapping}));
        if nullable {
            out.insert("nullable".into(), Value::Bool(true));
        }
        Ok(out)
    }

    /// The properties of the object type a type name stands for, through aliases.
    fn declared_object<'t>(&'t self, t: &'t TypeNode) -> DResult<&'t [TypeProp]> {
        let mut cur = t;
        for _ in 0..=self.model.types.len() {
            match &cur.kind {
                TypeKind::Named(name) => match self.model.type_names.get(name) {
                    Some(&i) => cur = &self.model.types[i].value,
                    None => break,
                },
                TypeKind::Object { props, .. } => return Ok(props),
                _ => break,
            }
        }
        Err(Diag::unsupported(t.span, "this '@discriminator' union member"))
    }

    /// `{"$ref": ...}` for `alias.a.b`: the pointer into `definitions`, and the declared type of the
    /// property, following aliases to the object type that declares it.
    fn resolve_property<'t>(&'t self, t: &'t TypeNode) -> DResult<(String, &'t TypeNode)> {
        let refuse = || Diag::unsupported(t.span, "this type member access");
        match &t.kind {
            TypeKind::Named(name) => {
                let &i = self.model.type_names.get(name).ok_or_else(refuse)?;
                Ok((format!("#/definitions/{}", pointer_segment(name)), &self.model.types[i].value))
            }
            TypeKind::Property(base, name) => {
                let (mut pointer, mut decl) = self.resolve_property(base)?;
                // Through aliases to the object type (`TraceToObjectDeclaration`).
                for _ in 0..=self.model.types.len() {
                    match &decl.kind {
                        TypeKind::Named(_) | TypeKind::Property(..) => (pointer, decl) = self.resolve_property(decl)?,
                        TypeKind::Object { props, .. } => {
                            let p = props.iter().find(|p| p.name.eq_ignore_ascii_case(name)).ok_or_else(|| {
                                Diag::new(ErrorKind::Type, t.span, format!("the type has no property '{name}'"))
                            })?;
                            return Ok((format!("{pointer}/properties/{}", pointer_segment(&p.name)), &p.ty));
                        }
                        _ => return Err(refuse()),
                    }
                }
                Err(refuse())
            }
            _ => Err(refuse()),
        }
    }

    /// The allowed values of a literal or union item type (`('a' | 'b')[]`), if it is one.
    fn allowed_values(&self, t: &TypeNode) -> DResult<Option<Value>> {
        Ok(match &t.kind {
            TypeKind::Literal(l) => Some(json!([literal_json(l)])),
            TypeKind::Union(_) => Some(self.union(t)?.2),
            _ => None,
        })
    }

    /// A union of literals: whether it admits null, the ARM type of its first member in Bicep's
    /// order, and its members (deduplicated, ordered by their Bicep names as `TypeHelper` orders them).
    fn union(&self, t: &TypeNode) -> DResult<(bool, Option<&'static str>, Value)> {
        let mut members = Vec::new();
        self.flatten_union(t, &mut members)?;
        let mut named: Vec<(String, Member<'_>)> = members.into_iter().map(|m| (m.sort_name(), m)).collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        named.dedup_by(|a, b| a.0 == b.0);
        let is_null = |m: &Member<'_>| matches!(m, Member::Literal(LiteralType::Null));
        let nullable = named.iter().any(|(_, m)| is_null(m));
        named.retain(|(_, m)| !is_null(m));
        let name = named.first().and_then(|(_, m)| m.type_name());
        Ok((nullable, name, Value::Array(named.iter().map(|(_, m)| m.json()).collect())))
    }

    fn flatten_union<'t>(&self, t: &'t TypeNode, out: &mut Vec<Member<'t>>) -> DResult<()> {
        match &t.kind {
            TypeKind::Union(members) => {
                for m in members {
                    self.flatten_union(m, out)?;
                }
                Ok(())
            }
            TypeKind::Literal(l) => {
                out.push(Member::Literal(l));
                Ok(())
            }
            // `'a' | 'b'?`: the nullable member makes the whole union admit null.
            TypeKind::Nullable(inner) => {
                out.push(Member::Literal(&LiteralType::Null));
                self.flatten_union(inner, out)
            }
            // `{ cpu: '1', memory: '2Gi' }`: an object of literals is a literal value too.
            TypeKind::Object { props, additional: None }
                if props.iter().all(|p| p.decorators.is_empty() && matches!(p.ty.kind, TypeKind::Literal(_))) =>
            {
                let fields = props
                    .iter()
                    .filter_map(|p| match &p.ty.kind {
                        TypeKind::Literal(l) => Some((p.name.as_str(), l)),
                        _ => None,
                    })
                    .collect();
                out.push(Member::Object(fields));
                Ok(())
            }
            _ => Err(Diag::unsupported(t.span, "a union member that is not a literal")),
        }
    }

    /// `resourceInput<'T@v'>` and `resourceOutput<…>` with a path (`.properties.x[*].y`): the ARM
    /// type of that path in the resource's schema (`type_shapes`) and the JSON pointer to it, as
    /// `ResourceDerivedTypeResolution` writes them; the whole body is an object. The source is
    /// spelled as the type index spells the type (avm/res/cdn/profile writes
    /// `'microsoft.cdn/…'` and bicep build `Microsoft.Cdn/…`); a type@apiVersion not in the index
    /// keeps its spelling and has Bicep's fallback body.
    fn derived_type(
        &self,
        t: &TypeNode,
        output: bool,
        reference: &str,
        path: &[DerivedStep],
    ) -> DResult<Map<String, Value>> {
        let variant = if output { "resourceOutput" } else { "resourceInput" };
        let refuse = || Diag::unsupported(t.span, &format!("a resource-derived type ('{variant}<>')"));
        // `az:` names the namespace the type is in, which bicep build does not write.
        let unqualified = reference.strip_prefix("az:").unwrap_or(reference);
        let (ty, version) = unqualified.rsplit_once('@').ok_or_else(refuse)?;
        let (reference, known) = match crate::infra::bicep::types::canonical(ty, version) {
            Some((t, v)) => (format!("{t}@{v}"), true),
            None if crate::infra::bicep::types::has_fallback_type(ty, version) => (unqualified.to_string(), false),
            None => return Err(refuse()),
        };
        let reference = reference.as_str();
        let steps: Vec<Step> = path
            .iter()
            .map(|s| match s {
                DerivedStep::Property(name) => Step::Property(name),
                DerivedStep::Items => Step::Items,
                DerivedStep::AdditionalProperties => Step::AdditionalProperties,
            })
            .collect();
        let arm_type = if steps.is_empty() {
            Some("object")
        } else {
            let found =
                if known { type_shapes::arm_type(reference, &steps) } else { type_shapes::fallback_arm_type(&steps) };
            found.map_err(|e| match e {
                ShapeError::NoMember(_) => Diag::new(ErrorKind::Type, t.span, format!("'{reference}': {e}")),
                ShapeError::UnknownType | ShapeError::Opaque(_) => Diag::unsupported(
                    t.span,
                    &format!(
                        "a resource-derived type ('{variant}<>') whose path the bundled schemas do not reach ({e})"
                    ),
                ),
            })?
        };
        let pointer: Vec<String> = path
            .iter()
            .map(|s| match s {
                DerivedStep::Property(name) => format!("properties/{}", pointer_segment(name)),
                DerivedStep::Items => "items".into(),
                DerivedStep::AdditionalProperties => "additionalProperties".into(),
            })
            .collect();
        let source =
            if pointer.is_empty() { reference.to_string() } else { format!("{reference}#{}", pointer.join("/")) };
        let derived = if output { json!({"source": source, "output": true}) } else { json!({"source": source}) };
        let mut out = Map::new();
        if let Some(arm_type) = arm_type {
            out.insert("type".into(), Value::from(arm_type));
        }
        out.insert("metadata".into(), json!({"__bicep_resource_derived_type!": derived}));
        Ok(out)
    }

    /// The decorators of a declaration or type member applied to its schema, in the order
    /// `ApplyTypeModifiers` applies them whatever their order in the source.
    pub(super) fn type_modifiers(
        &self,
        decorators: &[Decorator],
        mut out: Map<String, Value>,
        extra: &[&str],
    ) -> DResult<Map<String, Value>> {
        let find = |name: &str| decorators.iter().find(|d| d.name == name);
        for d in decorators {
            let known = matches!(
                d.name.as_str(),
                "secure"
                    | "sealed"
                    | "metadata"
                    | "description"
                    | "minLength"
                    | "maxLength"
                    | "minValue"
                    | "maxValue"
                    | "discriminator"
            ) || extra.contains(&d.name.as_str());
            if !known {
                return Err(Diag::unsupported(d.span, &format!("the decorator '@{}' here", d.name)));
            }
        }
        if let Some(d) = find("secure") {
            if !d.args.is_empty() {
                return Err(Diag::new(ErrorKind::Type, d.span, "'@secure()' takes no arguments"));
            }
            let secure = match out.get("type").and_then(Value::as_str) {
                Some("string") => "securestring",
                Some("object") => "secureObject",
                _ => {
                    return Err(Diag::new(
                        ErrorKind::Type,
                        d.span,
                        "'@secure()' applies only to string and object types",
                    ));
                }
            };
            merge(&mut out, "type", Value::from(secure));
        }
        if find("sealed").is_some() {
            merge(&mut out, "additionalProperties", Value::Bool(false));
        }
        if find("export").is_some() {
            merge(&mut out, "metadata", json!({"__bicep_export!": true}));
        }
        if let Some(d) = find("metadata") {
            match d.args.as_slice() {
                [e] if matches!(e.kind, ExprKind::Object(_)) => {
                    merge(&mut out, "metadata", self.json(e, &Env::default())?)
                }
                _ => return Err(Diag::new(ErrorKind::Type, d.span, "'@metadata' expects one object")),
            }
        }
        for name in ["minLength", "maxLength", "minValue", "maxValue"] {
            if let Some(d) = find(name) {
                merge(&mut out, name, self.literal_int(d)?);
            }
        }
        if let Some(d) = find("description") {
            merge(&mut out, "metadata", json!({"description": self.description(d)?}));
        }
        Ok(out)
    }

    /// The `definitions` section: each `type` declaration's schema, in source order, then the
    /// imported ones.
    pub(super) fn definitions(&self) -> DResult<Map<String, Value>> {
        let mut out = Map::new();
        for t in &self.model.types {
            if let Some(d) = t.decorators.iter().find(|d| d.name == "allowed") {
                return Err(Diag::unsupported(d.span, "'@allowed' on a type declaration"));
            }
            let schema = self.type_modifiers(&t.decorators, self.schema(&t.decorators, &t.value)?, &["export"])?;
            out.insert(t.name.clone(), Value::Object(schema));
        }
        for (name, schema) in &self.imports.definitions {
            out.insert(name.clone(), schema.clone());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use crate::infra::bicep::compile_str;

    fn compile(text: &str) -> serde_json::Value {
        compile_str(Path::new("derived.bicep"), text).expect("compiles")
    }

    #[test]
    fn derived_types_with_a_path_take_the_schema_type_and_pointer() {
        let out = compile(
            "@description('d')\n\
             param access resourceInput<'Microsoft.Web/sites@2025-03-01'>.properties.publicNetworkAccess?\n\
             param actions resourceInput<'Microsoft.Authorization/roleDefinitions@2022-05-01-preview'>.properties.permissions[*].actions\n\
             param metadata resourceInput<'Microsoft.Logic/integrationAccounts/assemblies@2019-05-01'>.properties.metadata?\n\
             @secure()\n\
             param settings resourceInput<'Microsoft.KubernetesConfiguration/fluxConfigurations@2025-04-01'>.properties.configurationProtectedSettings?\n\
             output https resourceOutput<'Microsoft.Web/sites@2025-03-01'>.properties.httpsOnly = true\n",
        );
        let derived = |source: &str| json!({"__bicep_resource_derived_type!": {"source": source}});
        let params = &out["parameters"];
        assert_eq!(
            params["access"],
            json!({
                "type": "string",
                "metadata": {
                    "__bicep_resource_derived_type!": {
                        "source": "Microsoft.Web/sites@2025-03-01#properties/properties/properties/publicNetworkAccess"
                    },
                    "description": "d"
                },
                "nullable": true
            })
        );
        assert_eq!(
            params["actions"],
            json!({"type": "array", "metadata": derived(
                "Microsoft.Authorization/roleDefinitions@2022-05-01-preview#properties/properties/properties/permissions/items/properties/actions"
            )})
        );
        // `any` in the schema: no `type` at all.
        assert_eq!(
            params["metadata"],
            json!({"metadata": derived(
                "Microsoft.Logic/integrationAccounts/assemblies@2019-05-01#properties/properties/properties/metadata"
            ), "nullable": true})
        );
        assert_eq!(params["settings"]["type"], json!("secureObject"));
        assert_eq!(
            out["outputs"]["https"],
            json!({
                "type": "bool",
                "metadata": {"__bicep_resource_derived_type!": {
                    "source": "Microsoft.Web/sites@2025-03-01#properties/properties/properties/httpsOnly",
                    "output": true
                }},
                "value": true
            })
        );
    }

    #[test]
    fn paths_the_schema_lacks_or_hides_are_errors_not_guesses() {
        let err = |text: &str| compile_str(Path::new("derived.bicep"), text).expect_err("refused").to_string();
        let missing = err("param p resourceInput<'Microsoft.Web/sites@2025-03-01'>.properties.nope\n");
        assert!(missing.contains("has no 'properties.nope'") && !missing.contains("unsupported"), "{missing}");
        let hidden = err("param p resourceInput<'Microsoft.Web/sites/extensions@2025-03-01'>.properties.x\n");
        assert!(hidden.contains("unsupported: a resource-derived type ('resourceInput<>') whose path"), "{hidden}");
    }

    #[test]
    fn a_union_of_object_literals_is_allowed_values_ordered_by_type_name() {
        // From avm/ptn/dev-ops/cicd-agents-and-runners' `acaResourcesType`, whose official
        // `allowedValues` keep this order, which is also the order of the type names
        // (`{ cpu: '1', … }` before `{ cpu: '1.25', … }`); here declared shuffled.
        let text =
            "type t = { cpu: '1.25', memory: '2.5Gi' } | { cpu: '0.5', memory: '1Gi' } | { cpu: '1', memory: '2Gi' }\n";
        let t = compile_str(Path::new("main.bicep"), text).expect("compiles");
        assert_eq!(
            t["definitions"]["t"],
            serde_json::json!({
                "type": "object",
                "allowedValues": [
                    {"cpu": "0.5", "memory": "1Gi"},
                    {"cpu": "1", "memory": "2Gi"},
                    {"cpu": "1.25", "memory": "2.5Gi"},
                ],
            })
        );
        let other = "type t = { cpu: string } | { cpu: '1' }\n";
        let err = compile_str(Path::new("main.bicep"), other).expect_err("refused").to_string();
        assert!(err.contains("a union member that is not a literal"), "{err}");
    }
}
