//! Parser: tokens to statements and expressions, by recursive descent with precedence climbing.

use super::ast::*;
use super::error::{DResult, Diag, ErrorKind, Span};
use super::lexer::{Tok, Token, lex};

/// Parses a whole Bicep file.
pub fn parse(src: &str) -> DResult<Vec<Stmt>> {
    let tokens = lex(src)?;
    let mut parser = Parser { tokens, pos: 0, depth: 0 };
    parser.program()
}

const MAX_DEPTH: usize = 200;

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Ident(s) => format!("'{s}'"),
        Tok::Int(n) => format!("'{n}'"),
        Tok::Str(_) | Tok::StrLeft(_) | Tok::StrMid(_) | Tok::StrRight(_) | Tok::Multiline(_) => "a string".into(),
        Tok::NewLine => "a new line".into(),
        Tok::Eof => "the end of the file".into(),
        other => format!("'{}'", punct(other)),
    }
}

fn punct(tok: &Tok) -> &'static str {
    match tok {
        Tok::LBrace => "{",
        Tok::RBrace => "}",
        Tok::LBrack => "[",
        Tok::RBrack => "]",
        Tok::LParen => "(",
        Tok::RParen => ")",
        Tok::Comma => ",",
        Tok::Dot => ".",
        Tok::Colon => ":",
        Tok::DoubleColon => "::",
        Tok::Semicolon => ";",
        Tok::Question => "?",
        Tok::QuestionQuestion => "??",
        Tok::QuestionDot => ".?",
        Tok::Assign => "=",
        Tok::Eq => "==",
        Tok::Ne => "!=",
        Tok::EqI => "=~",
        Tok::NeI => "!~",
        Tok::Lt => "<",
        Tok::Le => "<=",
        Tok::Gt => ">",
        Tok::Ge => ">=",
        Tok::Plus => "+",
        Tok::Minus => "-",
        Tok::Star => "*",
        Tok::Slash => "/",
        Tok::Percent => "%",
        Tok::Bang => "!",
        Tok::And => "&&",
        Tok::Or => "||",
        Tok::At => "@",
        Tok::Arrow => "=>",
        Tok::Ellipsis => "...",
        Tok::Pipe => "|",
        _ => "?",
    }
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.tokens[self.pos.min(self.tokens.len() - 1)].tok
    }

    fn peek_at(&self, ahead: usize) -> &Tok {
        &self.tokens[(self.pos + ahead).min(self.tokens.len() - 1)].tok
    }

    fn span(&self) -> Span {
        self.tokens[self.pos.min(self.tokens.len() - 1)].span
    }

    fn prev_span(&self) -> Span {
        self.tokens[self.pos.saturating_sub(1).min(self.tokens.len() - 1)].span
    }

    fn bump(&mut self) -> Token {
        let tok = self.tokens[self.pos.min(self.tokens.len() - 1)].clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        tok
    }

    fn at(&self, tok: &Tok) -> bool {
        self.peek() == tok
    }

    fn at_word(&self, word: &str) -> bool {
        matches!(self.peek(), Tok::Ident(w) if w == word)
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        if self.at(tok) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn next_after_newlines(&self) -> &Tok {
        let mut i = self.pos;
        while i < self.tokens.len() - 1 && self.tokens[i].tok == Tok::NewLine {
            i += 1;
        }
        &self.tokens[i].tok
    }

    fn skip_newlines(&mut self) {
        while self.at(&Tok::NewLine) {
            self.bump();
        }
    }

    fn error<T>(&self, expected: &str) -> DResult<T> {
        Err(Diag::new(
            ErrorKind::Syntax,
            self.span(),
            format!("expected {expected} but found {}", describe(self.peek())),
        ))
    }

    fn expect(&mut self, tok: &Tok) -> DResult<Span> {
        if self.at(tok) { Ok(self.bump().span) } else { self.error(&format!("'{}'", punct(tok))) }
    }

    fn ident(&mut self, what: &str) -> DResult<(String, Span)> {
        match self.peek().clone() {
            Tok::Ident(name) => {
                let span = self.bump().span;
                Ok((name, span))
            }
            _ => self.error(what),
        }
    }

    fn enter(&mut self) -> DResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Diag::new(ErrorKind::Syntax, self.span(), "expression is nested too deeply"));
        }
        Ok(())
    }

    fn program(&mut self) -> DResult<Vec<Stmt>> {
        let mut stmts = Vec::new();
        loop {
            self.skip_newlines();
            if self.at(&Tok::Eof) {
                return Ok(stmts);
            }
            let decorators = self.decorators()?;
            stmts.push(self.statement(decorators)?);
            if !self.at(&Tok::Eof) && !self.eat(&Tok::NewLine) {
                return self.error("a new line after the declaration");
            }
        }
    }

    fn decorators(&mut self) -> DResult<Vec<Decorator>> {
        let mut decorators = Vec::new();
        while self.at(&Tok::At) {
            let start = self.bump().span;
            let (mut name, name_span) = self.ident("a decorator name")?;
            if self.at(&Tok::Dot) && (name == "sys" || name == "az") {
                self.bump();
                name = self.ident("a decorator name")?.0;
            } else if self.at(&Tok::Dot) {
                return Err(Diag::unsupported(name_span, "a decorator from a namespace"));
            }
            self.expect(&Tok::LParen)?;
            let args = self.arguments()?;
            decorators.push(Decorator { name, args, span: start.to(self.prev_span()) });
            self.skip_newlines();
        }
        Ok(decorators)
    }

    fn statement(&mut self, decorators: Vec<Decorator>) -> DResult<Stmt> {
        let (keyword, kw_span) = self.ident("a declaration keyword")?;
        match keyword.as_str() {
            "targetScope" => {
                self.expect(&Tok::Assign)?;
                Ok(Stmt::TargetScope(self.expr()?))
            }
            "metadata" => {
                let (name, name_span) = self.ident("a metadata name")?;
                self.expect(&Tok::Assign)?;
                let value = self.expr()?;
                Ok(Stmt::Metadata(MetadataDecl { name, name_span, value }))
            }
            "param" => {
                let (name, name_span) = self.ident("a parameter name")?;
                let ty = self.type_ref()?;
                let default = if self.eat(&Tok::Assign) { Some(self.expr()?) } else { None };
                Ok(Stmt::Param(ParamDecl { decorators, name, name_span, ty, default }))
            }
            "var" => {
                let (name, name_span) = self.ident("a variable name")?;
                if !self.at(&Tok::Assign) {
                    return Err(Diag::unsupported(self.span(), "a typed variable"));
                }
                self.bump();
                let value = self.expr()?;
                Ok(Stmt::Var(VarDecl { decorators, name, name_span, value }))
            }
            "resource" => Ok(Stmt::Resource(self.resource(decorators)?)),
            "module" => {
                let (name, name_span) = self.ident("a module name")?;
                let (path, path_span) = match self.peek().clone() {
                    Tok::Str(path) => (path, self.bump().span),
                    _ => return self.error("a module path string"),
                };
                self.expect(&Tok::Assign)?;
                let value = self.declaration_value()?;
                Ok(Stmt::Module(ModuleDecl { decorators, name, name_span, path, path_span, value }))
            }
            "output" => {
                let (name, name_span) = self.ident("an output name")?;
                let ty = self.type_ref()?;
                self.expect(&Tok::Assign)?;
                let value = self.expr()?;
                Ok(Stmt::Output(OutputDecl { decorators, name, name_span, ty, value }))
            }
            "type" => Err(Diag::unsupported(kw_span, "a user-defined type")),
            "func" => Err(Diag::unsupported(kw_span, "a user-defined function")),
            "import" => Err(Diag::unsupported(kw_span, "'import'")),
            "extension" | "provider" => Err(Diag::unsupported(kw_span, "an extension")),
            "using" => Err(Diag::unsupported(kw_span, "a parameters file ('using')")),
            "assert" => Err(Diag::unsupported(kw_span, "'assert'")),
            "test" => Err(Diag::unsupported(kw_span, "'test'")),
            other => Err(Diag::new(ErrorKind::Syntax, kw_span, format!("'{other}' is not a declaration keyword"))),
        }
    }

    fn resource(&mut self, decorators: Vec<Decorator>) -> DResult<ResourceDecl> {
        let (name, name_span) = self.ident("a resource name")?;
        let (type_ref, type_span) = match self.peek().clone() {
            Tok::Str(t) => (t, self.bump().span),
            _ => return self.error("a resource type string"),
        };
        let existing = if self.at_word("existing") {
            self.bump();
            true
        } else {
            false
        };
        self.expect(&Tok::Assign)?;
        let value = self.declaration_value()?;
        Ok(ResourceDecl { decorators, name, name_span, type_ref, type_span, existing, value })
    }

    /// `{...}`, `if (c) {...}` or `[for ...]`: the value of a resource or module.
    fn declaration_value(&mut self) -> DResult<Expr> {
        self.skip_newlines();
        match self.peek() {
            Tok::LBrace => self.object(),
            Tok::LBrack => self.array(),
            Tok::Ident(w) if w == "if" => self.if_body(),
            _ => self.error("'{', 'if' or '[for'"),
        }
    }

    fn if_body(&mut self) -> DResult<Expr> {
        let start = self.bump().span;
        self.expect(&Tok::LParen)?;
        self.skip_newlines();
        let cond = self.expr()?;
        self.skip_newlines();
        self.expect(&Tok::RParen)?;
        let body = self.object()?;
        Ok(Expr { span: start.to(body.span), kind: ExprKind::If { cond: Box::new(cond), body: Box::new(body) } })
    }

    fn type_ref(&mut self) -> DResult<TypeRef> {
        match self.peek().clone() {
            Tok::Ident(name) => {
                let span = self.bump().span;
                if name == "resource" {
                    return Err(Diag::unsupported(span, "a resource-typed parameter or output"));
                }
                if self.at(&Tok::LBrack) || self.at(&Tok::Question) || self.at(&Tok::Pipe) {
                    return Err(Diag::unsupported(span.to(self.span()), "a typed array, nullable or union type"));
                }
                if self.at(&Tok::Dot) {
                    return Err(Diag::unsupported(span, "a namespaced type"));
                }
                Ok(TypeRef { name, span })
            }
            Tok::LBrace | Tok::LBrack | Tok::Str(_) | Tok::Int(_) | Tok::LParen => {
                Err(Diag::unsupported(self.span(), "a type expression"))
            }
            _ => self.error("a type"),
        }
    }

    pub fn expr(&mut self) -> DResult<Expr> {
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

    fn binary(&mut self, min: u8) -> DResult<Expr> {
        let mut lhs = self.unary()?;
        while let Some((op, prec)) = self.binary_op() {
            if prec <= min {
                break;
            }
            self.bump();
            self.skip_newlines();
            self.enter()?;
            let rhs = self.binary(prec)?;
            self.depth -= 1;
            lhs = Expr {
                span: lhs.span.to(rhs.span),
                kind: ExprKind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) },
            };
        }
        Ok(lhs)
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
        let mut expr = self.primary()?;
        loop {
            match self.peek() {
                Tok::Dot => {
                    self.bump();
                    let (name, name_span) = self.ident("a property name")?;
                    if self.at(&Tok::LParen) {
                        self.bump();
                        let args = self.arguments()?;
                        expr = Expr {
                            span: expr.span.to(self.prev_span()),
                            kind: ExprKind::MethodCall { base: Box::new(expr), name, name_span, args },
                        };
                    } else {
                        expr = Expr {
                            span: expr.span.to(name_span),
                            kind: ExprKind::Member { base: Box::new(expr), name },
                        };
                    }
                }
                Tok::LBrack => {
                    self.bump();
                    self.skip_newlines();
                    if self.at(&Tok::Question) {
                        return Err(Diag::unsupported(self.span(), "safe-dereference '[?'"));
                    }
                    let index = self.expr()?;
                    self.skip_newlines();
                    let end = self.expect(&Tok::RBrack)?;
                    expr = Expr {
                        span: expr.span.to(end),
                        kind: ExprKind::Index { base: Box::new(expr), index: Box::new(index) },
                    };
                }
                Tok::DoubleColon => {
                    self.bump();
                    let (name, name_span) = self.ident("a nested resource name")?;
                    expr = Expr { span: expr.span.to(name_span), kind: ExprKind::Child { base: Box::new(expr), name } };
                }
                Tok::QuestionDot => {
                    return Err(Diag::unsupported(self.span(), "safe-dereference '.?'"));
                }
                Tok::Bang if !matches!(self.peek_at(1), Tok::Ident(_) | Tok::LParen | Tok::Int(_) | Tok::Str(_)) => {
                    // The non-null assertion `x!` only narrows the type; bicep build emits `x` unchanged.
                    let end = self.span();
                    self.bump();
                    expr = Expr { span: expr.span.to(end), kind: expr.kind };
                }
                _ => return Ok(expr),
            }
        }
    }

    fn arguments(&mut self) -> DResult<Vec<Expr>> {
        let mut args = Vec::new();
        self.skip_newlines();
        if self.eat(&Tok::RParen) {
            return Ok(args);
        }
        loop {
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
                if self.at(&Tok::RParen) && matches!(self.peek_at(1), Tok::Arrow) {
                    return Err(Diag::unsupported(span, "a lambda expression"));
                }
                self.enter()?;
                let inner = self.expr()?;
                self.depth -= 1;
                self.skip_newlines();
                if self.at(&Tok::Comma) {
                    return Err(Diag::unsupported(span, "a lambda expression"));
                }
                let end = self.expect(&Tok::RParen)?;
                if self.at(&Tok::Arrow) {
                    return Err(Diag::unsupported(span, "a lambda expression"));
                }
                return Ok(Expr { span: span.to(end), kind: ExprKind::Paren(Box::new(inner)) });
            }
            Tok::Ident(name) => {
                self.bump();
                if self.at(&Tok::Arrow) {
                    return Err(Diag::unsupported(span, "a lambda expression"));
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
            Tok::Ellipsis => return Err(Diag::unsupported(span, "the spread operator '...'")),
            _ => return self.error("an expression"),
        };
        Ok(Expr { kind, span })
    }

    fn interpolation(&mut self, first: String) -> DResult<Expr> {
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

    fn object(&mut self) -> DResult<Expr> {
        let start = self.expect(&Tok::LBrace)?;
        self.enter()?;
        let mut items = Vec::new();
        loop {
            self.skip_newlines();
            if self.at(&Tok::RBrace) {
                break;
            }
            let decorators = self.decorators()?;
            if self.at_word("resource") && matches!(self.peek_at(1), Tok::Ident(_)) {
                self.bump();
                items.push(ObjItem::Resource(Box::new(self.resource(decorators)?)));
            } else {
                if let Some(d) = decorators.first() {
                    return Err(Diag::unsupported(d.span, "a decorator on an object property"));
                }
                if self.at(&Tok::Ellipsis) {
                    return Err(Diag::unsupported(self.span(), "the spread operator '...'"));
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
        Ok(Expr { span: start.to(end), kind: ExprKind::Object(items) })
    }

    fn array(&mut self) -> DResult<Expr> {
        let start = self.expect(&Tok::LBrack)?;
        self.enter()?;
        self.skip_newlines();
        if self.at_word("for") {
            let result = self.for_expr(start);
            self.depth -= 1;
            return result;
        }
        let mut items = Vec::new();
        loop {
            self.skip_newlines();
            if self.at(&Tok::RBrack) {
                break;
            }
            items.push(self.expr()?);
            if self.eat(&Tok::Comma) || self.at(&Tok::NewLine) {
                continue;
            }
            if !self.at(&Tok::RBrack) {
                return self.error("a new line, ',' or ']'");
            }
        }
        let end = self.bump().span;
        self.depth -= 1;
        Ok(Expr { span: start.to(end), kind: ExprKind::Array(items) })
    }

    fn for_expr(&mut self, start: Span) -> DResult<Expr> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_declarations() {
        let src = "@description('d')\nparam a string = 'x'\nvar b = a == 'x' ? 1 : 2\n\
                   resource r 'A.B/c@2020-01-01' = if (true) {\n  name: b\n}\noutput o int = b\n";
        let stmts = parse(src).map_err(|e| format!("{e:?}"));
        assert_eq!(stmts.map(|s| s.len()), Ok(4));
    }

    #[test]
    fn precedence_binds_multiplication_tighter() {
        let stmts = parse("var x = 1 + 2 * 3\n").unwrap_or_default();
        let Some(Stmt::Var(v)) = stmts.first() else {
            panic!("no var");
        };
        assert!(matches!(v.value.kind, ExprKind::Binary { op: BinOp::Add, .. }));
    }

    #[test]
    fn reports_syntax_errors() {
        assert!(parse("param\n").is_err());
        assert!(parse("var x = \n").is_err());
        assert!(parse("var x = (1\n").is_err());
        assert!(parse("resource r 'a@b' = {\n name: 'x'\n").is_err());
        assert!(parse("var x = map([], y => y)\n").is_err());
    }
}
