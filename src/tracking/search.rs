//! MLflow's run search grammar, evaluated on runs of the local store: the filter
//! (`metrics.mse < 3300 AND params.alpha = '0.5'`) and the orderings (`params.alpha DESC`) that
//! `POST runs/search` takes.
//!
//! The spec is MLflow's own `mlflow/utils/search_utils.py` (`SearchUtils.filter`, `SearchUtils.sort`),
//! which its file store runs; where MLflow's SQL store answers differently (LIKE is case-sensitive
//! there too: it sets `PRAGMA case_sensitive_like`), both agree with what is written here.

use super::{Run, StoreError};

/// One `<identifier> <comparator> <value>` clause; a filter is their conjunction.
#[derive(Debug, Clone, PartialEq)]
struct Clause {
    entity: Entity,
    key: String,
    comparator: Comparator,
    value: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entity {
    Metric,
    Param,
    Tag,
    Attribute,
    Dataset,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparator {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
    ILike,
    In,
    NotIn,
    IsNull,
    IsNotNull,
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Number(f64),
    Text(String),
    List(Vec<String>),
    None,
}

/// A parsed `--filter`: runs match when every clause does.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunFilter {
    clauses: Vec<Clause>,
}

/// A parsed `--order-by` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOrder {
    entity: Entity,
    key: String,
    ascending: bool,
}

const NUMERIC_ATTRIBUTES: [&str; 2] = ["start_time", "end_time"];
const STRING_ATTRIBUTES: [&str; 5] = ["run_id", "run_name", "user_id", "status", "artifact_uri"];

fn invalid(what: &'static str, text: &str, message: impl Into<String>) -> StoreError {
    StoreError::InvalidValue { what, value: text.to_string(), message: message.into() }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// A bare or dotted name, possibly with backtick- or double-quoted parts, kept as written.
    Ident(String),
    /// A single-quoted string.
    Str(String),
    Number(f64),
    Op(&'static str),
    Open,
    Close,
    Comma,
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => (tokens.push(Token::Open), i += 1).1,
            ')' => (tokens.push(Token::Close), i += 1).1,
            ',' => (tokens.push(Token::Comma), i += 1).1,
            '\'' => {
                let end = (i + 1..chars.len()).find(|&j| chars[j] == '\'').ok_or("unterminated quoted string")?;
                tokens.push(Token::Str(chars[i + 1..end].iter().collect()));
                i = end + 1;
            }
            '<' | '>' | '=' | '!' => {
                let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
                let (op, len) = match (two.as_str(), c) {
                    ("<=", _) => ("<=", 2),
                    (">=", _) => (">=", 2),
                    ("!=" | "<>", _) => ("!=", 2),
                    (_, '<') => ("<", 1),
                    (_, '>') => (">", 1),
                    (_, '=') => ("=", 1),
                    _ => return Err("'!' must be followed by '='".into()),
                };
                i += len;
                tokens.push(Token::Op(op));
            }
            c if c.is_ascii_digit() || ((c == '-' || c == '+' || c == '.') && i + 1 < chars.len()) => {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '.' | '+' | '-')) {
                    // An exponent sign belongs to the number; any other sign ends it.
                    if matches!(chars[i], '+' | '-') && !matches!(chars[i - 1], 'e' | 'E') {
                        break;
                    }
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let number = word.parse::<f64>().map_err(|_| format!("{word:?} is not a number"))?;
                tokens.push(Token::Number(number));
            }
            _ => {
                // An identifier: runs of name characters, `.`, and `…` / "…" quoted parts.
                let start = i;
                while i < chars.len() {
                    match chars[i] {
                        q @ ('`' | '"') => {
                            let end = (i + 1..chars.len())
                                .find(|&j| chars[j] == q)
                                .ok_or_else(|| format!("unterminated {q} quote"))?;
                            i = end + 1;
                        }
                        ch if ch.is_alphanumeric() || matches!(ch, '_' | '.' | ':' | '/' | '-') => i += 1,
                        _ => break,
                    }
                }
                if i == start {
                    return Err(format!("unexpected character {c:?}"));
                }
                tokens.push(Token::Ident(chars[start..i].iter().collect()));
            }
        }
    }
    Ok(tokens)
}

fn is_keyword(token: Option<&Token>, word: &str) -> bool {
    matches!(token, Some(Token::Ident(w)) if w.eq_ignore_ascii_case(word))
}

fn trim_quotes(text: &str, quote: char) -> Option<&str> {
    (text.len() >= 2 && text.starts_with(quote) && text.ends_with(quote)).then(|| &text[1..text.len() - 1])
}

