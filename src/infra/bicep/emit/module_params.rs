//! Module parameter values as `bicep build` passes them to a nested deployment: `{"value": ...}`,
//! a Key Vault reference for `getSecret()`, a ternary of those as one `if()` expression, and a loop
//! as a `copy` named `value`.

use serde_json::{Map, Value, json};

use crate::infra::bicep::arm::Arm;
use crate::infra::bicep::ast::*;
use crate::infra::bicep::convert::resources::Target;
use crate::infra::bicep::convert::{Compiler, Env};
use crate::infra::bicep::error::{DResult, Diag, ErrorKind};
use crate::infra::bicep::model::Sym;

/// `vault.getSecret(name[, version])` assigned to a module parameter.
struct SecretRef<'e> {
    vault_id: Arm,
    name: &'e Expr,
    version: Option<&'e Expr>,
}

fn unparen(e: &Expr) -> &Expr {
    match &e.kind {
        ExprKind::Paren(inner) => unparen(inner),
        _ => e,
    }
}

impl Compiler<'_> {
    /// The entry for one parameter in the `parameters` of module `m`'s deployment.
    pub(super) fn module_param(&self, m: usize, param: &ObjProp, env: &Env) -> DResult<Value> {
        if let ExprKind::For(f) = &param.value.kind {
            return Ok(json!({"copy": [self.param_loop(f, env)?]}));
        }
        self.param_value(m, &param.key, &param.value, env)
    }

    /// A variable that is inlined (it reads runtime values) as its value: Bicep looks at the
    /// expression after inlining, so a ternary inside such a variable is split as well.
    fn inlined_var<'s>(&'s self, e: &Expr, env: &Env) -> Option<&'s Expr> {
        let ExprKind::Ident(name) = &unparen(e).kind else { return None };
        if env.local(name).is_some() {
            return None;
        }
        match self.model.lookup(name, env.res) {
            Some(Sym::Var(v)) if self.inline[v] => Some(&self.model.vars[v].value),
            _ => None,
        }
    }

    fn param_value(&self, m: usize, key: &str, value: &Expr, env: &Env) -> DResult<Value> {
        if let Some(inner) = self.inlined_var(value, env) {
            return self.param_value(m, key, inner, &Env::default());
        }
        let value = unparen(value);
        if let Some(secret) = self.secret_ref(m, key, value, env)? {
            let mut reference = Map::new();
            reference.insert("keyVault".into(), json!({"id": secret.vault_id.to_json()}));
            reference.insert("secretName".into(), self.json(secret.name, env)?);
            if let Some(version) = secret.version {
                reference.insert("secretVersion".into(), self.json(version, env)?);
            }
            return Ok(json!({"reference": reference}));
        }
        // Bicep turns a ternary into a choice between two whole entries, so that either branch
        // may be a Key Vault reference; it does so whether or not one is.
        if matches!(value.kind, ExprKind::Ternary { .. }) {
            return Ok(self.param_entry(m, key, value, env)?.to_json());
        }
        Ok(json!({"value": self.json(value, env)?}))
    }

    /// A loop as a parameter value: a property copy loop named `value`, the name of the property
    /// it fills once ARM unwraps `{"value": ...}` (`TemplateWriter.EmitModuleParameters`).
    fn param_loop(&self, f: &ForExpr, env: &Env) -> DResult<Value> {
        if matches!(f.body.kind, ExprKind::If { .. }) {
            return Err(Diag::unsupported(f.body.span, "a filtered loop as a module parameter value"));
        }
        let body_env = self.loop_env(f, env, Arm::call("copyIndex", vec![Arm::str("value")]))?;
        // Unlike other copy loops, the input is always one expression (`EmitCopyObject` with a
        // copy index override), even an object; Bicep then renames every `copyIndex('…')` in it to
        // `copyIndex('value')`, which only a loop nested in the body could notice, and a loop
        // inside an expression is refused.
        let input = self.arm(&f.body, &body_env)?.to_json();
        Ok(json!({"name": "value", "count": self.loop_count(f, env)?, "input": input}))
    }

    /// A parameter entry as an expression (`createObject('value', ...)` and so on).
    fn param_entry(&self, m: usize, key: &str, e: &Expr, env: &Env) -> DResult<Arm> {
        if let Some(inner) = self.inlined_var(e, env) {
            return self.param_entry(m, key, inner, &Env::default());
        }
        let e = unparen(e);
        if let ExprKind::Ternary { cond, then, other } = &e.kind {
            return Ok(Arm::call(
                "if",
                vec![self.arm(cond, env)?, self.param_entry(m, key, then, env)?, self.param_entry(m, key, other, env)?],
            ));
        }
        if let Some(secret) = self.secret_ref(m, key, e, env)? {
            let mut reference = vec![
                Arm::str("keyVault"),
                Arm::call("createObject", vec![Arm::str("id"), secret.vault_id]),
                Arm::str("secretName"),
                self.arm(secret.name, env)?,
            ];
            if let Some(version) = secret.version {
                reference.push(Arm::str("secretVersion"));
                reference.push(self.arm(version, env)?);
            }
            return Ok(Arm::call("createObject", vec![Arm::str("reference"), Arm::call("createObject", reference)]));
        }
        Ok(Arm::call("createObject", vec![Arm::str("value"), self.arm(e, env)?]))
    }

    /// `e` as a `getSecret()` call on a Key Vault, checked the way Bicep checks it.
    fn secret_ref<'e>(&self, m: usize, key: &str, e: &'e Expr, env: &Env) -> DResult<Option<SecretRef<'e>>> {
        let ExprKind::MethodCall { base, name, name_span, args } = &e.kind else {
            return Ok(None);
        };
        if name != "getSecret" {
            return Ok(None);
        }
        let Some((Target::Res(r), idx)) = self.target(base, env)? else {
            return Ok(None);
        };
        let res = &self.model.resources[r];
        if !res.full_type.eq_ignore_ascii_case("Microsoft.KeyVault/vaults") {
            return Err(Diag::new(
                ErrorKind::Type,
                *name_span,
                "'getSecret' is only available on a Key Vault ('Microsoft.KeyVault/vaults')",
            ));
        }
        if !res.decl.existing {
            return Err(Diag::unsupported(*name_span, "getSecret() on a Key Vault that is not 'existing'"));
        }
        let declared = &self.module_templates[m].template["parameters"][key];
        if declared.is_object() && declared["type"] != "securestring" {
            return Err(Diag::new(
                ErrorKind::Type,
                *name_span,
                format!(
                    "getSecret() can only be assigned to a module parameter declared '@secure() string'; '{key}' is not"
                ),
            ));
        }
        let (name, version) = match args.as_slice() {
            [name] => (name, None),
            [name, version] => (name, Some(version)),
            _ => {
                return Err(Diag::new(
                    ErrorKind::Type,
                    *name_span,
                    format!("'getSecret' expects 1 to 2 argument(s) but got {}", args.len()),
                ));
            }
        };
        self.check_index(Target::Res(r), idx.as_ref(), base)?;
        Ok(Some(SecretRef { vault_id: self.res_id(r, idx.as_ref())?, name, version }))
    }
}

