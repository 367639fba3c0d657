//! Compile-time imports (`import {…} from`, `import * as`): which symbols of the imported templates
//! a template copies into its own `definitions`, under which names and in which order, as
//! `ImportClosureInfo` and `TemplateWriter` in the official compiler decide it. Works on templates
//! already loaded as ARM JSON (a Bicep file is first compiled to its type definitions), so it reads
//! no files. Types and self-contained functions are imported; an exported variable is refused by name.

use std::collections::{HashMap, HashSet, VecDeque};

use serde_json::{Map, Value};

use super::ast::{ImportDecl, ImportItems};
use super::collation;
use super::error::{DResult, Diag, ErrorKind, Span};

const DEFINITIONS: &str = "#/definitions/";
const EXPORT: &str = "__bicep_export!";
const IMPORTED_FROM: &str = "__bicep_imported_from!";

/// One imported template, as far as imports need it.
#[derive(Debug, Default)]
pub struct Source {
    /// The template identifier written to `__bicep_imported_from!.sourceTemplate`: a registry
    /// reference fully qualified, or a local path relative to the directory of the file compiled.
    pub id: String,
    /// Its type definitions, exported or not, as ARM JSON.
    pub definitions: Map<String, Value>,
    /// Its exported user-defined functions (`__bicep` namespace), as ARM JSON members.
    pub functions: Map<String, Value>,
    /// The names it exports that are not types (variables and functions).
    pub other_exports: Vec<String>,
    /// For a Bicep file: the names its own imports bind, and the symbol each stands for.
    pub imports: HashMap<String, Symbol>,
    /// A Bicep file (compiled here), not an ARM template: its resource-derived types are the
    /// compiler's own, written as such, where an ARM template's are schemata read back.
    pub bicep: bool,
}

/// A definition of one source template.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Symbol {
    pub source: usize,
    pub name: String,
}

/// What the importing file gets: the names it may use as types and the definitions to append.
#[derive(Debug, Default)]
pub struct Closure {
    /// Names bound by `import {…}`, usable as types.
    pub types: HashSet<String>,
    /// `ns.name` of a wildcard import → the name of its definition.
    pub wildcard: HashMap<(String, String), String>,
    /// The imported definitions, in the order `bicep build` writes them after the file's own.
    pub definitions: Vec<(String, Value)>,
    /// Imported user-defined functions by local name, in the order `bicep build` writes them
    /// after the file's own, each with the number of its parameters.
    pub functions: Vec<(String, Value)>,
}

impl Closure {
    /// The parameter count of an imported function, if `name` is one.
    pub fn function_arity(&self, name: &str) -> Option<usize> {
        self.functions.iter().find(|(n, _)| n == name).map(|(_, f)| f["parameters"].as_array().map_or(0, Vec::len))
    }
}

impl Source {
    fn exports_type(&self, name: &str) -> bool {
        self.definitions.get(name).is_some_and(|d| d["metadata"][EXPORT] == Value::Bool(true))
    }

    /// The symbol a definition name stands for in this template: through a Bicep file's imports.
    fn resolve(&self, me: usize, name: &str) -> Symbol {
        self.imports.get(name).cloned().unwrap_or_else(|| Symbol { source: me, name: name.to_string() })
    }
}

