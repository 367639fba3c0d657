//! Template assembly: the template's sections in the order `bicep build` writes them, and its
//! variables; parameters and outputs, resources and modules are in the files beside this one.

mod declarations;
mod module;
mod module_params;
mod resource;
mod symbolic;
mod types;

use serde_json::{Map, Value, json};

use super::arm::Arm;
use super::ast::*;
use super::convert::resources::Target;
use super::convert::{Compiler, Env, function_vars, load};
use super::error::{DResult, Diag, ErrorKind};

/// The `_generator` block: this compiler, never presented as `bicep`.
pub fn generator() -> Value {
    json!({"name": "mlops-bicep", "version": env!("CARGO_PKG_VERSION")})
}

impl Compiler<'_> {
    pub fn template(&self) -> DResult<Value> {
        let model = self.model;
        let mut t = Map::new();
        t.insert("$schema".into(), Value::from(model.scope.schema()));
        if self.symbolic {
            t.insert("languageVersion".into(), Value::from("2.0"));
        }
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

        let definitions = self.definitions()?;
        if !definitions.is_empty() {
            t.insert("definitions".into(), Value::Object(definitions));
        }
        if !model.funcs.is_empty() || !self.imports.functions.is_empty() {
            t.insert("functions".into(), self.functions()?);
        }

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
        if self.symbolic {
            t.insert("resources".into(), Value::Object(self.symbolic_resources(&order, &graph)?));
        } else {
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
        }

        let mut outputs = Map::new();
        for o in &model.outputs {
            outputs.insert(o.name.clone(), self.output(o)?);
        }
        if !outputs.is_empty() {
            t.insert("outputs".into(), Value::Object(outputs));
        }
        Ok(Value::Object(t))
    }

    /// The `definitions` section alone: what an importing file reads from a Bicep file.
    pub fn type_definitions(&self) -> DResult<Map<String, Value>> {
        self.definitions()
    }

    /// `@description` on a resource or module becomes `metadata.description`.
    fn description_metadata(&self, decorators: &[Decorator], out: &mut Map<String, Value>) -> DResult<()> {
        if let Some(d) = decorators.iter().find(|d| d.name == "description") {
            out.insert("metadata".into(), json!({"description": self.description(d)?}));
        }
        Ok(())
    }

    /// The nested resources of `r` in the order Bicep's symbol visitor meets them: each body's
    /// nested scopes first (recursively), then the resources declared in the body itself.
    fn nested_post_order(&self, r: usize, out: &mut Vec<usize>) {
        for &c in &self.model.resources[r].children {
            self.nested_post_order(c, out);
        }
        out.extend(&self.model.resources[r].children);
    }

    fn variables(&self) -> DResult<Map<String, Value>> {
        let mut copies = Vec::new();
        let mut vars = Map::new();
        // The hoisted `load*` calls come first, ordered by name as bicep build orders them
        // (`$fxv#10` before `$fxv#2`).
        let mut hoisted: Vec<_> =
            self.function_vars.iter().enumerate().map(|(n, call)| (function_vars::name(n), call)).collect();
        hoisted.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, call) in hoisted {
            let span = crate::infra::bicep::error::Span::new(call.start, call.start + call.function.len());
            vars.insert(name, load::load_value(self, &call.function, span, &call.args)?);
        }
        for (v, decl) in self.model.vars.iter().enumerate() {
            // A variable's description is for readers of the source: bicep build does not write it
            // (`EmitVariablesIfPresent`), unless the variable is exported, which is refused here.
            for d in &decl.decorators {
                if d.name != "description" {
                    return Err(Diag::unsupported(d.span, &format!("the decorator '@{}' on a variable", d.name)));
                }
                self.description(d)?;
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
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::infra::bicep::compile_str;

    #[test]
    fn a_variable_description_is_not_written_and_other_variable_decorators_are_refused() {
        let t = compile_str(Path::new("main.bicep"), "@description('why')\nvar v = 1\noutput o int = v\n")
            .expect("compiles");
        assert_eq!(t["variables"], serde_json::json!({"v": 1}));
        let err = compile_str(Path::new("main.bicep"), "@export()\nvar v = 1\n").expect_err("refused").to_string();
        assert!(err.contains("unsupported: the decorator '@export' on a variable"), "{err}");
    }
}
