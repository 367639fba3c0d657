//! Parser: type expressions (`string?`, `string[]`, `'a' | 'b'`, `{ a: int }`, `[int, string]`,
//! `myType.prop`, `resourceInput<'T@v'>.properties.x[*]`) and `type` declarations.

use super::Parser;
use crate::infra::bicep::ast::*;
use crate::infra::bicep::error::{DResult, Diag, ErrorKind};
use crate::infra::bicep::lexer::Tok;

impl Parser {
    /// A type: a union of postfix types, which may start with `|` and continue on later lines.
    pub(super) fn type_expr(&mut self) -> DResult<TypeNode> {
        self.enter()?;
        let result = self.union_type();
        self.depth -= 1;
        result
    }

    fn union_type(&mut self) -> DResult<TypeNode> {
        if self.at(&Tok::NewLine) && self.next_after_newlines() == &Tok::Pipe {
            self.skip_newlines();
        }
        let leading = self.eat(&Tok::Pipe);
        let first = self.postfix_type()?;
        let start = first.span;
        let mut members = vec![first];
        loop {
            if self.at(&Tok::NewLine) && self.next_after_newlines() == &Tok::Pipe {
                self.skip_newlines();
            }
            if !self.eat(&Tok::Pipe) {
                break;
            }
            members.push(self.postfix_type()?);
        }
        if members.len() == 1 && !leading {
            return Ok(members.remove(0));
        }
        let span = start.to(self.prev_span());
        Ok(TypeNode { kind: TypeKind::Union(members), span })
    }

    fn postfix_type(&mut self) -> DResult<TypeNode> {
        let mut ty = self.primary_type()?;
        loop {
            match self.peek() {
                Tok::Question => {
                    self.bump();
                    let span = ty.span.to(self.prev_span());
                    ty = TypeNode { kind: TypeKind::Nullable(Box::new(ty)), span };
                }
                Tok::LBrack if self.peek_at(1) == &Tok::RBrack => {
                    self.bump();
                    self.bump();
                    let span = ty.span.to(self.prev_span());
                    ty = TypeNode { kind: TypeKind::Array(Box::new(ty)), span };
                }
                // `[*]` on a resource-derived type: its items, which the resource schema knows.
                Tok::LBrack
                    if matches!(ty.kind, TypeKind::Derived { .. })
                        && self.peek_at(1) == &Tok::Star
                        && self.peek_at(2) == &Tok::RBrack =>
                {
                    for _ in 0..3 {
                        self.bump();
                    }
                    let span = ty.span.to(self.prev_span());
                    if let TypeKind::Derived { path, .. } = &mut ty.kind {
                        path.push(DerivedStep::Items);
                    }
                    ty.span = span;
                }
                Tok::LBrack => return Err(Diag::unsupported(self.span(), "an index into a type ('T[0]', 'T[*]')")),
                Tok::Bang => return Err(Diag::unsupported(self.span(), "a non-null type assertion ('T!')")),
                Tok::Dot if matches!(ty.kind, TypeKind::Derived { .. }) && self.peek_at(1) == &Tok::Star => {
                    self.bump();
                    self.bump();
                    let span = ty.span.to(self.prev_span());
                    if let TypeKind::Derived { path, .. } = &mut ty.kind {
                        path.push(DerivedStep::AdditionalProperties);
                    }
                    ty.span = span;
                }
                Tok::Dot => {
                    let dot = self.bump().span;
                    let (name, _) = match self.peek() {
                        Tok::Ident(_) => self.ident("a property name")?,
                        _ => return Err(Diag::unsupported(dot, "this type member access")),
                    };
                    let span = ty.span.to(self.prev_span());
                    ty = match ty.kind {
                        TypeKind::Derived { output, reference, mut path } => {
                            path.push(DerivedStep::Property(name));
                            TypeNode { kind: TypeKind::Derived { output, reference, path }, span }
                        }
                        kind @ (TypeKind::Named(_) | TypeKind::Property(..)) => TypeNode {
                            kind: TypeKind::Property(Box::new(TypeNode { kind, span: ty.span }), name),
                            span,
                        },
                        _ => return Err(Diag::unsupported(dot, "this type member access")),
                    };
                }
                _ => return Ok(ty),
            }
        }
    }

