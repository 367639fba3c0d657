//! Dependencies: variables that must be inlined, and implicit `dependsOn`.

use super::arm::Arm;
use super::ast::*;
use super::collation;
use super::convert::resources::Target;
use super::convert::{Compiler, Env};
use super::error::{DResult, Diag, ErrorKind, Span};
use super::functions::{self, Builtin};
use super::model::{Model, Sym};

/// Calls `f` on every direct sub-expression of `e`, with the loop variables bound for bodies.
pub(super) fn children<'e>(e: &'e Expr, locals: &[String], f: &mut dyn FnMut(&'e Expr, &[String])) {
    match &e.kind {
        ExprKind::Interp { holes, .. } => holes.iter().for_each(|h| f(h, locals)),
        ExprKind::Object(items) => {
            for item in items {
                if let ObjItem::Prop(p) = item {
                    if let Some(k) = &p.key_expr {
                        f(k, locals);
                    }
                    f(&p.value, locals);
                }
            }
        }
        ExprKind::Array(items) => items.iter().for_each(|i| f(i, locals)),
        ExprKind::For(fe) => {
            f(&fe.collection, locals);
            let mut inner = locals.to_vec();
            inner.extend(fe.item.iter().map(|(n, _)| n.clone()));
            inner.extend(fe.index.iter().map(|(n, _)| n.clone()));
            f(&fe.body, &inner);
        }
        ExprKind::If { cond, body } => {
            f(cond, locals);
            f(body, locals);
        }
        ExprKind::Call { args, .. } => args.iter().for_each(|a| f(a, locals)),
        ExprKind::MethodCall { base, args, .. } => {
            f(base, locals);
            args.iter().for_each(|a| f(a, locals));
        }
        ExprKind::Member { base, .. } | ExprKind::Child { base, .. } => f(base, locals),
        ExprKind::Index { base, index } => {
            f(base, locals);
            f(index, locals);
        }
        ExprKind::Unary { operand, .. } => f(operand, locals),
        ExprKind::Binary { lhs, rhs, .. } => {
            f(lhs, locals);
            f(rhs, locals);
        }
        ExprKind::Ternary { cond, then, other } => {
            f(cond, locals);
            f(then, locals);
            f(other, locals);
        }
        ExprKind::Paren(inner) => f(inner, locals),
        ExprKind::Lambda { params, body } => {
            let mut inner = locals.to_vec();
            inner.extend(params.iter().map(|(n, _)| n.clone()));
            f(body, &inner);
        }
        ExprKind::Str(_) | ExprKind::Int(_) | ExprKind::Bool(_) | ExprKind::Null | ExprKind::Ident(_) => {}
    }
}

pub(super) fn global(model: &Model<'_>, name: &str, locals: &[String]) -> Option<Sym> {
    if locals.iter().any(|l| l == name) { None } else { model.globals.get(name).copied() }
}

/// Whether `e` mentions any of `names` as a plain identifier.
fn mentions_any(e: &Expr, names: &[String]) -> bool {
    if names.is_empty() {
        return false;
    }
    if let ExprKind::Ident(n) = &e.kind
        && names.contains(n)
    {
        return true;
    }
    let mut found = false;
    children(e, &[], &mut |c, _| found = found || mentions_any(c, names));
    found
}

/// Which variables read runtime state (`reference`, `list*`, resource properties, module
/// outputs) and therefore are inlined at each use instead of emitted.
pub fn runtime_variables(model: &Model<'_>) -> Vec<bool> {
    let mut memo: Vec<Option<bool>> = vec![None; model.vars.len()];
    (0..model.vars.len()).map(|v| var_is_runtime(model, v, &mut memo)).collect()
}

fn var_is_runtime(model: &Model<'_>, v: usize, memo: &mut Vec<Option<bool>>) -> bool {
    if let Some(known) = memo[v] {
        return known;
    }
    memo[v] = Some(false);
    let result = is_runtime(model, &model.vars[v].value, &[], memo);
    memo[v] = Some(result);
    result
}

