//! The part of the ARM template language the stand-in evaluates: enough to name resources, fill
//! defaults and compute outputs (parameters, variables, format, concat, toLower/toUpper, take,
//! replace, uniqueString, resourceGroup, subscription, deployment, resourceId, string, length).
//! Anything else is reported as unsupported instead of guessed.

use serde_json::{Map, Value, json};
use sha2::Digest as _;

pub struct Context<'a> {
    pub parameters: &'a Map<String, Value>,
    pub variables: &'a Map<String, Value>,
    pub subscription: &'a str,
    /// `(name, location)` at resource-group scope.
    pub group: Option<(&'a str, &'a str)>,
    pub deployment: &'a str,
    pub location: &'a str,
}

/// Evaluates every `[...]` string inside a JSON value.
pub fn eval_value(ctx: &Context, value: &Value) -> Result<Value, String> {
    match value {
        Value::String(s) if s.starts_with("[[") => Ok(Value::String(s[1..].to_string())),
        Value::String(s) if s.starts_with('[') && s.ends_with(']') => eval(ctx, &s[1..s.len() - 1]),
        Value::Array(items) => items.iter().map(|v| eval_value(ctx, v)).collect::<Result<_, _>>().map(Value::Array),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| Ok((k.clone(), eval_value(ctx, v)?)))
            .collect::<Result<Map<_, _>, String>>()
            .map(Value::Object),
        other => Ok(other.clone()),
    }
}