/// `entity.key` as MLflow's `_get_identifier` reads it: split at the first dot; a name without a
/// dot is an attribute; backticks or quotes around either part are removed.
fn identifier(text: &str, what: &'static str) -> Result<(Entity, String), StoreError> {
    let (entity, key) = match text.split_once('.') {
        Some((entity, key)) => (trim_quotes(entity, '`').unwrap_or(entity), key),
        None => ("attribute", text),
    };
    let entity = match entity {
        "metric" | "metrics" => Entity::Metric,
        "param" | "params" | "parameter" | "parameters" => Entity::Param,
        "tag" | "tags" => Entity::Tag,
        "attribute" | "attributes" | "attr" | "run" => Entity::Attribute,
        "dataset" | "datasets" => Entity::Dataset,
        other => {
            return Err(invalid(
                what,
                text,
                format!("invalid entity type {other:?}: use metrics., params., tags., attributes. or datasets."),
            ));
        }
    };
    let key = trim_quotes(key, '\'').or_else(|| trim_quotes(key, '"')).unwrap_or(key);
    let key = trim_quotes(key, '`').unwrap_or(key);
    let key = match key {
        "created" | "Created" => "start_time",
        "run name" | "Run name" | "Run Name" => "run_name",
        key => key,
    };
    if entity == Entity::Attribute && !NUMERIC_ATTRIBUTES.contains(&key) && !STRING_ATTRIBUTES.contains(&key) {
        return Err(invalid(
            what,
            text,
            format!(
                "invalid attribute {key:?}: use one of {}",
                [&STRING_ATTRIBUTES[..], &NUMERIC_ATTRIBUTES[..]].concat().join(", ")
            ),
        ));
    }
    if entity == Entity::Dataset && !["name", "digest", "context"].contains(&key) {
        return Err(invalid(what, text, format!("invalid dataset key {key:?}: use name, digest or context")));
    }
    Ok((entity, key.to_string()))
}

impl RunFilter {
    /// Parses MLflow's filter grammar: clauses joined by AND (OR is not part of it).
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        let bad = |message: String| invalid("filter", text, message);
        let tokens = tokenize(text).map_err(bad)?;
        let mut clauses = Vec::new();
        let mut i = 0;
        while i < tokens.len() {
            if !clauses.is_empty() {
                if !is_keyword(tokens.get(i), "and") {
                    return Err(bad(format!("expected AND between clauses, found {}", describe(tokens.get(i)))));
                }
                i += 1;
            }
            let Some(Token::Ident(name)) = tokens.get(i) else {
                return Err(bad(format!(
                    "expected an identifier such as metrics.mse, found {}",
                    describe(tokens.get(i))
                )));
            };
            let (entity, key) = identifier(name, "filter")?;
            i += 1;
            let (comparator, used) = comparator(&tokens[i..])
                .ok_or_else(|| bad(format!("expected a comparison after {name}, found {}", describe(tokens.get(i)))))?;
            i += used;
            let value = match comparator {
                Comparator::IsNull | Comparator::IsNotNull => Value::None,
                Comparator::In | Comparator::NotIn => {
                    let (list, used) = list(&tokens[i..]).map_err(bad)?;
                    i += used;
                    Value::List(list)
                }
                _ => {
                    let value = match tokens.get(i) {
                        Some(Token::Number(n)) => Value::Number(*n),
                        Some(Token::Str(s)) => Value::Text(s.clone()),
                        Some(Token::Ident(s)) if trim_quotes(s, '"').is_some() => {
                            Value::Text(trim_quotes(s, '"').unwrap_or_default().to_string())
                        }
                        other => return Err(bad(format!("expected a value after {name}, found {}", describe(other)))),
                    };
                    i += 1;
                    value
                }
            };
            let clause = Clause { entity, key, comparator, value };
            check_clause(&clause).map_err(|m| bad(format!("{name}: {m}")))?;
            clauses.push(clause);
        }
        Ok(RunFilter { clauses })
    }

    /// Whether `run` satisfies every clause, as `SearchUtils._does_run_match_clause` decides.
    pub fn matches(&self, run: &Run) -> bool {
        self.clauses.iter().all(|clause| clause.matches(run))
    }
}

fn describe(token: Option<&Token>) -> String {
    match token {
        None => "the end of the filter".to_string(),
        Some(Token::Ident(s)) => format!("{s:?}"),
        Some(Token::Str(s)) => format!("'{s}'"),
        Some(Token::Number(n)) => n.to_string(),
        Some(Token::Op(op)) => format!("{op:?}"),
        Some(Token::Open) => "\"(\"".to_string(),
        Some(Token::Close) => "\")\"".to_string(),
        Some(Token::Comma) => "\",\"".to_string(),
    }
}

