//! The declarations of one file, bound: symbols, resource types and parents, modules.

use std::collections::HashMap;

use super::ast::*;
use super::error::{DResult, Diag, ErrorKind, Hint, Span};
pub use super::shape::shape;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetScope {
    ResourceGroup,
    Subscription,
    ManagementGroup,
    Tenant,
}

impl TargetScope {
    pub fn schema(self) -> &'static str {
        match self {
            TargetScope::ResourceGroup => {
                "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
            }
            TargetScope::Subscription => {
                "https://schema.management.azure.com/schemas/2018-05-01/subscriptionDeploymentTemplate.json#"
            }
            TargetScope::ManagementGroup => {
                "https://schema.management.azure.com/schemas/2019-08-01/managementGroupDeploymentTemplate.json#"
            }
            TargetScope::Tenant => {
                "https://schema.management.azure.com/schemas/2019-08-01/tenantDeploymentTemplate.json#"
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sym {
    Param(usize),
    Var(usize),
    Res(usize),
    Module(usize),
}

/// A resource declaration with what the emitter needs to know about it.
#[derive(Debug)]
pub struct Res<'a> {
    pub decl: &'a ResourceDecl,
    pub full_type: String,
    pub api_version: String,
    /// The parent resource, from nesting or from `parent:`.
    pub parent: Option<usize>,
    /// The element of a looped parent (`parent: p[i]`), evaluated in this resource's body.
    pub parent_index: Option<&'a Expr>,
    /// The resource whose body lexically contains this one.
    pub lexical_parent: Option<usize>,
    pub children: Vec<usize>,
    pub body: &'a [ObjItem],
    pub condition: Option<&'a Expr>,
    pub for_loop: Option<&'a ForExpr>,
}

#[derive(Debug)]
pub struct Module<'a> {
    pub decl: &'a ModuleDecl,
    pub body: &'a [ObjItem],
    pub condition: Option<&'a Expr>,
    pub for_loop: Option<&'a ForExpr>,
}

#[derive(Debug)]
pub struct Model<'a> {
    pub scope: TargetScope,
    pub metadata: Vec<&'a MetadataDecl>,
    pub params: Vec<&'a ParamDecl>,
    pub vars: Vec<&'a VarDecl>,
    pub resources: Vec<Res<'a>>,
    pub modules: Vec<Module<'a>>,
    pub outputs: Vec<&'a OutputDecl>,
    pub globals: HashMap<String, Sym>,
    /// `type` declarations, in source order; their names share the file's one namespace.
    pub types: Vec<&'a TypeDecl>,
    pub type_names: HashMap<String, usize>,
    /// Compile-time imports, in source order.
    pub imports: Vec<&'a ImportDecl>,
    /// User-defined functions (`func`), in source order; their names share the one namespace.
    pub funcs: Vec<&'a FuncDecl>,
    pub func_names: HashMap<String, usize>,
    /// What `bicep build` would warn about in this file, in source order.
    pub warnings: Vec<Hint>,
}

fn split_type(decl: &ResourceDecl) -> DResult<(String, Option<String>)> {
    let (ty, ver) = match decl.type_ref.split_once('@') {
        Some((t, v)) => (t.to_string(), Some(v.to_string())),
        None => (decl.type_ref.clone(), None),
    };
    let valid_ver = ver.as_ref().is_none_or(|v| !v.is_empty() && !v.contains('@'));
    if ty.is_empty() || !valid_ver || ty.contains(' ') {
        return Err(Diag::new(
            ErrorKind::Type,
            decl.type_span,
            format!("the resource type '{}' is not valid; expected 'Namespace/type@version'", decl.type_ref),
        ));
    }
    Ok((ty, ver))
}

