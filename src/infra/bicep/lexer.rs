//! Lexer: Bicep text to tokens, with interpolated strings split into pieces around their holes.

use super::error::{DResult, Diag, ErrorKind, Span};

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Ident(String),
    Int(u64),
    /// A string without holes.
    Str(String),
    /// The text before the first hole of an interpolated string.
    StrLeft(String),
    /// The text between two holes.
    StrMid(String),
    /// The text after the last hole.
    StrRight(String),
    /// A `'''` multi-line string.
    Multiline(String),
    LBrace,
    RBrace,
    LBrack,
    RBrack,
    LParen,
    RParen,
    Comma,
    Dot,
    Colon,
    DoubleColon,
    Semicolon,
    Question,
    QuestionQuestion,
    QuestionDot,
    Assign,
    Eq,
    Ne,
    EqI,
    NeI,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Bang,
    And,
    Or,
    At,
    Arrow,
    Ellipsis,
    Pipe,
    NewLine,
    Eof,
}

#[derive(Debug, Clone)]
pub struct Token {
    pub tok: Tok,
    pub span: Span,
}

/// Splits `src` into tokens; the last token is always `Eof`.
pub fn lex(src: &str) -> DResult<Vec<Token>> {
    Lexer { src, bytes: src.as_bytes(), pos: 0, holes: Vec::new(), out: Vec::new() }.run()
}

struct Lexer<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    /// Brace depth inside each open `${` hole.
    holes: Vec<usize>,
    out: Vec<Token>,
}

