//! Expression conversion: Bicep expressions to ARM expressions and template JSON values.

pub(crate) mod function_vars;
pub(crate) mod load;
pub(crate) mod resources;

use std::path::PathBuf;

use serde_json::{Map, Value};

use crate::infra::bicep::arm::{Arm, json_string};
use crate::infra::bicep::ast::*;
use crate::infra::bicep::error::{DResult, Diag, ErrorKind};
use crate::infra::bicep::functions::{self, Builtin};
use crate::infra::bicep::model::{Model, Sym};
use resources::Target;

/// The API version used for module deployments, as `bicep build` v0.46 writes it.
pub const DEPLOYMENTS_API_VERSION: &str = "2025-04-01";

/// What names mean at one point of a file: loop variables and the enclosing resource.
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub locals: Vec<(String, Arm)>,
    /// The resource whose body is being compiled (its nested resources are in scope).
    pub res: Option<usize>,
    /// Loop variables of property loops, which a `dependsOn` entry cannot see.
    pub property_locals: Vec<String>,
    /// In a user-defined function's body, which sees only its parameters and other functions.
    pub function: bool,
}

impl Env {
    pub fn local(&self, name: &str) -> Option<&Arm> {
        self.locals.iter().rev().find(|(n, _)| n == name).map(|(_, a)| a)
    }

    pub fn with(&self, name: &str, value: Arm) -> Env {
        let mut env = self.clone();
        env.locals.push((name.to_string(), value));
        env
    }
}

/// The template a module deploys: compiled from Bicep, an ARM JSON file, a registry module's layer,
/// or a template spec's main template, which the deployment links to by id instead of embedding.
#[derive(Debug, Clone)]
pub struct ModuleTemplate {
    /// What the module's parameters and outputs are checked against.
    pub template: serde_json::Value,
    /// A template spec version's id: emitted as `templateLink.id` in place of `template`.
    pub spec_id: Option<String>,
}

impl ModuleTemplate {
    pub fn embedded(template: serde_json::Value) -> Self {
        ModuleTemplate { template, spec_id: None }
    }
}

/// Whether a `tryGet` call is the parser's reading of `.?` or `[?` (spanning the `.?` or the `[`)
/// rather than a `tryGet(…)` the user wrote, which bicep build does not guard.
fn is_safe_access(name_span: crate::infra::bicep::error::Span) -> bool {
    name_span.end - name_span.start < "tryGet".len()
}

/// The compiler of one file: its bound model and the facts derived from it.
pub struct Compiler<'a> {
    pub model: &'a Model<'a>,
    /// The directory of the file, for `load*` functions and module paths.
    pub dir: PathBuf,
    /// Variables whose value reads runtime state and is inlined at each use.
    pub inline: Vec<bool>,
    /// languageVersion 2.0: resources keyed by symbolic name, referenced by it.
    pub symbolic: bool,
    /// The templates of the modules, in declaration order.
    pub module_templates: Vec<ModuleTemplate>,
    /// The `load*` calls hoisted into `$fxv#N` variables, in the order of `N`.
    pub function_vars: Vec<function_vars::HoistedCall>,
    /// What the file's compile-time imports bring in.
    pub imports: crate::infra::bicep::imports::Closure,
}