impl<'a> Model<'a> {
    pub fn build(stmts: &'a [Stmt]) -> DResult<Self> {
        let mut model = Model {
            scope: TargetScope::ResourceGroup,
            metadata: Vec::new(),
            params: Vec::new(),
            vars: Vec::new(),
            resources: Vec::new(),
            modules: Vec::new(),
            outputs: Vec::new(),
            globals: HashMap::new(),
            types: Vec::new(),
            type_names: HashMap::new(),
            imports: Vec::new(),
            funcs: Vec::new(),
            func_names: HashMap::new(),
            warnings: Vec::new(),
        };
        let mut seen_scope = false;
        let mut output_names: HashMap<&str, Span> = HashMap::new();
        for stmt in stmts {
            match stmt {
                Stmt::TargetScope(expr) => {
                    if seen_scope {
                        return Err(Diag::declared_twice(expr.span, "targetScope"));
                    }
                    seen_scope = true;
                    model.scope = match &expr.kind {
                        ExprKind::Str(s) if s == "resourceGroup" => TargetScope::ResourceGroup,
                        ExprKind::Str(s) if s == "subscription" => TargetScope::Subscription,
                        ExprKind::Str(s) if s == "managementGroup" => TargetScope::ManagementGroup,
                        ExprKind::Str(s) if s == "tenant" => TargetScope::Tenant,
                        ExprKind::Str(s) if s == "desiredStateConfiguration" || s == "local" => {
                            return Err(Diag::unsupported(expr.span, "this targetScope"));
                        }
                        _ => {
                            return Err(Diag::new(
                                ErrorKind::Type,
                                expr.span,
                                "targetScope must be 'resourceGroup', 'subscription', 'managementGroup' or 'tenant'",
                            ));
                        }
                    };
                }
                Stmt::Metadata(m) => model.metadata.push(m),
                Stmt::Import(i) => model.imports.push(i),
                Stmt::Func(f) => {
                    if model.globals.contains_key(&f.name)
                        || model.type_names.contains_key(&f.name)
                        || model.func_names.insert(f.name.clone(), model.funcs.len()).is_some()
                    {
                        return Err(Diag::declared_twice(f.name_span, format_args!("the identifier '{}'", f.name)));
                    }
                    for (i, p) in f.params.iter().enumerate() {
                        if f.params[..i].iter().any(|q| q.name == p.name) {
                            return Err(Diag::declared_twice(p.name_span, format_args!("the parameter '{}'", p.name)));
                        }
                    }
                    model.funcs.push(f);
                }
                Stmt::Type(t) => {
                    if model.globals.contains_key(&t.name)
                        || model.func_names.contains_key(&t.name)
                        || model.type_names.insert(t.name.clone(), model.types.len()).is_some()
                    {
                        return Err(Diag::declared_twice(t.name_span, format_args!("the identifier '{}'", t.name)));
                    }
                    model.types.push(t);
                }
                Stmt::Param(p) => {
                    model.declare(&p.name, p.name_span, Sym::Param(model.params.len()))?;
                    model.params.push(p);
                }
                Stmt::Var(v) => {
                    model.declare(&v.name, v.name_span, Sym::Var(model.vars.len()))?;
                    model.vars.push(v);
                }
                Stmt::Resource(r) => {
                    let idx = model.add_resource(r, None)?;
                    model.declare(&r.name, r.name_span, Sym::Res(idx))?;
                }
                Stmt::Module(m) => {
                    let (condition, for_loop, body) = shape(&m.value)?;
                    model.declare(&m.name, m.name_span, Sym::Module(model.modules.len()))?;
                    model.modules.push(Module { decl: m, body, condition, for_loop });
                }
                Stmt::Output(o) => {
                    if output_names.insert(&o.name, o.name_span).is_some() {
                        return Err(Diag::declared_twice(o.name_span, format_args!("the output '{}'", o.name)));
                    }
                    model.outputs.push(o);
                }
            }
        }
        model.check_import_names()?;
        model.resolve_parents()?;
        Ok(model)
    }

    /// An imported name (or wildcard namespace) shares the file's one namespace.
    fn check_import_names(&self) -> DResult<()> {
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for import in &self.imports {
            let names: Vec<(&str, Span)> = match &import.items {
                ImportItems::Named(names) => names.iter().map(|n| (n.local(), n.name_span)).collect(),
                ImportItems::Wildcard { alias, alias_span } => vec![(alias.as_str(), *alias_span)],
            };
            for (name, span) in names {
                if seen.insert(name, span).is_some()
                    || self.globals.contains_key(name)
                    || self.type_names.contains_key(name)
                    || self.func_names.contains_key(name)
                {
                    return Err(Diag::declared_twice(span, format_args!("the identifier '{name}'")));
                }
            }
        }
        Ok(())
    }