    fn primary_type(&mut self) -> DResult<TypeNode> {
        let start = self.span();
        let kind = match self.peek().clone() {
            Tok::Ident(mut name) => {
                self.bump();
                // `sys.string`, `sys.resourceInput<…>`: the system namespace, spelled out.
                if name == "sys" && self.at(&Tok::Dot) {
                    self.bump();
                    name = self.ident("a type name")?.0;
                }
                match name.as_str() {
                    "resource" => return Err(Diag::unsupported(start, "a resource-typed parameter or output")),
                    "resourceInput" | "resourceOutput" if self.at(&Tok::Lt) => {
                        self.bump();
                        self.skip_newlines();
                        let reference = match self.peek().clone() {
                            Tok::Str(r) => {
                                self.bump();
                                r
                            }
                            _ => return self.error("a resource type string"),
                        };
                        self.skip_newlines();
                        self.expect(&Tok::Gt)?;
                        TypeKind::Derived { output: name == "resourceOutput", reference, path: Vec::new() }
                    }
                    _ if self.at(&Tok::Lt) => return Err(Diag::unsupported(start, "a parameterised type")),
                    "true" => TypeKind::Literal(LiteralType::Bool(true)),
                    "false" => TypeKind::Literal(LiteralType::Bool(false)),
                    "null" => TypeKind::Literal(LiteralType::Null),
                    _ => TypeKind::Named(name),
                }
            }
            Tok::Str(s) => {
                self.bump();
                TypeKind::Literal(LiteralType::Str(s))
            }
            Tok::Int(n) => {
                self.bump();
                TypeKind::Literal(LiteralType::Int(literal_int(n, start)?))
            }
            Tok::Minus => {
                self.bump();
                let Tok::Int(n) = self.peek().clone() else {
                    return self.error("an integer");
                };
                self.bump();
                TypeKind::Literal(LiteralType::Int(-literal_int(n, start)?))
            }
            Tok::LParen => {
                self.bump();
                self.skip_newlines();
                let inner = self.type_expr()?;
                self.skip_newlines();
                self.expect(&Tok::RParen)?;
                return Ok(TypeNode { kind: inner.kind, span: start.to(self.prev_span()) });
            }
            Tok::LBrace => self.object_type()?,
            Tok::LBrack => self.tuple_type()?,
            _ => return self.error("a type"),
        };
        Ok(TypeNode { kind, span: start.to(self.prev_span()) })
    }

    fn object_type(&mut self) -> DResult<TypeKind> {
        self.expect(&Tok::LBrace)?;
        let mut props = Vec::new();
        let mut additional = None;
        loop {
            self.skip_newlines();
            if self.eat(&Tok::RBrace) {
                break;
            }
            let decorators = self.decorators()?;
            let (name, span, star) = match self.peek().clone() {
                Tok::Ident(n) | Tok::Str(n) => (n, self.bump().span, false),
                Tok::Star => ("*".to_string(), self.bump().span, true),
                _ => return self.error("a property name"),
            };
            self.expect(&Tok::Colon)?;
            let ty = self.type_expr()?;
            let prop = TypeProp { decorators, name, ty };
            if star {
                if additional.is_some() {
                    return Err(Diag::declared_twice(span, "'*'"));
                }
                additional = Some(Box::new(prop));
            } else if props.iter().any(|p: &TypeProp| p.name == prop.name) {
                return Err(Diag::declared_twice(span, format_args!("the property '{}'", prop.name)));
            } else {
                props.push(prop);
            }
            self.eat(&Tok::Comma);
        }
        Ok(TypeKind::Object { props, additional })
    }

    fn tuple_type(&mut self) -> DResult<TypeKind> {
        self.expect(&Tok::LBrack)?;
        let mut items = Vec::new();
        loop {
            self.skip_newlines();
            if self.eat(&Tok::RBrack) {
                break;
            }
            let decorators = self.decorators()?;
            let ty = self.type_expr()?;
            items.push(TypeItem { decorators, ty });
            self.eat(&Tok::Comma);
        }
        Ok(TypeKind::Tuple(items))
    }

    /// `type name = <type>`, after the keyword.
    pub(super) fn type_declaration(&mut self, decorators: Vec<Decorator>) -> DResult<TypeDecl> {
        let (name, name_span) = self.ident("a type name")?;
        self.expect(&Tok::Assign)?;
        self.skip_newlines_before_union();
        let value = self.type_expr()?;
        Ok(TypeDecl { decorators, name, name_span, value })
    }

    fn skip_newlines_before_union(&mut self) {
        if self.at(&Tok::NewLine) && self.next_after_newlines() == &Tok::Pipe {
            self.skip_newlines();
        }
    }
}

fn literal_int(n: u64, span: crate::infra::bicep::error::Span) -> DResult<i64> {
    i64::try_from(n).map_err(|_| Diag::new(ErrorKind::Type, span, "integer literal is out of range"))
}