/// The comparator at the start of `tokens` and how many tokens it spans.
fn comparator(tokens: &[Token]) -> Option<(Comparator, usize)> {
    let word = |i: usize, w: &str| is_keyword(tokens.get(i), w);
    Some(match tokens.first()? {
        Token::Op("=") => (Comparator::Eq, 1),
        Token::Op("!=") => (Comparator::Ne, 1),
        Token::Op("<") => (Comparator::Lt, 1),
        Token::Op("<=") => (Comparator::Le, 1),
        Token::Op(">") => (Comparator::Gt, 1),
        Token::Op(">=") => (Comparator::Ge, 1),
        _ if word(0, "like") => (Comparator::Like, 1),
        _ if word(0, "ilike") => (Comparator::ILike, 1),
        _ if word(0, "in") => (Comparator::In, 1),
        _ if word(0, "not") && word(1, "in") => (Comparator::NotIn, 2),
        _ if word(0, "is") && word(1, "null") => (Comparator::IsNull, 2),
        _ if word(0, "is") && word(1, "not") && word(2, "null") => (Comparator::IsNotNull, 3),
        _ => return None,
    })
}

/// A `('a', 'b')` list and how many tokens it spans.
fn list(tokens: &[Token]) -> Result<(Vec<String>, usize), String> {
    if tokens.first() != Some(&Token::Open) {
        return Err("IN needs a parenthesised list of quoted strings, e.g. ('a', 'b')".into());
    }
    let mut values = Vec::new();
    let mut i = 1;
    loop {
        match tokens.get(i) {
            Some(Token::Str(s)) => values.push(s.clone()),
            Some(Token::Ident(s)) if trim_quotes(s, '"').is_some() => {
                values.push(trim_quotes(s, '"').unwrap_or_default().to_string())
            }
            other => return Err(format!("IN lists hold quoted strings, found {}", describe(other))),
        }
        match tokens.get(i + 1) {
            Some(Token::Comma) => i += 2,
            Some(Token::Close) => return Ok((values, i + 2)),
            other => return Err(format!("expected ',' or ')' in the IN list, found {}", describe(other))),
        }
    }
}

/// The comparators and value types MLflow allows per entity (`SearchUtils.VALID_*_COMPARATORS`).
fn check_clause(clause: &Clause) -> Result<(), &'static str> {
    use Comparator::*;
    let numeric = matches!(clause.comparator, Eq | Ne | Lt | Le | Gt | Ge);
    let stringy = matches!(clause.comparator, Eq | Ne | Like | ILike);
    let is_number = matches!(clause.value, Value::Number(_));
    let is_text = matches!(clause.value, Value::Text(_));
    match clause.entity {
        Entity::Metric if !numeric => Err("metrics take =, !=, <, <=, > or >="),
        Entity::Metric if !is_number => Err("metrics are compared with numbers"),
        Entity::Param | Entity::Tag if !(stringy || matches!(clause.comparator, IsNull | IsNotNull)) => {
            Err("params and tags take =, !=, LIKE, ILIKE, IS NULL or IS NOT NULL")
        }
        Entity::Param | Entity::Tag if stringy && !is_text => {
            Err("params and tags are compared with quoted strings (e.g. '0.5')")
        }
        Entity::Attribute | Entity::Dataset if matches!(clause.comparator, IsNull | IsNotNull) => {
            Err("IS NULL and IS NOT NULL apply to params and tags only")
        }
        Entity::Attribute if NUMERIC_ATTRIBUTES.contains(&clause.key.as_str()) => {
            if !numeric {
                Err("start_time and end_time take =, !=, <, <=, > or >=")
            } else if !is_number {
                Err("start_time and end_time are compared with numbers (milliseconds since the epoch)")
            } else {
                Ok(())
            }
        }
        Entity::Attribute | Entity::Dataset if matches!(clause.comparator, In | NotIn) => {
            if clause.entity == Entity::Attribute && clause.key != "run_id" {
                Err("only attributes.run_id takes IN and NOT IN")
            } else {
                Ok(())
            }
        }
        Entity::Attribute | Entity::Dataset if !stringy => {
            Err("string attributes take =, !=, LIKE, ILIKE, IN or NOT IN")
        }
        Entity::Attribute | Entity::Dataset if !is_text => Err("string attributes are compared with quoted strings"),
        _ => Ok(()),
    }
}

