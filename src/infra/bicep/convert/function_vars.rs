//! The `$fxv#N` variables: `bicep build` hoists a `loadTextContent` or `loadFileAsBase64` call that
//! is not the whole value of a `var`, and every `loadJsonContent`, `loadYamlContent` and
//! `loadDirectoryFileInfo` call, into a variable of its own
//! (`FunctionVariableGeneratorVisitor`), numbered in the order the calls appear in the file, and
//! writes `variables('$fxv#N')` at the call.

use crate::infra::bicep::ast::*;

/// The functions hoisted when they are not assigned directly to a variable
/// (`FunctionFlags.GenerateIntermediateVariableOnIndirectAssignment`).
const HOISTED: [&str; 2] = ["loadTextContent", "loadFileAsBase64"];
/// The functions hoisted wherever they are (`FunctionFlags.GenerateIntermediateVariableAlways`).
const ALWAYS_HOISTED: [&str; 3] = ["loadJsonContent", "loadYamlContent", "loadDirectoryFileInfo"];

/// One hoisted call.
#[derive(Debug, Clone)]
pub struct HoistedCall {
    pub function: String,
    /// Where the function name starts: identifies the call when it is compiled.
    pub start: usize,
    pub args: Vec<Expr>,
}

/// The hoisted calls of a file in document order: the `N` of `$fxv#N` is the position here.
pub fn collect(stmts: &[Stmt]) -> Vec<HoistedCall> {
    let mut out = Vec::new();
    for stmt in stmts {
        match stmt {
            Stmt::TargetScope(e) => expr(e, &mut out),
            Stmt::Metadata(m) => expr(&m.value, &mut out),
            // A `load*` call in a function body is refused where the body is converted.
            Stmt::Import(_) | Stmt::Func(_) => {}
            Stmt::Type(t) => decorators(&t.decorators, &mut out),
            Stmt::Param(p) => {
                decorators(&p.decorators, &mut out);
                if let Some(d) = &p.default {
                    expr(d, &mut out);
                }
            }
            Stmt::Var(v) => {
                decorators(&v.decorators, &mut out);
                // The one place a call stays inline: the whole value of a variable.
                match &v.value.kind {
                    ExprKind::Call { name, .. } if ALWAYS_HOISTED.contains(&name.as_str()) => expr(&v.value, &mut out),
                    ExprKind::Call { args, .. } => args.iter().for_each(|a| expr(a, &mut out)),
                    ExprKind::MethodCall { base, args, .. } => {
                        expr(base, &mut out);
                        args.iter().for_each(|a| expr(a, &mut out));
                    }
                    _ => expr(&v.value, &mut out),
                }
            }
            Stmt::Resource(r) => resource(r, &mut out),
            Stmt::Module(m) => {
                decorators(&m.decorators, &mut out);
                expr(&m.value, &mut out);
            }
            Stmt::Output(o) => {
                decorators(&o.decorators, &mut out);
                expr(&o.value, &mut out);
            }
        }
    }
    out
}

type Found = Vec<HoistedCall>;

fn resource(r: &ResourceDecl, out: &mut Found) {
    decorators(&r.decorators, out);
    expr(&r.value, out);
}

fn decorators(ds: &[Decorator], out: &mut Found) {
    for d in ds {
        d.args.iter().for_each(|a| expr(a, out));
    }
}