    fn declare(&mut self, name: &str, span: Span, sym: Sym) -> DResult<()> {
        if matches!(name, "az" | "sys") {
            return Err(Diag::new(
                ErrorKind::Invalid,
                span,
                format!("'{name}' is a namespace and cannot be redeclared"),
            ));
        }
        if self.globals.insert(name.to_string(), sym).is_some()
            || self.type_names.contains_key(name)
            || self.func_names.contains_key(name)
        {
            return Err(Diag::declared_twice(span, format_args!("the identifier '{name}'")));
        }
        Ok(())
    }

    fn add_resource(&mut self, decl: &'a ResourceDecl, lexical: Option<usize>) -> DResult<usize> {
        let (condition, for_loop, body) = shape(&decl.value)?;
        let (ty, ver) = split_type(decl)?;
        let (full_type, api_version) = match lexical {
            None => {
                if !ty.contains('/') {
                    return Err(Diag::new(
                        ErrorKind::Type,
                        decl.type_span,
                        format!("the resource type '{ty}' must have a namespace"),
                    ));
                }
                (ty, ver)
            }
            Some(p) => {
                let parent = &self.resources[p];
                let full = if ty.contains('/') && ty.contains('.') {
                    ty.clone()
                } else {
                    format!("{}/{ty}", parent.full_type)
                };
                let ver = ver.or_else(|| Some(parent.api_version.clone()));
                (full, ver)
            }
        };
        let Some(api_version) = api_version else {
            return Err(Diag::new(
                ErrorKind::Type,
                decl.type_span,
                format!("the resource type '{full_type}' needs an API version ('@...')"),
            ));
        };
        let idx = self.resources.len();
        self.resources.push(Res {
            decl,
            full_type,
            api_version,
            parent: lexical,
            parent_index: None,
            lexical_parent: lexical,
            children: Vec::new(),
            body,
            condition,
            for_loop,
        });
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for item in body {
            if let ObjItem::Resource(child) = item {
                if for_loop.is_some() {
                    return Err(Diag::unsupported(child.name_span, "a nested resource inside a resource loop"));
                }
                if seen.insert(&child.name, child.name_span).is_some() {
                    return Err(Diag::declared_twice(child.name_span, format_args!("the identifier '{}'", child.name)));
                }
                let c = self.add_resource(child, Some(idx))?;
                self.resources[idx].children.push(c);
            }
        }
        Ok(idx)
    }

    /// Finds `name` as seen from inside the body of resource `from` (nested symbols first).
    pub fn lookup(&self, name: &str, from: Option<usize>) -> Option<Sym> {
        let mut cur = from;
        while let Some(r) = cur {
            for &c in &self.resources[r].children {
                if self.resources[c].decl.name == name {
                    return Some(Sym::Res(c));
                }
            }
            cur = self.resources[r].lexical_parent;
        }
        self.globals.get(name).copied()
    }