impl Clause {
    fn matches(&self, run: &Run) -> bool {
        let text = |lhs: Option<&str>| match (self.comparator, lhs) {
            (Comparator::IsNull, lhs) => lhs.is_none(),
            (Comparator::IsNotNull, lhs) => lhs.is_some(),
            (_, None) => false,
            (_, Some(lhs)) => compare_text(self.comparator, lhs, &self.value),
        };
        match self.entity {
            Entity::Metric => {
                let (Some(metric), Value::Number(value)) = (run.metrics.get(&self.key), &self.value) else {
                    return false;
                };
                compare_number(self.comparator, metric.value, *value)
            }
            Entity::Param => text(run.params.get(&self.key).map(String::as_str)),
            Entity::Tag => text(run.tags.get(&self.key).map(String::as_str)),
            Entity::Attribute => match self.key.as_str() {
                "start_time" | "end_time" => {
                    let lhs = if self.key == "start_time" { Some(run.info.start_time) } else { run.info.end_time };
                    match (lhs, &self.value) {
                        (Some(lhs), Value::Number(value)) => compare_number(self.comparator, lhs as f64, *value),
                        _ => false,
                    }
                }
                key => text(Some(string_attribute(run, key))),
            },
            Entity::Dataset => run.inputs.iter().any(|input| {
                let lhs = match self.key.as_str() {
                    "name" => &input.name,
                    "digest" => &input.digest,
                    _ => &input.context,
                };
                compare_text(self.comparator, lhs, &self.value)
            }),
        }
    }
}

fn string_attribute<'a>(run: &'a Run, key: &str) -> &'a str {
    match key {
        "run_id" => &run.info.run_id,
        "run_name" => &run.info.run_name,
        "user_id" => &run.info.user_id,
        "status" => run.info.status.as_str(),
        _ => &run.info.artifact_uri,
    }
}

fn compare_number(comparator: Comparator, lhs: f64, rhs: f64) -> bool {
    match comparator {
        Comparator::Eq => lhs == rhs,
        Comparator::Ne => lhs != rhs,
        Comparator::Lt => lhs < rhs,
        Comparator::Le => lhs <= rhs,
        Comparator::Gt => lhs > rhs,
        Comparator::Ge => lhs >= rhs,
        _ => false,
    }
}

fn compare_text(comparator: Comparator, lhs: &str, rhs: &Value) -> bool {
    match (comparator, rhs) {
        (Comparator::Eq, Value::Text(rhs)) => lhs == rhs,
        (Comparator::Ne, Value::Text(rhs)) => lhs != rhs,
        (Comparator::Like, Value::Text(rhs)) => like(lhs, rhs, false),
        (Comparator::ILike, Value::Text(rhs)) => like(lhs, rhs, true),
        (Comparator::In, Value::List(values)) => values.iter().any(|v| v == lhs),
        (Comparator::NotIn, Value::List(values)) => !values.iter().any(|v| v == lhs),
        _ => false,
    }
}

/// SQL LIKE: `%` any run of characters, `_` any one character, the rest literal.
fn like(text: &str, pattern: &str, ignore_case: bool) -> bool {
    let fold = |s: &str| if ignore_case { s.to_lowercase().chars().collect() } else { s.chars().collect::<Vec<_>>() };
    let (text, pattern) = (fold(text), fold(pattern));
    // Iterative matching with one backtrack point for the last `%` seen.
    let (mut t, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '_' || pattern[p] == text[t]) {
            t += 1;
            p += 1;
        } else if p < pattern.len() && pattern[p] == '%' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '%')
}

impl RunOrder {
    /// Parses `<identifier> [ASC|DESC]`, the identifier as in filters (backticks allowed).
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        let trimmed = text.trim();
        let (name, direction) = match trimmed.rsplit_once(char::is_whitespace) {
            Some((name, dir)) if dir.eq_ignore_ascii_case("asc") || dir.eq_ignore_ascii_case("desc") => {
                (name.trim(), Some(dir))
            }
            _ => (trimmed, None),
        };
        let tokens = tokenize(name).map_err(|m| invalid("order-by", text, m))?;
        let [Token::Ident(ident)] = tokens.as_slice() else {
            return Err(invalid(
                "order-by",
                text,
                "expected <identifier> [ASC|DESC], e.g. \"metrics.mse ASC\" or \"params.alpha DESC\"",
            ));
        };
        let (entity, key) = identifier(ident, "order-by")?;
        if entity == Entity::Dataset {
            return Err(invalid("order-by", text, "runs cannot be ordered by dataset fields"));
        }
        let ascending = !direction.is_some_and(|d| d.eq_ignore_ascii_case("desc"));
        Ok(RunOrder { entity, key, ascending })
    }
}