impl Compiler<'_> {
    /// Binds a loop's item and index variables for the element at `index`.
    pub fn loop_env(&self, f: &ForExpr, base: &Env, index: Arm) -> DResult<Env> {
        let coll = self.arm(&f.collection, base)?;
        let mut env = base.clone();
        if let Some((item, _)) = &f.item {
            env = env.with(item, coll.index(index.clone()));
        }
        if let Some((idx, _)) = &f.index {
            env = env.with(idx, index);
        }
        Ok(env)
    }

    /// The `copy` count of a loop: `length(collection)`.
    pub fn loop_count(&self, f: &ForExpr, base: &Env) -> DResult<Value> {
        Ok(Arm::call("length", vec![self.arm(&f.collection, base)?]).to_json())
    }

    /// A template value: objects and arrays stay JSON, other expressions become `"[...]"`.
    pub fn json(&self, e: &Expr, env: &Env) -> DResult<Value> {
        match &e.kind {
            ExprKind::Object(items) => {
                let mut map = Map::new();
                let mut copies = Vec::new();
                for item in items {
                    let ObjItem::Prop(p) = item else { continue };
                    if let Some(key) = &p.key_expr {
                        let key = match self.arm(key, env)?.to_json() {
                            Value::String(k) => k,
                            other => other.to_string(),
                        };
                        map.insert(key, self.json(&p.value, env)?);
                        continue;
                    }
                    if map.contains_key(&p.key) || copies.iter().any(|c: &Value| c["name"].as_str() == Some(&p.key)) {
                        return Err(Diag::declared_twice(p.key_span, format_args!("the property '{}'", p.key)));
                    }
                    if let ExprKind::For(f) = &p.value.kind {
                        copies.push(self.property_loop(&p.key, f, env)?);
                    } else {
                        map.insert(p.key.clone(), self.json(&p.value, env)?);
                    }
                }
                if !copies.is_empty() {
                    let mut with_copy = Map::new();
                    with_copy.insert("copy".into(), Value::Array(copies));
                    with_copy.extend(map);
                    map = with_copy;
                }
                Ok(Value::Object(map))
            }
            ExprKind::Array(items) => {
                items.iter().map(|i| self.json(i, env)).collect::<DResult<Vec<_>>>().map(Value::Array)
            }
            ExprKind::Str(s) => Ok(json_string(s)),
            ExprKind::Paren(inner) => self.json(inner, env),
            ExprKind::Call { name, args, .. } if name == "any" && args.len() == 1 => self.json(&args[0], env),
            ExprKind::Ident(name) if env.local(name).is_none() => match self.model.lookup(name, env.res) {
                Some(Sym::Var(v)) if self.inline[v] => self.json(&self.model.vars[v].value, &Env::default()),
                _ => Ok(self.arm(e, env)?.to_json()),
            },
            ExprKind::For(_) => Err(Diag::unsupported(e.span, "a loop in this position")),
            _ => Ok(self.arm(e, env)?.to_json()),
        }
    }

    fn property_loop(&self, name: &str, f: &ForExpr, env: &Env) -> DResult<Value> {
        if matches!(f.body.kind, ExprKind::If { .. }) {
            return Err(Diag::unsupported(f.body.span, "a filtered property loop"));
        }
        let index = Arm::call("copyIndex", vec![Arm::str(name)]);
        let body_env = self.loop_env(f, env, index)?;
        let mut copy = Map::new();
        copy.insert("name".into(), Value::from(name));
        copy.insert("count".into(), self.loop_count(f, env)?);
        copy.insert("input".into(), self.json(&f.body, &body_env)?);
        Ok(Value::Object(copy))
    }

    /// An ARM expression.
    pub fn arm(&self, e: &Expr, env: &Env) -> DResult<Arm> {
        Ok(match &e.kind {
            ExprKind::Str(s) => Arm::Str(s.clone()),
            ExprKind::Int(n) => Arm::Int(self.int(*n, e)?),
            ExprKind::Bool(b) => Arm::Bool(*b),
            ExprKind::Null => Arm::Null,
            ExprKind::Interp { parts, holes } => {
                let mut fmt = String::new();
                for (i, part) in parts.iter().enumerate() {
                    fmt.push_str(&part.replace('{', "{{").replace('}', "}}"));
                    if i < holes.len() {
                        fmt.push_str(&format!("{{{i}}}"));
                    }
                }
                let mut args = vec![Arm::Str(fmt)];
                for h in holes {
                    args.push(self.arm(h, env)?);
                }
                Arm::Call("format".into(), args)
            }
            ExprKind::Ident(name) => self.ident(name, e, env)?,
            ExprKind::Paren(inner) => self.arm(inner, env)?,
            ExprKind::Object(items) => {
                let mut args = Vec::new();
                for item in items {
                    match item {
                        ObjItem::Prop(p) => {
                            if matches!(p.value.kind, ExprKind::For(_)) {
                                return Err(Diag::unsupported(p.value.span, "a loop inside an expression"));
                            }
                            match &p.key_expr {
                                Some(k) => args.push(self.arm(k, env)?),
                                None => args.push(Arm::Str(p.key.clone())),
                            }
                            args.push(self.arm(&p.value, env)?);
                        }
                        ObjItem::Resource(r) => {
                            return Err(Diag::new(
                                ErrorKind::Invalid,
                                r.name_span,
                                "a resource cannot be declared here",
                            ));
                        }
                    }
                }
                Arm::Call("createObject".into(), args)
            }
            ExprKind::Array(items) => {
                Arm::Call("createArray".into(), items.iter().map(|i| self.arm(i, env)).collect::<DResult<_>>()?)
            }
            ExprKind::For(_) => {
                return Err(Diag::unsupported(e.span, "a loop inside an expression"));
            }
            ExprKind::If { .. } => {
                return Err(Diag::new(ErrorKind::Syntax, e.span, "unexpected 'if'"));
            }
            ExprKind::Call { name, name_span, args } => {
                // `res.?x` on a conditional resource: bicep build guards the base on the
                // resource's condition (`ExpressionConverter.guardOnResourceCondition`).
                if name == "tryGet"
                    && is_safe_access(*name_span)
                    && let Some(first) = args.first()
                    && let Some((Target::Res(r), idx)) = self.target(first, env)?
                    && let Some(condition) = self.model.resources[r].condition
                {
                    let [_, key, rest @ ..] = args.as_slice() else {
                        return Err(Diag::new(ErrorKind::Syntax, first.span, "a safe access ('.?') needs a property"));
                    };
                    let ExprKind::Str(key) = &key.kind else {
                        return Err(Diag::unsupported(key.span, "a computed property of a conditional resource"));
                    };
                    self.check_index(Target::Res(r), idx.as_ref(), first)?;
                    let guard = |value: Arm| -> DResult<Arm> {
                        let condition = self.arm(condition, &self.res_env(r, idx.as_ref())?)?;
                        Ok(Arm::call("if", vec![condition, value, Arm::Null]))
                    };
                    let res = &self.model.resources[r];
                    // A chain after it stays one `tryGet` (`a.?properties.x`: `tryGet(…, 'properties', 'x')`).
                    return match key.as_str() {
                        "type" | "apiVersion" | "id" | "name" if !rest.is_empty() => Err(Diag::unsupported(
                            rest[0].span,
                            "a property of a conditional resource's id, name, type or apiVersion",
                        )),
                        "type" => Ok(Arm::str(&res.full_type)),
                        "apiVersion" => Ok(Arm::str(&res.api_version)),
                        "id" | "name" => guard(self.res_member(r, idx.as_ref(), key, first)?),
                        _ => {
                            let mut call_args = vec![guard(self.full_reference(r, idx.as_ref())?)?, Arm::str(key)];
                            for a in rest {
                                call_args.push(self.arm(a, env)?);
                            }
                            Ok(Arm::Call("tryGet".into(), call_args))
                        }
                    };
                }
                // `res.?id` (and `name`, `type`, `apiVersion`) on a resource that is always
                // deployed is known at compile time: bicep build writes it as `res.id` is written.
                if name == "tryGet"
                    && let [first, key] = args.as_slice()
                    && let ExprKind::Str(key) = &key.kind
                    && matches!(key.as_str(), "id" | "name" | "type" | "apiVersion")
                    && let Some((Target::Res(_), _)) = self.target(first, env)?
                {
                    let member = Expr {
                        kind: ExprKind::Member { base: Box::new(first.clone()), name: key.clone() },
                        span: e.span,
                    };
                    return self.arm(&member, env);
                }
                self.call(name, *name_span, args, env)?
            }
            ExprKind::MethodCall { base, name, name_span, args } => {
                self.method_call(base, name, *name_span, args, env)?
            }
            ExprKind::Member { base, name } => self.member(base, name, e, env)?,
            ExprKind::Index { base, index } => match self.target(e, env)? {
                Some((t, idx)) => self.whole(t, idx.as_ref(), e)?,
                None => self.arm(base, env)?.index(self.arm(index, env)?),
            },
            ExprKind::Child { .. } => match self.target(e, env)? {
                Some((t, idx)) => self.whole(t, idx.as_ref(), e)?,
                None => {
                    return Err(Diag::new(ErrorKind::Undefined, e.span, "this nested resource does not exist"));
                }
            },
            ExprKind::Unary { op, operand } => match (op, &operand.kind) {
                (UnOp::Neg, ExprKind::Int(n)) => Arm::Int(-self.int(*n, operand)?),
                (UnOp::Neg, _) => Arm::call("sub", vec![Arm::Int(0), self.arm(operand, env)?]),
                (UnOp::Not, _) => Arm::call("not", vec![self.arm(operand, env)?]),
            },
            ExprKind::Binary { op, lhs, rhs } => {
                let l = self.arm(lhs, env)?;
                let r = self.arm(rhs, env)?;
                let f = |name: &str, l, r| Arm::call(name, vec![l, r]);
                match op {
                    BinOp::Or => f("or", l, r),
                    BinOp::And => f("and", l, r),
                    BinOp::Coalesce => f("coalesce", l, r),
                    BinOp::Eq => f("equals", l, r),
                    BinOp::Ne => Arm::call("not", vec![f("equals", l, r)]),
                    BinOp::EqI => f("equals", Arm::call("toLower", vec![l]), Arm::call("toLower", vec![r])),
                    BinOp::NeI => Arm::call(
                        "not",
                        vec![f("equals", Arm::call("toLower", vec![l]), Arm::call("toLower", vec![r]))],
                    ),
                    BinOp::Lt => f("less", l, r),
                    BinOp::Le => f("lessOrEquals", l, r),
                    BinOp::Gt => f("greater", l, r),
                    BinOp::Ge => f("greaterOrEquals", l, r),
                    BinOp::Add => f("add", l, r),
                    BinOp::Sub => f("sub", l, r),
                    BinOp::Mul => f("mul", l, r),
                    BinOp::Div => f("div", l, r),
                    BinOp::Mod => f("mod", l, r),
                }
            }
            ExprKind::Ternary { cond, then, other } => {
                Arm::call("if", vec![self.arm(cond, env)?, self.arm(then, env)?, self.arm(other, env)?])
            }
            ExprKind::Lambda { params, body } => {
                let mut args: Vec<Arm> = params.iter().map(|(p, _)| Arm::str(p)).collect();
                args.push(self.arm(body, &self.lambda_env(e, env))?);
                Arm::Call("lambda".into(), args)
            }
        })
    }

    /// Inside a lambda its parameters are `lambdaVariables('name')`.
    pub fn lambda_env(&self, e: &Expr, env: &Env) -> Env {
        let mut inner = env.clone();
        if let ExprKind::Lambda { params, .. } = &e.kind {
            for (p, _) in params {
                inner = inner.with(p, Arm::call("lambdaVariables", vec![Arm::str(p)]));
            }
        }
        inner
    }

    fn int(&self, n: u64, e: &Expr) -> DResult<i64> {
        i64::try_from(n).map_err(|_| Diag::new(ErrorKind::Type, e.span, "integer literal is out of range"))
    }

    fn ident(&self, name: &str, e: &Expr, env: &Env) -> DResult<Arm> {
        if let Some(local) = env.local(name) {
            return Ok(local.clone());
        }
        if env.function && self.model.lookup(name, None).is_some() {
            let message = format!("a function can use only its parameters, not '{name}'");
            return Err(Diag::new(ErrorKind::Invalid, e.span, message));
        }
        match self.model.lookup(name, env.res) {
            Some(Sym::Param(_)) => Ok(Arm::call("parameters", vec![Arm::str(name)])),
            Some(Sym::Var(v)) => {
                if self.inline[v] {
                    self.arm(&self.model.vars[v].value, &Env::default())
                } else {
                    Ok(Arm::call("variables", vec![Arm::str(name)]))
                }
            }
            Some(Sym::Res(r)) => self.whole(Target::Res(r), None, e),
            Some(Sym::Module(m)) => self.whole(Target::Module(m), None, e),
            None => Err(undefined(name, e)),
        }
    }

    /// `res.prop`, `mod.outputs.x`, or a plain property access.
    fn member(&self, base: &Expr, name: &str, e: &Expr, env: &Env) -> DResult<Arm> {
        if let Some((t, idx)) = self.target(base, env)? {
            return match t {
                Target::Res(r) => self.res_member(r, idx.as_ref(), name, e),
                Target::Module(m) => match name {
                    "name" => self.module_name(m, idx.as_ref()),
                    "outputs" => Err(Diag::unsupported(e.span, "reading a module's whole 'outputs' object")),
                    _ => Err(Diag::new(ErrorKind::Type, e.span, format!("a module has no property '{name}'"))),
                },
            };
        }
        if let ExprKind::Member { base: inner, name: outputs } = &base.kind
            && outputs == "outputs"
            && let Some((Target::Module(m), idx)) = self.target(inner, env)?
        {
            // A secure output is read with its own API, which returns the values without the
            // `outputs`/`value` wrapping (`ConvertModuleOutputPropertyAccessExpression`).
            if self.check_output(m, name, e)? {
                return Ok(self.secure_outputs(m, idx.as_ref())?.prop(name));
            }
            return Ok(self.module_reference(m, idx.as_ref())?.prop("outputs").prop(name).prop("value"));
        }
        Ok(self.arm(base, env)?.prop(name))
    }

    /// `mod.?outputs.x…` (parsed as `tryGet(mod, 'outputs', 'x', …)`): the module's reference, guarded
    /// by its condition, and the output's `value` (`ExpressionConverter.ConvertModulePropertyAccess`);
    /// `mod.outputs.?x` reads `value` from what `tryGet` found.
    fn safe_module_outputs(&self, args: &[Expr], env: &Env) -> DResult<Option<Arm>> {
        // `mod.outputs.?x`: the output may be missing, the module is not in question.
        if let [outputs, output] = args
            && let ExprKind::Member { base, name: outputs_name } = &outputs.kind
            && outputs_name == "outputs"
            && let ExprKind::Str(name) = &output.kind
            && let Some((Target::Module(m), idx)) = self.target(base, env)?
        {
            self.check_index(Target::Module(m), idx.as_ref(), base)?;
            if self.check_output(m, name, output)? {
                // Secure values come without the `value` wrapping.
                return Ok(Some(Arm::call("tryGet", vec![self.secure_outputs(m, idx.as_ref())?, Arm::str(name)])));
            }
            let all = self.module_reference(m, idx.as_ref())?.prop("outputs");
            let one = Arm::call("tryGet", vec![all, Arm::str(name)]);
            return Ok(Some(Arm::call("tryGet", vec![one, Arm::str("value")])));
        }
        // `mod.?outputs.?x` (`tryGet(tryGet(mod, 'outputs'), 'x')`): each safe step a `tryGet`,
        // then the output's `value` (`ConvertModuleOutputPropertyAccessExpression`).
        if let [inner, output] = args
            && let ExprKind::Call { name: inner_name, args: inner_args, .. } = &inner.kind
            && inner_name == "tryGet"
            && let [base, outputs] = inner_args.as_slice()
            && matches!(&outputs.kind, ExprKind::Str(o) if o == "outputs")
            && let ExprKind::Str(name) = &output.kind
            && let Some((Target::Module(m), idx)) = self.target(base, env)?
        {
            self.check_index(Target::Module(m), idx.as_ref(), base)?;
            if self.check_output(m, name, output)? {
                // `.?outputs` for a secure output is the module's (guarded) secure-values list.
                let mut list = self.secure_outputs(m, idx.as_ref())?;
                if let Some(c) = self.model.modules[m].condition {
                    list = Arm::call("if", vec![self.arm(c, &self.module_env(m, idx.as_ref())?)?, list, Arm::Null]);
                }
                return Ok(Some(Arm::call("tryGet", vec![list, Arm::str(name)])));
            }
            let outputs =
                Arm::call("tryGet", vec![self.guarded_module_reference(m, idx.as_ref())?, Arm::str("outputs")]);
            let one = Arm::call("tryGet", vec![outputs, Arm::str(name)]);
            return Ok(Some(Arm::call("tryGet", vec![one, Arm::str("value")])));
        }
        let [base, outputs, output, rest @ ..] = args else { return Ok(None) };
        let (ExprKind::Str(outputs), ExprKind::Str(name)) = (&outputs.kind, &output.kind) else {
            return Ok(None);
        };
        let Some((Target::Module(m), idx)) = self.target(base, env)? else { return Ok(None) };
        if outputs != "outputs" {
            return Ok(None);
        }
        self.check_index(Target::Module(m), idx.as_ref(), base)?;
        if self.check_output(m, name, output)? {
            return Err(Diag::unsupported(output.span, "a safe read of a module's secure output"));
        }
        let reference = self.guarded_module_reference(m, idx.as_ref())?;
        let mut call_args = vec![reference, Arm::str("outputs"), Arm::str(name), Arm::str("value")];
        for a in rest {
            call_args.push(self.arm(a, env)?);
        }
        Ok(Some(Arm::Call("tryGet".into(), call_args)))
    }

    /// `listOutputsWithSecureValues(…)` of a module's deployment: its outputs, secure ones
    /// included, without the `value` wrapping.
    fn secure_outputs(&self, m: usize, idx: Option<&Arm>) -> DResult<Arm> {
        let target = if self.symbolic { self.symbol_ref(Target::Module(m), idx) } else { self.module_id(m, idx)? };
        Ok(Arm::call("listOutputsWithSecureValues", vec![target, Arm::str(DEPLOYMENTS_API_VERSION)]))
    }

    /// A module's reference for a safe access: guarded on its condition, if it has one
    /// (`ConvertModulePropertyAccess`'s `guardOnModuleCondition`).
    fn guarded_module_reference(&self, m: usize, idx: Option<&Arm>) -> DResult<Arm> {
        let reference = self.module_reference(m, idx)?;
        Ok(match self.model.modules[m].condition {
            Some(c) => Arm::call("if", vec![self.arm(c, &self.module_env(m, idx)?)?, reference, Arm::Null]),
            None => reference,
        })
    }

    /// `reference(…)` of a module's deployment (`GetModuleReferenceExpression`).
    fn module_reference(&self, m: usize, idx: Option<&Arm>) -> DResult<Arm> {
        let target = if self.symbolic {
            vec![self.symbol_ref(Target::Module(m), idx)]
        } else {
            vec![self.module_id(m, idx)?, Arm::str(DEPLOYMENTS_API_VERSION)]
        };
        Ok(Arm::call("reference", target))
    }

    fn res_member(&self, r: usize, idx: Option<&Arm>, name: &str, e: &Expr) -> DResult<Arm> {
        self.check_index(Target::Res(r), idx, e)?;
        let res = &self.model.resources[r];
        Ok(match name {
            "id" => self.res_id(r, idx)?,
            "name" if res.parent.is_some() => self.own_name(r, idx)?,
            "name" => self.res_name(r, idx)?,
            "type" => Arm::str(&res.full_type),
            "apiVersion" => Arm::str(&res.api_version),
            "properties" if self.symbolic => Arm::call("reference", vec![self.symbol_ref(Target::Res(r), idx)]),
            "properties" => Arm::call("reference", vec![self.res_id(r, idx)?, Arm::str(&res.api_version)]),
            other => self.full_reference(r, idx)?.prop(other),
        })
    }

    /// A resource or module used as a whole value.
    fn whole(&self, t: Target, idx: Option<&Arm>, e: &Expr) -> DResult<Arm> {
        match t {
            Target::Res(r) => {
                self.check_index(t, idx, e)?;
                self.full_reference(r, idx)
            }
            Target::Module(_) => Err(Diag::unsupported(e.span, "a module used as a whole value")),
        }
    }

    fn method_call(
        &self,
        base: &Expr,
        name: &str,
        name_span: crate::infra::bicep::error::Span,
        args: &[Expr],
        env: &Env,
    ) -> DResult<Arm> {
        if let ExprKind::Ident(ns) = &base.kind
            && (ns == "az" || ns == "sys")
            && env.local(ns).is_none()
            && self.model.lookup(ns, env.res).is_none()
        {
            return self.call(name, name_span, args, env);
        }
        if let Some((Target::Res(r), idx)) = self.target(base, env)? {
            self.check_index(Target::Res(r), idx.as_ref(), base)?;
            if name.starts_with("list") {
                let target = if self.symbolic {
                    self.symbol_ref(Target::Res(r), idx.as_ref())
                } else {
                    self.res_id(r, idx.as_ref())?
                };
                let mut call_args = vec![target];
                if args.is_empty() {
                    call_args.push(Arm::str(&self.model.resources[r].api_version));
                }
                for a in args {
                    call_args.push(self.arm(a, env)?);
                }
                return Ok(Arm::Call(name.to_string(), call_args));
            }
            if name == "getSecret" {
                return Err(Diag::unsupported(name_span, "getSecret()"));
            }
        }
        Err(Diag::new(ErrorKind::Type, name_span, format!("'{name}' is not a function available on this value")))
    }

    fn call(&self, name: &str, name_span: crate::infra::bicep::error::Span, args: &[Expr], env: &Env) -> DResult<Arm> {
        // A user-defined function: `__bicep.<name>(…)` (`EmitConstants.UserDefinedFunctionsNamespace`).
        let user = match self.model.func_names.get(name) {
            Some(&f) => Some(self.model.funcs[f].params.len()),
            None => self.imports.function_arity(name),
        };
        if let Some(declared) = user {
            if args.len() != declared {
                return Err(Diag::new(
                    ErrorKind::Type,
                    name_span,
                    format!("'{name}' expects {declared} argument(s) but got {}", args.len()),
                ));
            }
            let args = args.iter().map(|a| self.arm(a, env)).collect::<DResult<Vec<_>>>()?;
            return Ok(Arm::Call(format!("__bicep.{name}"), args));
        }
        let Some((kind, min, max)) = functions::lookup(name) else {
            let hint = functions::suggest(name).map(|s| format!(" (did you mean '{s}'?)")).unwrap_or_default();
            let kind = if self.model.lookup(name, env.res).is_some() { ErrorKind::Type } else { ErrorKind::Undefined };
            return Err(Diag::new(kind, name_span, format!("'{name}' is not a known function{hint}")));
        };
        if args.len() < min || args.len() > max {
            let expected = if min == max {
                min.to_string()
            } else if max == usize::MAX {
                format!("at least {min}")
            } else {
                format!("{min} to {max}")
            };
            return Err(Diag::new(
                ErrorKind::Type,
                name_span,
                format!("'{name}' expects {expected} argument(s) but got {}", args.len()),
            ));
        }
        if name == "tryGet"
            && let Some(outputs) = self.safe_module_outputs(args, env)?
        {
            return Ok(outputs);
        }
        // `m.?p` on a conditional module, other than the outputs `safe_module_outputs` writes:
        // bicep build guards the base with `if(<condition>, …, null())`
        // (`ExpressionConverter.guardOnResourceCondition`), not written here. Conditional
        // resources are refused where the call is converted.
        if let (true, Some(Expr { kind: ExprKind::Ident(base), .. })) = (name == "tryGet", args.first())
            && let Some(Sym::Module(m)) = self.model.lookup(base, env.res).filter(|_| env.local(base).is_none())
            && self.model.modules[m].condition.is_some()
        {
            return Err(Diag::unsupported(args[0].span, "safe access ('.?') to a conditional module"));
        }
        match kind {
            Builtin::Any => self.arm(&args[0], env),
            Builtin::Load if env.function => {
                Err(Diag::unsupported(name_span, &format!("'{name}()' in a user-defined function")))
            }
            Builtin::Load => match self.function_vars.iter().position(|call| call.start == name_span.start) {
                Some(n) => Ok(Arm::call("variables", vec![Arm::str(function_vars::name(n))])),
                None => load::load(self, name, name_span, args),
            },
            Builtin::Unsupported => Err(Diag::unsupported(name_span, &format!("'{name}()'"))),
            Builtin::Plain | Builtin::Runtime => {
                let args = args.iter().map(|a| self.arm(a, env)).collect::<DResult<Vec<_>>>()?;
                Ok(Arm::Call(name.to_string(), args))
            }
        }
    }
}

