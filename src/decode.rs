//! Decoding the text files a user gives (templates, parameters, pipelines, profiles, Bicep,
//! request bodies): UTF-8 with the position of the first bad byte, a byte-order mark accepted
//! everywhere, duplicate JSON and YAML keys refused where they stand, and excerpts of what was
//! found kept short. One place, so that every file type behaves alike.
//!
//! Nesting depth is bounded by the parsers themselves: serde_json and yaml_serde both stop at
//! 128 levels with an error (neither `unbounded_depth` nor a raised limit is used anywhere).

use std::collections::HashSet;
use std::fmt;

use saphyr_parser::{Event, Parser};
use serde::de::{self, DeserializeOwned, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// How many characters of a value an error message quotes.
pub const EXCERPT_CHARS: usize = 200;

const BOM: &str = "\u{feff}";

/// A decoding failure at a 1-based line and column (in characters) of the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct DecodeError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// The text of a file's bytes: a leading byte-order mark dropped, invalid UTF-8 refused with the
/// line, column and byte offset of the first bad byte.
pub fn utf8(bytes: &[u8]) -> Result<&str, DecodeError> {
    let skipped = if bytes.starts_with(BOM.as_bytes()) { BOM.len() } else { 0 };
    let body = &bytes[skipped..];
    std::str::from_utf8(body).map_err(|err| {
        let good = err.valid_up_to();
        let valid = &body[..good];
        let line_start = valid.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
        // `valid` is UTF-8 up to `good` by construction, so this never falls back.
        let column = std::str::from_utf8(&valid[line_start..]).map_or(0, |s| s.chars().count()) + 1;
        DecodeError {
            line,
            column,
            message: format!("not valid UTF-8: byte 0x{:02X} at byte offset {}", body[good], skipped + good),
        }
    })
}

/// Drops a leading byte-order mark from text that is already a string.
pub fn strip_bom(text: &str) -> &str {
    text.strip_prefix(BOM).unwrap_or(text)
}

/// A JSON document, refusing duplicate object keys (serde_json would keep the last one silently).
pub fn json(text: &str) -> Result<Value, DecodeError> {
    let mut de = serde_json::Deserializer::from_str(strip_bom(text));
    let value = UniqueKeys.deserialize(&mut de).map_err(json_error)?;
    de.end().map_err(json_error)?;
    Ok(value)
}

/// A JSON document from bytes: [`utf8`] then [`json`].
pub fn json_bytes(bytes: &[u8]) -> Result<Value, DecodeError> {
    json(utf8(bytes)?)
}

/// A serde_json error as a position and a message without serde_json's own " at line … column …".
pub fn json_error(err: serde_json::Error) -> DecodeError {
    let (line, column) = (err.line().max(1), err.column().max(1));
    let text = err.to_string();
    let suffix = format!(" at line {} column {}", err.line(), err.column());
    let message = text.strip_suffix(&suffix).unwrap_or(&text).to_string();
    DecodeError { line, column, message }
}

/// A YAML document deserialized into `T`, refusing duplicate mapping keys.
pub fn yaml<T: DeserializeOwned>(text: &str) -> Result<T, DecodeError> {
    let text = strip_bom(text);
    if let Some(too_deep) = yaml_flow_too_deep(text) {
        return Err(too_deep);
    }
    if let Some(duplicate) = yaml_duplicate_key(text) {
        return Err(duplicate);
    }
    yaml_serde::from_str(text).map_err(|err| {
        let (line, column) = err.location().map_or((1, 1), |l| (l.line(), l.column()));
        DecodeError { line, column, message: err.to_string() }
    })
}

/// How deep `[…]` and `{…}` may nest in YAML: as deep as the deserializer goes anyway.
const YAML_FLOW_DEPTH: usize = 128;

/// The opening bracket that nests flow collections deeper than [`YAML_FLOW_DEPTH`]. Both YAML
/// parsers take time proportional to the depth for every token in a flow collection, so 100,000
/// `[` took a minute before the deserializer's own limit could refuse them; this scan is linear.
/// It skips comments and quoted scalars, and only ever over-counts on brackets that do not
/// balance, which a valid document does not have 128 of.
fn yaml_flow_too_deep(text: &str) -> Option<DecodeError> {
    let (mut depth, mut line, mut column) = (0usize, 1usize, 0usize);
    let (mut quote, mut escaped, mut comment, mut previous) = (None, false, false, ' ');
    for c in text.chars() {
        column += 1;
        if c == '\n' {
            (line, column, comment) = (line + 1, 0, false);
        } else if comment {
        } else if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if q == '"' && c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
        } else {
            match c {
                '#' if previous.is_whitespace() => comment = true,
                '\'' | '"' if matches!(previous, '[' | '{' | ',' | ':' | ' ' | '\t' | '\n') => quote = Some(c),
                '[' | '{' => {
                    depth += 1;
                    if depth > YAML_FLOW_DEPTH {
                        return Some(DecodeError {
                            line,
                            column,
                            message: format!(
                                "collections nested more than {YAML_FLOW_DEPTH} deep (recursion limit exceeded)"
                            ),
                        });
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        previous = c;
    }
    None
}

/// The first mapping key that appears twice in its mapping. Text the YAML parser refuses has
/// none here: its syntax error is the deserializer's to report.
fn yaml_duplicate_key(text: &str) -> Option<DecodeError> {
    // A key comes first in a mapping and after each complete value; `seen` holds its keys.
    struct Mapping {
        expect_key: bool,
        seen: HashSet<String>,
    }
    // One entry per open collection: `None` for a sequence.
    let mut open: Vec<Option<Mapping>> = Vec::new();
    let node_done = |open: &mut Vec<Option<Mapping>>| {
        if let Some(Some(mapping)) = open.last_mut() {
            mapping.expect_key = !mapping.expect_key;
        }
    };
    for item in Parser::new_from_str(text) {
        let Ok((event, span)) = item else { return None };
        match event {
            Event::Scalar(value, ..) => {
                if let Some(Some(mapping)) = open.last_mut()
                    && mapping.expect_key
                    && !mapping.seen.insert(value.to_string())
                {
                    return Some(DecodeError {
                        line: span.start.line(),
                        column: span.start.col() + 1,
                        message: format!("duplicate key {}", excerpt(&value)),
                    });
                }
                node_done(&mut open);
            }
            Event::Alias(_) => node_done(&mut open),
            Event::MappingStart(..) => open.push(Some(Mapping { expect_key: true, seen: HashSet::new() })),
            Event::SequenceStart(..) => open.push(None),
            Event::MappingEnd | Event::SequenceEnd => {
                open.pop();
                node_done(&mut open);
            }
            _ => {}
        }
    }
    None
}

/// `text` quoted for an error message, cut to [`EXCERPT_CHARS`] characters with the full length
/// said, so that a 50 MB cell does not become a 50 MB message.
pub fn excerpt(text: &str) -> String {
    let total = text.chars().count();
    if total <= EXCERPT_CHARS {
        return format!("{text:?}");
    }
    let cut: String = text.chars().take(EXCERPT_CHARS).collect();
    format!("{cut:?}… ({total} characters)")
}

/// `text` cut to [`EXCERPT_CHARS`] characters, `…` marking the cut: for names (columns, keys)
/// that a message quotes with `{:?}`.
pub fn cut(text: &str) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(EXCERPT_CHARS) {
        None => std::borrow::Cow::Borrowed(text),
        Some((at, _)) => std::borrow::Cow::Owned(format!("{}…", &text[..at])),
    }
}

/// How much text a list of names in a message may take before the rest is only counted.
const LIST_BUDGET: usize = 2 * EXCERPT_CHARS;

/// `names` for a message, each [`cut`] (quoted when `quoted`), separated by `, `, stopping once
/// the list is [`LIST_BUDGET`] bytes long with how many were left out: a file or a request may
/// have thousands of columns or keys.
pub fn listed<'a>(names: impl IntoIterator<Item = &'a str>, quoted: bool) -> String {
    let mut text = String::new();
    let mut more = 0;
    for name in names {
        if text.len() >= LIST_BUDGET {
            more += 1;
            continue;
        }
        if !text.is_empty() {
            text.push_str(", ");
        }
        let name = cut(name);
        if quoted {
            text.push_str(&format!("{name:?}"));
        } else {
            text.push_str(&name);
        }
    }
    if more > 0 {
        text.push_str(&format!(", … {more} more"));
    }
    text
}

/// Builds a [`Value`] like serde_json's own, but fails on the second occurrence of a key.
struct UniqueKeys;

impl<'de> DeserializeSeed<'de> for UniqueKeys {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueKeys {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(UniqueKeys)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key {}", excerpt(&key))));
            }
            let value = access.next_value_seed(UniqueKeys)?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_errors_say_where() {
        let err = utf8(b"ab\ncd\xffe").expect_err("bad byte");
        assert_eq!((err.line, err.column), (2, 3));
        assert!(err.message.contains("byte 0xFF at byte offset 5"), "{}", err.message);
        let err = utf8(b"\xEF\xBB\xBF\xc3(").expect_err("bad byte after a BOM");
        assert!(err.message.contains("at byte offset 3"), "{}", err.message);
        assert_eq!(utf8(b"\xEF\xBB\xBFok").expect("BOM"), "ok");
        assert_eq!(utf8("é\n\u{1F600}x".as_bytes()).expect("multibyte"), "é\n\u{1F600}x");
    }

    #[test]
    fn json_refuses_duplicate_keys_at_their_position() {
        let err = json("{\n  \"a\": {\"b\": 1,\n  \"b\": 2}\n}").expect_err("duplicate");
        assert_eq!((err.line, err.column, err.message.as_str()), (3, 5, "duplicate key \"b\""));
        assert_eq!(
            json("\u{feff}{\"a\": [1, 2.5, null, true]}").expect("BOM"),
            serde_json::json!({"a": [1, 2.5, null, true]})
        );
        let err = json("{} x").expect_err("trailing");
        assert_eq!((err.line, err.column), (1, 4));
        assert_eq!(err.message, "trailing characters");
    }

    #[test]
    fn json_depth_is_bounded() {
        let deep = "[".repeat(100_000);
        let err = json(&deep).expect_err("too deep");
        assert!(err.message.contains("recursion limit exceeded"), "{}", err.message);
        // The scoring service parses bodies on tokio's worker threads (2 MiB stacks): the deepest
        // document allowed fits there, even unoptimised.
        let deepest = format!("{}1{}", "[{\"a\":".repeat(63), "}]".repeat(63));
        let parsed = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || json(&deepest).map(drop))
            .expect("thread")
            .join()
            .expect("no overflow");
        assert_eq!(parsed, Ok(()));
    }

    #[test]
    fn yaml_refuses_duplicate_keys_at_their_position() {
        let err = yaml::<yaml_serde::Value>("a: 1\nb:\n  c: 2\n  c: 3\n").expect_err("duplicate");
        assert_eq!((err.line, err.column, err.message.as_str()), (4, 3, "duplicate key \"c\""));
        // The same key in two mappings, and keys that are complex, are not duplicates.
        yaml::<yaml_serde::Value>("- a: 1\n- a: 2\n").expect("distinct mappings");
        yaml::<yaml_serde::Value>("? [x]\n: 1\n? [y]\n: 2\n").expect("complex keys");
        let value: yaml_serde::Value = yaml("\u{feff}a: {b: [1, {b: 2}]}\n").expect("BOM");
        assert!(value.get("a").is_some());
        let err =
            yaml::<yaml_serde::Value>(&format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000))).expect_err("too deep");
        assert!(err.message.contains("recursion limit exceeded"), "{}", err.message);
        assert_eq!((err.line, err.column), (1, YAML_FLOW_DEPTH + 1));
        // Quadratic in the parsers, linear here: a million brackets are refused at once.
        let started = std::time::Instant::now();
        let err = yaml::<yaml_serde::Value>(&format!("a:\n  b: {}", "{x: ".repeat(1_000_000))).expect_err("too deep");
        assert_eq!((err.line, err.column), (2, 6 + 4 * YAML_FLOW_DEPTH));
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "{:?}", started.elapsed());
        // Brackets in comments and quoted scalars do not count.
        let noise = format!("# {}\na: \"{}\"\nb: ['{}', 1]\n", "[".repeat(500), "{".repeat(500), "[".repeat(500));
        yaml::<yaml_serde::Value>(&noise).expect("brackets in comments and strings");
    }

    #[test]
    fn excerpts_are_bounded() {
        assert_eq!(excerpt("abc"), "\"abc\"");
        assert_eq!(cut("abc"), "abc");
        assert_eq!(listed(["a", "b"], true), "\"a\", \"b\"");
        let many: Vec<String> = (0..1_000).map(|i| format!("column{i}")).collect();
        let shown = listed(many.iter().map(String::as_str), false);
        assert!(shown.starts_with("column0, column1, ") && shown.ends_with(" more"), "{shown}");
        assert!(shown.len() < LIST_BUDGET + 50, "{shown}");
        assert_eq!(cut(&"é".repeat(10_000)).chars().count(), EXCERPT_CHARS + 1);
        let long = "x".repeat(50_000);
        let shown = excerpt(&long);
        assert!(shown.len() < EXCERPT_CHARS + 40 && shown.ends_with("… (50000 characters)"), "{shown}");
    }
}
