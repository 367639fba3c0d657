//! Template assembly: one resource with its condition, copy loop and `dependsOn`.

use serde_json::{Map, Value};

use crate::infra::bicep::arm::Arm;
use crate::infra::bicep::ast::*;
use crate::infra::bicep::convert::resources::{Placement, Target};
use crate::infra::bicep::convert::{Compiler, Env};
use crate::infra::bicep::deps::Dep;
use crate::infra::bicep::error::{DResult, Diag, ErrorKind};
use crate::infra::bicep::model::TargetScope;

impl Compiler<'_> {
    fn condition(&self, conds: &[(&Expr, Env)]) -> DResult<Option<Value>> {
        let mut arms = Vec::new();
        for (c, env) in conds {
            arms.push(self.arm(c, env)?);
        }
        Ok(match arms.len() {
            0 => None,
            1 => {
                let (c, env) = &conds[0];
                Some(self.json(c, env)?)
            }
            _ => {
                let mut iter = arms.into_iter();
                let first = iter.next().unwrap_or(Arm::Bool(true));
                Some(iter.fold(first, |acc, c| Arm::call("and", vec![acc, c])).to_json())
            }
        })
    }

    pub(super) fn copy(&self, symbol: &str, f: &ForExpr, decorators: &[Decorator], env: &Env) -> DResult<Value> {
        let mut copy = Map::new();
        copy.insert("name".into(), Value::from(symbol));
        copy.insert("count".into(), self.loop_count(f, env)?);
        if let Some(d) = decorators.iter().find(|d| d.name == "batchSize") {
            copy.insert("mode".into(), Value::from("serial"));
            copy.insert("batchSize".into(), self.literal_int(d)?);
        }
        Ok(Value::Object(copy))
    }

    pub(super) fn depends_on(&self, deps: &[Dep]) -> DResult<Value> {
        let mut out = Vec::new();
        for d in deps {
            let value = match (d.target, &d.index) {
                (t, None) if self.is_loop(t) => Value::from(self.copy_name(t)),
                (t, idx) if self.symbolic => self.symbol_ref(t, idx.as_ref()).to_json(),
                (Target::Res(r), idx) => self.res_id(r, idx.as_ref())?.to_json(),
                (Target::Module(m), idx) => self.module_id(m, idx.as_ref())?.to_json(),
            };
            // Elements read from distinct syntax nodes stay distinct, as bicep build writes them.
            if d.node.is_some() || !out.contains(&value) {
                out.push(value);
            }
        }
        Ok(Value::Array(out))
    }

    pub(super) fn resource(&self, r: usize, deps: &[Dep]) -> DResult<Value> {
        let res = &self.model.resources[r];
        for d in &res.decl.decorators {
            if !matches!(d.name.as_str(), "batchSize" | "description") {
                return Err(Diag::unsupported(d.span, &format!("the decorator '@{}' on a resource", d.name)));
            }
            if d.name == "batchSize" && res.for_loop.is_none() {
                return Err(Diag::new(ErrorKind::Invalid, d.span, "'@batchSize' applies only to loops"));
            }
        }
        let env = self.res_env(r, None)?;
        let mut out = Map::new();
        let mut conds = Vec::new();
        let mut cur = Some(r);
        while let Some(i) = cur {
            if let Some(c) = self.model.resources[i].condition {
                conds.push((c, self.res_env(i, None)?));
            }
            cur = self.model.resources[i].lexical_parent;
        }
        conds.reverse();
        // `copy` before `condition`, as `TemplateWriter.EmitResource` writes them.
        if let Some(f) = res.for_loop {
            let outer = Env { res: res.lexical_parent, ..Env::default() };
            out.insert("copy".into(), self.copy(&self.copy_name(Target::Res(r)), f, &res.decl.decorators, &outer)?);
        }
        if let Some(c) = self.condition(&conds)? {
            out.insert("condition".into(), c);
        }
        if res.decl.existing {
            out.insert("existing".into(), Value::Bool(true));
        }
        out.insert("type".into(), Value::from(res.full_type.as_str()));
        out.insert("apiVersion".into(), Value::from(res.api_version.as_str()));
        if res.decl.existing {
            self.existing_scope(r, &mut out)?;
        }
        // The scope comes before the name (`ExpressionBuilder.EmitResourceScopeProperties`).
        match self.res_placement(r, None)? {
            _ if res.decl.existing => {}
            Placement::Default => {}
            Placement::Extension(id) if res.parent.is_none() => {
                out.insert("scope".into(), id.to_json());
            }
            Placement::Extension(_) => {}
            // `resourceGroup()` or `subscription()` naming the template's own scope.
            Placement::ResourceGroup(args) if args.is_empty() && self.model.scope == TargetScope::ResourceGroup => {}
            Placement::Subscription(args) if args.is_empty() && self.model.scope == TargetScope::Subscription => {}
            // A tenant resource may be deployed from any scope (`ScopeHelper.IsDeployableResourceScope`);
            // a child inherits its parent's scope data, so it says so too.
            Placement::Tenant => {
                if self.model.scope != TargetScope::Tenant {
                    out.insert("scope".into(), Value::from("/"));
                }
            }
            _ => {
                let span = prop(res.body, "scope").map_or(res.decl.name_span, |p| p.value.span);
                return Err(Diag::unsupported(span, "a new resource in another scope (use a module)"));
            }
        }
        out.insert("name".into(), self.res_name(r, None)?.to_json());
        for item in res.body {
            let ObjItem::Prop(p) = item else { continue };
            if matches!(p.key.as_str(), "name" | "parent" | "scope" | "dependsOn") {
                if p.key == "dependsOn" {
                    self.check_explicit_depends_on(&p.value, &env)?;
                }
                continue;
            }
            if res.decl.existing {
                return Err(Diag::unsupported(
                    p.key_span,
                    "a property other than name, parent and scope on an existing resource",
                ));
            }
            if out.contains_key(&p.key) {
                return Err(Diag::declared_twice(p.key_span, format_args!("the property '{}'", p.key)));
            }
            if matches!(p.value.kind, ExprKind::For(_)) {
                return Err(Diag::unsupported(p.value.span, "a loop directly on a resource property"));
            }
            let value = self.json(&p.value, &env)?;
            out.insert(p.key.clone(), value);
        }
        if !deps.is_empty() {
            out.insert("dependsOn".into(), self.depends_on(deps)?);
        }
        // Last, after `dependsOn`, as `TemplateWriter` applies it (`ApplyDescription`).
        self.description_metadata(&res.decl.decorators, &mut out)?;
        Ok(Value::Object(out))
    }

    /// Checks an explicit `dependsOn`: an array of resources and modules, or an expression that
    /// evaluates to one (a whole resource or module loop, `c ? [a] : []`). The dependencies
    /// themselves are every symbol the expression mentions, both branches of a condition included,
    /// as the official `ResourceDependencyVisitor` collects them; [`dependencies`] finds them.
    pub(super) fn check_explicit_depends_on(&self, e: &Expr, env: &Env) -> DResult<()> {
        let not_an_array =
            || Diag::new(ErrorKind::Type, e.span, "'dependsOn' must be an array of resources or modules");
        match &e.kind {
            ExprKind::Array(items) => {
                for item in items {
                    match self.target(item, env)? {
                        // With symbolic names the existing resource is itself the dependency
                        // (`"dependsOn": ["mgExisting"]`); what classic output writes is not modelled.
                        Some((Target::Res(r), _)) if self.model.resources[r].decl.existing && !self.symbolic => {
                            return Err(Diag::unsupported(item.span, "an explicit dependency on an existing resource"));
                        }
                        Some(_) => {}
                        None => {
                            return Err(Diag::new(
                                ErrorKind::Type,
                                item.span,
                                "'dependsOn' entries must be resources or modules",
                            ));
                        }
                    }
                }
                Ok(())
            }
            ExprKind::Paren(inner) => self.check_explicit_depends_on(inner, env),
            ExprKind::Ternary { then, other, .. } => {
                self.check_explicit_depends_on(then, env)?;
                self.check_explicit_depends_on(other, env)
            }
            // A whole loop of resources or modules is an array of them.
            ExprKind::Ident(_) => match self.target(e, env)? {
                Some((Target::Res(r), None)) if self.model.resources[r].for_loop.is_some() => {
                    if self.model.resources[r].decl.existing && !self.symbolic {
                        return Err(Diag::unsupported(e.span, "an explicit dependency on an existing resource"));
                    }
                    Ok(())
                }
                Some((Target::Module(m), None)) if self.model.modules[m].for_loop.is_some() => Ok(()),
                Some(_) => Err(not_an_array()),
                None => Err(Diag::unsupported(e.span, "a 'dependsOn' that is not an array literal")),
            },
            // A literal is never a dependency.
            ExprKind::Str(_)
            | ExprKind::Interp { .. }
            | ExprKind::Int(_)
            | ExprKind::Bool(_)
            | ExprKind::Null
            | ExprKind::Object(_) => Err(not_an_array()),
            _ => Err(Diag::unsupported(e.span, "a 'dependsOn' that is not an array literal")),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::infra::bicep::compile_str;

    #[test]
    fn a_description_comes_last_after_depends_on() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("m.bicep"), "param p string = ''\n").expect("write");
        let text = "resource a 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name: 'a'\n  location: 'l'\n  \
                    kind: 'StorageV2'\n  sku: {\n    name: 'Standard_LRS'\n  }\n}\n\
                    @description('d')\nresource l 'Microsoft.Authorization/locks@2020-05-01' = {\n  name: 'l'\n  scope: a\n  \
                    properties: {\n    level: 'CanNotDelete'\n  }\n  dependsOn: [\n    m\n  ]\n}\n\
                    @description('d')\nmodule m 'm.bicep' = {\n  name: 'm'\n  dependsOn: [\n    a\n  ]\n}\n";
        let t = compile_str(&dir.path().join("main.bicep"), text).expect("compiles");
        for r in t["resources"].as_array().expect("resources").iter().skip(1) {
            let keys: Vec<&str> = r.as_object().expect("resource").keys().map(String::as_str).collect();
            assert_eq!(keys[keys.len() - 2..], ["dependsOn", "metadata"], "{r}");
        }
    }

    #[test]
    fn a_new_resource_at_the_tenant_or_its_own_scope_needs_no_module() {
        let text = "targetScope = 'managementGroup'\n\
            resource mg 'Microsoft.Management/managementGroups@2023-04-01' = {\n  name: 'x'\n  scope: tenant()\n}\n";
        let t = compile_str(Path::new("main.bicep"), text).expect("compiles");
        assert_eq!(t["resources"][0]["scope"], "/");
        // At tenant scope it is the template's own scope: nothing to say.
        let t = compile_str(Path::new("main.bicep"), &text.replace("managementGroup'", "tenant'")).expect("compiles");
        assert!(t["resources"][0].get("scope").is_none(), "{t}");
        // Naming the template's own scope says nothing.
        let own = "resource r 'Microsoft.Authorization/locks@2020-05-01' = {\n  name: 'x'\n  scope: resourceGroup()\n  \
                   properties: {\n    level: 'CanNotDelete'\n  }\n}\n";
        let t = compile_str(Path::new("main.bicep"), own).expect("compiles");
        assert!(t["resources"][0].get("scope").is_none(), "{t}");
        // Any other scope still needs a module (BCP139).
        let other = "targetScope = 'subscription'\n\
            resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {\n  name: 'x'\n  location: 'l'\n  scope: subscription('s')\n}\n";
        let err = compile_str(Path::new("main.bicep"), other).expect_err("refused").to_string();
        assert!(err.contains("a new resource in another scope"), "{err}");
    }
}
