//! Parser: declarations (`param`, `var`, `resource`, `module`, `output`, ...) and their decorators.

use super::Parser;
use crate::infra::bicep::ast::*;
use crate::infra::bicep::error::{DResult, Diag, ErrorKind};
use crate::infra::bicep::lexer::Tok;

impl Parser {
    pub(super) fn program(&mut self) -> DResult<Vec<Stmt>> {
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

    pub(super) fn decorators(&mut self) -> DResult<Vec<Decorator>> {
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
            // They only ever decorate the type system's declarations, none of which compile yet;
            // refusing them here names them rather than the declaration under them.
            if matches!(name.as_str(), "export" | "sealed" | "discriminator") {
                return Err(Diag::unsupported(start, &format!("the decorator '@{name}()'")));
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
            "type" => Err(Diag::unsupported(kw_span, "a user-defined type ('type')")),
            "func" => Err(Diag::unsupported(kw_span, "a user-defined function")),
            "import" => Err(Diag::unsupported(
                kw_span,
                match self.peek() {
                    Tok::LBrace => "a compile-time import ('import {…} from')",
                    Tok::Star => "a compile-time import ('import * as')",
                    _ => "an extension import ('import')",
                },
            )),
            "extension" | "provider" => Err(Diag::unsupported(kw_span, "an extension")),
            "using" => Err(Diag::unsupported(kw_span, "a parameters file ('using')")),
            "assert" => Err(Diag::unsupported(kw_span, "'assert'")),
            "test" => Err(Diag::unsupported(kw_span, "'test'")),
            other => Err(Diag::new(ErrorKind::Syntax, kw_span, format!("'{other}' is not a declaration keyword"))),
        }
    }

    pub(super) fn resource(&mut self, decorators: Vec<Decorator>) -> DResult<ResourceDecl> {
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

    pub(super) fn if_body(&mut self) -> DResult<Expr> {
        let start = self.bump().span;
        self.expect(&Tok::LParen)?;
        self.skip_newlines();
        let cond = self.expr()?;
        self.skip_newlines();
        self.expect(&Tok::RParen)?;
        let body = self.object()?;
        Ok(Expr { span: start.to(body.span), kind: ExprKind::If { cond: Box::new(cond), body: Box::new(body) } })
    }

    /// A parameter's or output's type. Only the classic primitive names compile; every newer form is
    /// recognised far enough to be refused by name, because a syntax error on valid Bicep would
    /// tell the user their file is wrong.
    fn type_ref(&mut self) -> DResult<TypeRef> {
        match self.peek().clone() {
            Tok::Ident(name) => {
                let span = self.bump().span;
                if name == "resource" {
                    return Err(Diag::unsupported(span, "a resource-typed parameter or output"));
                }
                if name == "resourceInput"
                    && let Some(derived) = self.top_level_derived_type()
                {
                    return Ok(TypeRef { name: "object".into(), span, derived: Some(derived) });
                }
                match self.peek() {
                    Tok::Lt if name == "resourceInput" || name == "resourceOutput" => {
                        return Err(Diag::unsupported(span, &format!("a resource-derived type ('{name}<>')")));
                    }
                    Tok::Lt => return Err(Diag::unsupported(span, "a parameterised type")),
                    Tok::LBrack => return Err(Diag::unsupported(span, "a typed array ('T[]')")),
                    Tok::Question => return Err(Diag::unsupported(span, "a nullable type ('T?')")),
                    Tok::Pipe => return Err(Diag::unsupported(span, "a union type ('a' | 'b')")),
                    Tok::Dot => return Err(Diag::unsupported(span, "a namespaced type")),
                    _ => {}
                }
                Ok(TypeRef { name, span, derived: None })
            }
            Tok::Str(_) | Tok::Int(_) | Tok::Minus if self.union_ahead() => {
                Err(Diag::unsupported(self.span(), "a union type ('a' | 'b')"))
            }
            Tok::Str(_) | Tok::Int(_) | Tok::Minus => Err(Diag::unsupported(self.span(), "a literal type")),
            Tok::LBrace => Err(Diag::unsupported(self.span(), "a typed object ('{ … }' as a type)")),
            Tok::LBrack => Err(Diag::unsupported(self.span(), "a tuple type ('[ … ]' as a type)")),
            Tok::LParen if self.union_ahead() => Err(Diag::unsupported(self.span(), "a union type ('a' | 'b')")),
            Tok::LParen => Err(Diag::unsupported(self.span(), "a parenthesised type")),
            // A union may start on the next line, each member after a leading `|`.
            Tok::NewLine if self.next_after_newlines() == &Tok::Pipe => {
                self.skip_newlines();
                Err(Diag::unsupported(self.span(), "a union type ('a' | 'b')"))
            }
            _ => self.error("a type"),
        }
    }

    /// `<'Type@version'>.properties` or `<'Type@version'>.tags` after `resourceInput`, consumed: both
    /// are objects on every resource type, so the ARM type is known without the type's schema.
    /// Anything else (a deeper path, whose type only the schema knows) is left unconsumed.
    fn top_level_derived_type(&mut self) -> Option<(String, String)> {
        let (Tok::Lt, Tok::Str(reference), Tok::Gt, Tok::Dot, Tok::Ident(property)) =
            (self.peek_at(0), self.peek_at(1), self.peek_at(2), self.peek_at(3), self.peek_at(4))
        else {
            return None;
        };
        let after = self.peek_at(5);
        if !matches!(property.as_str(), "properties" | "tags")
            || matches!(after, Tok::Dot | Tok::LBrack | Tok::Question)
        {
            return None;
        }
        let derived = (reference.clone(), property.clone());
        for _ in 0..5 {
            self.bump();
        }
        Some(derived)
    }

    /// Whether a `|` follows at this bracket level before the type ends (a new line outside
    /// brackets, `=` or the end of the file): `('a' | 'b')` and `'a' | 'b'` are unions.
    fn union_ahead(&self) -> bool {
        let mut depth = 0usize;
        for token in &self.tokens[self.pos..] {
            match token.tok {
                Tok::LParen | Tok::LBrack | Tok::LBrace => depth += 1,
                Tok::RParen | Tok::RBrack | Tok::RBrace => match depth.checked_sub(1) {
                    Some(d) => depth = d,
                    None => return false,
                },
                Tok::Pipe if depth <= 1 => return true,
                Tok::NewLine | Tok::Assign if depth == 0 => return false,
                Tok::Eof => return false,
                _ => {}
            }
        }
        false
    }
}
