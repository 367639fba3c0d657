//! Template assembly: parameters (types and decorators) and outputs.

use serde_json::{Map, Value, json};

use crate::infra::bicep::arm::Arm;
use crate::infra::bicep::ast::*;
use crate::infra::bicep::convert::{Compiler, Env};
use crate::infra::bicep::error::{DResult, Diag, ErrorKind};

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
            [e] if matches!(e.kind, ExprKind::Str(_)) => self.json(e, &Env::default()),
            _ => Err(Diag::new(ErrorKind::Type, d.span, "'@description' expects one string literal")),
        }
    }

    pub(super) fn parameter(&self, p: &ParamDecl) -> DResult<Value> {
        let secure = p.decorators.iter().any(|d| d.name == "secure");
        let derived = p.ty.derived.as_ref().map(|d| derived_type_metadata(p, d)).transpose()?;
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
        if let Some(derived) = derived {
            metadata.insert("__bicep_resource_derived_type!".into(), derived);
        }
        // bicep build writes `@metadata`'s keys first and the description after them, whatever the
        // order of the decorators.
        let mut description = None;
        for d in &p.decorators {
            match d.name.as_str() {
                "secure" => {
                    if !d.args.is_empty() {
                        return Err(Diag::new(ErrorKind::Type, d.span, "'@secure()' takes no arguments"));
                    }
                }
                "description" => description = Some(self.description(d)?),
                "allowed" => match d.args.as_slice() {
                    [e] if matches!(e.kind, ExprKind::Array(_)) => {
                        // On an array parameter the allowed values are the elements the array may
                        // hold (`@allowed(['Listen', 'Send']) param rights array`), not arrays.
                        if let (ExprKind::Array(items), false) = (&e.kind, p.ty.name == "array") {
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
        if let Some(description) = description {
            metadata.insert("description".into(), description);
        }
        if !metadata.is_empty() {
            out.insert("metadata".into(), Value::Object(metadata));
        }
        Ok(Value::Object(out))
    }

    pub(super) fn output(&self, o: &OutputDecl) -> DResult<Value> {
        if o.ty.derived.is_some() {
            return Err(Diag::unsupported(o.ty.span, "a resource-derived type ('resourceInput<>')"));
        }
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
        // bicep build writes `type, metadata, value` (or `copy`): key order shows in diffs of the
        // template and in what-if, so it follows the official compiler.
        if !metadata.is_empty() {
            out.insert("metadata".into(), Value::Object(metadata));
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
        Ok(Value::Object(out))
    }
}

/// `{"source": "Type@version#properties/<property>"}`, which bicep build writes first in the metadata
/// of a `resourceInput<'Type@version'>.<property>` parameter. Only a reference spelled exactly as the
/// type index spells it is accepted: whether bicep build writes the source's spelling or the index's
/// is not known, so a reference where they differ is refused rather than guessed; so is a derived
/// type beside `@secure()` or `@metadata`, whose interplay with it is not known either.
fn derived_type_metadata(p: &ParamDecl, (reference, property): &(String, String)) -> DResult<Value> {
    let refuse = || Diag::unsupported(p.ty.span, "a resource-derived type ('resourceInput<>')");
    if p.decorators.iter().any(|d| matches!(d.name.as_str(), "secure" | "metadata")) {
        return Err(refuse());
    }
    let (ty, version) = reference.rsplit_once('@').ok_or_else(refuse)?;
    match crate::infra::bicep::types::canonical(ty, version) {
        Some((t, v)) if t == ty && v == version => {}
        _ => return Err(refuse()),
    }
    Ok(json!({"source": format!("{reference}#properties/{property}")}))
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
