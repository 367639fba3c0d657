//! `loadTextContent`, `loadFileAsBase64` and `loadJsonContent`: files read at compile time.

use std::io::Read;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use serde_json::Value;

use super::Compiler;

use crate::infra::bicep::arm::{Arm, json_string};
use crate::infra::bicep::ast::{Expr, ExprKind};
use crate::infra::bicep::error::{DResult, Diag, ErrorKind, Span};

/// The value of a hoisted `$fxv#N` variable: the loaded JSON for `loadJsonContent`, otherwise the
/// loaded text.
pub fn load_value(c: &Compiler<'_>, name: &str, span: Span, args: &[Expr]) -> DResult<Value> {
    if name != "loadJsonContent" {
        return Ok(load(c, name, span, args)?.to_json());
    }
    if let Some(extra) = args.get(1) {
        return Err(Diag::unsupported(extra.span, "a JSON path or encoding argument of 'loadJsonContent'"));
    }
    let ExprKind::Str(rel) = &args[0].kind else {
        return Err(Diag::new(
            ErrorKind::Type,
            args[0].span,
            "the arguments of 'loadJsonContent' must be string literals",
        ));
    };
    let path = c.dir.join(rel);
    // `LanguageConstants.MaxJsonFileCharacterLimit`, at most four bytes a character.
    let text = read_limited(&path, 1_048_576 * 4, &args[0], "loadJsonContent")?;
    let text = String::from_utf8(text)
        .map_err(|_| Diag::new(ErrorKind::Invalid, args[0].span, "the file is not valid UTF-8"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    if text.chars().count() > 1_048_576 {
        return Err(Diag::new(
            ErrorKind::Invalid,
            args[0].span,
            format!("'{}' is longer than the 1048576 characters 'loadJsonContent' accepts", path.display()),
        ));
    }
    // Bicep's reader (Newtonsoft) also takes comments and other relaxed syntax; refused, not guessed.
    let value: Value = serde_json::from_str(text)
        .map_err(|_| Diag::unsupported(args[0].span, "a JSON file that is not strict JSON in 'loadJsonContent'"))?;
    template_value(&value).ok_or_else(|| {
        Diag::unsupported(args[0].span, "a fractional number or a date-like string in a 'loadJsonContent' file")
    })
}

/// The loaded JSON as a template value (`ConvertJsonToExpression`, then written out): strings
/// that look like expressions are escaped. Fractional numbers (written as `json('…')` with .NET's
/// number formatting) and date-like strings (which the JSON reader may turn into dates) are `None`.
fn template_value(v: &Value) -> Option<Value> {
    Some(match v {
        Value::String(s) => {
            let b = s.as_bytes();
            let date_like =
                b.len() > 10 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[7] == b'-' && b[10] == b'T';
            if date_like {
                return None;
            }
            json_string(s)
        }
        Value::Number(n) if !n.is_i64() => return None,
        Value::Array(items) => Value::Array(items.iter().map(template_value).collect::<Option<_>>()?),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| Some((k.clone(), template_value(v)?))).collect::<Option<_>>()?)
        }
        other => other.clone(),
    })
}

/// Reads no further than `limit` bytes, which also keeps a load of `/dev/zero` from reading forever.
fn read_limited(path: &std::path::Path, limit: u64, at: &Expr, name: &str) -> DResult<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(limit + 1).read_to_end(&mut bytes))
        .map_err(|err| Diag::new(ErrorKind::Invalid, at.span, format!("cannot read '{}': {err}", path.display())))?;
    if bytes.len() as u64 > limit {
        return Err(Diag::new(
            ErrorKind::Invalid,
            at.span,
            format!("'{}' is larger than '{name}' accepts ({limit} bytes)", path.display()),
        ));
    }
    Ok(bytes)
}

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
    // The official compiler's limits (131,072 characters of text, 96 KiB as base64).
    let limit: u64 = if name == "loadFileAsBase64" { 96 * 1024 } else { 131_072 * 4 };
    let bytes = read_limited(&path, limit, &args[0], name)?;
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
