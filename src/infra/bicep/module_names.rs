//! Two modules deployed under one name to one scope (the official compiler's BCP122).
//!
//! ARM would run the second deployment over the first, so the official compiler refuses the file.
//! It compares what it can know at compile time, and so does this: names that are string literals
//! (directly or through a variable), and scopes by their management group, subscription and
//! resource group arguments (`EmitLimitationCalculator.ModuleIdComparer`). An argument that is not
//! a literal equals only itself; a scope this module cannot classify equals nothing.

use std::collections::HashMap;

use super::ast::*;
use super::error::{DResult, Diag, ErrorKind};
use super::model::{Model, Sym};

/// One part of a module's scope as the comparison sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Segment {
    Literal(String),
    /// An expression that is not a literal: equal only to the same syntax node (two modules scoped
    /// to one resource-group resource share its name expression).
    Node(usize),
    /// A scope that could not be classified: equal to nothing else.
    Unknown(usize),
}

type Scope = [Option<Segment>; 3];

/// Rejects a file in which two modules, each always deployed, have the same literal name and the
/// same scope.
pub fn check_module_names(model: &Model<'_>) -> DResult<()> {
    let mut groups: HashMap<(String, Scope), Vec<usize>> = HashMap::new();
    let mut order = Vec::new();
    for (m, module) in model.modules.iter().enumerate() {
        let Some(name) = prop(module.body, "name").and_then(|p| literal_string(model, &p.value)) else {
            continue;
        };
        if !module.condition.is_none_or(|c| literal_true(model, c)) {
            continue;
        }
        let key = (name, scope(model, m));
        let members = groups.entry(key.clone()).or_default();
        if members.is_empty() {
            order.push(key);
        }
        members.push(m);
    }
    for key in order {
        let members = &groups[&key];
        if members.len() < 2 {
            continue;
        }
        let names = members.iter().map(|&m| format!("'{}'", model.modules[m].decl.name)).collect::<Vec<_>>();
        let first = &model.modules[members[0]];
        let span = prop(first.body, "name").map_or(first.decl.name_span, |p| p.value.span);
        return Err(Diag::new(
            ErrorKind::Duplicate,
            span,
            format!(
                "the modules {} are deployed with the same name '{}' to the same scope; rename them or split them into different files",
                names.join(", "),
                key.0
            ),
        ));
    }
    Ok(())
}

fn scope(model: &Model<'_>, m: usize) -> Scope {
    let unknown = || [Some(Segment::Unknown(m)), None, None];
    let Some(value) = prop(model.modules[m].body, "scope").map(|p| &p.value) else {
        return [None, None, None];
    };
    match &value.kind {
        ExprKind::Call { name, args, .. } => call_scope(model, name, args).unwrap_or_else(unknown),
        ExprKind::MethodCall { base, name, args, .. } if matches!(&base.kind, ExprKind::Ident(ns) if ns == "az") => {
            call_scope(model, name, args).unwrap_or_else(unknown)
        }
        ExprKind::Ident(symbol) => match model.globals.get(symbol) {
            Some(Sym::Res(r)) => resource_scope(model, *r).unwrap_or_else(unknown),
            _ => unknown(),
        },
        _ => unknown(),
    }
}

/// `ScopeHelper.ValidateScope` for the scope functions: which argument names which part.
fn call_scope(model: &Model<'_>, name: &str, args: &[Expr]) -> Option<Scope> {
    let seg = |e: &Expr| Some(segment(model, e));
    Some(match (name, args) {
        ("tenant", []) | ("managementGroup", []) | ("subscription", []) | ("resourceGroup", []) => [None, None, None],
        ("managementGroup", [mg]) => [seg(mg), None, None],
        ("subscription", [sub]) => [None, seg(sub), None],
        ("resourceGroup", [rg]) => [None, None, seg(rg)],
        ("resourceGroup", [sub, rg]) => [None, seg(sub), seg(rg)],
        _ => return None,
    })
}

/// A module scoped to a resource group or management group resource: its name, and for a
/// resource group the subscription it is declared in.
fn resource_scope(model: &Model<'_>, r: usize) -> Option<Scope> {
    let res = &model.resources[r];
    if res.for_loop.is_some() {
        return None;
    }
    let name = prop(res.body, "name").map(|p| segment(model, &p.value))?;
    if res.full_type.eq_ignore_ascii_case("Microsoft.Management/managementGroups") {
        return Some([Some(name), None, None]);
    }
    if !res.full_type.eq_ignore_ascii_case("Microsoft.Resources/resourceGroups") {
        return None;
    }
    let subscription = match prop(res.body, "scope").map(|p| &p.value) {
        None => None,
        Some(Expr { kind: ExprKind::Call { name, args, .. }, .. }) if name == "subscription" => match args.as_slice() {
            [] => None,
            [sub] => Some(segment(model, sub)),
            _ => return None,
        },
        Some(_) => return None,
    };
    Some([None, subscription, Some(name)])
}