/// The import closure of a file whose import statements are `imports`, each with the index of its
/// loaded template in `sources`.
pub fn closure(sources: &[Source], imports: &[(&ImportDecl, usize)]) -> DResult<Closure> {
    let mut out = Closure::default();
    // Symbols imported by name keep the name they are bound to.
    let mut names: HashMap<Symbol, String> = HashMap::new();
    let mut queue = VecDeque::new();
    let mut wildcard_symbols = Vec::new();
    for &(decl, s) in imports {
        let source = &sources[s];
        match &decl.items {
            ImportItems::Named(items) => {
                for item in items {
                    if let Some(function) = source.functions.get(&item.name) {
                        out.functions.push((
                            item.local().to_string(),
                            imported_function(function, source, item.local(), &item.name, item.name_span)?,
                        ));
                        continue;
                    }
                    if source.other_exports.contains(&item.name) {
                        return Err(Diag::unsupported(item.name_span, "importing a variable"));
                    }
                    if !source.exports_type(&item.name) {
                        return Err(Diag::new(
                            ErrorKind::Undefined,
                            item.name_span,
                            format!("'{}' does not export a symbol named '{}'", decl.path, item.name),
                        ));
                    }
                    let symbol = source.resolve(s, &item.name);
                    names.insert(symbol.clone(), item.local().to_string());
                    out.types.insert(item.local().to_string());
                    queue.push_back((symbol, item.name_span));
                }
            }
            ImportItems::Wildcard { alias, alias_span } => {
                if !source.other_exports.is_empty() {
                    return Err(Diag::unsupported(*alias_span, "a wildcard import of variables or functions"));
                }
                for name in source.definitions.keys().filter(|n| source.exports_type(n)) {
                    let symbol = source.resolve(s, name);
                    wildcard_symbols.push(((alias.clone(), name.clone()), symbol.clone()));
                    queue.push_back((symbol, *alias_span));
                }
            }
        }
    }

    let mut closure: Vec<Symbol> = Vec::new();
    let mut seen = HashSet::new();
    // The error of a symbol found through another is reported at the import that led to it.
    while let Some((symbol, span)) = queue.pop_front() {
        if !seen.insert(symbol.clone()) {
            continue;
        }
        let source = &sources[symbol.source];
        let Some(definition) = source.definitions.get(&symbol.name) else {
            let message = format!("'{}' has no type definition '{}'", source.id, symbol.name);
            return Err(Diag::new(ErrorKind::Invalid, span, message));
        };
        let mut refs = Vec::new();
        collect_refs(definition, &mut refs);
        for pointer in refs {
            let name = local_definition(source, &pointer, span)?;
            queue.push_back((source.resolve(symbol.source, name), span));
        }
        closure.push(symbol);
    }

    // `CalculateImportedSymbolNames`: the rest are `_<template>.<name>`, numbered in the order of
    // "<template>_<name>", the counter shared with names that are not identifiers.
    let original = |s: &Symbol| original_name(&s.name);
    let mut others: Vec<&Symbol> = closure.iter().filter(|s| !names.contains_key(*s)).collect();
    others.sort_by(|a, b| {
        let key = |s: &Symbol| format!("{}_{}", sources[s.source].id, original(s));
        collation::compare(&key(a), &key(b))
    });
    let mut counter = 1;
    let mut template_ids: HashMap<&str, usize> = HashMap::new();
    for symbol in others {
        let id = *template_ids.entry(sources[symbol.source].id.as_str()).or_insert_with(|| {
            counter += 1;
            counter - 1
        });
        let symbol_id = if is_identifier(&symbol.name) {
            symbol.name.clone()
        } else {
            counter += 1;
            format!("_{}", counter - 1)
        };
        names.insert(symbol.clone(), format!("_{id}.{symbol_id}"));
    }
    for (key, symbol) in wildcard_symbols {
        out.wildcard.insert(key, names[&symbol].clone());
    }

    for symbol in &closure {
        let source = &sources[symbol.source];
        let name = names[symbol].clone();
        let rename = |pointer: &str| -> Option<String> {
            let target = source.resolve(symbol.source, pointer.strip_prefix(DEFINITIONS)?);
            names.get(&target).map(|n| format!("{DEFINITIONS}{n}"))
        };
        let mut value = source.definitions[&symbol.name].clone();
        rewrite_refs(&mut value, &rename);
        let origin = original(symbol);
        let mut imported_from = Map::new();
        imported_from.insert("sourceTemplate".into(), Value::from(source.id.as_str()));
        if !name.ends_with(&origin) {
            imported_from.insert("originalIdentifier".into(), Value::from(origin));
        }
        out.definitions.push((name, Value::Object(redeclare(value, imported_from, source.bicep))));
    }
    out.definitions.sort_by(|a, b| collation::compare(&a.0, &b.0));
    out.functions.sort_by(|a, b| collation::compare(&a.0, &b.0));
    Ok(out)
}

/// An imported function as the importing template writes it: its member without the export mark,
/// with where it came from. One that calls other functions or refers to types would bring them
/// along (`ImportClosureInfo`), which is not modelled: refused.
fn imported_function(function: &Value, source: &Source, local: &str, original: &str, span: Span) -> DResult<Value> {
    let text = function.to_string();
    if text.contains("__bicep.") || text.contains("\"$ref\"") {
        return Err(Diag::unsupported(span, "an imported function that uses other functions or declared types"));
    }
    let mut member = function.clone();
    let mut metadata = member["metadata"].as_object().cloned().unwrap_or_default();
    metadata.remove(EXPORT);
    let mut imported_from = Map::new();
    imported_from.insert("sourceTemplate".into(), Value::from(source.id.as_str()));
    if local != original {
        imported_from.insert("originalIdentifier".into(), Value::from(original));
    }
    metadata.insert(IMPORTED_FROM.into(), Value::Object(imported_from));
    member["metadata"] = Value::Object(metadata);
    Ok(member)
}

