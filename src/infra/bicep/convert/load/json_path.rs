//! The JSONPath subset of `loadJsonContent` and `loadYamlContent` path arguments, with the
//! semantics of Newtonsoft's `SelectTokens(path, errorWhenNoMatch: false)`: an optional `$`,
//! `.name`, `['name']`, `[n]`, `[*]` and `.*`, and filters `[?(@.a.b <op> literal)]` (or
//! `[?(@.a)]`, the property exists) over an array's elements. Anything else (recursive descent,
//! slices, unions, script expressions, `&&`/`||`) is refused as unsupported rather than guessed.

use serde_json::Value;

/// Why a path selected nothing usable.
#[derive(Debug, PartialEq)]
pub enum Refusal {
    /// The official compiler rejects it too.
    Invalid(String),
    Unsupported(&'static str),
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Name(String),
    Index(usize),
    Wildcard,
    Filter(Filter),
}

#[derive(Debug, Clone, PartialEq)]
struct Filter {
    path: Vec<String>,
    /// `None`: the property exists.
    test: Option<(Op, Value)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// The values `path` selects in `root`, in document order.
pub fn select(root: &Value, path: &str) -> Result<Vec<Value>, Refusal> {
    let steps = parse(path)?;
    let mut current = vec![root];
    for step in &steps {
        let mut next = Vec::new();
        for value in current {
            match (step, value) {
                (Step::Name(name), Value::Object(map)) => next.extend(map.get(name)),
                (Step::Index(i), Value::Array(items)) => next.extend(items.get(*i)),
                (Step::Wildcard, Value::Array(items)) => next.extend(items.iter()),
                (Step::Wildcard, Value::Object(map)) => next.extend(map.values()),
                (Step::Filter(filter), Value::Array(items)) => {
                    for item in items {
                        if filter.matches(item)? {
                            next.push(item);
                        }
                    }
                }
                (Step::Filter(_), Value::Object(_)) => {
                    return Err(Refusal::Unsupported("a JSONPath filter over an object's properties"));
                }
                _ => {}
            }
        }
        current = next;
    }
    Ok(current.into_iter().cloned().collect())
}

impl Filter {
    fn matches(&self, item: &Value) -> Result<bool, Refusal> {
        let mut value = item;
        for name in &self.path {
            match value.get(name) {
                Some(v) => value = v,
                None => return Ok(false),
            }
        }
        let Some((op, literal)) = &self.test else { return Ok(true) };
        match (value, literal) {
            (Value::Number(a), Value::Number(b)) => {
                let (Some(a), Some(b)) = (a.as_f64(), b.as_f64()) else {
                    return Err(Refusal::Unsupported("a JSONPath comparison of numbers out of range"));
                };
                Ok(match op {
                    Op::Eq => a == b,
                    Op::Ne => a != b,
                    Op::Lt => a < b,
                    Op::Le => a <= b,
                    Op::Gt => a > b,
                    Op::Ge => a >= b,
                })
            }
            (a, b) if std::mem::discriminant(a) == std::mem::discriminant(b) && matches!(op, Op::Eq | Op::Ne) => {
                Ok((a == b) == (*op == Op::Eq))
            }
            _ => Err(Refusal::Unsupported("a JSONPath comparison other than of numbers, or equality of like values")),
        }
    }
}

fn parse(path: &str) -> Result<Vec<Step>, Refusal> {
    let chars: Vec<char> = path.trim().chars().collect();
    let mut i = 0;
    if chars.first() == Some(&'$') {
        i = 1;
    }
    let mut steps = Vec::new();
    while i < chars.len() {
        match chars[i] {
            '.' => {
                i += 1;
                if chars.get(i) == Some(&'.') {
                    return Err(Refusal::Unsupported("recursive descent ('..') in a JSONPath"));
                }
                if chars.get(i) == Some(&'*') {
                    steps.push(Step::Wildcard);
                    i += 1;
                    continue;
                }
                let start = i;
                while i < chars.len() && !matches!(chars[i], '.' | '[' | ']' | '(' | ')' | ' ' | '\'' | '"') {
                    i += 1;
                }
                if i == start {
                    return Err(Refusal::Invalid("has an empty property name".into()));
                }
                steps.push(Step::Name(chars[start..i].iter().collect()));
            }
            '[' => {
                let close = find_close(&chars, i).ok_or_else(|| Refusal::Invalid("has an unclosed '['".into()))?;
                let inner: String = chars[i + 1..close].iter().collect();
                steps.push(bracket(inner.trim())?);
                i = close + 1;
            }
            _ if steps.is_empty() && i == 0 => {
                // A leading name without '.' or '$' (`name.other`).
                let start = i;
                while i < chars.len() && !matches!(chars[i], '.' | '[') {
                    i += 1;
                }
                steps.push(Step::Name(chars[start..i].iter().collect()));
            }
            c => return Err(Refusal::Invalid(format!("has an unexpected '{c}'"))),
        }
    }
    Ok(steps)
}

/// The `]` that closes the `[` at `open`, skipping quoted text.
fn find_close(chars: &[char], open: usize) -> Option<usize> {
    let mut quote = None;
    for (j, &c) in chars.iter().enumerate().skip(open + 1) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, ']') => return Some(j),
            _ => {}
        }
    }
    None
}