/// A sort value: present values compare within their type; missing and NaN values go last in
/// both directions, NaN before missing (what `SearchUtils._get_value_for_sort` and the SQL store's
/// `is_nan`/`IS NULL` clauses both give).
#[derive(Debug, PartialEq, PartialOrd)]
enum SortValue<'a> {
    Number(f64),
    Text(&'a str),
}

fn sort_value<'a>(run: &'a Run, order: &RunOrder) -> (u8, Option<SortValue<'a>>) {
    let value = match order.entity {
        Entity::Metric => run.metrics.get(&order.key).map(|m| SortValue::Number(m.value)),
        Entity::Param => run.params.get(&order.key).map(|v| SortValue::Text(v)),
        Entity::Tag => run.tags.get(&order.key).map(|v| SortValue::Text(v)),
        _ => match order.key.as_str() {
            "start_time" => Some(SortValue::Number(run.info.start_time as f64)),
            "end_time" => run.info.end_time.map(|t| SortValue::Number(t as f64)),
            key => Some(SortValue::Text(string_attribute(run, key))),
        },
    };
    match value {
        Some(SortValue::Number(n)) if n.is_nan() => (1, None),
        Some(value) => (0, Some(value)),
        None => (2, None),
    }
}

/// Sorts runs as MLflow does: newest first (ties by run id), then by each ordering, the first
/// ordering deciding most.
pub fn sort_runs(runs: &mut [Run], orders: &[RunOrder]) {
    runs.sort_by(|a, b| b.info.start_time.cmp(&a.info.start_time).then_with(|| a.info.run_id.cmp(&b.info.run_id)));
    for order in orders.iter().rev() {
        runs.sort_by(|a, b| {
            let (rank_a, value_a) = sort_value(a, order);
            let (rank_b, value_b) = sort_value(b, order);
            rank_a.cmp(&rank_b).then_with(|| {
                let ordering = value_a.partial_cmp(&value_b).unwrap_or(std::cmp::Ordering::Equal);
                if order.ascending { ordering } else { ordering.reverse() }
            })
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_matches_sql_semantics() {
        assert!(like("ridge-1", "ridge%", false));
        assert!(like("ridge-1", "%-_", false));
        assert!(!like("Ridge-1", "ridge%", false));
        assert!(like("Ridge-1", "ridge%", true));
        assert!(like("abcabc", "%bc", false));
        assert!(!like("abc", "a_", false));
        assert!(like("", "%", false));
    }

    #[test]
    fn parses_mlflow_filters() {
        let filter = RunFilter::parse(
            "metrics.mse < 3300 and params.alpha = '0.5' AND tags.`mlflow.runName` LIKE 'r%' and attributes.status != \"FAILED\"",
        )
        .expect("parse");
        assert_eq!(filter.clauses.len(), 4);
        assert_eq!(filter.clauses[2].key, "mlflow.runName");
        assert_eq!(filter.clauses[3].value, Value::Text("FAILED".into()));
        let filter = RunFilter::parse("tags.mlflow.parentRunId IS NULL AND run_id IN ('a', 'b')").expect("parse");
        assert_eq!(filter.clauses[0].key, "mlflow.parentRunId");
        assert_eq!(filter.clauses[0].comparator, Comparator::IsNull);
        assert_eq!(filter.clauses[1].value, Value::List(vec!["a".into(), "b".into()]));
        assert!(RunFilter::parse("metrics.mse >= -1.5e3").is_ok());
    }

    #[test]
    fn rejects_what_mlflow_rejects() {
        for bad in [
            "metrics.mse < 1 OR metrics.mse > 2",
            "params.alpha = 0.5",
            "metrics.mse LIKE '1%'",
            "foo.bar = 'x'",
            "attributes.colour = 'red'",
            "metrics.mse <",
            "params.alpha = 'unterminated",
            "attributes.run_name IN ('a')",
        ] {
            assert!(RunFilter::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn parses_orderings() {
        let order = RunOrder::parse("params.alpha DESC").expect("parse");
        assert_eq!((order.entity, order.key.as_str(), order.ascending), (Entity::Param, "alpha", false));
        let order = RunOrder::parse("`metrics`.`mse`").expect("parse");
        assert_eq!((order.entity, order.key.as_str(), order.ascending), (Entity::Metric, "mse", true));
        assert_eq!(RunOrder::parse("created desc").expect("parse").key, "start_time");
        assert!(RunOrder::parse("metrics.mse SIDEWAYS").is_err());
    }
}
