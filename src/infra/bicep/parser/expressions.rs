//! Parser: expressions, by precedence climbing, with objects, arrays, loops and interpolated strings.

use super::Parser;
use crate::infra::bicep::ast::*;
use crate::infra::bicep::error::{DResult, Diag, ErrorKind, Span};
use crate::infra::bicep::lexer::Tok;

impl Parser {
    pub(super) fn expr(&mut self) -> DResult<Expr> {
        self.enter()?;
        let cond = self.binary(0)?;
        if self.at(&Tok::NewLine) && self.next_after_newlines() == &Tok::Question {
            self.skip_newlines();
        }
        let result = if self.at(&Tok::Question) {
            self.bump();
            self.skip_newlines();
            let then = self.expr()?;
            self.skip_newlines();
            self.expect(&Tok::Colon)?;
            self.skip_newlines();
            let other = self.expr()?;
            Ok(Expr {
                span: cond.span.to(other.span),
                kind: ExprKind::Ternary { cond: Box::new(cond), then: Box::new(then), other: Box::new(other) },
            })
        } else {
            Ok(cond)
        };
        self.depth -= 1;
        result
    }

    fn binary_op(&self) -> Option<(BinOp, u8)> {
        Some(match self.peek() {
            Tok::QuestionQuestion => (BinOp::Coalesce, 1),
            Tok::Or => (BinOp::Or, 2),
            Tok::And => (BinOp::And, 3),
            Tok::Eq => (BinOp::Eq, 4),
            Tok::Ne => (BinOp::Ne, 4),
            Tok::EqI => (BinOp::EqI, 4),
            Tok::NeI => (BinOp::NeI, 4),
            Tok::Lt => (BinOp::Lt, 5),
            Tok::Le => (BinOp::Le, 5),
            Tok::Gt => (BinOp::Gt, 5),
            Tok::Ge => (BinOp::Ge, 5),
            Tok::Plus => (BinOp::Add, 6),
            Tok::Minus => (BinOp::Sub, 6),
            Tok::Star => (BinOp::Mul, 7),
            Tok::Slash => (BinOp::Div, 7),
            Tok::Percent => (BinOp::Mod, 7),
            _ => return None,
        })
    }