pub fn eval(ctx: &Context, text: &str) -> Result<Value, String> {
    let mut parser = Parser { chars: text.chars().collect(), pos: 0 };
    let value = parser.expression(ctx)?;
    parser.skip_ws();
    if parser.pos != parser.chars.len() {
        return Err(format!("unexpected text at {} in [{text}]", parser.pos));
    }
    Ok(value)
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn skip_ws(&mut self) {
        while self.chars.get(self.pos).is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!("expected '{c}' at {}", self.pos))
        }
    }

    fn expression(&mut self, ctx: &Context) -> Result<Value, String> {
        self.skip_ws();
        let mut value = match self.peek() {
            Some('\'') => self.string()?,
            Some(c) if c.is_ascii_digit() || c == '-' => self.number()?,
            Some(c) if c.is_alphabetic() => {
                let name = self.identifier();
                self.expect('(')?;
                let mut args = Vec::new();
                self.skip_ws();
                if self.peek() == Some(')') {
                    self.pos += 1;
                } else {
                    loop {
                        args.push(self.expression(ctx)?);
                        self.skip_ws();
                        match self.peek() {
                            Some(',') => self.pos += 1,
                            Some(')') => {
                                self.pos += 1;
                                break;
                            }
                            _ => return Err(format!("expected ',' or ')' at {}", self.pos)),
                        }
                    }
                }
                call(ctx, &name, &args)?
            }
            other => return Err(format!("unexpected {other:?} at {}", self.pos)),
        };
        loop {
            self.skip_ws();
            match self.peek() {
                Some('.') => {
                    self.pos += 1;
                    let key = self.identifier();
                    value = value.get(&key).cloned().ok_or_else(|| format!("property '{key}' does not exist"))?;
                }
                Some('[') => {
                    self.pos += 1;
                    let index = self.expression(ctx)?;
                    self.expect(']')?;
                    value = match (&value, &index) {
                        (Value::Array(a), Value::Number(n)) => {
                            a.get(n.as_u64().unwrap_or(u64::MAX) as usize).cloned().ok_or("index out of range")?
                        }
                        (Value::Object(o), Value::String(k)) => {
                            o.get(k).cloned().ok_or_else(|| format!("property '{k}' does not exist"))?
                        }
                        _ => return Err("bad index".to_string()),
                    };
                }
                _ => return Ok(value),
            }
        }
    }

    fn identifier(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_alphanumeric() || c == '_') {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    fn string(&mut self) -> Result<Value, String> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err("unterminated string".to_string()),
                Some('\'') if self.chars.get(self.pos + 1) == Some(&'\'') => {
                    out.push('\'');
                    self.pos += 2;
                }
                Some('\'') => {
                    self.pos += 1;
                    return Ok(Value::String(out));
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.pos;
        self.pos += 1;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        text.parse::<i64>().map(Value::from).map_err(|e| e.to_string())
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn call(ctx: &Context, name: &str, args: &[Value]) -> Result<Value, String> {
    let arg = |i: usize| args.get(i).ok_or_else(|| format!("{name}() needs more arguments"));
    match name.to_ascii_lowercase().as_str() {
        "parameters" => {
            let key = text(arg(0)?);
            ctx.parameters
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(&key))
                .map(|(_, v)| v.clone())
                .ok_or_else(|| format!("The template parameter '{key}' is not found."))
        }
        "variables" => {
            let key = text(arg(0)?);
            let raw = ctx
                .variables
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(&key))
                .map(|(_, v)| v.clone())
                .ok_or_else(|| format!("The template variable '{key}' is not found."))?;
            eval_value(ctx, &raw)
        }
        "concat" => {
            if args.iter().all(Value::is_array) {
                Ok(Value::Array(args.iter().flat_map(|a| a.as_array().cloned().unwrap_or_default()).collect()))
            } else {
                Ok(Value::String(args.iter().map(text).collect()))
            }
        }
        "format" => {
            let mut out = text(arg(0)?);
            for (i, a) in args.iter().enumerate().skip(1) {
                out = out.replace(&format!("{{{}}}", i - 1), &text(a));
            }
            Ok(Value::String(out.replace("{{", "{").replace("}}", "}")))
        }
        "tolower" => Ok(Value::String(text(arg(0)?).to_lowercase())),
        "toupper" => Ok(Value::String(text(arg(0)?).to_uppercase())),
        "string" => Ok(Value::String(text(arg(0)?))),
        "length" => Ok(match arg(0)? {
            Value::Array(a) => json!(a.len()),
            Value::Object(o) => json!(o.len()),
            other => json!(text(other).chars().count()),
        }),
        "take" => {
            let n = arg(1)?.as_u64().ok_or("take() needs a count")? as usize;
            Ok(match arg(0)? {
                Value::Array(a) => Value::Array(a.iter().take(n).cloned().collect()),
                other => Value::String(text(other).chars().take(n).collect()),
            })
        }
        "replace" => Ok(Value::String(text(arg(0)?).replace(&text(arg(1)?), &text(arg(2)?)))),
        "uniquestring" => {
            let joined = args.iter().map(text).collect::<Vec<_>>().join("-");
            let digest = sha2::Sha256::digest(joined.as_bytes());
            const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
            Ok(Value::String(digest.iter().take(13).map(|b| ALPHABET[(*b as usize) % 32] as char).collect()))
        }
        "resourcegroup" => {
            let (group, location) = ctx.group.ok_or("resourceGroup() is not available at subscription scope")?;
            Ok(
                json!({"id": format!("/subscriptions/{}/resourceGroups/{group}", ctx.subscription), "name": group, "location": location, "type": "Microsoft.Resources/resourceGroups", "properties": {"provisioningState": "Succeeded"}}),
            )
        }
        "subscription" => Ok(
            json!({"id": format!("/subscriptions/{}", ctx.subscription), "subscriptionId": ctx.subscription, "tenantId": super::TENANT, "displayName": "stand-in subscription"}),
        ),
        "deployment" => Ok(json!({"name": ctx.deployment, "properties": {}, "location": ctx.location})),
        "resourceid" => {
            let strings: Vec<String> = args.iter().map(text).collect();
            let type_index =
                strings.iter().position(|s| s.contains('/')).ok_or("resourceId() needs a resource type")?;
            let ty = &strings[type_index];
            let names = &strings[type_index + 1..];
            let mut segments = ty.split('/');
            let namespace = segments.next().unwrap_or_default();
            let mut path = format!("providers/{namespace}");
            for (t, n) in segments.zip(names.iter()) {
                path.push_str(&format!("/{t}/{n}"));
            }
            let scope = match (type_index, ctx.group) {
                (2, _) => format!("/subscriptions/{}/resourceGroups/{}", strings[0], strings[1]),
                (1, _) => format!("/subscriptions/{}/resourceGroups/{}", ctx.subscription, strings[0]),
                (_, Some((group, _))) => {
                    format!("/subscriptions/{}/resourceGroups/{group}", ctx.subscription)
                }
                (_, None) => format!("/subscriptions/{}", ctx.subscription),
            };
            Ok(Value::String(format!("{scope}/{path}")))
        }
        "true" => Ok(Value::Bool(true)),
        "false" => Ok(Value::Bool(false)),
        other => Err(format!("The template function '{other}' is not supported by the stand-in.")),
    }
}
