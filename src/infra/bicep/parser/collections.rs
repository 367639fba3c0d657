//! Parser: object and array literals, with `...` spread lowered as bicep build lowers it.

use super::Parser;
use crate::infra::bicep::ast::*;
use crate::infra::bicep::error::{DResult, Diag, Span};
use crate::infra::bicep::lexer::Tok;

impl Parser {
    pub(super) fn object(&mut self) -> DResult<Expr> {
        let start = self.expect(&Tok::LBrace)?;
        self.enter()?;
        let mut items = Vec::new();
        // `...x` splits the object into chunks merged with `shallowMerge` (as bicep build lowers it).
        let mut chunks: Vec<Expr> = Vec::new();
        let mut spread = false;
        loop {
            self.skip_newlines();
            if self.at(&Tok::RBrace) {
                break;
            }
            if self.at(&Tok::Ellipsis) {
                let dots = self.bump().span;
                if !items.is_empty() {
                    let span = dots;
                    chunks.push(Expr { span, kind: ExprKind::Object(std::mem::take(&mut items)) });
                }
                chunks.push(self.expr()?);
                spread = true;
                if self.eat(&Tok::Comma) || self.at(&Tok::NewLine) {
                    continue;
                }
                if !self.at(&Tok::RBrace) {
                    return self.error("a new line, ',' or '}'");
                }
                continue;
            }
            let decorators = self.decorators()?;
            if self.at_word("resource") && matches!(self.peek_at(1), Tok::Ident(_)) {
                self.bump();
                items.push(ObjItem::Resource(Box::new(self.resource(decorators)?)));
            } else {
                if let Some(d) = decorators.first() {
                    return Err(Diag::unsupported(d.span, "a decorator on an object property"));
                }
                let (key, key_span, key_expr) = match self.peek().clone() {
                    Tok::Ident(k) | Tok::Str(k) | Tok::Multiline(k) => (k, self.bump().span, None),
                    Tok::StrLeft(first) => {
                        let e = self.interpolation(first)?;
                        (String::new(), e.span, Some(Box::new(e)))
                    }
                    _ => return self.error("a property name"),
                };
                self.expect(&Tok::Colon)?;
                let value = self.expr()?;
                items.push(ObjItem::Prop(ObjProp { key, key_span, key_expr, value }));
            }
            if self.eat(&Tok::Comma) || self.at(&Tok::NewLine) {
                continue;
            }
            if !self.at(&Tok::RBrace) {
                return self.error("a new line, ',' or '}'");
            }
        }
        let end = self.bump().span;
        self.depth -= 1;
        let span = start.to(end);
        if !spread {
            return Ok(Expr { span, kind: ExprKind::Object(items) });
        }
        if items.iter().any(|i| matches!(i, ObjItem::Resource(_))) {
            return Err(Diag::unsupported(span, "a nested resource in an object with the spread operator '...'"));
        }
        if !items.is_empty() {
            chunks.push(Expr { span, kind: ExprKind::Object(items) });
        }
        Ok(lowered_spread("shallowMerge", start, chunks, span))
    }

    pub(super) fn array(&mut self) -> DResult<Expr> {
        let start = self.expect(&Tok::LBrack)?;
        self.enter()?;
        self.skip_newlines();
        if self.at_word("for") {
            let result = self.for_expr(start);
            self.depth -= 1;
            return result;
        }
        let mut items = Vec::new();
        let mut chunks: Vec<Expr> = Vec::new();
        let mut spread = false;
        loop {
            self.skip_newlines();
            if self.at(&Tok::RBrack) {
                break;
            }
            if self.at(&Tok::Ellipsis) {
                let dots = self.bump().span;
                if !items.is_empty() {
                    chunks.push(Expr { span: dots, kind: ExprKind::Array(std::mem::take(&mut items)) });
                }
                chunks.push(self.expr()?);
                spread = true;
            } else {
                items.push(self.expr()?);
            }
            if self.eat(&Tok::Comma) || self.at(&Tok::NewLine) {
                continue;
            }
            if !self.at(&Tok::RBrack) {
                return self.error("a new line, ',' or ']'");
            }
        }
        let end = self.bump().span;
        self.depth -= 1;
        let span = start.to(end);
        if !spread {
            return Ok(Expr { span, kind: ExprKind::Array(items) });
        }
        if !items.is_empty() {
            chunks.push(Expr { span, kind: ExprKind::Array(items) });
        }
        Ok(lowered_spread("flatten", start, chunks, span))
    }
}

/// An object or array with `...` as bicep build lowers it (`ExpressionBuilder.ConvertObject`):
/// `shallowMerge([chunk, spread, ...])` or `flatten([chunk, spread, ...])`.
fn lowered_spread(function: &str, start: Span, chunks: Vec<Expr>, span: Span) -> Expr {
    let array = Expr { span, kind: ExprKind::Array(chunks) };
    Expr { span, kind: ExprKind::Call { name: function.to_string(), name_span: start, args: vec![array] } }
}
