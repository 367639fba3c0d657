//! `${{ parameters.NAME }}` and `${{ steps.STEP.outputs.PATH }}` inside a step's arguments.

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