fn segment(model: &Model<'_>, e: &Expr) -> Segment {
    match literal_string(model, e) {
        Some(s) => Segment::Literal(s),
        None => Segment::Node(std::ptr::from_ref(e) as usize),
    }
}

/// The value of a string literal, or of a variable whose value is one.
fn literal_string(model: &Model<'_>, e: &Expr) -> Option<String> {
    match &resolve(model, e, 0)?.kind {
        ExprKind::Str(s) => Some(s.clone()),
        ExprKind::Interp { parts, holes } if holes.is_empty() => Some(parts.concat()),
        _ => None,
    }
}

fn literal_true(model: &Model<'_>, e: &Expr) -> bool {
    matches!(resolve(model, e, 0).map(|e| &e.kind), Some(ExprKind::Bool(true)))
}

/// Follows variables to the expression they stand for; `None` past a cycle's worth of hops
/// (cycles are reported elsewhere).
fn resolve<'e>(model: &'e Model<'_>, e: &'e Expr, hops: usize) -> Option<&'e Expr> {
    match &e.kind {
        ExprKind::Paren(inner) => resolve(model, inner, hops),
        ExprKind::Ident(name) if hops <= model.vars.len() => match model.globals.get(name) {
            Some(Sym::Var(v)) => resolve(model, &model.vars[*v].value, hops + 1),
            _ => Some(e),
        },
        _ => Some(e),
    }
}

#[cfg(test)]
mod tests {
    /// A module of `child.bicep` with these `name` and optional `scope` values.
    fn module(sym: &str, name: &str, scope: &str) -> String {
        let scope = if scope.is_empty() { String::new() } else { format!("  scope: {scope}\n") };
        format!("module {sym} 'child.bicep' = {{\n  name: {name}\n{scope}}}\n")
    }

    fn compile(text: &str) -> Option<String> {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("child.bicep"), "targetScope = 'managementGroup'\n").expect("write");
        std::fs::write(dir.path().join("main.bicep"), text).expect("write");
        crate::infra::bicep::compile_file(&dir.path().join("main.bicep")).err().map(|e| e.to_string())
    }

    #[test]
    fn two_modules_with_one_literal_name_and_scope_are_refused_naming_both() {
        let text = format!(
            "targetScope = 'managementGroup'\nvar n = 'x'\n{}{}",
            module("a", "'x'", "managementGroup()"),
            module("b", "n", "")
        );
        let err = compile(&text).expect("refused");
        assert!(err.contains("duplicate name"), "{err}");
        assert!(err.contains("'a', 'b'") && err.contains("same name 'x'"), "{err}");
        assert!(err.contains("main.bicep:4:9:"), "{err}");
    }

    #[test]
    fn other_scopes_names_or_conditions_are_not_duplicates() {
        for second in [
            module("b", "'y'", ""),
            module("b", "'x'", "managementGroup('other')"),
            module("b", "'x${p}'", ""),
            module("b", "p", ""),
            "module b 'child.bicep' = if (p == 'x') {\n  name: 'x'\n}\n".to_string(),
        ] {
            let text = format!("targetScope = 'managementGroup'\nparam p string\n{}{second}", module("a", "'x'", ""));
            assert_eq!(compile(&text), None, "{second}");
        }
    }

    #[test]
    fn a_non_literal_scope_argument_equals_only_itself() {
        let two = |a: &str, b: &str| {
            format!(
                "targetScope = 'managementGroup'\nparam g string\nparam h string\n{}{}",
                module("a", "'x'", &format!("managementGroup({a})")),
                module("b", "'x'", &format!("managementGroup({b})"))
            )
        };
        // Two expressions are two syntax nodes, even when they read the same parameter.
        assert_eq!(compile(&two("g", "g")), None);
        assert!(compile(&two("'m'", "'m'")).is_some_and(|e| e.contains("duplicate name")));
    }

    #[test]
    fn a_file_without_modules_is_untouched() {
        assert_eq!(compile("targetScope = 'managementGroup'\nparam p string\n"), None);
    }
}
