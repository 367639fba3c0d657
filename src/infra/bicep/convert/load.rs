//! `loadTextContent`, `loadFileAsBase64` and `loadJsonContent`: files read at compile time.

use std::io::Read;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::Compiler;
use crate::infra::bicep::arm::Arm;
use crate::infra::bicep::ast::{Expr, ExprKind};
use crate::infra::bicep::error::{DResult, Diag, ErrorKind, Span};

pub fn load(c: &Compiler<'_>, name: &str, span: Span, args: &[Expr]) -> DResult<Arm> {
    let literal = |e: &Expr| match &e.kind {
        ExprKind::Str(s) => Ok(s.clone()),
        _ => Err(Diag::new(ErrorKind::Type, e.span, format!("the arguments of '{name}' must be string literals"))),
    };
    let rel = literal(&args[0])?;
    if args.len() > 1 {
        let extra = literal(&args[1])?;
        let default_encoding = name == "loadTextContent" && extra.eq_ignore_ascii_case("utf-8");
        if !default_encoding {
            return Err(Diag::unsupported(args[1].span, &format!("this argument of '{name}'")));
        }
    }
    let path = c.dir.join(&rel);
    // The official compiler's limits (131,072 characters of text, 96 KiB as base64); reading no
    // further than them also keeps `loadTextContent('/dev/zero')` from reading forever.
    let limit: u64 = if name == "loadFileAsBase64" { 96 * 1024 } else { 131_072 * 4 };
    let mut bytes = Vec::new();
    std::fs::File::open(&path).and_then(|file| file.take(limit + 1).read_to_end(&mut bytes)).map_err(|err| {
        Diag::new(ErrorKind::Invalid, args[0].span, format!("cannot read '{}': {err}", path.display()))
    })?;
    if bytes.len() as u64 > limit {
        return Err(Diag::new(
            ErrorKind::Invalid,
            args[0].span,
            format!("'{}' is larger than '{name}' accepts ({limit} bytes)", path.display()),
        ));
    }
    match name {
        "loadFileAsBase64" => Ok(Arm::Str(BASE64.encode(&bytes))),
        "loadTextContent" => {
            let text = String::from_utf8(bytes)
                .map_err(|_| Diag::new(ErrorKind::Invalid, args[0].span, "the file is not valid UTF-8"))?;
            let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
            if text.chars().count() > 131_072 {
                return Err(Diag::new(
                    ErrorKind::Invalid,
                    args[0].span,
                    format!("'{}' is longer than the 131072 characters 'loadTextContent' accepts", path.display()),
                ));
            }
            Ok(Arm::Str(text.to_string()))
        }
        _ => Err(Diag::unsupported(span, &format!("'{name}()'"))),
    }
}
