//! ARM template expressions (`[fn(args).prop]`) as a small tree, and their text form.

use serde_json::Value;

/// One ARM template language expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Arm {
    Str(String),
    Int(i64),
    Bool(bool),
    Null,
    Call(String, Vec<Arm>),
    /// `base.name` or `base[index]`; the serializer picks the form.
    Access(Box<Arm>, Box<Arm>),
}

impl Arm {
    pub fn call(name: &str, args: Vec<Arm>) -> Arm {
        Arm::Call(name.to_string(), args)
    }

    pub fn str(s: impl Into<String>) -> Arm {
        Arm::Str(s.into())
    }

    pub fn prop(self, name: &str) -> Arm {
        Arm::Access(Box::new(self), Box::new(Arm::str(name)))
    }

    pub fn index(self, index: Arm) -> Arm {
        Arm::Access(Box::new(self), Box::new(index))
    }

    /// The expression text without the surrounding brackets.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Arm::Str(s) => {
                out.push('\'');
                out.push_str(&s.replace('\'', "''"));
                out.push('\'');
            }
            Arm::Int(n) => out.push_str(&n.to_string()),
            Arm::Bool(b) => out.push_str(if *b { "true()" } else { "false()" }),
            Arm::Null => out.push_str("null()"),
            Arm::Call(name, args) => {
                out.push_str(name);
                out.push('(');
                for (i, arg) in args.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    arg.write(out);
                }
                out.push(')');
            }
            Arm::Access(base, index) => {
                base.write(out);
                match index.as_ref() {
                    Arm::Str(name) if is_identifier(name) => {
                        out.push('.');
                        out.push_str(name);
                    }
                    other => {
                        out.push('[');
                        other.write(out);
                        out.push(']');
                    }
                }
            }
        }
    }

    /// The JSON value that stands for this expression in a template: literals stay JSON,
    /// everything else becomes a `"[...]"` string.
    pub fn to_json(&self) -> Value {
        match self {
            Arm::Str(s) => json_string(s),
            Arm::Int(n) => Value::from(*n),
            Arm::Bool(b) => Value::Bool(*b),
            Arm::Null => Value::Null,
            other => Value::String(format!("[{}]", other.to_text())),
        }
    }
}

/// A literal string as a template value: one that ARM would read as an expression (`[...]`)
/// gets its leading `[` doubled.
pub fn json_string(s: &str) -> Value {
    if s.starts_with('[') && s.ends_with(']') { Value::String(format!("[{s}")) } else { Value::String(s.to_string()) }
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_like_arm() {
        let e = Arm::call(
            "reference",
            vec![Arm::call("resourceId", vec![Arm::str("A/b"), Arm::str("it's")]), Arm::str("2020")],
        )
        .prop("x")
        .prop("a-b")
        .index(Arm::Int(0));
        assert_eq!(e.to_text(), "reference(resourceId('A/b', 'it''s'), '2020').x['a-b'][0]");
        assert_eq!(Arm::str("[x]").to_json(), Value::from("[[x]"));
        assert_eq!(Arm::Bool(true).to_text(), "true()");
    }
}
