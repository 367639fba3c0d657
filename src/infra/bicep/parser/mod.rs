//! Parser: tokens to statements and expressions, by recursive descent with precedence climbing.
//! This file holds the token cursor; `statements` and `expressions` hold the grammar.

mod collections;
mod expressions;
mod statements;
mod types;

use super::ast::*;
use super::error::{DResult, Diag, ErrorKind, Span};
use super::lexer::{Tok, Token, lex};

/// Parses a whole Bicep file.
pub fn parse(src: &str) -> DResult<Vec<Stmt>> {
    let tokens = lex(src)?;
    let mut parser = Parser { tokens, pos: 0, depth: 0, arg_start: usize::MAX };
    parser.program()
}

/// Every pass after the parser walks the tree recursively; unoptimised, the compile of the
/// deepest tree allowed still fits a 2 MiB stack, a quarter of the main thread's, where it runs.
const MAX_DEPTH: usize = 128;

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
    /// Where the function argument being parsed starts: the one place a lambda may be.
    arg_start: usize,
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
            return Err(Diag::new(
                ErrorKind::Syntax,
                self.span(),
                format!(
                    "expression is nested too deeply: more than {MAX_DEPTH} levels of brackets, operators, \
                     property accesses or conditions"
                ),
            ));
        }
        Ok(())
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

    /// Newer Bicep is valid Bicep: it is refused by name at its position, never as a syntax error.
    #[test]
    fn newer_syntax_is_refused_by_name() {
        let cases = [
            ("output t resource 'A.B/c@2020-01-01' = x\n", "a resource-typed parameter or output", 9),
            ("import 'az@1.0.0'\n", "an extension import ('import')", 0),
            ("@export()\nimport { a } from 'x.bicep'\n", "the decorator '@export' on an import", 0),
            ("param o object\nvar x = o.?a.b()\n", "a method call after safe-dereference '.?'", 28),
            ("param o object\nvar x = o.?a[0]\n", "an index after safe-dereference '.?'", 27),
        ];
        for (src, feature, at) in cases {
            match parse(src) {
                Err(Diag::At { kind: ErrorKind::Unsupported, span, message }) => {
                    assert_eq!((message.as_str(), span.start), (feature, at), "{src}");
                }
                other => panic!("{src}: {other:?}"),
            }
        }
    }

    #[test]
    fn parses_the_type_system() {
        let src = "param a string?\nparam b string[]\nparam c 'x' | 'y'\nparam d\n  | 'x'\n  | 'y'\n\
                   param e { a: string, *: int }\nparam f [int, 'k']\n\
                   param g resourceInput<'A.B/c@2020-01-01'>.properties.x[*].*\n\
                   @export()\n@sealed()\ntype t = {\n  @description('d')\n  a: (1 | -2)[]?\n}\nvar v t.a = null\n";
        let stmts = parse(src).expect("parses");
        assert_eq!(stmts.len(), 9);
        let Stmt::Param(p) = &stmts[3] else { panic!() };
        assert!(matches!(&p.ty.kind, TypeKind::Union(m) if m.len() == 2));
        let Stmt::Param(p) = &stmts[6] else { panic!() };
        let steps = [
            DerivedStep::Property("properties".into()),
            DerivedStep::Property("x".into()),
            DerivedStep::Items,
            DerivedStep::AdditionalProperties,
        ];
        assert!(matches!(&p.ty.kind, TypeKind::Derived { path, .. } if path == &steps));
        let Stmt::Type(t) = &stmts[7] else { panic!() };
        assert_eq!(t.decorators.len(), 2);
        let Stmt::Var(v) = &stmts[8] else { panic!() };
        assert!(matches!(&v.ty, Some(TypeNode { kind: TypeKind::Property(..), .. })));
    }

    #[test]
    fn parses_compile_time_imports() {
        let src = "@description('d')\nimport { a, b as c } from 'br/public:x/y:1.0'\n\
                   import {\n  d\n  e as f\n} from './t.json'\nimport * as ns from 't.bicep'\n";
        let stmts = parse(src).expect("parses");
        let names: Vec<Vec<(String, String)>> = stmts
            .iter()
            .map(|s| match s {
                Stmt::Import(ImportDecl { items: ImportItems::Named(n), .. }) => {
                    n.iter().map(|n| (n.name.clone(), n.local().to_string())).collect()
                }
                Stmt::Import(ImportDecl { items: ImportItems::Wildcard { alias, .. }, path, .. }) => {
                    vec![(path.clone(), alias.clone())]
                }
                _ => Vec::new(),
            })
            .collect();
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(
            names,
            [vec![pair("a", "a"), pair("b", "c")], vec![pair("d", "d"), pair("e", "f")], vec![pair("t.bicep", "ns")]]
        );
        assert!(parse("import { a b } from 'x.bicep'\n").is_err());
        assert!(parse("import { a } 'x.bicep'\n").is_err());
    }

    #[test]
    fn reports_syntax_errors() {
        assert!(parse("param\n").is_err());
        assert!(parse("var x = \n").is_err());
        assert!(parse("var x = (1\n").is_err());
        assert!(parse("resource r 'a@b' = {\n name: 'x'\n").is_err());
        assert!(parse("var x = ...y\n").is_err());
    }
}