fn bracket(inner: &str) -> Result<Step, Refusal> {
    if inner == "*" {
        return Ok(Step::Wildcard);
    }
    if let Some(name) = quoted(inner) {
        return Ok(Step::Name(name));
    }
    if !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit()) {
        return inner.parse().map(Step::Index).map_err(|_| Refusal::Invalid("has an index out of range".into()));
    }
    if let Some(expression) = inner.strip_prefix("?(").and_then(|e| e.strip_suffix(')')) {
        return filter(expression.trim()).map(Step::Filter);
    }
    if inner.contains([':', ',']) || inner.starts_with('-') {
        return Err(Refusal::Unsupported("a JSONPath slice, union or negative index"));
    }
    if inner.starts_with('(') || inner.starts_with('?') {
        return Err(Refusal::Unsupported("a JSONPath script expression"));
    }
    Err(Refusal::Invalid(format!("has an unreadable '[{inner}]'")))
}

fn quoted(text: &str) -> Option<String> {
    let q = text.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let body = text.strip_prefix(q)?.strip_suffix(q)?;
    (!body.contains(q) && !body.contains('\\')).then(|| body.to_string())
}

fn filter(expression: &str) -> Result<Filter, Refusal> {
    if expression.contains("&&") || expression.contains("||") {
        return Err(Refusal::Unsupported("'&&' or '||' in a JSONPath filter"));
    }
    let Some(rest) = expression.strip_prefix('@') else {
        return Err(Refusal::Unsupported("a JSONPath filter that does not start with '@'"));
    };
    let ops = [("==", Op::Eq), ("!=", Op::Ne), ("<=", Op::Le), (">=", Op::Ge), ("<", Op::Lt), (">", Op::Gt)];
    let found = ops.iter().filter_map(|(text, op)| rest.find(text).map(|at| (at, *text, *op))).min_by_key(|f| f.0);
    let (left, test) = match found {
        Some((at, text, op)) => (&rest[..at], Some((op, literal(rest[at + text.len()..].trim())?))),
        None => (rest, None),
    };
    let mut path = Vec::new();
    for step in parse(left.trim())? {
        match step {
            Step::Name(n) => path.push(n),
            _ => return Err(Refusal::Unsupported("a JSONPath filter path with more than property names")),
        }
    }
    Ok(Filter { path, test })
}

fn literal(text: &str) -> Result<Value, Refusal> {
    if let Some(s) = quoted(text) {
        return Ok(Value::String(s));
    }
    match text {
        "true" => Ok(Value::Bool(true)),
        "false" => Ok(Value::Bool(false)),
        "null" => Ok(Value::Null),
        _ => match serde_json::from_str::<Value>(text) {
            Ok(n @ Value::Number(_)) => Ok(n),
            _ => Err(Refusal::Unsupported("a JSONPath filter value other than a number, string, boolean or null")),
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn paths_select_as_newtonsoft_selects() {
        let doc = json!({"string": "s", "array": [1, 2], "object": {"nested": "n"},
                         "products": [{"name": "pizza", "price": 5.0}, {"name": "salad", "price": 3.99},
                                      {"name": "bread", "price": 2.0}]});
        assert_eq!(select(&doc, ".string"), Ok(vec![json!("s")]));
        assert_eq!(select(&doc, "$.array[1]"), Ok(vec![json!(2)]));
        assert_eq!(select(&doc, "object.nested"), Ok(vec![json!("n")]));
        assert_eq!(select(&doc, "$['object']['nested']"), Ok(vec![json!("n")]));
        assert_eq!(select(&doc, ".array[*]"), Ok(vec![json!(1), json!(2)]));
        assert_eq!(select(&doc, ".products[?(@.price > 3)].name"), Ok(vec![json!("pizza"), json!("salad")]));
        assert_eq!(select(&doc, ".products[?(@.name == 'bread')].price"), Ok(vec![json!(2.0)]));
        assert_eq!(select(&doc, ".missing"), Ok(vec![]));
        assert_eq!(select(&doc, "$"), Ok(vec![doc.clone()]));
    }

    #[test]
    fn what_is_not_modelled_is_refused() {
        let doc = json!({"a": [1]});
        for path in ["$..a", ".a[0:1]", ".a[0,1]", ".a[?(@.x > 1 && @.y < 2)]", ".a[(@.length-1)]"] {
            assert!(matches!(select(&doc, path), Err(Refusal::Unsupported(_))), "{path}");
        }
        assert!(matches!(select(&doc, ".a[0"), Err(Refusal::Invalid(_))));
    }
}
