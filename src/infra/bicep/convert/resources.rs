//! Resource and module identity: names, `resourceId(...)` forms, scopes and loop elements.

use super::{Compiler, Env};
use crate::infra::bicep::arm::Arm;
use crate::infra::bicep::ast::*;
use crate::infra::bicep::error::{DResult, Diag, ErrorKind};
use crate::infra::bicep::model::{Model, Sym, TargetScope};

/// A resource or module symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Res(usize),
    Module(usize),
}

/// Where a resource or module is deployed, relative to the template's own scope.
#[derive(Debug, Clone)]
pub enum Placement {
    /// The template's own scope.
    Default,
    /// An extension resource on another resource (its id).
    Extension(Arm),
    /// `resourceGroup(...)` with 0, 1 or 2 arguments.
    ResourceGroup(Vec<Arm>),
    /// `subscription(...)` with 0 or 1 arguments.
    Subscription(Vec<Arm>),
    Tenant,
    /// `managementGroup(name)`.
    ManagementGroup(Vec<Arm>),
}

impl Compiler<'_> {
    /// The resource or module an expression names (`x`, `x[i]`, `a::b`), with the element index.
    pub fn target(&self, e: &Expr, env: &Env) -> DResult<Option<(Target, Option<Arm>)>> {
        match &e.kind {
            ExprKind::Ident(name) if env.local(name).is_none() => Ok(match self.model.lookup(name, env.res) {
                Some(Sym::Res(r)) => Some((Target::Res(r), None)),
                Some(Sym::Module(m)) => Some((Target::Module(m), None)),
                _ => None,
            }),
            ExprKind::Index { base, index } => {
                if let ExprKind::Ident(_) | ExprKind::Child { .. } = &base.kind
                    && let Some((t, None)) = self.target(base, env)?
                {
                    return Ok(Some((t, Some(self.arm(index, env)?))));
                }
                Ok(None)
            }
            ExprKind::Child { .. } => match self.model.child_target(e, env.res) {
                Some(Sym::Res(r)) => Ok(Some((Target::Res(r), None))),
                _ => Err(Diag::new(ErrorKind::Undefined, e.span, "this nested resource does not exist")),
            },
            _ => Ok(None),
        }
    }

    pub fn is_loop(&self, t: Target) -> bool {
        match t {
            Target::Res(r) => self.model.resources[r].for_loop.is_some(),
            Target::Module(m) => self.model.modules[m].for_loop.is_some(),
        }
    }

    pub fn check_index(&self, t: Target, idx: Option<&Arm>, e: &Expr) -> DResult<()> {
        match (self.is_loop(t), idx.is_some()) {
            (true, false) => Err(Diag::unsupported(e.span, "a whole resource or module collection used as a value")),
            (false, true) => {
                Err(Diag::new(ErrorKind::Type, e.span, "this resource or module is not a loop and cannot be indexed"))
            }
            _ => Ok(()),
        }
    }

    /// The environment of a resource's body, for the element at `idx` (`copyIndex()` if none).
    pub fn res_env(&self, r: usize, idx: Option<&Arm>) -> DResult<Env> {
        let res = &self.model.resources[r];
        let base = Env { res: Some(r), ..Env::default() };
        match res.for_loop {
            Some(f) => {
                let index = idx.cloned().unwrap_or_else(|| Arm::call("copyIndex", vec![]));
                let mut outer = base.clone();
                outer.res = res.lexical_parent;
                let mut env = self.loop_env(f, &outer, index)?;
                env.res = Some(r);
                Ok(env)
            }
            None => Ok(base),
        }
    }

    pub fn own_name(&self, r: usize, idx: Option<&Arm>) -> DResult<Arm> {
        let res = &self.model.resources[r];
        let Some(p) = prop(res.body, "name") else {
            return Err(Diag::new(
                ErrorKind::Type,
                res.decl.name_span,
                format!("the resource '{}' has no 'name'", res.decl.name),
            ));
        };
        self.arm(&p.value, &self.res_env(r, idx)?)
    }

    /// The `name` a resource is emitted with: a child's is its id segments joined by `/`, so a
    /// top-level ancestor named `'a/b'` contributes `split(name, '/')[0]` and `[1]`.
    pub fn res_name(&self, r: usize, idx: Option<&Arm>) -> DResult<Arm> {
        if self.model.resources[r].parent.is_none() {
            return self.own_name(r, idx);
        }
        let segments = self.segments(r, idx)?;
        let fmt = (0..segments.len()).map(|i| format!("{{{i}}}")).collect::<Vec<_>>().join("/");
        let mut args = vec![Arm::Str(fmt)];
        args.extend(segments);
        Ok(Arm::Call("format".into(), args))
    }

    /// The element of a looped parent that element `idx` of resource `r` belongs to.
    fn parent_index(&self, r: usize, idx: Option<&Arm>) -> DResult<Option<Arm>> {
        match self.model.resources[r].parent_index {
            Some(e) => Ok(Some(self.arm(e, &self.res_env(r, idx)?)?)),
            None => Ok(None),
        }
    }

    fn segments(&self, r: usize, idx: Option<&Arm>) -> DResult<Vec<Arm>> {
        let res = &self.model.resources[r];
        if let Some(p) = res.parent {
            let mut segs = self.segments(p, self.parent_index(r, idx)?.as_ref())?;
            segs.push(self.own_name(r, idx)?);
            return Ok(segs);
        }
        let own = self.own_name(r, idx)?;
        let n = Model::type_segments(&res.full_type);
        if n <= 1 {
            return Ok(vec![own]);
        }
        let split = Arm::call("split", vec![own, Arm::str("/")]);
        Ok((0..n).map(|i| split.clone().index(Arm::Int(i as i64))).collect())
    }

    /// Where a resource lives; children live where their parent lives.
    /// `idx` picks the loop element, whose item variable a `scope:` value may read.
    pub fn res_placement(&self, r: usize, idx: Option<&Arm>) -> DResult<Placement> {
        let res = &self.model.resources[r];
        if let Some(p) = res.parent {
            if res.parent_index.is_some() {
                let mut root = p;
                while let Some(q) = self.model.resources[root].parent {
                    root = q;
                }
                if prop(self.model.resources[root].body, "scope").is_some() {
                    let span = prop(res.body, "parent").map_or(res.decl.name_span, |p| p.value.span);
                    return Err(Diag::unsupported(span, "an element of a resource loop with 'scope' as 'parent'"));
                }
            }
            return self.res_placement(p, self.parent_index(r, idx)?.as_ref());
        }
        match prop(res.body, "scope") {
            None => Ok(Placement::Default),
            Some(p) => self.placement(&p.value, &self.res_env(r, idx)?, true),
        }
    }

    /// Interprets a `scope:` value.
    pub fn placement(&self, e: &Expr, env: &Env, resource: bool) -> DResult<Placement> {
        if let Some((t, idx)) = self.target(e, env)? {
            return match t {
                Target::Res(s) if resource => {
                    self.check_index(t, idx.as_ref(), e)?;
                    Ok(Placement::Extension(self.res_id(s, idx.as_ref())?))
                }
                Target::Res(s)
                    if self.model.resources[s].full_type.eq_ignore_ascii_case("Microsoft.Resources/resourceGroups") =>
                {
                    self.check_index(t, idx.as_ref(), e)?;
                    Ok(Placement::ResourceGroup(vec![self.res_name(s, idx.as_ref())?]))
                }
                _ => Err(Diag::unsupported(e.span, "this module scope")),
            };
        }
        let (name, args) = match &e.kind {
            ExprKind::Call { name, args, .. } => (name.as_str(), args),
            ExprKind::MethodCall { base, name, args, .. } if matches!(&base.kind, ExprKind::Ident(ns) if ns == "az") => {
                (name.as_str(), args)
            }
            _ => return Err(Diag::unsupported(e.span, "this scope expression")),
        };
        let args = args.iter().map(|a| self.arm(a, env)).collect::<DResult<Vec<_>>>()?;
        match name {
            "resourceGroup" if args.len() <= 2 => Ok(Placement::ResourceGroup(args)),
            "subscription" if args.len() <= 1 => Ok(Placement::Subscription(args)),
            "tenant" if args.is_empty() => Ok(Placement::Tenant),
            "managementGroup" if args.len() == 1 => Ok(Placement::ManagementGroup(args)),
            // The file's own management group: where it deploys anyway, so bicep build writes no scope.
            "managementGroup" if args.is_empty() && self.model.scope == TargetScope::ManagementGroup => {
                Ok(Placement::Default)
            }
            _ => Err(Diag::unsupported(e.span, "this scope expression")),
        }
    }

    /// `resourceId(...)` (or the scope-specific form) of the resource element `idx`.
    pub fn res_id(&self, r: usize, idx: Option<&Arm>) -> DResult<Arm> {
        let res = &self.model.resources[r];
        let mut tail = vec![Arm::str(&res.full_type)];
        tail.extend(self.segments(r, idx)?);
        let placement = self.res_placement(r, idx)?;
        self.scoped_id(&placement, tail, res.decl.name_span)
    }

    fn scoped_id(&self, placement: &Placement, tail: Vec<Arm>, span: crate::infra::bicep::error::Span) -> DResult<Arm> {
        let with = |name: &str, mut head: Vec<Arm>| {
            head.extend(tail.clone());
            Arm::Call(name.to_string(), head)
        };
        let rg_scope = |args: &[Arm]| {
            let (sub, rg) = match args {
                [rg] => (Arm::call("subscription", vec![]).prop("subscriptionId"), rg.clone()),
                [sub, rg] => (sub.clone(), rg.clone()),
                _ => (Arm::Null, Arm::Null),
            };
            Arm::call("format", vec![Arm::str("/subscriptions/{0}/resourceGroups/{1}"), sub, rg])
        };
        Ok(match (placement, self.model.scope) {
            (Placement::Default, TargetScope::ResourceGroup)
            | (Placement::ResourceGroup(_), TargetScope::ResourceGroup)
                if matches!(placement, Placement::Default)
                    || matches!(placement, Placement::ResourceGroup(a) if a.is_empty()) =>
            {
                with("resourceId", vec![])
            }
            (Placement::Default, TargetScope::Subscription)
            | (Placement::Subscription(_), TargetScope::Subscription)
                if matches!(placement, Placement::Default)
                    || matches!(placement, Placement::Subscription(a) if a.is_empty()) =>
            {
                with("subscriptionResourceId", vec![])
            }
            (Placement::Default, TargetScope::Tenant) | (Placement::Tenant, _) => with("tenantResourceId", vec![]),
            (Placement::Extension(id), _) => with("extensionResourceId", vec![id.clone()]),
            (Placement::ResourceGroup(args), _) if !args.is_empty() => {
                with("extensionResourceId", vec![rg_scope(args)])
            }
            (Placement::Subscription(args), _) => with("subscriptionResourceId", args.clone()),
            // `ScopeHelper.FormatFullyQualifiedResourceId`: a management group is the scope of an
            // extension resource id, `managementGroup().id` for the template's own.
            (Placement::Default, TargetScope::ManagementGroup) => {
                with("extensionResourceId", vec![Arm::call("managementGroup", vec![]).prop("id")])
            }
            (Placement::ManagementGroup(args), _) if args.len() == 1 => {
                let mg = Arm::call(
                    "tenantResourceId",
                    vec![Arm::str("Microsoft.Management/managementGroups"), args[0].clone()],
                );
                with("extensionResourceId", vec![mg])
            }
            _ => return Err(Diag::unsupported(span, "a resource at this scope")),
        })
    }

    pub fn module_env(&self, m: usize, idx: Option<&Arm>) -> DResult<Env> {
        match self.model.modules[m].for_loop {
            Some(f) => {
                let index = idx.cloned().unwrap_or_else(|| Arm::call("copyIndex", vec![]));
                self.loop_env(f, &Env::default(), index)
            }
            None => Ok(Env::default()),
        }
    }

    pub fn module_name(&self, m: usize, idx: Option<&Arm>) -> DResult<Arm> {
        let module = &self.model.modules[m];
        let Some(p) = prop(module.body, "name") else {
            return Ok(self.generated_module_name(m, idx));
        };
        self.arm(&p.value, &self.module_env(m, idx)?)
    }

    /// The name bicep build gives a module without `name` (`ExpressionFactory.CreateGeneratedModuleName`):
    /// `'<symbol>-${uniqueString('<symbol>', deployment().name)}'`, with the element index before the
    /// hash in a loop, the symbol cut so that the whole fits ARM's 64-character deployment names.
    fn generated_module_name(&self, m: usize, idx: Option<&Arm>) -> Arm {
        const MAX_DEPLOYMENT_NAME: usize = 64;
        const UNIQUE_STRING_LENGTH: usize = 13;
        // The digits of the largest copy index ARM allows (800).
        const COPY_INDEX_LENGTH: usize = 3;
        let module = &self.model.modules[m];
        let symbol = module.decl.name.as_str();
        let hash = Arm::call("uniqueString", vec![Arm::str(symbol), Arm::call("deployment", vec![]).prop("name")]);
        let mut args = Vec::new();
        let mut reserved = UNIQUE_STRING_LENGTH + 1;
        if module.for_loop.is_some() {
            args.push(idx.cloned().unwrap_or_else(|| Arm::call("copyIndex", vec![])));
            reserved += COPY_INDEX_LENGTH + 1;
        }
        args.push(hash);
        let prefix: String = symbol.chars().take(MAX_DEPLOYMENT_NAME - reserved).collect();
        let format =
            if module.for_loop.is_some() { format!("{prefix}-{{0}}-{{1}}") } else { format!("{prefix}-{{0}}") };
        args.insert(0, Arm::Str(format));
        Arm::Call("format".into(), args)
    }

    pub fn module_placement(&self, m: usize) -> DResult<Placement> {
        match prop(self.model.modules[m].body, "scope") {
            None => Ok(Placement::Default),
            Some(p) => self.placement(&p.value, &self.module_env(m, None)?, false),
        }
    }

    /// The deployment resource id of a module element.
    pub fn module_id(&self, m: usize, idx: Option<&Arm>) -> DResult<Arm> {
        let tail = vec![Arm::str("Microsoft.Resources/deployments"), self.module_name(m, idx)?];
        let placement = self.module_placement(m)?;
        self.scoped_id(&placement, tail, self.model.modules[m].decl.name_span)
    }

    /// `reference(<id or symbol>, '<apiVersion>', 'full')`.
    pub fn full_reference(&self, r: usize, idx: Option<&Arm>) -> DResult<Arm> {
        let target = if self.symbolic { self.symbol_ref(Target::Res(r), idx) } else { self.res_id(r, idx)? };
        Ok(Arm::call("reference", vec![target, Arm::str(&self.model.resources[r].api_version), Arm::str("full")]))
    }

    /// A resource's or module's symbolic name, `format('name[{0}]', i)` for a loop element.
    pub fn symbol_ref(&self, t: Target, idx: Option<&Arm>) -> Arm {
        let name = self.copy_name(t);
        match idx {
            None => Arm::Str(name),
            Some(i) => Arm::call("format", vec![Arm::Str(format!("{name}[{{0}}]")), i.clone()]),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::infra::bicep::compile_str;

    #[test]
    fn a_module_without_name_gets_the_generated_name_and_symbolic_names() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("m.bicep"), "param p string = ''\n").expect("write");
        let long = "m".repeat(60);
        let text = format!(
            "module a 'm.bicep' = {{}}\nmodule b 'm.bicep' = [for x in range(0, 2): {{}}]\nmodule {long} 'm.bicep' = {{}}\n\
             output n string = b[1].name\n"
        );
        let t = compile_str(&dir.path().join("main.bicep"), &text).expect("compiles");
        assert_eq!(t["languageVersion"], "2.0");
        let r = &t["resources"];
        assert_eq!(r["a"]["name"], "[format('a-{0}', uniqueString('a', deployment().name))]");
        assert_eq!(r["b"]["name"], "[format('b-{0}-{1}', copyIndex(), uniqueString('b', deployment().name))]");
        // 64 characters at most: 50 of the symbol, a dash and the 13 of uniqueString.
        let cut = "m".repeat(50);
        assert_eq!(r[&long]["name"], format!("[format('{cut}-{{0}}', uniqueString('{long}', deployment().name))]"));
        assert_eq!(t["outputs"]["n"]["value"], "[format('b-{0}-{1}', 1, uniqueString('b', deployment().name))]");
    }

    #[test]
    fn the_files_own_management_group_as_a_module_scope_is_no_scope() {
        // avm/ptn/lz/sub-vending: `scope: managementGroup()` in a management-group file deploys
        // where the file deploys; bicep build writes it as a module without a scope.
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("m.bicep"), "targetScope = 'managementGroup'\n").expect("write");
        let module = |scope: &str| {
            let text = format!("targetScope = 'managementGroup'\nmodule a 'm.bicep' = {{\n  name: 'a'\n{scope}}}\n");
            compile_str(&dir.path().join("main.bicep"), &text)
        };
        let scoped = module("  scope: managementGroup()\n").expect("compiles");
        assert_eq!(scoped, module("").expect("compiles"));
        assert!(scoped["resources"][0].get("scope").is_none(), "{scoped}");
        assert_eq!(scoped["resources"][0]["location"], "[deployment().location]");
        // Elsewhere `managementGroup()` names no management group.
        let text = "module a 'm.bicep' = {\n  name: 'a'\n  scope: managementGroup()\n}\n";
        assert!(compile_str(&dir.path().join("main.bicep"), text).is_err());
    }
}
