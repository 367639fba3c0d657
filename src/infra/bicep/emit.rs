//! Template assembly: parameters, variables, resources, modules and outputs as `bicep build` writes them.

use serde_json::{Map, Value, json};

use super::arm::Arm;
use super::ast::*;
use super::convert::{Compiler, DEPLOYMENTS_API_VERSION, Env};
use super::deps::Dep;
use super::error::{DResult, Diag, ErrorKind};
use super::model::TargetScope;
use super::resources::{Placement, Target};

/// The `_generator` block: this compiler, never presented as `bicep`.
pub fn generator() -> Value {
    json!({"name": "mlops-bicep", "version": env!("CARGO_PKG_VERSION")})
}

impl Compiler<'_> {
    pub fn template(&self) -> DResult<Value> {
        let model = self.model;
        let mut t = Map::new();
        t.insert("$schema".into(), Value::from(model.scope.schema()));
        t.insert("contentVersion".into(), Value::from("1.0.0.0"));
        let mut metadata = Map::new();
        metadata.insert("_generator".into(), generator());
        for m in &model.metadata {
            if m.name == "_generator" {
                return Err(Diag::new(ErrorKind::Invalid, m.name_span, "'_generator' is reserved"));
            }
            metadata.insert(m.name.clone(), self.json(&m.value, &Env::default())?);
        }
        t.insert("metadata".into(), Value::Object(metadata));

        let mut params = Map::new();
        for p in &model.params {
            params.insert(p.name.clone(), self.parameter(p)?);
        }
        if !params.is_empty() {
            t.insert("parameters".into(), Value::Object(params));
        }

        let variables = self.variables()?;
        if !variables.is_empty() {
            t.insert("variables".into(), Value::Object(variables));
        }

        let mut graph = Vec::new();
        for r in 0..model.resources.len() {
            graph.push((Target::Res(r), self.dependencies(Target::Res(r))?));
        }
        for m in 0..model.modules.len() {
            graph.push((Target::Module(m), self.dependencies(Target::Module(m))?));
        }
        self.check_dependency_cycles(&graph)?;

        // `bicep build` writes nested resources first (innermost first), then top-level ones,
        // then modules.
        let mut order = Vec::new();
        for r in 0..model.resources.len() {
            if model.resources[r].lexical_parent.is_none() {
                self.nested_post_order(r, &mut order);
            }
        }
        order.extend((0..model.resources.len()).filter(|&r| model.resources[r].lexical_parent.is_none()));
        let mut resources = Vec::new();
        for r in order {
            if !model.resources[r].decl.existing {
                resources.push(self.resource(r, &graph[r].1)?);
            }
        }
        for (target, deps) in &graph {
            if let Target::Module(m) = *target {
                resources.push(self.module(m, deps)?);
            }
        }
        t.insert("resources".into(), Value::Array(resources));

        let mut outputs = Map::new();
        for o in &model.outputs {
            outputs.insert(o.name.clone(), self.output(o)?);
        }
        if !outputs.is_empty() {
            t.insert("outputs".into(), Value::Object(outputs));
        }
        Ok(Value::Object(t))
    }

    /// The `copy` name of a loop: the symbol, qualified by enclosing resources (`parent::child`).
    fn copy_name(&self, t: Target) -> String {
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

    /// `@description` on a resource or module becomes `metadata.description`.
    fn description_metadata(&self, decorators: &[Decorator], out: &mut Map<String, Value>) -> DResult<()> {
        if let Some(d) = decorators.iter().find(|d| d.name == "description") {
            out.insert("metadata".into(), json!({"description": self.description(d)?}));
        }
        Ok(())
    }

    fn nested_post_order(&self, r: usize, out: &mut Vec<usize>) {
        for &c in &self.model.resources[r].children {
            self.nested_post_order(c, out);
            out.push(c);
        }
    }

    fn variables(&self) -> DResult<Map<String, Value>> {
        let mut copies = Vec::new();
        let mut vars = Map::new();
        for (v, decl) in self.model.vars.iter().enumerate() {
            if let Some(d) = decl.decorators.first() {
                return Err(Diag::unsupported(d.span, &format!("the decorator '@{}' on a variable", d.name)));
            }
            if self.inline[v] {
                if matches!(decl.value.kind, ExprKind::For(_)) {
                    return Err(Diag::unsupported(decl.value.span, "a loop variable that reads runtime values"));
                }
                // Still compiled once so that errors inside it are reported.
                self.arm(&decl.value, &Env::default())?;
                continue;
            }
            if let ExprKind::For(f) = &decl.value.kind {
                if matches!(f.body.kind, ExprKind::If { .. }) {
                    return Err(Diag::unsupported(f.body.span, "a filtered variable loop"));
                }
                let index = Arm::call("copyIndex", vec![Arm::str(&decl.name)]);
                let env = self.loop_env(f, &Env::default(), index)?;
                copies.push(json!({
                    "name": decl.name,
                    "count": self.loop_count(f, &Env::default())?,
                    "input": self.json(&f.body, &env)?,
                }));
            } else {
                vars.insert(decl.name.clone(), self.json(&decl.value, &Env::default())?);
            }
        }
        if copies.is_empty() {
            return Ok(vars);
        }
        let mut with_copy = Map::new();
        with_copy.insert("copy".into(), Value::Array(copies));
        with_copy.extend(vars);
        Ok(with_copy)
    }

    fn literal_int(&self, d: &Decorator) -> DResult<Value> {
        match d.args.as_slice() {
            [e] => match &e.kind {
                ExprKind::Int(n) => Ok(Value::from(*n)),
                ExprKind::Unary { op: UnOp::Neg, operand } if matches!(operand.kind, ExprKind::Int(_)) => {
                    Ok(self.arm(e, &Env::default())?.to_json())
                }
                _ => Err(Diag::new(ErrorKind::Type, e.span, format!("'@{}' expects an integer literal", d.name))),
            },
            _ => Err(Diag::new(ErrorKind::Type, d.span, format!("'@{}' expects one argument", d.name))),
        }
    }

    fn description(&self, d: &Decorator) -> DResult<Value> {
        match d.args.as_slice() {
            [e] if matches!(e.kind, ExprKind::Str(_)) => self.json(e, &Env::default()),
            _ => Err(Diag::new(ErrorKind::Type, d.span, "'@description' expects one string literal")),
        }
    }

    fn parameter(&self, p: &ParamDecl) -> DResult<Value> {
        let secure = p.decorators.iter().any(|d| d.name == "secure");
        let ty = match (p.ty.name.as_str(), secure) {
            ("string", false) => "string",
            ("string", true) => "securestring",
            ("object", false) => "object",
            ("object", true) => "secureObject",
            ("int", false) => "int",
            ("bool", false) => "bool",
            ("array", false) => "array",
            ("any", _) => return Err(Diag::unsupported(p.ty.span, "a parameter of type 'any'")),
            ("int" | "bool" | "array", true) => {
                return Err(Diag::new(
                    ErrorKind::Type,
                    p.ty.span,
                    "'@secure()' applies only to string and object parameters",
                ));
            }
            (other, _) => {
                return Err(Diag::new(
                    ErrorKind::Type,
                    p.ty.span,
                    format!("'{other}' is not a parameter type (use string, int, bool, object or array)"),
                ));
            }
        };
        let mut out = Map::new();
        out.insert("type".into(), Value::from(ty));
        if let Some(default) = &p.default {
            check_literal_type(default, &p.ty.name)?;
            out.insert("defaultValue".into(), self.json(default, &Env::default())?);
        }
        let mut metadata = Map::new();
        for d in &p.decorators {
            match d.name.as_str() {
                "secure" => {
                    if !d.args.is_empty() {
                        return Err(Diag::new(ErrorKind::Type, d.span, "'@secure()' takes no arguments"));
                    }
                }
                "description" => {
                    metadata.insert("description".into(), self.description(d)?);
                }
                "allowed" => match d.args.as_slice() {
                    [e] if matches!(e.kind, ExprKind::Array(_)) => {
                        if let ExprKind::Array(items) = &e.kind {
                            for item in items {
                                check_literal_type(item, &p.ty.name)?;
                            }
                        }
                        out.insert("allowedValues".into(), self.json(e, &Env::default())?);
                    }
                    _ => {
                        return Err(Diag::new(ErrorKind::Type, d.span, "'@allowed' expects one array"));
                    }
                },
                "minLength" | "maxLength" => {
                    if !matches!(p.ty.name.as_str(), "string" | "array") {
                        return Err(Diag::new(
                            ErrorKind::Type,
                            d.span,
                            format!("'@{}' applies only to string and array parameters", d.name),
                        ));
                    }
                    out.insert(d.name.clone(), self.literal_int(d)?);
                }
                "minValue" | "maxValue" => {
                    if p.ty.name != "int" {
                        return Err(Diag::new(
                            ErrorKind::Type,
                            d.span,
                            format!("'@{}' applies only to int parameters", d.name),
                        ));
                    }
                    out.insert(d.name.clone(), self.literal_int(d)?);
                }
                "metadata" => match d.args.as_slice() {
                    [e] if matches!(e.kind, ExprKind::Object(_)) => {
                        if let Value::Object(m) = self.json(e, &Env::default())? {
                            metadata.extend(m);
                        }
                    }
                    _ => {
                        return Err(Diag::new(ErrorKind::Type, d.span, "'@metadata' expects one object"));
                    }
                },
                other => {
                    return Err(Diag::unsupported(d.span, &format!("the decorator '@{other}' on a parameter")));
                }
            }
        }
        if !metadata.is_empty() {
            out.insert("metadata".into(), Value::Object(metadata));
        }
        Ok(Value::Object(out))
    }

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

    fn copy(&self, symbol: &str, f: &ForExpr, decorators: &[Decorator], env: &Env) -> DResult<Value> {
        let mut copy = Map::new();
        copy.insert("name".into(), Value::from(symbol));
        copy.insert("count".into(), self.loop_count(f, env)?);
        if let Some(d) = decorators.iter().find(|d| d.name == "batchSize") {
            copy.insert("mode".into(), Value::from("serial"));
            copy.insert("batchSize".into(), self.literal_int(d)?);
        }
        Ok(Value::Object(copy))
    }

    fn depends_on(&self, deps: &[Dep]) -> DResult<Value> {
        let mut out = Vec::new();
        for d in deps {
            let value = match (d.target, &d.index) {
                (t, None) if self.is_loop(t) => Value::from(self.copy_name(t)),
                (Target::Res(r), idx) => self.res_id(r, idx.as_ref())?.to_json(),
                (Target::Module(m), idx) => self.module_id(m, idx.as_ref())?.to_json(),
            };
            if !out.contains(&value) {
                out.push(value);
            }
        }
        Ok(Value::Array(out))
    }

    fn resource(&self, r: usize, deps: &[Dep]) -> DResult<Value> {
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
        if let Some(c) = self.condition(&conds)? {
            out.insert("condition".into(), c);
        }
        if let Some(f) = res.for_loop {
            let outer = Env { res: res.lexical_parent, ..Env::default() };
            out.insert("copy".into(), self.copy(&self.copy_name(Target::Res(r)), f, &res.decl.decorators, &outer)?);
        }
        out.insert("type".into(), Value::from(res.full_type.as_str()));
        out.insert("apiVersion".into(), Value::from(res.api_version.as_str()));
        out.insert("name".into(), self.res_name(r, None)?.to_json());
        self.description_metadata(&res.decl.decorators, &mut out)?;
        match self.res_placement(r, None)? {
            Placement::Default => {}
            Placement::Extension(id) if res.parent.is_none() => {
                out.insert("scope".into(), id.to_json());
            }
            Placement::Extension(_) => {}
            _ => {
                let span = super::ast::prop(res.body, "scope").map_or(res.decl.name_span, |p| p.value.span);
                return Err(Diag::unsupported(span, "a new resource in another scope (use a module)"));
            }
        }
        for item in res.body {
            let ObjItem::Prop(p) = item else { continue };
            if matches!(p.key.as_str(), "name" | "parent" | "scope" | "dependsOn") {
                if p.key == "dependsOn" {
                    self.check_explicit_depends_on(&p.value, &env)?;
                }
                continue;
            }
            if out.contains_key(&p.key) {
                return Err(Diag::new(
                    ErrorKind::Duplicate,
                    p.key_span,
                    format!("the property '{}' is declared more than once", p.key),
                ));
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
        Ok(Value::Object(out))
    }

    fn check_explicit_depends_on(&self, e: &Expr, env: &Env) -> DResult<()> {
        let ExprKind::Array(items) = &e.kind else {
            return Err(Diag::new(ErrorKind::Type, e.span, "'dependsOn' must be an array of resources or modules"));
        };
        for item in items {
            match self.target(item, env)? {
                Some((Target::Res(r), _)) if self.model.resources[r].decl.existing => {
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

    fn module(&self, m: usize, deps: &[Dep]) -> DResult<Value> {
        let module = &self.model.modules[m];
        for d in &module.decl.decorators {
            if !matches!(d.name.as_str(), "batchSize" | "description") {
                return Err(Diag::unsupported(d.span, &format!("the decorator '@{}' on a module", d.name)));
            }
        }
        let env = self.module_env(m, None)?;
        let mut out = Map::new();
        if let Some(c) = module.condition {
            out.insert("condition".into(), self.json(c, &env)?);
        }
        if let Some(f) = module.for_loop {
            out.insert("copy".into(), self.copy(&module.decl.name, f, &module.decl.decorators, &Env::default())?);
        }
        out.insert("type".into(), Value::from("Microsoft.Resources/deployments"));
        out.insert("apiVersion".into(), Value::from(DEPLOYMENTS_API_VERSION));
        out.insert("name".into(), self.module_name(m, None)?.to_json());
        self.description_metadata(&module.decl.decorators, &mut out)?;
        let deployment_location = || Arm::call("deployment", vec![]).prop("location").to_json();
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
                    let ExprKind::Object(items) = &p.value.kind else {
                        return Err(Diag::new(ErrorKind::Type, p.value.span, "'params' must be an object"));
                    };
                    for item in items {
                        let ObjItem::Prop(param) = item else { continue };
                        if matches!(param.value.kind, ExprKind::For(_)) {
                            return Err(Diag::unsupported(param.value.span, "a loop as a module parameter value"));
                        }
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
        let template = self.module_templates[m].clone();
        let mut properties = Map::new();
        properties.insert("expressionEvaluationOptions".into(), json!({"scope": "inner"}));
        properties.insert("mode".into(), Value::from("Incremental"));
        if !params.is_empty() {
            properties.insert("parameters".into(), Value::Object(params));
        }
        properties.insert("template".into(), template);
        out.insert("properties".into(), Value::Object(properties));
        if !deps.is_empty() {
            out.insert("dependsOn".into(), self.depends_on(deps)?);
        }
        Ok(Value::Object(out))
    }

    fn check_module_params(&self, m: usize, given: &Map<String, Value>) -> DResult<()> {
        let module = &self.model.modules[m];
        let declared = self.module_templates[m]["parameters"].as_object().cloned().unwrap_or_default();
        let span = super::ast::prop(module.body, "params").map_or(module.decl.name_span, |p| p.key_span);
        for key in given.keys() {
            if !declared.contains_key(key) {
                return Err(Diag::new(ErrorKind::Type, span, format!("the module has no parameter '{key}'")));
            }
        }
        for (key, decl) in &declared {
            if decl.get("defaultValue").is_none() && !given.contains_key(key) {
                return Err(Diag::new(
                    ErrorKind::Type,
                    span,
                    format!("the module's required parameter '{key}' is missing"),
                ));
            }
        }
        Ok(())
    }

    pub fn check_output(&self, m: usize, name: &str, e: &Expr) -> DResult<()> {
        if self.module_templates[m]["outputs"].get(name).is_none() {
            return Err(Diag::new(ErrorKind::Type, e.span, format!("the module has no output '{name}'")));
        }
        Ok(())
    }

    fn output(&self, o: &OutputDecl) -> DResult<Value> {
        let ty = match o.ty.name.as_str() {
            t @ ("string" | "int" | "bool" | "object" | "array") => t,
            other => {
                return Err(Diag::new(ErrorKind::Type, o.ty.span, format!("'{other}' is not an output type")));
            }
        };
        let mut out = Map::new();
        out.insert("type".into(), Value::from(ty));
        let mut metadata = Map::new();
        for d in &o.decorators {
            match d.name.as_str() {
                "description" => {
                    metadata.insert("description".into(), self.description(d)?);
                }
                other => {
                    return Err(Diag::unsupported(d.span, &format!("the decorator '@{other}' on an output")));
                }
            }
        }
        check_literal_type(&o.value, ty)?;
        if let ExprKind::For(f) = &o.value.kind {
            if ty != "array" {
                return Err(Diag::new(ErrorKind::Type, o.ty.span, "a loop output must have type 'array'"));
            }
            if matches!(f.body.kind, ExprKind::If { .. }) {
                return Err(Diag::unsupported(f.body.span, "a filtered output loop"));
            }
            let env = self.loop_env(f, &Env::default(), Arm::call("copyIndex", vec![]))?;
            out.insert(
                "copy".into(),
                json!({"count": self.loop_count(f, &Env::default())?, "input": self.json(&f.body, &env)?}),
            );
        } else {
            out.insert("value".into(), self.json(&o.value, &Env::default())?);
        }
        if !metadata.is_empty() {
            out.insert("metadata".into(), Value::Object(metadata));
        }
        Ok(Value::Object(out))
    }
}

/// Rejects a literal whose type plainly differs from the declared one (`param p int = 'x'`).
fn check_literal_type(e: &Expr, ty: &str) -> DResult<()> {
    let actual = match &e.kind {
        ExprKind::Str(_) | ExprKind::Interp { .. } => "string",
        ExprKind::Int(_) => "int",
        ExprKind::Unary { op: UnOp::Neg, operand } if matches!(operand.kind, ExprKind::Int(_)) => "int",
        ExprKind::Bool(_) => "bool",
        ExprKind::Object(_) => "object",
        ExprKind::Array(_) | ExprKind::For(_) => "array",
        _ => return Ok(()),
    };
    if actual != ty {
        return Err(Diag::new(
            ErrorKind::Type,
            e.span,
            format!("expected a value of type '{ty}' but this is of type '{actual}'"),
        ));
    }
    Ok(())
}