fn is_runtime(model: &Model<'_>, e: &Expr, locals: &[String], memo: &mut Vec<Option<bool>>) -> bool {
    let symbol = |x: &Expr| match &x.kind {
        ExprKind::Ident(n) => global(model, n, locals),
        ExprKind::Index { base, .. } => match &base.kind {
            ExprKind::Ident(n) => global(model, n, locals),
            _ => None,
        },
        ExprKind::Child { .. } => model.child_target(x, None),
        _ => None,
    };
    match &e.kind {
        ExprKind::Member { base, name } => match symbol(base) {
            Some(Sym::Res(_)) => {
                return !matches!(name.as_str(), "id" | "name" | "type" | "apiVersion")
                    || matches!(&base.kind, ExprKind::Index { index, .. } if is_runtime(model, index, locals, memo));
            }
            Some(Sym::Module(_)) => return name != "name",
            _ => {}
        },
        ExprKind::Ident(_) | ExprKind::Index { .. } | ExprKind::Child { .. } => match symbol(e) {
            Some(Sym::Res(_)) | Some(Sym::Module(_)) => return true,
            Some(Sym::Var(v)) if matches!(e.kind, ExprKind::Ident(_)) => {
                return var_is_runtime(model, v, memo);
            }
            _ => {}
        },
        ExprKind::Call { name, .. } => {
            if matches!(functions::lookup(name), Some((Builtin::Runtime, ..))) {
                return true;
            }
        }
        ExprKind::MethodCall { base, name, .. } => {
            if matches!(symbol(base), Some(Sym::Res(_))) {
                return true;
            }
            if matches!(functions::lookup(name), Some((Builtin::Runtime, ..))) {
                return true;
            }
        }
        _ => {}
    }
    let mut found = false;
    children(e, locals, &mut |c, l| {
        if !found {
            found = is_runtime(model, c, l, memo);
        }
    });
    found
}

/// One `dependsOn` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Dep {
    pub target: Target,
    pub index: Option<Arm>,
    /// The indexing expression an element dependency was read from. bicep build keeps one entry
    /// per such syntax node (`Distinct` by `ResourceDependency`, whose index is a node), so an
    /// element named twice in a body is written twice, even as the same text.
    pub node: Option<Span>,
}

