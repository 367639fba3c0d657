//! `loadTextContent`, `loadFileAsBase64` and `loadJsonContent`: files read at compile time.

use super::arm::Arm;
use super::ast::{Expr, ExprKind};
use super::convert::Compiler;
use super::error::{DResult, Diag, ErrorKind, Span};

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
        "loadFileAsBase64" => Ok(Arm::Str(base64(&bytes))),
        "loadTextContent" => {
            let text = String::from_utf8(bytes)
                .map_err(|_| Diag::new(ErrorKind::Invalid, args[0].span, "the file is not valid UTF-8"))?;
            Ok(Arm::Str(text.strip_prefix('\u{feff}').unwrap_or(&text).to_string()))
        }
        _ => Err(Diag::unsupported(span, &format!("'{name}()'"))),
    }
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }
}