/// The definition name a `$ref` of `source` points to; a pointer into part of a definition
/// (`#/definitions/a/properties/b`) is refused.
fn local_definition<'s>(source: &Source, pointer: &'s str, span: Span) -> DResult<&'s str> {
    match pointer.strip_prefix(DEFINITIONS) {
        Some(name) if source.definitions.contains_key(name) || source.imports.contains_key(name) => Ok(name),
        _ => Err(Diag::unsupported(span, "an imported type that refers to part of another type")),
    }
}

/// `ArmSymbolicReference.OriginalSymbolName`: the definition name when it is an identifier, else
/// the whole JSON pointer.
fn original_name(name: &str) -> String {
    if is_identifier(name) { name.to_string() } else { format!("{DEFINITIONS}{name}") }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(p)) => out.push(p.clone()),
                    _ => collect_refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

fn rewrite_refs(v: &mut Value, rename: &impl Fn(&str) -> Option<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                match v {
                    Value::String(p) if k == "$ref" => {
                        if let Some(new) = rename(p) {
                            *p = new;
                        }
                    }
                    _ => rewrite_refs(v, rename),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_refs(v, rename)),
        _ => {}
    }
}

/// The declaration as `ArmDeclarationToExpressionConverter` reads it back and `TemplateWriter`
/// writes it again, with `__bicep_imported_from!` merged into its metadata last.
fn redeclare(value: Value, imported_from: Map<String, Value>, bicep: bool) -> Map<String, Value> {
    let Value::Object(map) = value else { return Map::new() };
    let mut map = reemit(map, bicep);
    let metadata = map.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(m) = metadata {
        m.insert(IMPORTED_FROM.into(), Value::Object(imported_from));
    }
    map
}

/// One schema node read back as a type expression with modifiers and written again: the type's
/// own keys in place (its nested schemata likewise), then `nullable` (a nullable type wraps the
/// rest), the metadata other than the description and the export flag, the length and value
/// bounds, and the description, each merged as `ApplyTypeModifiers` merges it; a
/// resource-derived type of a Bicep file (`bicep`; `__bicep_resource_derived_type!` in its
/// metadata) has its `nullable` last, after the metadata, as the official compiler writes its own
/// derived types, while one read from an ARM template keeps the order above (AVM's `main.json`
/// files show both).
fn reemit(mut map: Map<String, Value>, bicep: bool) -> Map<String, Value> {
    const BOUNDS: [&str; 4] = ["minLength", "maxLength", "minValue", "maxValue"];
    let nullable = map.shift_remove("nullable");
    let mut metadata = match map.shift_remove("metadata") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    let bounds: Vec<(&str, Value)> = BOUNDS.iter().filter_map(|b| map.shift_remove(*b).map(|v| (*b, v))).collect();
    let mut out = Map::new();
    for (key, value) in map {
        let value = match (key.as_str(), value) {
            ("properties", Value::Object(props)) => {
                Value::Object(props.into_iter().map(|(k, v)| (k, reemit_value(v, bicep))).collect())
            }
            ("additionalProperties" | "items", v) => reemit_value(v, bicep),
            ("prefixItems", Value::Array(items)) => {
                Value::Array(items.into_iter().map(|v| reemit_value(v, bicep)).collect())
            }
            ("discriminator", Value::Object(mut d)) => {
                if let Some(Value::Object(mapping)) = d.shift_remove("mapping") {
                    let mapping = mapping.into_iter().map(|(k, v)| (k, reemit_value(v, bicep))).collect();
                    d.insert("mapping".into(), Value::Object(mapping));
                }
                Value::Object(d)
            }
            (_, v) => v,
        };
        out.insert(key, value);
    }
    // A resource-derived type is rebuilt as one (`type`, its metadata, then `nullable`), as the
    // official compiler writes it when it reads such a schema back.
    let derived = bicep && metadata.contains_key("__bicep_resource_derived_type!");
    let mut nullable = nullable;
    if !derived && let Some(n) = nullable.take() {
        out.insert("nullable".into(), n);
    }
    let description = metadata
        .keys()
        .find(|k| k.eq_ignore_ascii_case("description"))
        .cloned()
        .and_then(|k| metadata.shift_remove(&k))
        .filter(Value::is_string);
    metadata.retain(|k, _| k != EXPORT && !k.eq_ignore_ascii_case("description"));
    if !metadata.is_empty() {
        out.insert("metadata".into(), Value::Object(metadata));
    }
    for (bound, value) in bounds {
        out.insert(bound.into(), value);
    }
    if let Some(d) = description {
        let metadata = out.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = metadata {
            m.insert("description".into(), d);
        }
    }
    if let Some(n) = nullable {
        out.insert("nullable".into(), n);
    }
    out
}