#[cfg(test)]
mod tests {
    use crate::infra::bicep::compile_str;

    #[test]
    fn a_loop_as_a_module_parameter_is_a_copy_named_value_with_one_expression_as_input() {
        // As bicep build writes avm/ptn/azd/ml-project's `roleAssignments`.
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("m.bicep"), "param xs array\nparam n string\n").expect("write");
        let text = "param ids array\n\
            module m 'm.bicep' = {\n  name: 'm'\n  params: {\n    \
              xs: [for id in ids: {\n      role: id\n      kind: 'x'\n    }]\n    n: 'n'\n  }\n}\n";
        let t = compile_str(&dir.path().join("main.bicep"), text).expect("compiles");
        let params = &t["resources"][0]["properties"]["parameters"];
        assert_eq!(
            params["xs"],
            serde_json::json!({"copy": [{
                "name": "value",
                "count": "[length(parameters('ids'))]",
                "input": "[createObject('role', parameters('ids')[copyIndex('value')], 'kind', 'x')]",
            }]})
        );
        assert_eq!(params["n"], serde_json::json!({"value": "n"}));
    }

    #[test]
    fn a_ternary_inside_an_inlined_variable_is_split_into_two_entries() {
        // As in avm/ptn/aca-lza/hosting-environment: Bicep converts the parameter after inlining
        // the variable, which reads a module output.
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("m.bicep"),
            "param p string
output o string = 'x'
",
        )
        .expect("write");
        let text = "param on bool
module a 'm.bicep' = {
  name: 'a'
  params: {
    p: ''
  }
}
            var v = on ? a.outputs.o : ''
            module b 'm.bicep' = {
  name: 'b'
  params: {
    p: (v)
  }
}
";
        let t = compile_str(&dir.path().join("main.bicep"), text).expect("compiles");
        assert_eq!(
            t["resources"][1]["properties"]["parameters"]["p"],
            "[if(parameters('on'), createObject('value', reference(resourceId('Microsoft.Resources/deployments', 'a'), \
             '2025-04-01').outputs.o.value), createObject('value', ''))]"
        );
    }
}
