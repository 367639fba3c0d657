//! `loadTextContent`, `loadFileAsBase64` and `loadJsonContent`: files read at compile time.

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
    let bytes = std::fs::read(&path).map_err(|err| {
        Diag::new(ErrorKind::Invalid, args[0].span, format!("cannot read '{}': {err}", path.display()))
    })?;
    match name {
        "loadFileAsBase64" => Ok(Arm::Str(BASE64.encode(&bytes))),
        "loadTextContent" => {
            let text = String::from_utf8(bytes)
                .map_err(|_| Diag::new(ErrorKind::Invalid, args[0].span, "the file is not valid UTF-8"))?;
            Ok(Arm::Str(text.strip_prefix('\u{feff}').unwrap_or(&text).to_string()))
        }
        _ => Err(Diag::unsupported(span, &format!("'{name}()'"))),
    }
}