    /// Each operator folded into `lhs` makes the tree one level deeper (`1 + 1 + …` is a
    /// left-leaning chain), so it counts against the depth limit like a parenthesis: everything
    /// after the parser walks the tree recursively.
    fn binary(&mut self, min: u8) -> DResult<Expr> {
        let mut lhs = self.unary()?;
        let mut folds = 0;
        let result = loop {
            let Some((op, prec)) = self.binary_op() else { break Ok(lhs) };
            if prec <= min {
                break Ok(lhs);
            }
            self.bump();
            self.skip_newlines();
            folds += 1;
            if let Err(e) = self.enter() {
                break Err(e);
            }
            let rhs = match self.binary(prec) {
                Ok(rhs) => rhs,
                Err(e) => break Err(e),
            };
            lhs = Expr {
                span: lhs.span.to(rhs.span),
                kind: ExprKind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) },
            };
        };
        self.depth -= folds;
        result
    }

    fn unary(&mut self) -> DResult<Expr> {
        let op = match self.peek() {
            Tok::Bang => UnOp::Not,
            Tok::Minus => UnOp::Neg,
            _ => return self.postfix(),
        };
        let start = self.bump().span;
        self.enter()?;
        let operand = self.unary()?;
        self.depth -= 1;
        Ok(Expr { span: start.to(operand.span), kind: ExprKind::Unary { op, operand: Box::new(operand) } })
    }

    fn postfix(&mut self) -> DResult<Expr> {
        let expr = self.primary()?;
        // As in `binary`: `a.b.c…` and `a[0][0]…` deepen the tree one level per suffix.
        let depth = self.depth;
        let result = self.suffixes(expr);
        self.depth = depth;
        result
    }

    fn suffixes(&mut self, mut expr: Expr) -> DResult<Expr> {
        // Inside a safe-dereference chain (`a.?b.c`), bicep build folds each further `.c` into the
        // same `tryGet(a, 'b', 'c')`: once `b` is missing, the rest is not evaluated either.
        let mut safe_chain = false;
        loop {
            if matches!(self.peek(), Tok::Dot | Tok::QuestionDot | Tok::LBrack | Tok::DoubleColon | Tok::Bang) {
                self.enter()?;
            }
            match self.peek() {
                Tok::Dot => {
                    self.bump();
                    let (name, name_span) = self.ident("a property name")?;
                    if self.at(&Tok::LParen) {
                        if safe_chain {
                            return Err(Diag::unsupported(name_span, "a method call after safe-dereference '.?'"));
                        }
                        self.bump();
                        let args = self.arguments()?;
                        expr = Expr {
                            span: expr.span.to(self.prev_span()),
                            kind: ExprKind::MethodCall { base: Box::new(expr), name, name_span, args },
                        };
                    } else if safe_chain {
                        expr = extend_try_get(expr, Expr { span: name_span, kind: ExprKind::Str(name) });
                    } else {
                        expr = Expr {
                            span: expr.span.to(name_span),
                            kind: ExprKind::Member { base: Box::new(expr), name },
                        };
                    }
                }
                Tok::QuestionDot => {
                    let start = self.bump().span;
                    let (name, name_span) = self.ident("a property name")?;
                    if self.at(&Tok::LParen) {
                        return Err(Diag::unsupported(name_span, "a method call after safe-dereference '.?'"));
                    }
                    expr = try_get(expr, start, Expr { span: name_span, kind: ExprKind::Str(name) });
                    safe_chain = true;
                }
                Tok::LBrack => {
                    let start = self.bump().span;
                    self.skip_newlines();
                    let safe = self.eat(&Tok::Question);
                    if !safe && safe_chain {
                        return Err(Diag::unsupported(start, "an index after safe-dereference '.?'"));
                    }
                    self.skip_newlines();
                    let index = self.expr()?;
                    self.skip_newlines();
                    let end = self.expect(&Tok::RBrack)?;
                    if safe {
                        expr = try_get(expr, start, index);
                        safe_chain = true;
                    } else {
                        expr = Expr {
                            span: expr.span.to(end),
                            kind: ExprKind::Index { base: Box::new(expr), index: Box::new(index) },
                        };
                    }
                }
                Tok::DoubleColon => {
                    self.bump();
                    let (name, name_span) = self.ident("a nested resource name")?;
                    expr = Expr { span: expr.span.to(name_span), kind: ExprKind::Child { base: Box::new(expr), name } };
                }
                Tok::Bang if !matches!(self.peek_at(1), Tok::Ident(_) | Tok::LParen | Tok::Int(_) | Tok::Str(_)) => {
                    // The non-null assertion `x!` only narrows the type; bicep build emits `x` unchanged.
                    let end = self.span();
                    self.bump();
                    // Inside a safe chain, `a.?b!.c` stays one `tryGet(a, 'b', 'c')` (as bicep build
                    // writes it); an index after it is refused as after any safe access.
                    if safe_chain && matches!(self.peek(), Tok::LBrack) {
                        return Err(Diag::unsupported(
                            end,
                            "an index after a non-null assertion in a safe-dereference chain",
                        ));
                    }
                    expr = Expr { span: expr.span.to(end), kind: expr.kind };
                }
                _ => return Ok(expr),
            }
        }
    }

    pub(super) fn arguments(&mut self) -> DResult<Vec<Expr>> {
        let mut args = Vec::new();
        self.skip_newlines();
        if self.eat(&Tok::RParen) {
            return Ok(args);
        }
        loop {
            self.arg_start = self.pos;
            args.push(self.expr()?);
            self.skip_newlines();
            if self.eat(&Tok::Comma) {
                self.skip_newlines();
                continue;
            }
            self.expect(&Tok::RParen)?;
            return Ok(args);
        }
    }

    fn primary(&mut self) -> DResult<Expr> {
        let span = self.span();
        let lambda_ok = self.pos == self.arg_start;
        let kind = match self.peek().clone() {
            Tok::Int(n) => {
                self.bump();
                ExprKind::Int(n)
            }
            Tok::Str(s) | Tok::Multiline(s) => {
                self.bump();
                ExprKind::Str(s)
            }
            Tok::StrLeft(first) => return self.interpolation(first),
            Tok::LBrace => return self.object(),
            Tok::LBrack => return self.array(),
            Tok::LParen => {
                self.bump();
                self.skip_newlines();
                if let Some(params) = self.lambda_params() {
                    return self.lambda(span, params, lambda_ok);
                }
                self.enter()?;
                let inner = self.expr()?;
                self.depth -= 1;
                self.skip_newlines();
                let end = self.expect(&Tok::RParen)?;
                return Ok(Expr { span: span.to(end), kind: ExprKind::Paren(Box::new(inner)) });
            }
            Tok::Ident(name) => {
                self.bump();
                if self.at(&Tok::Arrow) {
                    return self.lambda(span, vec![(name, span)], lambda_ok);
                }
                if self.at(&Tok::LParen) {
                    self.bump();
                    let args = self.arguments()?;
                    return Ok(Expr {
                        span: span.to(self.prev_span()),
                        kind: ExprKind::Call { name, name_span: span, args },
                    });
                }
                match name.as_str() {
                    "true" => ExprKind::Bool(true),
                    "false" => ExprKind::Bool(false),
                    "null" => ExprKind::Null,
                    _ => ExprKind::Ident(name),
                }
            }
            Tok::Ellipsis => {
                return Err(Diag::new(ErrorKind::Syntax, span, "'...' is allowed only in an object or array"));
            }
            _ => return self.error("an expression"),
        };
        Ok(Expr { kind, span })
    }

    /// After `(`: the parameter list of a lambda (`)` or `a, b)` followed by `=>`), consumed up
    /// to the arrow; `None` (nothing consumed) for a parenthesised expression.
    fn lambda_params(&mut self) -> Option<Vec<(String, Span)>> {
        let mut ahead = 0;
        let mut params = Vec::new();
        loop {
            match self.peek_at(ahead) {
                Tok::RParen if matches!(self.peek_at(ahead + 1), Tok::Arrow) => break,
                Tok::Ident(name) if matches!(self.peek_at(ahead + 1), Tok::Comma | Tok::RParen) => {
                    params.push((name.clone(), self.tokens[(self.pos + ahead).min(self.tokens.len() - 1)].span));
                    ahead += if matches!(self.peek_at(ahead + 1), Tok::Comma) { 2 } else { 1 };
                }
                Tok::NewLine => ahead += 1,
                _ => return None,
            }
        }
        for _ in 0..=ahead {
            self.bump();
        }
        Some(params)
    }

    /// `=> body`, after the parameters.
    fn lambda(&mut self, start: Span, params: Vec<(String, Span)>, allowed: bool) -> DResult<Expr> {
        if !allowed {
            return Err(Diag::unsupported(start, "a lambda expression outside a function's arguments"));
        }
        self.expect(&Tok::Arrow)?;
        self.skip_newlines();
        self.enter()?;
        let body = self.expr()?;
        self.depth -= 1;
        Ok(Expr { span: start.to(body.span), kind: ExprKind::Lambda { params, body: Box::new(body) } })
    }

    pub(super) fn interpolation(&mut self, first: String) -> DResult<Expr> {
        let start = self.bump().span;
        let mut parts = vec![first];
        let mut holes = Vec::new();
        loop {
            self.skip_newlines();
            holes.push(self.expr()?);
            self.skip_newlines();
            match self.peek().clone() {
                Tok::StrMid(text) => {
                    self.bump();
                    parts.push(text);
                }
                Tok::StrRight(text) => {
                    let end = self.bump().span;
                    parts.push(text);
                    return Ok(Expr { span: start.to(end), kind: ExprKind::Interp { parts, holes } });
                }
                _ => return self.error("'}' closing the interpolation"),
            }
        }
    }

    pub(super) fn for_expr(&mut self, start: Span) -> DResult<Expr> {
        self.bump();
        let (item, index) = if self.eat(&Tok::LParen) {
            let item = self.ident("a loop item variable")?;
            self.expect(&Tok::Comma)?;
            let index = self.ident("a loop index variable")?;
            self.expect(&Tok::RParen)?;
            (Some(item), Some(index))
        } else {
            (Some(self.ident("a loop item variable")?), None)
        };
        if !self.at_word("in") {
            return self.error("'in'");
        }
        self.bump();
        let collection = self.expr()?;
        self.expect(&Tok::Colon)?;
        self.skip_newlines();
        let body =
            if self.at_word("if") && matches!(self.peek_at(1), Tok::LParen) { self.if_body()? } else { self.expr()? };
        self.skip_newlines();
        let end = self.expect(&Tok::RBrack)?;
        Ok(Expr { span: start.to(end), kind: ExprKind::For(Box::new(ForExpr { item, index, collection, body })) })
    }
}

/// `base.?key` and `base[?key]`: bicep build writes `tryGet(base, key)` in classic templates too.
fn try_get(base: Expr, at: Span, key: Expr) -> Expr {
    Expr {
        span: base.span.to(key.span),
        kind: ExprKind::Call { name: "tryGet".into(), name_span: at, args: vec![base, key] },
    }
}

/// Adds one more key to the `tryGet` that a safe-dereference chain built.
fn extend_try_get(mut expr: Expr, key: Expr) -> Expr {
    expr.span = expr.span.to(key.span);
    if let ExprKind::Call { args, .. } = &mut expr.kind {
        args.push(key);
    }
    expr
}