    fn resolve_parents(&mut self) -> DResult<()> {
        for i in 0..self.resources.len() {
            let body = self.resources[i].body;
            let Some(p) = prop(body, "parent") else {
                continue;
            };
            if self.resources[i].lexical_parent.is_some() {
                return Err(Diag::new(
                    ErrorKind::Invalid,
                    p.key_span,
                    "a nested resource cannot also declare 'parent'",
                ));
            }
            let from = self.resources[i].lexical_parent;
            let (target, index) = match &p.value.kind {
                ExprKind::Ident(name) => (self.lookup(name, from), None),
                ExprKind::Child { .. } => (self.child_target(&p.value, from), None),
                ExprKind::Index { base, index } if matches!(base.kind, ExprKind::Ident(_) | ExprKind::Child { .. }) => {
                    (self.child_target(base, from), Some(&**index))
                }
                _ => (None, None),
            };
            let Some(Sym::Res(parent)) = target else {
                return Err(Diag::new(ErrorKind::Type, p.value.span, "'parent' must refer to a resource declaration"));
            };
            match (self.resources[parent].for_loop.is_some(), index.is_some()) {
                (true, false) => {
                    return Err(Diag::unsupported(p.value.span, "a whole resource loop as 'parent'"));
                }
                (false, true) => {
                    return Err(Diag::new(
                        ErrorKind::Type,
                        p.value.span,
                        "'parent' indexes a resource that is not a loop",
                    ));
                }
                _ => {}
            }
            let child_type = self.resources[i].full_type.clone();
            let parent_type = self.resources[parent].full_type.clone();
            if !child_type.contains('/') || child_type.matches('/').count() < 1 {
                return Err(Diag::new(ErrorKind::Type, self.resources[i].decl.type_span, "invalid resource type"));
            }
            if !child_type.contains('.') || !child_type.contains('/') {
                // A short child type ('subnets') is relative to the parent's type.
                let full = format!("{parent_type}/{child_type}");
                self.resources[i].full_type = full;
            } else if !child_type.to_ascii_lowercase().starts_with(&format!("{}/", parent_type.to_ascii_lowercase())) {
                return Err(Diag::new(
                    ErrorKind::Type,
                    self.resources[i].decl.type_span,
                    format!("the resource type '{child_type}' is not a child of the parent's type '{parent_type}'"),
                ));
            }
            self.resources[i].parent = Some(parent);
            self.resources[i].parent_index = index;
        }
        for res in &mut self.resources {
            // bicep build writes a type its index has as the index spells it; one it lacks
            // (warning BCP081) as the source spells it, with a body it does not check.
            if let Some((ty, version)) = super::types::canonical(&res.full_type, &res.api_version) {
                res.full_type = ty;
                res.api_version = version;
            } else if super::types::has_fallback_type(&res.full_type, &res.api_version) {
                self.warnings.push(Hint {
                    code: "BCP081",
                    span: res.decl.type_span,
                    message: format!(
                        "the resource type '{}@{}' is not in the bundled Bicep type index (Azure.Bicep.Types.Az {}): \
                         its properties are not checked before deployment",
                        res.full_type,
                        res.api_version,
                        super::types::index_version()
                    ),
                });
            } else {
                return Err(Diag::new(
                    ErrorKind::Unsupported,
                    res.decl.type_span,
                    format!(
                        "the resource type '{}@{}', which is neither in the bundled Bicep type index (Azure.Bicep.Types.Az {}) nor of the form 'Namespace/type@yyyy-mm-dd'",
                        res.full_type,
                        res.api_version,
                        super::types::index_version()
                    ),
                ));
            }
        }
        // A parent chain must not loop back.
        for i in 0..self.resources.len() {
            let mut cur = self.resources[i].parent;
            let mut steps = 0;
            while let Some(p) = cur {
                steps += 1;
                if p == i || steps > self.resources.len() {
                    return Err(Diag::new(
                        ErrorKind::Cycle,
                        self.resources[i].decl.name_span,
                        "the parent chain of this resource is cyclic",
                    ));
                }
                cur = self.resources[p].parent;
            }
        }
        Ok(())
    }

    /// The resource a `a::b::c` expression names.
    pub fn child_target(&self, expr: &Expr, from: Option<usize>) -> Option<Sym> {
        match &expr.kind {
            ExprKind::Ident(name) => self.lookup(name, from),
            ExprKind::Child { base, name } => {
                let Some(Sym::Res(parent)) = self.child_target(base, from) else {
                    return None;
                };
                self.resources[parent]
                    .children
                    .iter()
                    .find(|&&c| self.resources[c].decl.name == *name)
                    .map(|&c| Sym::Res(c))
            }
            _ => None,
        }
    }

    /// The number of name segments a resource type needs (`A.B/x/y` needs two).
    pub fn type_segments(full_type: &str) -> usize {
        full_type.matches('/').count()
    }
}
