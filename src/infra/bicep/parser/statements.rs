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
                let ty = self.type_expr()?;
                let default = if self.eat(&Tok::Assign) { Some(self.expr()?) } else { None };
                Ok(Stmt::Param(ParamDecl { decorators, name, name_span, ty, default }))
            }
            "var" => {
                let (name, name_span) = self.ident("a variable name")?;
                let ty = if self.at(&Tok::Assign) { None } else { Some(self.type_expr()?) };
                self.expect(&Tok::Assign)?;
                let value = self.expr()?;
                Ok(Stmt::Var(VarDecl { decorators, name, name_span, ty, value }))
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
                let ty = self.type_expr()?;
                self.expect(&Tok::Assign)?;
                let value = self.expr()?;
                Ok(Stmt::Output(OutputDecl { decorators, name, name_span, ty, value }))
            }
            "type" => Ok(Stmt::Type(self.type_declaration(decorators)?)),
            "func" => Ok(Stmt::Func(self.function(decorators)?)),
            "import" if matches!(self.peek(), Tok::LBrace | Tok::Star) => {
                // Bicep accepts decorators on an import but writes none of them to the template.
                if let Some(d) = decorators.iter().find(|d| d.name != "description") {
                    return Err(Diag::unsupported(d.span, &format!("the decorator '@{}' on an import", d.name)));
                }
                Ok(Stmt::Import(self.import()?))
            }
            "import" => Err(Diag::unsupported(kw_span, "an extension import ('import')")),
            "extension" | "provider" => Err(Diag::unsupported(kw_span, "an extension")),
            "using" => Err(Diag::unsupported(kw_span, "a parameters file ('using')")),
            "assert" => Err(Diag::unsupported(kw_span, "'assert'")),
            "test" => Err(Diag::unsupported(kw_span, "'test'")),
            other => Err(Diag::new(ErrorKind::Syntax, kw_span, format!("'{other}' is not a declaration keyword"))),
        }
    }

    /// After `func`: `name(p type, …) type => body`, the body on the line of `=>` or the next.
    fn function(&mut self, decorators: Vec<Decorator>) -> DResult<FuncDecl> {
        let (name, name_span) = self.ident("a function name")?;
        self.expect(&Tok::LParen)?;
        let mut params = Vec::new();
        loop {
            self.skip_newlines();
            if self.eat(&Tok::RParen) {
                break;
            }
            if !params.is_empty() {
                self.expect(&Tok::Comma)?;
                self.skip_newlines();
            }
            let (param, param_span) = self.ident("a parameter name")?;
            let ty = self.type_expr()?;
            params.push(FuncParam { name: param, name_span: param_span, ty });
        }
        let output = self.type_expr()?;
        self.expect(&Tok::Arrow)?;
        self.skip_newlines();
        let body = self.expr()?;
        Ok(FuncDecl { decorators, name, name_span, params, output, body })
    }

    /// After `import`: `{a, b as c}` (commas or new lines between names) or `* as ns`, then
    /// `from 'path'`.
    fn import(&mut self) -> DResult<ImportDecl> {
        let items = if self.eat(&Tok::Star) {
            self.expect_word("as")?;
            let (alias, alias_span) = self.ident("a namespace name")?;
            ImportItems::Wildcard { alias, alias_span }
        } else {
            self.expect(&Tok::LBrace)?;
            let mut names = Vec::new();
            loop {
                self.skip_newlines();
                if self.eat(&Tok::RBrace) {
                    break;
                }
                let (name, name_span) = match self.peek().clone() {
                    Tok::Ident(name) => (name, self.bump().span),
                    Tok::Str(_) => return Err(Diag::unsupported(self.span(), "importing a symbol by a quoted name")),
                    _ => return self.error("a symbol name"),
                };
                let alias = if self.at_word("as") {
                    self.bump();
                    Some(self.ident("a symbol name")?.0)
                } else {
                    None
                };
                names.push(ImportedName { name, name_span, alias });
                if !self.eat(&Tok::Comma) && !self.at(&Tok::NewLine) && !self.at(&Tok::RBrace) {
                    return self.error("',', a new line or '}'");
                }
            }
            ImportItems::Named(names)
        };
        self.expect_word("from")?;
        let (path, path_span) = match self.peek().clone() {
            Tok::Str(path) => (path, self.bump().span),
            _ => return self.error("an import path string"),
        };
        Ok(ImportDecl { items, path, path_span })
    }

    fn expect_word(&mut self, word: &str) -> DResult<()> {
        if !self.at_word(word) {
            return self.error(&format!("'{word}'"));
        }
        self.bump();
        Ok(())
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
}
