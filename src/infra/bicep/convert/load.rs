//! `loadTextContent`, `loadFileAsBase64`, `loadJsonContent`, `loadYamlContent` and
//! `loadDirectoryFileInfo`: files read at compile time.

mod json_path;
mod yaml;

use std::io::Read;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use serde_json::Value;

use super::Compiler;

use crate::infra::bicep::arm::{Arm, json_string};
use crate::infra::bicep::ast::{Expr, ExprKind};
use crate::infra::bicep::error::{DResult, Diag, ErrorKind, Span};

/// The value of a hoisted `$fxv#N` variable: the loaded JSON for `loadJsonContent` and
/// `loadYamlContent`, the file list of `loadDirectoryFileInfo`, otherwise the loaded text.
pub fn load_value(c: &Compiler<'_>, name: &str, span: Span, args: &[Expr]) -> DResult<Value> {
    match name {
        "loadJsonContent" | "loadYamlContent" => load_object(c, name, args),
        "loadDirectoryFileInfo" => directory_file_info(c, args),
        _ => Ok(load(c, name, span, args)?.to_json()),
    }
}

/// A string-literal argument (the official compiler requires compile-time constants).
fn literal<'e>(e: &'e Expr, name: &str) -> DResult<&'e str> {
    match &e.kind {
        ExprKind::Str(s) => Ok(s),
        _ => Err(Diag::new(ErrorKind::Type, e.span, format!("the arguments of '{name}' must be string literals"))),
    }
}

/// `loadJsonContent(path, jsonPath?, encoding?)` and `loadYamlContent(path, pathFilter?,
/// encoding?)`: the file read as JSON (comments allowed, as Newtonsoft reads it) or YAML, narrowed
/// by the JSONPath (`SelectTokens`: no match is an error, one is that value, more an array).
fn load_object(c: &Compiler<'_>, name: &str, args: &[Expr]) -> DResult<Value> {
    let path = c.dir.join(literal(&args[0], name)?);
    let encoding = match args.get(2) {
        Some(e) => Some((literal(e, name)?, e.span)),
        None => None,
    };
    // `LanguageConstants.MaxJsonFileCharacterLimit`.
    let text = read_text(&path, encoding, 1_048_576, &args[0], name)?;
    let value = if name == "loadYamlContent" {
        yaml::to_json(&text).map_err(|refusal| match refusal {
            yaml::Refusal::Invalid(m) => {
                Diag::new(ErrorKind::Invalid, args[0].span, format!("'{}' is not YAML: {m}", path.display()))
            }
            yaml::Refusal::Unsupported(what) => Diag::unsupported(args[0].span, what),
        })?
    } else {
        // Newtonsoft's reader also takes other relaxed syntax (single quotes, trailing commas);
        // comments are read, the rest refused, not guessed.
        let stripped = crate::infra::bicep::registry::strip_comments(&text);
        serde_json::from_str(&stripped)
            .map_err(|_| Diag::unsupported(args[0].span, "a JSON file that is not strict JSON in 'loadJsonContent'"))?
    };
    let selected = match args.get(1) {
        Some(filter) => {
            let expression = literal(filter, name)?;
            let found = json_path::select(&value, expression).map_err(|refusal| match refusal {
                json_path::Refusal::Invalid(m) => {
                    Diag::new(ErrorKind::Invalid, filter.span, format!("the path '{expression}' {m}"))
                }
                json_path::Refusal::Unsupported(what) => Diag::unsupported(filter.span, what),
            })?;
            match found.len() {
                0 => {
                    let message = format!("no value of '{}' is at the path '{expression}'", path.display());
                    return Err(Diag::new(ErrorKind::Invalid, filter.span, message));
                }
                1 => found.into_iter().next().unwrap_or_default(),
                _ => Value::Array(found),
            }
        }
        None => value,
    };
    template_value(&selected).ok_or_else(|| {
        Diag::unsupported(args[0].span, &format!("a fractional number or a date-like string in a '{name}' file"))
    })
}

