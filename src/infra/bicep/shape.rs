//! The shape of a resource or module declaration's value: its condition, loop and object body.

use super::ast::*;
use super::error::{DResult, Diag, ErrorKind};

/// Splits a declaration value into its condition, loop and object body.
pub fn shape(value: &Expr) -> DResult<(Option<&Expr>, Option<&ForExpr>, &[ObjItem])> {
    let body = match &value.kind {
        ExprKind::If { body, .. } => body,
        ExprKind::For(f) => match &f.body.kind {
            ExprKind::If { body, .. } => body,
            _ => &f.body,
        },
        _ => value,
    };
    // The parser lowers an object with `...` to a `shallowMerge` call.
    if matches!(&body.kind, ExprKind::Call { name, .. } if name == "shallowMerge") {
        return Err(Diag::unsupported(body.span, "the spread operator '...' in a resource or module body"));
    }
    match &value.kind {
        ExprKind::Object(items) => Ok((None, None, items)),
        ExprKind::If { cond, body } => match &body.kind {
            ExprKind::Object(items) => Ok((Some(cond), None, items)),
            _ => Err(Diag::new(ErrorKind::Syntax, body.span, "expected an object")),
        },
        ExprKind::For(f) => match &f.body.kind {
            ExprKind::Object(items) => Ok((None, Some(f), items)),
            ExprKind::If { cond, body } => match &body.kind {
                ExprKind::Object(items) => Ok((Some(cond), Some(f), items)),
                _ => Err(Diag::new(ErrorKind::Syntax, body.span, "expected an object")),
            },
            _ => {
                Err(Diag::new(ErrorKind::Type, f.body.span, "the body of a resource or module loop must be an object"))
            }
        },
        _ => Err(Diag::new(ErrorKind::Syntax, value.span, "expected an object")),
    }
}