/// Pre-order, as the official visitor goes: a call before its arguments.
fn expr(e: &Expr, out: &mut Found) {
    match &e.kind {
        ExprKind::Str(_) | ExprKind::Int(_) | ExprKind::Bool(_) | ExprKind::Null | ExprKind::Ident(_) => {}
        ExprKind::Interp { holes, .. } => holes.iter().for_each(|h| expr(h, out)),
        ExprKind::Object(items) => {
            for item in items {
                match item {
                    ObjItem::Prop(p) => {
                        if let Some(k) = &p.key_expr {
                            expr(k, out);
                        }
                        expr(&p.value, out);
                    }
                    ObjItem::Resource(r) => resource(r, out),
                }
            }
        }
        ExprKind::Array(items) => items.iter().for_each(|i| expr(i, out)),
        ExprKind::For(f) => {
            expr(&f.collection, out);
            expr(&f.body, out);
        }
        ExprKind::If { cond, body } => {
            expr(cond, out);
            expr(body, out);
        }
        ExprKind::Call { name, name_span, args } => {
            hoist(name, name_span.start, args, out);
            args.iter().for_each(|a| expr(a, out));
        }
        ExprKind::MethodCall { base, name, name_span, args } => {
            if matches!(&base.kind, ExprKind::Ident(ns) if ns == "sys") {
                hoist(name, name_span.start, args, out);
            }
            expr(base, out);
            args.iter().for_each(|a| expr(a, out));
        }
        ExprKind::Member { base, .. } | ExprKind::Child { base, .. } => expr(base, out),
        ExprKind::Index { base, index } => {
            expr(base, out);
            expr(index, out);
        }
        ExprKind::Unary { operand, .. } => expr(operand, out),
        ExprKind::Lambda { body, .. } => expr(body, out),
        ExprKind::Binary { lhs, rhs, .. } => {
            expr(lhs, out);
            expr(rhs, out);
        }
        ExprKind::Ternary { cond, then, other } => {
            expr(cond, out);
            expr(then, out);
            expr(other, out);
        }
        ExprKind::Paren(inner) => expr(inner, out),
    }
}

fn hoist(name: &str, start: usize, args: &[Expr], out: &mut Found) {
    if HOISTED.contains(&name) || ALWAYS_HOISTED.contains(&name) {
        out.push(HoistedCall { function: name.to_string(), start, args: args.to_vec() });
    }
}

/// The name of the `n`th hoisted call.
pub fn name(n: usize) -> String {
    format!("$fxv#{n}")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::infra::bicep::compile_str;

    fn compile(dir: &Path, text: &str) -> serde_json::Value {
        compile_str(&dir.join("main.bicep"), text).expect("compiles")
    }

    #[test]
    fn loads_inside_expressions_become_numbered_variables_and_direct_ones_stay_inline() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a.txt"), "A").expect("write");
        std::fs::write(dir.path().join("b.txt"), "[B]").expect("write");
        let t = compile(
            dir.path(),
            "var direct = loadTextContent('a.txt')\nvar wrapped = replace(loadTextContent('a.txt'), 'A', 'x')\n\
             output o string = loadTextContent('b.txt')\noutput d string = direct\noutput w string = wrapped\n",
        );
        let vars = t["variables"].as_object().expect("variables");
        let keys: Vec<&str> = vars.keys().map(String::as_str).collect();
        assert_eq!(keys, ["$fxv#0", "$fxv#1", "direct", "wrapped"]);
        assert_eq!(vars["$fxv#0"], "A");
        assert_eq!(vars["$fxv#1"], "[[B]");
        assert_eq!(vars["direct"], "A");
        assert_eq!(vars["wrapped"], "[replace(variables('$fxv#0'), 'A', 'x')]");
        assert_eq!(t["outputs"]["o"]["value"], "[variables('$fxv#1')]");
    }

    #[test]
    fn load_json_content_is_always_a_variable_with_expression_strings_escaped() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("t.json"), r#"{"a": "[x]", "n": 1, "l": [true, null]}"#).expect("write");
        std::fs::write(dir.path().join("f.json"), r#"{"f": 1.5}"#).expect("write");
        let t = compile(
            dir.path(),
            "var whole = loadJsonContent('t.json')\noutput o object = whole\noutput a string = loadJsonContent('t.json').a\n",
        );
        let vars = t["variables"].as_object().expect("variables");
        assert_eq!(vars["$fxv#0"], serde_json::json!({"a": "[[x]", "n": 1, "l": [true, null]}));
        assert_eq!(vars["whole"], "[variables('$fxv#0')]");
        assert_eq!(t["outputs"]["a"]["value"], "[variables('$fxv#1').a]");
        let err = compile_str(&dir.path().join("main.bicep"), "output o object = loadJsonContent('f.json')\n")
            .expect_err("a fractional number is refused")
            .to_string();
        assert!(err.contains("unsupported: a fractional number"), "{err}");
    }

    #[test]
    fn a_file_without_hoisted_loads_has_no_function_variables() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = compile(dir.path(), "var x = 1\noutput o int = x\n");
        assert_eq!(t["variables"].as_object().expect("variables").len(), 1);
    }
}