/// `loadDirectoryFileInfo(path, searchPattern?)`: the files directly in the directory (`*` and `?`
/// wildcards), each as `{relativePath, baseName, extension}` with the path relative to the
/// compiled file, ordered by path ignoring case, as the official compiler lists them.
fn directory_file_info(c: &Compiler<'_>, args: &[Expr]) -> DResult<Value> {
    let name = "loadDirectoryFileInfo";
    let rel = literal(&args[0], name)?;
    let pattern = match args.get(1) {
        Some(e) => literal(e, name)?,
        None => "",
    };
    let dir = c.dir.join(rel);
    let entries = std::fs::read_dir(&dir).map_err(|err| {
        Diag::new(ErrorKind::Invalid, args[0].span, format!("cannot read the directory '{}': {err}", dir.display()))
    })?;
    let mut files = Vec::new();
    for entry in entries.flatten() {
        if !entry.path().is_file() {
            continue;
        }
        let Some(file_name) = entry.file_name().to_str().map(str::to_string) else {
            return Err(Diag::unsupported(args[0].span, "a file name that is not UTF-8 in 'loadDirectoryFileInfo'"));
        };
        if !pattern.is_empty() && !glob_matches(pattern, &file_name) {
            continue;
        }
        let relative = normalise_relative(&format!("{}/{file_name}", rel.trim_end_matches('/')));
        let extension = match file_name.rfind('.') {
            Some(i) => file_name[i..].to_string(),
            None => String::new(),
        };
        files.push((relative, file_name, extension));
    }
    files.sort_by_key(|f| f.0.to_uppercase());
    let items = files
        .into_iter()
        .map(|(relative, base, extension)| {
            serde_json::json!({"relativePath": relative, "baseName": base, "extension": extension})
        })
        .collect::<Vec<_>>();
    template_value(&Value::Array(items))
        .ok_or_else(|| Diag::unsupported(args[0].span, "a date-like file name in 'loadDirectoryFileInfo'"))
}

/// `a/./b/../c` as `a/c`, the way a URI relative to the compiled file is written.
fn normalise_relative(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

/// `*` any run of characters, `?` exactly one; everything else literal.
fn glob_matches(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// The encodings `load*Content` take (`LanguageConstants.SupportedEncodings`).
const ENCODINGS: [&str; 5] = ["us-ascii", "iso-8859-1", "utf-8", "utf-16BE", "utf-16"];

/// Reads a file as text in `encoding` (UTF-8 by default), as .NET's reader with byte-order-mark
/// detection does: a BOM decides the encoding and is dropped; `us-ascii` reads bytes above 0x7F
/// as `?`; malformed UTF-16 becomes U+FFFD. At most `max_chars` characters.
fn read_text(
    path: &std::path::Path,
    encoding: Option<(&str, Span)>,
    max_chars: usize,
    at: &Expr,
    name: &str,
) -> DResult<String> {
    if let Some((e, span)) = encoding
        && !ENCODINGS.contains(&e)
    {
        let message = format!("'{e}' is not an encoding '{name}' takes ({})", ENCODINGS.join(", "));
        return Err(Diag::new(ErrorKind::Type, span, message));
    }
    let bytes = read_limited(path, max_chars as u64 * 4, at, name)?;
    let utf16 = |body: &[u8], big: bool| {
        let units: Vec<u16> = body
            .chunks(2)
            .map(|pair| match pair {
                [a, b] if big => u16::from_be_bytes([*a, *b]),
                [a, b] => u16::from_le_bytes([*a, *b]),
                _ => 0xFFFD,
            })
            .collect();
        String::from_utf16_lossy(&units)
    };
    let text = if bytes.starts_with(&[0xFF, 0xFE, 0, 0]) || bytes.starts_with(&[0, 0, 0xFE, 0xFF]) {
        return Err(Diag::unsupported(at.span, &format!("a UTF-32 file in '{name}'")));
    } else if let Some(body) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        utf8(body, path, at)?
    } else if let Some(body) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        utf16(body, false)
    } else if let Some(body) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        utf16(body, true)
    } else {
        match encoding.map(|(e, _)| e) {
            None | Some("utf-8") => utf8(&bytes, path, at)?,
            Some("us-ascii") => bytes.iter().map(|&b| if b < 0x80 { b as char } else { '?' }).collect(),
            Some("iso-8859-1") => bytes.iter().map(|&b| b as char).collect(),
            Some("utf-16BE") => utf16(&bytes, true),
            _ => utf16(&bytes, false),
        }
    };
    if text.chars().count() > max_chars {
        return Err(Diag::new(
            ErrorKind::Invalid,
            at.span,
            format!("'{}' is longer than the {max_chars} characters '{name}' accepts", path.display()),
        ));
    }
    Ok(text)
}

fn utf8(bytes: &[u8], path: &std::path::Path, at: &Expr) -> DResult<String> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| Diag::new(ErrorKind::Invalid, at.span, format!("'{}' is not valid UTF-8", path.display())))
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
    let path = c.dir.join(literal(&args[0], name)?);
    match name {
        "loadFileAsBase64" => {
            // The official compiler's limit: 96 KiB, which is 131,072 characters as base64.
            Ok(Arm::Str(BASE64.encode(read_limited(&path, 96 * 1024, &args[0], name)?)))
        }
        "loadTextContent" => {
            let encoding = match args.get(1) {
                Some(e) => Some((literal(e, name)?, e.span)),
                None => None,
            };
            Ok(Arm::Str(read_text(&path, encoding, 131_072, &args[0], name)?))
        }
        _ => Err(Diag::unsupported(span, &format!("'{name}()'"))),
    }
}