impl Compiler<'_> {
    /// The dependencies of a resource or module declaration, deduplicated, sorted by qualified symbol
    /// name as `ExpressionBuilder.BuildDependencyExpressions` sorts them.
    pub fn dependencies(&self, t: Target) -> DResult<Vec<Dep>> {
        let mut out = Vec::new();
        let mut seen_vars = vec![false; self.model.vars.len()];
        let mut seen_existing = vec![false; self.model.resources.len()];
        match t {
            Target::Res(r) => {
                let res = &self.model.resources[r];
                self.walk(&res.decl.value, &self.res_env(r, None)?, &mut out, &mut seen_vars, &mut seen_existing)?;
                // Enclosing resources are dependencies (weak ones: an existing ancestor is passed
                // through); a `parent:` property is an ordinary reference.
                let mut ancestor = res.lexical_parent;
                while let Some(p) = ancestor {
                    self.add_res(p, None, true, &mut out, &mut seen_vars, &mut seen_existing)?;
                    ancestor = self.model.resources[p].lexical_parent;
                }
            }
            Target::Module(m) => {
                let module = &self.model.modules[m];
                self.walk(&module.decl.value, &Env::default(), &mut out, &mut seen_vars, &mut seen_existing)?;
            }
        }
        if let Some(d) = out.iter().find(|d| d.target == t) {
            let span = match d.target {
                Target::Res(r) => self.model.resources[r].decl.name_span,
                Target::Module(m) => self.model.modules[m].decl.name_span,
            };
            return Err(Diag::new(ErrorKind::Cycle, span, "this declaration refers to itself"));
        }
        // A dependency on a whole collection makes indexed ones on the same collection redundant.
        let whole: Vec<Target> = out.iter().filter(|d| d.index.is_none()).map(|d| d.target).collect();
        out.retain(|d| d.index.is_none() || !whole.contains(&d.target));
        out.sort_by(|a, b| collation::compare(&self.copy_name(a.target), &self.copy_name(b.target)));
        Ok(out)
    }

    pub fn symbol_name(&self, t: Target) -> &str {
        match t {
            Target::Res(r) => &self.model.resources[r].decl.name,
            Target::Module(m) => &self.model.modules[m].decl.name,
        }
    }

    /// The symbolic name of a declaration, qualified by enclosing resources (`parent::child`): the
    /// `copy` name of a loop, the key of a languageVersion 2.0 resource, and what `dependsOn` is
    /// sorted by.
    pub(crate) fn copy_name(&self, t: Target) -> String {
        let Target::Res(r) = t else {
            return self.symbol_name(t).to_string();
        };
        let mut parts = vec![self.model.resources[r].decl.name.as_str()];
        let mut cur = self.model.resources[r].lexical_parent;
        while let Some(p) = cur {
            parts.push(&self.model.resources[p].decl.name);
            cur = self.model.resources[p].lexical_parent;
        }
        parts.reverse();
        parts.join("::")
    }

    /// A dependency on resource `r`. An existing resource is not deployed, so classic output
    /// depends on what it depends on instead; with symbolic names it is a dependency itself unless
    /// the reference is weak (reads only its id, name, type or API version, calls a function on it,
    /// or names it as `parent` or `scope`: `ResourceDependencyVisitor.IsWeakReference`).
    /// `index` is the element read and the node it was read from.
    fn add_res(
        &self,
        r: usize,
        index: Option<(Arm, Span)>,
        weak: bool,
        out: &mut Vec<Dep>,
        seen_vars: &mut [bool],
        seen_existing: &mut [bool],
    ) -> DResult<()> {
        let res = &self.model.resources[r];
        if res.decl.existing && (weak || !self.symbolic) {
            if !seen_existing[r] {
                seen_existing[r] = true;
                self.walk(&res.decl.value, &self.res_env(r, None)?, out, seen_vars, seen_existing)?;
                if let Some(p) = res.lexical_parent {
                    self.add_res(p, None, true, out, seen_vars, seen_existing)?;
                }
            }
            return Ok(());
        }
        let (index, node) = index.unzip();
        let dep = Dep { target: Target::Res(r), index, node };
        if !out.contains(&dep) {
            out.push(dep);
        }
        Ok(())
    }

    fn walk(
        &self,
        e: &Expr,
        env: &Env,
        out: &mut Vec<Dep>,
        seen_vars: &mut [bool],
        seen_existing: &mut [bool],
    ) -> DResult<()> {
        self.walk_ref(e, env, false, out, seen_vars, seen_existing)
    }

    /// [`Self::walk`], where `weak` says that `e`, if it names a resource, is a weak reference.
    fn walk_ref(
        &self,
        e: &Expr,
        env: &Env,
        weak: bool,
        out: &mut Vec<Dep>,
        seen_vars: &mut [bool],
        seen_existing: &mut [bool],
    ) -> DResult<()> {
        match &e.kind {
            ExprKind::Member { base, name } if matches!(name.as_str(), "id" | "name" | "type" | "apiVersion") => {
                return self.walk_ref(base, env, true, out, seen_vars, seen_existing);
            }
            ExprKind::MethodCall { base, args, .. } => {
                self.walk_ref(base, env, true, out, seen_vars, seen_existing)?;
                for a in args {
                    self.walk(a, env, out, seen_vars, seen_existing)?;
                }
                return Ok(());
            }
            ExprKind::Ident(name) if env.local(name).is_none() => {
                match self.model.lookup(name, env.res) {
                    Some(Sym::Var(v)) if !seen_vars[v] => {
                        seen_vars[v] = true;
                        self.walk(&self.model.vars[v].value, &Env::default(), out, seen_vars, seen_existing)?;
                    }
                    Some(Sym::Res(r)) => self.add_res(r, None, weak, out, seen_vars, seen_existing)?,
                    Some(Sym::Module(m)) => {
                        let dep = Dep { target: Target::Module(m), index: None, node: None };
                        if !out.contains(&dep) {
                            out.push(dep);
                        }
                    }
                    _ => {}
                }
                return Ok(());
            }
            ExprKind::Index { base, index } => {
                if let Some((t, Some(idx))) = self.target(e, env)? {
                    self.walk(index, env, out, seen_vars, seen_existing)?;
                    let idx = if mentions_any(index, &env.property_locals) { None } else { Some(idx) };
                    let node = idx.as_ref().map(|_| e.span);
                    match t {
                        Target::Res(r) => self.add_res(r, idx.zip(node), weak, out, seen_vars, seen_existing)?,
                        Target::Module(_) => {
                            let dep = Dep { target: t, index: idx, node };
                            if !out.contains(&dep) {
                                out.push(dep);
                            }
                        }
                    }
                    return Ok(());
                }
                let _ = base;
            }
            ExprKind::Child { .. } => {
                if let Some((Target::Res(r), _)) = self.target(e, env)? {
                    self.add_res(r, None, weak, out, seen_vars, seen_existing)?;
                }
                return Ok(());
            }
            ExprKind::Lambda { .. } => {
                let inner = self.lambda_env(e, env);
                let ExprKind::Lambda { body, .. } = &e.kind else { return Ok(()) };
                return self.walk(body, &inner, out, seen_vars, seen_existing);
            }
            ExprKind::For(f) => {
                self.walk(&f.collection, env, out, seen_vars, seen_existing)?;
                let inner = self.loop_env(f, env, Arm::call("copyIndex", vec![]))?;
                return self.walk(&f.body, &inner, out, seen_vars, seen_existing);
            }
            ExprKind::Object(items) => {
                // `parent:` and `scope:` of a declaration's own body are weak references.
                let body = self.model.resources.iter().any(|r| std::ptr::eq(r.body, items.as_slice()))
                    || self.model.modules.iter().any(|m| std::ptr::eq(m.body, items.as_slice()));
                for item in items {
                    let ObjItem::Prop(p) = item else { continue };
                    if body && matches!(p.key.as_str(), "parent" | "scope") && p.key_expr.is_none() {
                        self.walk_ref(&p.value, env, true, out, seen_vars, seen_existing)?;
                        continue;
                    }
                    if let Some(k) = &p.key_expr {
                        self.walk(k, env, out, seen_vars, seen_existing)?;
                    }
                    if let ExprKind::For(f) = &p.value.kind {
                        self.walk(&f.collection, env, out, seen_vars, seen_existing)?;
                        let index = Arm::call("copyIndex", vec![Arm::str(&p.key)]);
                        let mut inner = self.loop_env(f, env, index)?;
                        inner.property_locals.extend(f.item.iter().chain(f.index.iter()).map(|(n, _)| n.clone()));
                        self.walk(&f.body, &inner, out, seen_vars, seen_existing)?;
                    } else {
                        self.walk(&p.value, env, out, seen_vars, seen_existing)?;
                    }
                }
                return Ok(());
            }
            _ => {}
        }
        let mut result = Ok(());
        children(e, &[], &mut |c, _| {
            if result.is_ok() {
                result = self.walk(c, env, out, seen_vars, seen_existing);
            }
        });
        result
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::infra::bicep::compile_str;

    #[test]
    fn depends_on_is_sorted_by_qualified_symbol_name_culture_aware() {
        // avm/res/web/site/slot/config: `app::slot` sorts before `applicationInsights` (and `a_b`
        // before `a1`, `hubrg` before `hubVNET`), not by the nested resource's own name.
        let text = "type t = string\n\
            resource app 'Microsoft.Web/sites@2024-04-01' existing = {\n  name: 'a'\n  \
              resource slot 'slots' existing = {\n    name: 's'\n  }\n}\n\
            resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {\n  name: 'i'\n  location: 'l'\n  kind: 'web'\n}\n\
            resource config 'Microsoft.Web/sites/slots/config@2024-04-01' = {\n  parent: app::slot\n  name: 'appsettings'\n  \
              properties: {\n    k: applicationInsights.properties.ConnectionString\n    s: app::slot.kind\n  }\n}\n";
        let t = compile_str(Path::new("main.bicep"), text).expect("compiles");
        assert_eq!(t["resources"]["config"]["dependsOn"], serde_json::json!(["app::slot", "applicationInsights"]));
    }

    #[test]
    fn an_element_named_twice_is_a_dependency_twice_and_a_whole_loop_once() {
        // avm/ptn/lz/sub-vending: one identity element read twice in a module's body is written
        // twice, as bicep build keeps one entry per indexing expression.
        let text = "param n int\n\
            resource ids 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = [for i in range(0, n): {\n  name: 'id${i}'\n  location: 'l'\n}]\n\
            resource a 'Microsoft.Storage/storageAccounts@2023-01-01' = [for i in range(0, n): {\n  name: 'a${i}'\n  \
              location: 'l'\n  kind: 'StorageV2'\n  sku: {\n    name: 'Standard_LRS'\n  }\n  \
              tags: {\n    p: ids[i].properties.principalId\n    c: ids[i].properties.clientId\n  }\n}]\n\
            resource b 'Microsoft.Storage/storageAccounts@2023-01-01' = {\n  name: 'b'\n  location: 'l'\n  kind: 'StorageV2'\n  \
              sku: {\n    name: 'Standard_LRS'\n  }\n  tags: {\n    p: ids[0].properties.clientId\n  }\n  dependsOn: [\n    ids\n  ]\n}\n";
        let t = compile_str(Path::new("main.bicep"), text).expect("compiles");
        let element = "[resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', \
            format('id{0}', range(0, parameters('n'))[range(0, parameters('n'))[copyIndex()]]))]";
        assert_eq!(t["resources"][1]["dependsOn"], serde_json::json!([element, element]));
        assert_eq!(t["resources"][2]["dependsOn"], serde_json::json!(["ids"]));
    }
}