fn reemit_value(v: Value, bicep: bool) -> Value {
    match v {
        Value::Object(m) => Value::Object(reemit(m, bicep)),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infra::bicep::ast::ImportedName;
    use serde_json::json;

    fn import(names: &[(&str, Option<&str>)]) -> ImportDecl {
        let items = names
            .iter()
            .map(|(n, a)| ImportedName {
                name: n.to_string(),
                name_span: Span::default(),
                alias: a.map(str::to_string),
            })
            .collect();
        ImportDecl { items: ImportItems::Named(items), path: "br/public:t:1.0".into(), path_span: Span::default() }
    }

    fn source(definitions: Value) -> Source {
        Source {
            id: "br:mcr.microsoft.com/bicep/t:1.0".into(),
            definitions: definitions.as_object().cloned().unwrap_or_default(),
            ..Source::default()
        }
    }

    #[test]
    fn imported_types_keep_their_names_and_bring_what_they_reference() {
        let s = source(json!({
            "inner": {"type": "string", "metadata": {"description": "i"}},
            "lock": {
                "type": "object",
                "properties": {"k": {"$ref": "#/definitions/inner", "nullable": true}},
                "metadata": {"__bicep_export!": true, "x": 1, "description": "d"},
                "minLength": 1
            },
            "Other": {"type": "int", "metadata": {"__bicep_export!": true}}
        }));
        let decl = import(&[("lock", None), ("Other", Some("renamed"))]);
        let c = closure(&[s], &[(&decl, 0)]).expect("closure");
        let names: Vec<&str> = c.definitions.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["_1.inner", "lock", "renamed"]);
        assert_eq!(
            serde_json::to_string(&c.definitions[1].1).expect("json"),
            r##"{"type":"object","properties":{"k":{"$ref":"#/definitions/_1.inner","nullable":true}},"metadata":{"x":1,"description":"d","__bicep_imported_from!":{"sourceTemplate":"br:mcr.microsoft.com/bicep/t:1.0"}},"minLength":1}"##
        );
        assert_eq!(
            c.definitions[2].1["metadata"]["__bicep_imported_from!"],
            json!({"sourceTemplate": "br:mcr.microsoft.com/bicep/t:1.0", "originalIdentifier": "Other"})
        );
        assert_eq!(
            c.definitions[0].1["metadata"],
            json!({"description": "i", "__bicep_imported_from!": {"sourceTemplate": "br:mcr.microsoft.com/bicep/t:1.0"}})
        );
    }

    #[test]
    fn only_exported_types_import_and_variables_are_refused() {
        let mut s = source(json!({"hidden": {"type": "string"}}));
        s.other_exports.push("v".into());
        let err = closure(&[s], &[(&import(&[("hidden", None)]), 0)]).expect_err("not exported");
        assert!(matches!(err, Diag::At { kind: ErrorKind::Undefined, .. }), "{err:?}");
        let mut s = source(json!({}));
        s.other_exports.push("v".into());
        let err = closure(&[s], &[(&import(&[("v", None)]), 0)]).expect_err("a variable");
        assert!(matches!(err, Diag::At { kind: ErrorKind::Unsupported, .. }), "{err:?}");
    }

    /// `bicep build` reads an imported type back as a type expression and writes it again, so a
    /// template from an older compiler comes out in today's key order.
    #[test]
    fn nested_schemata_are_written_again_in_the_current_key_order() {
        let node = json!({
            "type": "object",
            "metadata": {"__bicep_resource_derived_type!": {"source": "A/b@1#properties/tags"}, "description": "d"},
            "nullable": true
        });
        let out = reemit(node.as_object().cloned().unwrap_or_default(), false);
        assert_eq!(
            serde_json::to_string(&out).expect("json"),
            r#"{"type":"object","nullable":true,"metadata":{"__bicep_resource_derived_type!":{"source":"A/b@1#properties/tags"},"description":"d"}}"#
        );
        let node = json!({"type": "string", "metadata": {"description": "d"}, "maxLength": 3});
        let out = reemit(node.as_object().cloned().unwrap_or_default(), false);
        assert_eq!(
            serde_json::to_string(&out).expect("json"),
            r#"{"type":"string","maxLength":3,"metadata":{"description":"d"}}"#
        );
    }
}
