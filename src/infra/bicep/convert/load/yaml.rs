//! `loadYamlContent`'s YAML: the first document, read into the JSON the official compiler makes
//! of it (SharpYaml's untyped objects, then Newtonsoft). Plain scalars are typed by YAML's core
//! schema (`yaml_serde`). What the two readers might type differently is refused rather than
//! guessed: anchors, aliases, tags and merge keys, the YAML 1.1 booleans (`yes`, `no`, `on`,
//! `off`, `y`, `n`), fractional numbers, non-string keys and integers beyond 64 bits.

use serde_json::{Map, Value};

#[derive(Debug)]
pub enum Refusal {
    Invalid(String),
    Unsupported(&'static str),
}

pub fn to_json(text: &str) -> Result<Value, Refusal> {
    if uses_node_properties(text) {
        return Err(Refusal::Unsupported("a YAML anchor, alias, tag or merge key in 'loadYamlContent'"));
    }
    let value: yaml_serde::Value = yaml_serde::from_str(text).map_err(|e| {
        let message = e.to_string();
        if message.contains("more than one document") {
            Refusal::Unsupported("a YAML file with more than one document in 'loadYamlContent'")
        } else {
            Refusal::Invalid(message)
        }
    })?;
    if value.is_null() {
        return Err(Refusal::Invalid("the file holds no YAML value".into()));
    }
    convert(&value)
}

fn convert(value: &yaml_serde::Value) -> Result<Value, Refusal> {
    use yaml_serde::Value as Y;
    Ok(match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(*b),
        Y::Number(n) => match n.as_i64() {
            Some(i) => Value::from(i),
            None => return Err(Refusal::Unsupported("a fractional or 64-bit-overflowing number in 'loadYamlContent'")),
        },
        Y::String(s) => {
            if ["y", "yes", "n", "no", "on", "off"].iter().any(|w| s.eq_ignore_ascii_case(w)) {
                return Err(Refusal::Unsupported(
                    "a YAML 1.1 boolean word (yes, no, on, off, y, n) in 'loadYamlContent'",
                ));
            }
            Value::String(s.clone())
        }
        Y::Sequence(items) => Value::Array(items.iter().map(convert).collect::<Result<_, _>>()?),
        Y::Mapping(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let Y::String(key) = k else {
                    return Err(Refusal::Unsupported("a YAML mapping key that is not a string in 'loadYamlContent'"));
                };
                out.insert(key.clone(), convert(v)?);
            }
            Value::Object(out)
        }
        Y::Tagged(_) => return Err(Refusal::Unsupported("a YAML tag in 'loadYamlContent'")),
    })
}

/// Whether a node property (`&anchor`, `*alias`, `!tag`) or a merge key (`<<`) starts a node:
/// at the start of a line's content or after `- `, `: `, `[`, `{` or `,`. May also match inside
/// a quoted string, which only refuses more than needed.
fn uses_node_properties(text: &str) -> bool {
    text.lines().any(|line| {
        let content = line.trim_start();
        if content.starts_with('#') {
            return false;
        }
        let starts = |s: &str| s.starts_with(['&', '*', '!']) || s.starts_with("<<");
        if starts(content) {
            return true;
        }
        ["- ", ": ", "[", "{", ","].iter().any(|sep| content.split(sep).skip(1).any(|after| starts(after.trim_start())))
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn documents_read_as_the_official_compiler_reads_them() {
        let text = "string: someVal \nint: 123\nbool: true\narrayInt:\n- 1\n- 2\nobject:\n  nestedBool : true\n  quoted: 'x: y'\n";
        assert_eq!(
            to_json(text).expect("reads"),
            json!({"string": "someVal", "int": 123, "bool": true, "arrayInt": [1, 2],
                   "object": {"nestedBool": true, "quoted": "x: y"}})
        );
    }

    #[test]
    fn what_the_readers_may_type_differently_is_refused() {
        for text in
            ["a: &x 1\nb: *x\n", "a: !!str 1\n", "a: yes\n", "a: 1.5\n", "1: a\n", "<<: {a: 1}\n", "a: 1\n---\nb: 2\n"]
        {
            assert!(matches!(to_json(text), Err(Refusal::Unsupported(_))), "{text:?}");
        }
        assert!(matches!(to_json(""), Err(Refusal::Invalid(_))));
        assert!(matches!(to_json("a: [1\n"), Err(Refusal::Invalid(_))));
    }
}
