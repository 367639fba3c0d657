//! `${{ parameters.NAME }}` and `${{ steps.STEP.outputs.PATH }}` inside a step's arguments.

use std::collections::BTreeMap;

use serde_json::Value;

/// One reference inside a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    Parameter(String),
    /// A step's output: the step, and a dotted path into its JSON result.
    StepOutput {
        step: String,
        path: Vec<String>,
    },
}

/// A piece of a template: literal text or a reference (with its source text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Ref { expr: Expr, source: String },
}

/// Splits a template into literal text and references; an error names the malformed reference.
pub fn parse_template(template: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("${{") {
        if start > 0 {
            pieces.push(Piece::Text(rest[..start].to_string()));
        }
        let after = &rest[start + 3..];
        let Some(end) = after.find("}}") else {
            return Err(format!("{:?} opens `${{{{` without a closing `}}}}`", &rest[start..]));
        };
        let source = format!("${{{{{}}}}}", &after[..end]);
        let inner = after[..end].trim();
        pieces.push(Piece::Ref { expr: parse_expr(inner).map_err(|m| format!("{source}: {m}"))?, source });
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_string()));
    }
    Ok(pieces)
}

/// A template with every reference replaced: parameters from `parameters` (`None` where someone
/// else substitutes them, as Azure ML does: a parameter reference is then an error), step outputs
/// from the JSON result `outputs` gives for a step (a string as is, other JSON as JSON text).
pub fn substitute<'v>(
    template: &str,
    parameters: Option<&BTreeMap<String, String>>,
    outputs: impl Fn(&str) -> Option<&'v Value>,
) -> Result<String, String> {
    let mut out = String::new();
    for piece in parse_template(template)? {
        match piece {
            Piece::Text(text) => out.push_str(&text),
            Piece::Ref { expr: Expr::Parameter(name), source } => match parameters {
                Some(parameters) => out.push_str(parameters.get(&name).ok_or_else(|| format!("{source}: no value"))?),
                None => return Err(format!("{source}: parameter {name:?} was not substituted by Azure ML")),
            },
            Piece::Ref { expr: Expr::StepOutput { step, path }, source } => {
                match outputs(&step).and_then(|v| path.iter().try_fold(v, |v, k| v.get(k))) {
                    Some(Value::String(s)) => out.push_str(s),
                    Some(Value::Null) | None => {
                        return Err(format!("{source}: step {step:?} has no output {:?}", path.join(".")));
                    }
                    Some(value) => out.push_str(&value.to_string()),
                }
            }
        }
    }
    Ok(out)
}

fn parse_expr(inner: &str) -> Result<Expr, String> {
    let parts: Vec<&str> = inner.split('.').collect();
    let ident = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match parts.as_slice() {
        ["parameters", name] if ident(name) => Ok(Expr::Parameter(name.to_string())),
        ["steps", step, "outputs", path @ ..] if ident(step) && !path.is_empty() && path.iter().all(|p| ident(p)) => {
            Ok(Expr::StepOutput { step: step.to_string(), path: path.iter().map(|p| p.to_string()).collect() })
        }
        _ => Err("expected parameters.NAME or steps.STEP.outputs.NAME".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references_and_text() {
        let pieces = parse_template("${{ parameters.name }}:${{steps.train.outputs.metrics.mse}}").expect("valid");
        assert_eq!(pieces.len(), 3);
        assert!(matches!(&pieces[0], Piece::Ref { expr: Expr::Parameter(n), .. } if n == "name"));
        assert_eq!(pieces[1], Piece::Text(":".to_string()));
        assert!(matches!(&pieces[2], Piece::Ref { expr: Expr::StepOutput { step, path }, .. }
            if step == "train" && path == &["metrics", "mse"]));
        assert!(parse_template("${{ parameters.a ").is_err());
        assert!(parse_template("${{ env.HOME }}").is_err());
        assert!(parse_template("${{ steps.train.run_id }}").is_err());
        assert_eq!(parse_template("plain").expect("valid"), [Piece::Text("plain".to_string())]);
    }
}