pub fn undefined(name: &str, e: &Expr) -> Diag {
    Diag::new(ErrorKind::Undefined, e.span, format!("the name '{name}' does not exist in the current context"))
}

#[cfg(test)]
mod tests {
    use crate::infra::bicep::compile_str;

    #[test]
    fn a_secure_module_output_is_read_with_list_outputs_with_secure_values() {
        // As avm/ptn/dev-ops/cicd-agents-and-runners reads a workspace module's shared key.
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("m.bicep"), "@secure()\noutput key string = 'k'\noutput id string = 'i'\n")
            .expect("write");
        let text =
            "module a 'm.bicep' = {\n  name: 'a'\n}\noutput k string = a.outputs.key\noutput i string = a.outputs.id\n";
        let t = compile_str(&dir.path().join("main.bicep"), text).expect("compiles");
        assert_eq!(t["languageVersion"], "2.0");
        assert_eq!(t["outputs"]["k"]["value"], "[listOutputsWithSecureValues('a', '2025-04-01').key]");
        assert_eq!(t["outputs"]["i"]["value"], "[reference('a').outputs.id.value]");
        let safe = "module a 'm.bicep' = {\n  name: 'a'\n}\noutput k string? = a.outputs.?key\n";
        let t = compile_str(&dir.path().join("main.bicep"), safe).expect("compiles");
        assert_eq!(t["outputs"]["k"]["value"], "[tryGet(listOutputsWithSecureValues('a', '2025-04-01'), 'key')]");
    }

    #[test]
    fn a_safe_read_of_a_module_output_is_guarded_by_the_module_condition() {
        // As bicep build writes avm/ptn/authorization/policy-exemption's outputs.
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("m.bicep"), "output name string = 'n'\n").expect("write");
        let text = "param on bool\nmodule a 'm.bicep' = if (on) {\n  name: 'a'\n}\n\
                    module b 'm.bicep' = {\n  name: 'b'\n}\n\
                    output x string = a.?outputs.name ?? b.?outputs.name ?? ''\n";
        let t = compile_str(&dir.path().join("main.bicep"), text).expect("compiles");
        assert_eq!(
            t["outputs"]["x"]["value"],
            "[coalesce(coalesce(tryGet(if(parameters('on'), reference(resourceId('Microsoft.Resources/deployments', 'a'), \
             '2025-04-01'), null()), 'outputs', 'name', 'value'), tryGet(reference(resourceId('Microsoft.Resources/deployments', \
             'b'), '2025-04-01'), 'outputs', 'name', 'value')), '')]"
        );
        let t = compile_str(&dir.path().join("main.bicep"), &format!("type t = string\n{text}")).expect("compiles");
        assert_eq!(
            t["outputs"]["x"]["value"],
            "[coalesce(coalesce(tryGet(if(parameters('on'), reference('a'), null()), 'outputs', 'name', 'value'), \
             tryGet(reference('b'), 'outputs', 'name', 'value')), '')]"
        );
        // avm/ptn/azd/ml-hub-dependencies: a safe read of the output alone is not guarded.
        let t = compile_str(
            &dir.path().join("main.bicep"),
            "type t = string\nparam on bool\nmodule a 'm.bicep' = if (on) {\n  name: 'a'\n}\noutput x string = a.outputs.?name\n",
        )
        .expect("compiles");
        assert_eq!(t["outputs"]["x"]["value"], "[tryGet(tryGet(reference('a').outputs, 'name'), 'value')]");
        let err = compile_str(
            &dir.path().join("main.bicep"),
            "module a 'm.bicep' = {\n  name: 'a'\n}\noutput x string = a.?outputs.nope\n",
        )
        .expect_err("no such output")
        .to_string();
        assert!(err.contains("the module has no output 'nope'"), "{err}");
    }

    #[test]
    fn safe_reads_of_compile_time_resource_properties_are_plain_reads() {
        // avm/res/kusto/cluster's `kustoCluster.?id`, as bicep build writes it; `list(…)` too.
        let text = "param name string\nresource st 'Microsoft.Storage/storageAccounts@2023-05-01' = {\n  name: name\n}\n\
                    output id string = st.?id\noutput n string = st.?name\n\
                    output p string = st.?properties.primaryEndpoints.blob\n\
                    output k string = list(st.id, '2023-05-01').keys[0].value\n";
        let t = compile_str(std::path::Path::new("main.bicep"), text).expect("compiles");
        let id = "resourceId('Microsoft.Storage/storageAccounts', parameters('name'))";
        assert_eq!(t["outputs"]["id"]["value"], format!("[{id}]"));
        assert_eq!(t["outputs"]["n"]["value"], "[parameters('name')]");
        assert_eq!(
            t["outputs"]["p"]["value"],
            format!("[tryGet(reference({id}, '2023-05-01', 'full'), 'properties', 'primaryEndpoints', 'blob')]")
        );
        assert_eq!(t["outputs"]["k"]["value"], format!("[list({id}, '2023-05-01').keys[0].value]"));
    }
}