impl Lexer<'_> {
    fn run(mut self) -> DResult<Vec<Token>> {
        while self.pos < self.bytes.len() {
            self.next_token()?;
        }
        if !self.holes.is_empty() {
            return Err(Diag::new(
                ErrorKind::Syntax,
                Span::new(self.pos, self.pos),
                "unterminated string interpolation",
            ));
        }
        let end = self.bytes.len();
        self.out.push(Token { tok: Tok::Eof, span: Span::new(end, end) });
        Ok(self.out)
    }

    fn peek(&self, ahead: usize) -> u8 {
        self.bytes.get(self.pos + ahead).copied().unwrap_or(0)
    }

    fn push(&mut self, tok: Tok, start: usize) {
        self.out.push(Token { tok, span: Span::new(start, self.pos) });
    }

    fn next_token(&mut self) -> DResult<()> {
        let start = self.pos;
        let c = self.peek(0);
        match c {
            b' ' | b'\t' | b'\r' => {
                self.pos += 1;
                return Ok(());
            }
            b'\n' => {
                self.pos += 1;
                self.push(Tok::NewLine, start);
                return Ok(());
            }
            b'/' if self.peek(1) == b'/' => {
                while self.pos < self.bytes.len() && self.bytes[self.pos] != b'\n' {
                    self.pos += 1;
                }
                return Ok(());
            }
            b'/' if self.peek(1) == b'*' => {
                return match self.src[self.pos + 2..].find("*/") {
                    Some(i) => {
                        self.pos += 2 + i + 2;
                        Ok(())
                    }
                    None => Err(Diag::new(
                        ErrorKind::Syntax,
                        Span::new(start, start + 2),
                        "unterminated multi-line comment",
                    )),
                };
            }
            b'#' if self.src[self.pos..].starts_with("#disable-") || self.src[self.pos..].starts_with("#restore-") => {
                // A linter pragma (#disable-next-line, #disable-diagnostics): no effect on output.
                while self.pos < self.bytes.len() && self.bytes[self.pos] != b'\n' {
                    self.pos += 1;
                }
                return Ok(());
            }
            b'$' if self.src[self.pos..].starts_with("$'''") || self.peek(1) == b'$' => {
                return Err(Diag::unsupported(Span::new(start, start + 2), "an interpolated multi-line string"));
            }
            b'^' => {
                return Err(Diag::unsupported(Span::new(start, start + 1), "the from-end index '^'"));
            }
            b'\'' => {
                if self.src[self.pos..].starts_with("'''") {
                    return self.multiline(start);
                }
                self.pos += 1;
                return self.string_piece(start, true);
            }
            b'{' => {
                if let Some(depth) = self.holes.last_mut() {
                    *depth += 1;
                }
                self.pos += 1;
                self.push(Tok::LBrace, start);
                return Ok(());
            }
            b'}' => {
                if let Some(depth) = self.holes.last_mut() {
                    if *depth == 0 {
                        self.holes.pop();
                        self.pos += 1;
                        return self.string_piece(start, false);
                    }
                    *depth -= 1;
                }
                self.pos += 1;
                self.push(Tok::RBrace, start);
                return Ok(());
            }
            _ => {}
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            while self.peek(0).is_ascii_alphanumeric() || self.peek(0) == b'_' {
                self.pos += 1;
            }
            let word = self.src[start..self.pos].to_string();
            self.push(Tok::Ident(word), start);
            return Ok(());
        }
        if c.is_ascii_digit() {
            while self.peek(0).is_ascii_digit() {
                self.pos += 1;
            }
            let text = &self.src[start..self.pos];
            let value = text.parse::<u64>().map_err(|_| {
                Diag::new(ErrorKind::Syntax, Span::new(start, self.pos), "integer literal is too large")
            })?;
            self.push(Tok::Int(value), start);
            return Ok(());
        }
        let three = [self.peek(0), self.peek(1), self.peek(2)];
        let (tok, len) = match three {
            [b'.', b'.', b'.'] => (Tok::Ellipsis, 3),
            [b':', b':', _] => (Tok::DoubleColon, 2),
            [b'?', b'?', _] => (Tok::QuestionQuestion, 2),
            // Bicep's safe dereference is `a.?b`; `?.` is not an operator (`c ?.5` cannot occur:
            // Bicep has no fractional literals).
            [b'.', b'?', _] => (Tok::QuestionDot, 2),
            [b'=', b'=', _] => (Tok::Eq, 2),
            [b'=', b'~', _] => (Tok::EqI, 2),
            [b'=', b'>', _] => (Tok::Arrow, 2),
            [b'!', b'=', _] => (Tok::Ne, 2),
            [b'!', b'~', _] => (Tok::NeI, 2),
            [b'<', b'=', _] => (Tok::Le, 2),
            [b'>', b'=', _] => (Tok::Ge, 2),
            [b'&', b'&', _] => (Tok::And, 2),
            [b'|', b'|', _] => (Tok::Or, 2),
            [b'[', ..] => (Tok::LBrack, 1),
            [b']', ..] => (Tok::RBrack, 1),
            [b'(', ..] => (Tok::LParen, 1),
            [b')', ..] => (Tok::RParen, 1),
            [b',', ..] => (Tok::Comma, 1),
            [b'.', ..] => (Tok::Dot, 1),
            [b':', ..] => (Tok::Colon, 1),
            [b';', ..] => (Tok::Semicolon, 1),
            [b'?', ..] => (Tok::Question, 1),
            [b'=', ..] => (Tok::Assign, 1),
            [b'<', ..] => (Tok::Lt, 1),
            [b'>', ..] => (Tok::Gt, 1),
            [b'+', ..] => (Tok::Plus, 1),
            [b'-', ..] => (Tok::Minus, 1),
            [b'*', ..] => (Tok::Star, 1),
            [b'/', ..] => (Tok::Slash, 1),
            [b'%', ..] => (Tok::Percent, 1),
            [b'!', ..] => (Tok::Bang, 1),
            [b'@', ..] => (Tok::At, 1),
            [b'|', ..] => (Tok::Pipe, 1),
            _ => {
                let ch = self.src[start..].chars().next().unwrap_or('?');
                return Err(Diag::new(
                    ErrorKind::Syntax,
                    Span::new(start, start + ch.len_utf8()),
                    format!("unexpected character '{ch}'"),
                ));
            }
        };
        self.pos += len;
        self.push(tok, start);
        Ok(())
    }

    /// Scans string text up to the closing quote or the next `${`; `self.pos` is just past the
    /// opening quote (`first`) or the `}` that closed a hole.
    fn string_piece(&mut self, start: usize, first: bool) -> DResult<()> {
        let mut text = String::new();
        loop {
            let Some(ch) = self.src[self.pos..].chars().next() else {
                return Err(Diag::new(ErrorKind::Syntax, Span::new(start, self.pos), "unterminated string"));
            };
            match ch {
                '\'' => {
                    self.pos += 1;
                    let tok = if first { Tok::Str(text) } else { Tok::StrRight(text) };
                    self.push(tok, start);
                    return Ok(());
                }
                '\n' => {
                    return Err(Diag::new(
                        ErrorKind::Syntax,
                        Span::new(start, self.pos),
                        "unterminated string (strings cannot span lines; use ''' for multi-line strings)",
                    ));
                }
                '$' if self.peek(1) == b'{' => {
                    self.pos += 2;
                    self.holes.push(0);
                    let tok = if first { Tok::StrLeft(text) } else { Tok::StrMid(text) };
                    self.push(tok, start);
                    return Ok(());
                }
                '\\' => {
                    let esc_start = self.pos;
                    self.pos += 1;
                    let Some(next) = self.src[self.pos..].chars().next() else {
                        continue;
                    };
                    self.pos += next.len_utf8();
                    match next {
                        '\\' => text.push('\\'),
                        '\'' => text.push('\''),
                        'n' => text.push('\n'),
                        'r' => text.push('\r'),
                        't' => text.push('\t'),
                        '$' => text.push('$'),
                        'u' => text.push(self.unicode_escape(esc_start)?),
                        _ => {
                            return Err(Diag::new(
                                ErrorKind::Syntax,
                                Span::new(esc_start, self.pos),
                                format!("the escape sequence '\\{next}' is not recognized"),
                            ));
                        }
                    }
                }
                _ => {
                    text.push(ch);
                    self.pos += ch.len_utf8();
                }
            }
        }
    }

    fn unicode_escape(&mut self, esc_start: usize) -> DResult<char> {
        let bad =
            |end| Diag::new(ErrorKind::Syntax, Span::new(esc_start, end), "invalid unicode escape; expected \\u{hex}");
        if self.peek(0) != b'{' {
            return Err(bad(self.pos));
        }
        let close = self.src[self.pos..].find('}').ok_or_else(|| bad(self.pos))?;
        let hex = &self.src[self.pos + 1..self.pos + close];
        self.pos += close + 1;
        let code = u32::from_str_radix(hex, 16)
            .ok()
            .filter(|_| !hex.is_empty() && hex.len() <= 6)
            .ok_or_else(|| bad(self.pos))?;
        if (0xD800..0xDC00).contains(&code) && self.src[self.pos..].starts_with("\\u{") {
            // A UTF-16 surrogate pair written as two escapes.
            let rest = &self.src[self.pos + 3..];
            if let Some(close) = rest.find('}')
                && let Ok(low) = u32::from_str_radix(&rest[..close], 16)
                && (0xDC00..0xE000).contains(&low)
            {
                self.pos += 3 + close + 1;
                let combined = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                return char::from_u32(combined).ok_or_else(|| bad(self.pos));
            }
        }
        char::from_u32(code).ok_or_else(|| bad(self.pos))
    }

    fn multiline(&mut self, start: usize) -> DResult<()> {
        self.pos += 3;
        let body_start = self.pos;
        let Some(rel) = self.src[body_start..].find("'''") else {
            return Err(Diag::new(ErrorKind::Syntax, Span::new(start, start + 3), "unterminated multi-line string"));
        };
        let mut end = body_start + rel;
        // Extra quotes before the closing ''' belong to the content.
        while self.bytes.get(end + 3) == Some(&b'\'') {
            end += 1;
        }
        let mut body = &self.src[body_start..end];
        if let Some(rest) = body.strip_prefix("\r\n") {
            body = rest;
        } else if let Some(rest) = body.strip_prefix('\n') {
            body = rest;
        }
        self.pos = end + 3;
        self.push(Tok::Multiline(body.to_string()), start);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Tok> {
        lex(src).map(|t| t.into_iter().map(|t| t.tok).collect()).unwrap_or_default()
    }

    #[test]
    fn interpolation_is_split_into_pieces() {
        assert_eq!(
            toks("'a${b}c${ {}.d }e'"),
            vec![
                Tok::StrLeft("a".into()),
                Tok::Ident("b".into()),
                Tok::StrMid("c".into()),
                Tok::LBrace,
                Tok::RBrace,
                Tok::Dot,
                Tok::Ident("d".into()),
                Tok::StrRight("e".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn escapes_and_multiline() {
        assert_eq!(toks(r"'it\'s \$x'")[0], Tok::Str("it's $x".into()));
        assert_eq!(toks("'''\nline ${x}\n'''")[0], Tok::Multiline("line ${x}\n".into()));
    }

    #[test]
    fn errors_instead_of_panics() {
        assert!(lex("'abc").is_err());
        assert!(lex("'${a").is_err());
        assert!(lex("/* x").is_err());
        assert!(lex("'\\u{zz}'").is_err());
        assert!(lex("#").is_err());
    }
}
