//! Template assembly: parameters (types and decorators) and outputs.

use serde_json::{Map, Value, json};

use crate::infra::bicep::arm::Arm;
use crate::infra::bicep::ast::*;
use crate::infra::bicep::convert::{Compiler, Env, load};
use crate::infra::bicep::error::{DResult, Diag, ErrorKind};
use crate::infra::bicep::functions::{self, Builtin};

use super::types;

impl Compiler<'_> {
    pub(super) fn literal_int(&self, d: &Decorator) -> DResult<Value> {
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

    pub(super) fn description(&self, d: &Decorator) -> DResult<Value> {
        match d.args.as_slice() {
            [e] if matches!(e.kind, ExprKind::Str(_)) => Ok(match self.json(e, &Env::default())? {
                Value::String(text) => Value::String(normalize_indent(&text)),
                other => other,
            }),
            _ => Err(Diag::new(ErrorKind::Type, d.span, "'@description' expects one string literal")),
        }
    }

    /// A parameter: its type's schema, `defaultValue`, `allowedValues`, then the decorators'
    /// modifiers, in the order `TemplateWriter.EmitParameter` merges them.
    pub(super) fn parameter(&self, p: &ParamDecl) -> DResult<Value> {
        let primitive = primitive(&p.ty);
        if primitive == Some("any") {
            return Err(Diag::unsupported(p.ty.span, "a parameter of type 'any'"));
        }
        // A derived type's metadata comes first, then `@metadata`'s entries, then the description
        // (avm/ptn/app/iaas-vm-cosmosdb-tier4); `@secure()` turns its `type` into `secureObject`
        // in place.
        let mut out = self.schema(&p.decorators, &p.ty)?;
        if let Some(default) = &p.default {
            if let Some(ty) = primitive {
                check_literal_type(default, ty)?;
            }
            types::merge(&mut out, "defaultValue", self.json(default, &Env::default())?);
        }
        if let Some(d) = p.decorators.iter().find(|d| d.name == "allowed") {
            match d.args.as_slice() {
                [e] if matches!(e.kind, ExprKind::Array(_)) => {
                    // On an array parameter the allowed values are the elements the array may
                    // hold (`@allowed(['Listen', 'Send']) param rights array`), not arrays.
                    if let (ExprKind::Array(items), Some(ty)) = (&e.kind, primitive.filter(|t| *t != "array")) {
                        for item in items {
                            check_literal_type(item, ty)?;
                        }
                    }
                    types::merge(&mut out, "allowedValues", self.json(e, &Env::default())?);
                }
                _ => return Err(Diag::new(ErrorKind::Type, d.span, "'@allowed' expects one array")),
            }
        }
        for d in &p.decorators {
            let applies = match d.name.as_str() {
                "minLength" | "maxLength" => primitive.is_none_or(|t| matches!(t, "string" | "array")),
                "minValue" | "maxValue" => primitive.is_none_or(|t| t == "int"),
                _ => true,
            };
            if !applies {
                return Err(Diag::new(
                    ErrorKind::Type,
                    d.span,
                    format!("'@{}' does not apply to a parameter of type '{}'", d.name, primitive.unwrap_or_default()),
                ));
            }
        }
        Ok(Value::Object(self.type_modifiers(&p.decorators, out, &["allowed"])?))
    }

    /// The `functions` section: one `__bicep` namespace with each function, in source order, as
    /// `TemplateWriter.EmitUserDefinedFunction` writes it (`parameters`, `output`, `metadata`).
    pub(super) fn functions(&self) -> DResult<Value> {
        let mut members = self.function_members()?;
        for (name, member) in &self.imports.functions {
            members.insert(name.clone(), member.clone());
        }
        Ok(json!([{ "namespace": "__bicep", "members": members }]))
    }

    /// The file's own functions as `functions` members, in source order.
    pub(crate) fn function_members(&self) -> DResult<Map<String, Value>> {
        let mut members = Map::new();
        for f in &self.model.funcs {
            let mut env = Env { function: true, ..Env::default() };
            let mut params = Vec::new();
            for p in &f.params {
                let mut param = self.schema(&[], &p.ty)?;
                param.insert("name".into(), Value::from(p.name.as_str()));
                params.push(Value::Object(param));
                env.locals.push((p.name.clone(), Arm::call("parameters", vec![Arm::str(&p.name)])));
            }
            let mut output = self.schema(&[], &f.output)?;
            // A load as the whole body is its value, inline (functions cannot read variables).
            let value = match &f.body.kind {
                ExprKind::Call { name, name_span, args }
                    if matches!(functions::lookup(name), Some((Builtin::Load, ..)))
                        && !self.model.func_names.contains_key(name) =>
                {
                    load::load_value(self, name, *name_span, args)?
                }
                _ => self.json(&f.body, &env)?,
            };
            output.insert("value".into(), value);
            let mut member = Map::new();
            member.insert("parameters".into(), Value::Array(params));
            member.insert("output".into(), Value::Object(output));
            let mut metadata = Map::new();
            for d in &f.decorators {
                match (d.name.as_str(), d.args.as_slice()) {
                    ("description", [text]) => {
                        metadata.insert("description".into(), self.json(text, &Env::default())?);
                    }
                    ("export", []) => {
                        metadata.insert("__bicep_export!".into(), Value::Bool(true));
                    }
                    _ => return Err(Diag::unsupported(d.span, &format!("the decorator '@{}' on a function", d.name))),
                }
            }
            if !metadata.is_empty() {
                member.insert("metadata".into(), Value::Object(metadata));
            }
            members.insert(f.name.clone(), Value::Object(member));
        }
        Ok(members)
    }

    pub(super) fn output(&self, o: &OutputDecl) -> DResult<Value> {
        // bicep build writes `type, metadata, value` (or `copy`): key order shows in diffs of the
        // template and in what-if, so it follows the official compiler.
        let mut out = self.type_modifiers(&o.decorators, self.schema(&o.decorators, &o.ty)?, &[])?;
        let ty = out.get("type").and_then(Value::as_str).unwrap_or_default().to_string();
        let ty = ty.as_str();
        if let Some(p) = primitive(&o.ty) {
            check_literal_type(&o.value, p)?;
        }
        if let ExprKind::For(f) = &o.value.kind {
            if !ty.is_empty() && ty != "array" {
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
        Ok(Value::Object(out))
    }
}

/// The primitive a type names directly (`string`, not `string?` or an alias).
fn primitive(t: &TypeNode) -> Option<&str> {
    match &t.kind {
        TypeKind::Named(n) if matches!(n.as_str(), "string" | "int" | "bool" | "object" | "array" | "any") => Some(n),
        _ => None,
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

/// A description as `bicep build` writes it (`StringUtils.NormalizeIndent`, applied by the
/// `@description` decorator since Bicep 0.30): lines split on `\r\n`, `\r` or `\n` and joined
/// with `\n`, and the whitespace (spaces and tabs) that every non-empty line after the first
/// begins with removed, so an indented `'''` description reads as written.
fn normalize_indent(text: &str) -> String {
    let lines: Vec<&str> = text.split("\r\n").flat_map(|l| l.split(['\r', '\n'])).collect();
    let rest = &lines[1..];
    let non_empty = || rest.iter().filter(|l| !l.is_empty());
    let shortest = non_empty().map(|l| l.len()).min().unwrap_or(0);
    let mut common = 0;
    while common < shortest && non_empty().all(|l| matches!(l.as_bytes()[common], b' ' | b'\t')) {
        common += 1;
    }
    let mut out = lines[0].to_string();
    for line in rest {
        out.push('\n');
        out.push_str(if line.is_empty() { line } else { &line[common..] });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::normalize_indent;

    #[test]
    fn descriptions_lose_the_indent_their_later_lines_share() {
        // avm/res/insights/private-link-scope's `accessModeSettings`, as bicep build writes it.
        assert_eq!(
            normalize_indent("Optional. Mode.\n\n  * Private Only - a.\n  * Open - b."),
            "Optional. Mode.\n\n* Private Only - a.\n* Open - b."
        );
        assert_eq!(normalize_indent("a\r\n    b\r\n  c"), "a\n  b\nc");
        assert_eq!(normalize_indent("\ta\n\t\tb\n\tc\n"), "\ta\n\tb\nc\n");
        assert_eq!(normalize_indent("one line"), "one line");
        assert_eq!(normalize_indent("a\n b\nc"), "a\n b\nc");
    }
}
