//! The pipeline file: its schema, and the checks that run before anything else does.
//!
//! ```yaml
//! name: diabetes-train
//! parameters:
//!   alpha: {default: 0.4, description: Ridge regularisation strength}
//!   model_name: diabetes-model          # shorthand for {default: diabetes-model}
//!   data_path: {type: data, default: data/diabetes.csv}   # a file: a uri_file input in Azure ML
//! steps:
//!   - name: train
//!     run: [train, --alpha, "${{ parameters.alpha }}"]
//!     outputs: [run_id, metrics.mse]     # key outputs shown in the summary
//!   - name: evaluate
//!     run: [model, evaluate, --run-id, "${{ steps.train.outputs.run_id }}"]
//!     depends_on: [train]
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Deserialize;

use super::PipelineError;
use super::expr::{Expr, Piece, parse_template};
use super::spans::{Seg, Spans, key};

/// A parsed, checked pipeline; `steps` are in dependency order.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub name: String,
    pub description: Option<String>,
    pub parameters: BTreeMap<String, Parameter>,
    pub steps: Vec<Step>,
}

/// A pipeline parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    pub default: Option<String>,
    pub description: Option<String>,
    pub kind: ParameterKind,
    pub line: usize,
}

/// What a parameter carries. Locally both are text; in Azure ML a `data` parameter is a `uri_file`
/// input, which the service mounts on the compute and hands the step as a local path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParameterKind {
    #[default]
    String,
    Data,
}

/// One step: the `mlops` arguments it runs and the steps it waits for.
#[derive(Debug, Clone)]
pub struct Step {
    pub name: String,
    pub run: Vec<String>,
    pub depends_on: Vec<String>,
    pub outputs: Vec<String>,
    pub line: usize,
}

/// A problem in the file, at a line (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPipeline {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: BTreeMap<String, RawParameter>,
    steps: Vec<RawStep>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawParameter {
    Full(RawParameterFull),
    Short(Scalar),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParameterFull {
    #[serde(default)]
    default: Option<Scalar>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

impl Scalar {
    fn text(self) -> String {
        match self {
            Scalar::Bool(b) => b.to_string(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => format!("{f:?}"),
            Scalar::Text(t) => t,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    name: String,
    run: Vec<Scalar>,
    #[serde(default)]
    depends_on: Vec<String>,
    #[serde(default)]
    outputs: Vec<String>,
}

/// Reads and checks a pipeline file.
pub fn load(path: &Path) -> Result<Pipeline, PipelineError> {
    let bytes = std::fs::read(path).map_err(|source| PipelineError::Read { path: path.to_path_buf(), source })?;
    parse_bytes(path, &bytes)
}

/// Checks a pipeline file's bytes (UTF-8, a byte-order mark allowed); `path` names it in errors.
pub fn parse_bytes(path: &Path, bytes: &[u8]) -> Result<Pipeline, PipelineError> {
    let invalid = |problems| PipelineError::Invalid { path: path.to_path_buf(), problems };
    let text = crate::decode::utf8(bytes).map_err(|e| invalid(vec![decode_problem(e)]))?;
    parse(text).map_err(invalid)
}

/// A decoding error as a problem on its line; the YAML parser's own messages already say the column.
fn decode_problem(e: crate::decode::DecodeError) -> Problem {
    let message =
        if e.message.contains(" column ") { e.message } else { format!("{} (column {})", e.message, e.column) };
    Problem { line: e.line, message }
}

/// Parses and checks pipeline text: YAML shape (a mapping key at most once), step names,
/// references, dependencies and cycles.
pub fn parse(text: &str) -> Result<Pipeline, Vec<Problem>> {
    let text = crate::decode::strip_bom(text);
    let raw: RawPipeline = crate::decode::yaml(text).map_err(|e| vec![decode_problem(e)])?;
    let spans = Spans::of(text);
    let steps_line = spans.key(&[key("steps")]).unwrap_or(1);
    let step_path = |index: usize, rest: &[Seg]| {
        let mut path = vec![key("steps"), Seg::Index(index)];
        path.extend_from_slice(rest);
        path
    };
    let mut problems = Vec::new();
    let parameters: BTreeMap<String, Parameter> = raw
        .parameters
        .into_iter()
        .map(|(name, p)| {
            let line = spans.key(&[key("parameters"), key(&name)]).unwrap_or(1);
            let (default, description, kind) = match p {
                RawParameter::Full(f) => (f.default.map(Scalar::text), f.description, f.kind),
                RawParameter::Short(s) => (Some(s.text()), None, None),
            };
            let kind = match kind.as_deref() {
                None | Some("string") => ParameterKind::String,
                Some("data") => ParameterKind::Data,
                Some(other) => {
                    problems.push(Problem {
                        line,
                        message: format!("parameter {name:?}: type {other:?} is not string or data"),
                    });
                    ParameterKind::String
                }
            };
            (name, Parameter { default, description, kind, line })
        })
        .collect();
    let mut steps: Vec<Step> = Vec::new();
    for (index, raw_step) in raw.steps.into_iter().enumerate() {
        let line = spans
            .value(&step_path(index, &[key("name")]))
            .or_else(|| spans.value(&step_path(index, &[])))
            .unwrap_or(steps_line);
        let step = Step {
            run: raw_step.run.into_iter().map(Scalar::text).collect(),
            name: raw_step.name,
            depends_on: raw_step.depends_on,
            outputs: raw_step.outputs,
            line,
        };
        let valid_name =
            !step.name.is_empty() && step.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid_name {
            problems.push(Problem {
                line,
                message: format!("step name {:?}: use letters, digits, '-' and '_'", step.name),
            });
        }
        if steps.iter().any(|s| s.name == step.name) {
            problems.push(Problem { line, message: format!("step {:?} is defined twice", step.name) });
        }
        match step.run.first().map(String::as_str) {
            None => problems.push(Problem { line, message: format!("step {:?}: `run` is empty", step.name) }),
            Some("pipeline") => problems
                .push(Problem { line, message: format!("step {:?}: a step cannot run another pipeline", step.name) }),
            Some(_) => {}
        }
        steps.push(step);
    }
    if steps.is_empty() {
        problems.push(Problem { line: steps_line, message: "the pipeline has no steps".to_string() });
    }
    for (index, step) in steps.iter().enumerate() {
        for (at, dep) in step.depends_on.iter().enumerate() {
            let line = spans.value(&step_path(index, &[key("depends_on"), Seg::Index(at)])).unwrap_or(step.line);
            if dep == &step.name {
                problems.push(Problem { line, message: format!("step {:?} depends on itself", step.name) });
            } else if !steps.iter().any(|s| &s.name == dep) {
                problems
                    .push(Problem { line, message: format!("step {:?} depends on unknown step {dep:?}", step.name) });
            }
        }
    }
    let order = match topological_order(&steps) {
        Ok(order) => order,
        Err(cycle) => {
            let first = steps.iter().find(|s| s.name == cycle[0]).map_or(1, |s| s.line);
            problems.push(Problem { line: first, message: format!("dependency cycle: {}", cycle.join(" -> ")) });
            (0..steps.len()).collect()
        }
    };
    for (index, step) in steps.iter().enumerate() {
        for (at, arg) in step.run.iter().enumerate() {
            let line = spans.value(&step_path(index, &[key("run"), Seg::Index(at)])).unwrap_or(step.line);
            let pieces = match parse_template(arg) {
                Ok(pieces) => pieces,
                Err(message) => {
                    problems.push(Problem { line, message: format!("step {:?}: {message}", step.name) });
                    continue;
                }
            };
            for piece in pieces {
                let Piece::Ref { expr, source } = piece else { continue };
                match expr {
                    Expr::Parameter(name) if !parameters.contains_key(&name) => problems.push(Problem {
                        line,
                        message: format!("step {:?}: unknown parameter {name:?} in {source}", step.name),
                    }),
                    Expr::StepOutput { step: other, .. } if !steps.iter().any(|s| s.name == other) => {
                        problems.push(Problem {
                            line,
                            message: format!("step {:?}: unknown step {other:?} in {source}", step.name),
                        })
                    }
                    Expr::StepOutput { step: other, .. } if !ancestors(&steps, &step.name).contains(&other) => {
                        problems.push(Problem {
                            line,
                            message: format!(
                                "step {:?} uses an output of {other:?} in {source} but does not depend on it (add it to depends_on)",
                                step.name
                            ),
                        })
                    }
                    Expr::StepOutput { step: other, path } if !declares_output(&steps, &other, &path) => {
                        let declared = steps.iter().find(|s| s.name == other).map_or(&[][..], |s| &s.outputs[..]);
                        problems.push(Problem {
                            line,
                            message: format!(
                                "step {:?}: {source} names output {:?}, which step {other:?} does not declare (its outputs: {}); add it to that step's `outputs`",
                                step.name,
                                path.join("."),
                                if declared.is_empty() { "none".to_string() } else { declared.join(", ") },
                            ),
                        })
                    }
                    _ => {}
                }
            }
        }
    }
    if !problems.is_empty() {
        problems.sort_by_key(|p| p.line);
        return Err(problems);
    }
    let mut by_index: Vec<Option<Step>> = steps.into_iter().map(Some).collect();
    let steps = order.into_iter().filter_map(|i| by_index[i].take()).collect();
    Ok(Pipeline { name: raw.name, description: raw.description, parameters, steps })
}

/// Whether `step` declares the output `path` (or one it lies under: `metrics` covers `metrics.mse`),
/// so that a misspelt reference fails before anything runs rather than after the step ran.
fn declares_output(steps: &[Step], step: &str, path: &[String]) -> bool {
    let wanted = path.join(".");
    steps.iter().filter(|s| s.name == step).flat_map(|s| &s.outputs).any(|declared| {
        wanted == *declared || wanted.strip_prefix(declared.as_str()).is_some_and(|rest| rest.starts_with('.'))
    })
}

/// The values of every parameter: `--param` over the file's defaults. Unknown names and
/// parameters without a value are errors naming the line.
pub fn resolve_parameters(
    pipeline: &Pipeline,
    overrides: &[String],
    path: &Path,
) -> Result<BTreeMap<String, String>, PipelineError> {
    let mut values: BTreeMap<String, String> =
        pipeline.parameters.iter().filter_map(|(k, p)| p.default.clone().map(|d| (k.clone(), d))).collect();
    for text in overrides {
        let Some((key, value)) = text.split_once('=') else {
            return Err(PipelineError::Param(text.clone(), "expected KEY=VALUE".to_string()));
        };
        let key = key.trim();
        if !pipeline.parameters.contains_key(key) {
            let known: Vec<&str> = pipeline.parameters.keys().map(String::as_str).collect();
            return Err(PipelineError::Param(
                text.clone(),
                format!("the pipeline has no parameter {key:?} (parameters: {})", known.join(", ")),
            ));
        }
        values.insert(key.to_string(), value.to_string());
    }
    let problems: Vec<Problem> = pipeline
        .parameters
        .iter()
        .filter(|(k, _)| !values.contains_key(*k))
        .map(|(k, p)| Problem {
            line: p.line,
            message: format!("parameter {k:?} has no default and was not given (--param {k}=VALUE)"),
        })
        .collect();
    if problems.is_empty() { Ok(values) } else { Err(PipelineError::Invalid { path: path.to_path_buf(), problems }) }
}

/// Every step `name` depends on, directly or not.
pub fn ancestors(steps: &[Step], name: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut stack = vec![name.to_string()];
    while let Some(current) = stack.pop() {
        for dep in steps.iter().filter(|s| s.name == current).flat_map(|s| &s.depends_on) {
            if !found.contains(dep) {
                found.push(dep.clone());
                stack.push(dep.clone());
            }
        }
    }
    found
}

/// Kahn's algorithm, keeping file order among ready steps; a cycle comes back as its step names.
fn topological_order(steps: &[Step]) -> Result<Vec<usize>, Vec<String>> {
    let index: HashMap<&str, usize> = steps.iter().enumerate().map(|(i, s)| (s.name.as_str(), i)).collect();
    // The steps each step waits for, each once: a name given twice (in `depends_on`, or to two
    // steps, which is reported separately) must not be counted twice or released twice.
    let waits_for: Vec<Vec<usize>> =
        steps.iter().map(|s| (0..steps.len()).filter(|&j| s.depends_on.contains(&steps[j].name)).collect()).collect();
    let mut pending: Vec<usize> = waits_for.iter().map(Vec::len).collect();
    let mut done = vec![false; steps.len()];
    let mut order = Vec::new();
    while let Some(next) = (0..steps.len()).find(|&i| !done[i] && pending[i] == 0) {
        done[next] = true;
        order.push(next);
        for (i, waits) in waits_for.iter().enumerate() {
            if waits.contains(&next) {
                pending[i] -= 1;
            }
        }
    }
    if order.len() == steps.len() {
        return Ok(order);
    }
    // Walk from a blocked step along blocked dependencies until a step repeats: that is a cycle.
    let blocked = |i: usize| !done[i];
    let mut path: Vec<usize> = vec![(0..steps.len()).find(|&i| blocked(i)).unwrap_or(0)];
    loop {
        let current = path[path.len() - 1];
        let Some(next) =
            steps[current].depends_on.iter().filter_map(|d| index.get(d.as_str()).copied()).find(|&i| blocked(i))
        else {
            return Err(path.iter().map(|&i| steps[i].name.clone()).collect());
        };
        if let Some(at) = path.iter().position(|&i| i == next) {
            let mut cycle: Vec<String> = path[at..].iter().map(|&i| steps[i].name.clone()).collect();
            cycle.push(steps[next].name.clone());
            return Err(cycle);
        }
        path.push(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
name: p
parameters:
  alpha: {default: 0.4}
  model: m
  data:
    description: no default
steps:
  - name: b
    run: [model, evaluate, --run-id, \"${{ steps.a.outputs.run_id }}\"]
    depends_on: [a]
  - name: a
    run: [train, --alpha, \"${{ parameters.alpha }}\"]
    outputs: [run_id]
";

    fn first_problem(text: &str) -> Problem {
        parse(text).expect_err("invalid").remove(0)
    }

    #[test]
    fn orders_steps_by_dependency() {
        let p = parse(GOOD).expect("valid");
        let names: Vec<&str> = p.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(p.parameters["alpha"].default.as_deref(), Some("0.4"));
        assert_eq!(p.parameters["model"].default.as_deref(), Some("m"));
        assert_eq!(p.parameters["data"].line, 5);
        let err = resolve_parameters(&p, &[], Path::new("p.yml")).expect_err("data has no value");
        assert!(err.to_string().starts_with("p.yml:5: parameter \"data\" has no default"), "{err}");
        let values = resolve_parameters(&p, &["data=x.csv".to_string(), "alpha=1".to_string()], Path::new("p.yml"))
            .expect("all given");
        assert_eq!(values["alpha"], "1");
        assert!(resolve_parameters(&p, &["nope=1".to_string()], Path::new("p.yml")).is_err());
    }

    #[test]
    fn semantic_errors_name_the_line() {
        let unknown_dep = GOOD.replace("depends_on: [a]", "depends_on: [zz]");
        let problem = first_problem(&unknown_dep);
        assert_eq!(problem.line, 9, "{problem:?}");
        assert!(problem.message.contains("uses an output of \"a\""), "{problem:?}");
        let p = parse(&unknown_dep).expect_err("invalid");
        assert!(p.iter().any(|p| p.line == 10 && p.message.contains("unknown step \"zz\"")), "{p:?}");

        let cycle = format!("{GOOD}    depends_on: [b]\n");
        let problem = first_problem(&cycle);
        assert!(problem.message.starts_with("dependency cycle: "), "{problem:?}");
        assert_eq!(problem.line, 8);

        let problem = first_problem(&GOOD.replace("parameters.alpha", "parameters.beta"));
        assert_eq!((problem.line, problem.message.contains("unknown parameter \"beta\"")), (12, true), "{problem:?}");

        let problem = first_problem(&GOOD.replace("    run: [train", "    runs: [train"));
        assert_eq!(problem.line, 12, "{problem:?}");

        let typed = GOOD.replace("    description: no default", "    type: data");
        assert_eq!(parse(&typed).expect("valid").parameters["data"].kind, ParameterKind::Data);
        assert_eq!(parse(GOOD).expect("valid").parameters["data"].kind, ParameterKind::String);
        let problem = first_problem(&GOOD.replace("    description: no default", "    type: file"));
        assert_eq!(problem.line, 5, "{problem:?}");
        assert!(problem.message.contains("type \"file\" is not string or data"), "{problem:?}");

        let problem = first_problem("name: p\nsteps:\n  - name: a\n    run: [train]\n  - name: a\n    run: [train]\n");
        assert_eq!((problem.line, problem.message.as_str()), (5, "step \"a\" is defined twice"));
        let problem = first_problem("name: p\nsteps: [\n");
        assert!(problem.line >= 2, "{problem:?}");
    }

    /// Found by the `pipeline` fuzz target: a step defined twice with a dependent made the
    /// dependency count underflow (a panic in debug builds, a bogus cycle in release builds).
    #[test]
    fn a_step_defined_twice_is_reported_once_without_a_cycle() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/fuzz/pipeline-crash-duplicate-step-with-dependents.yml"
        );
        let text = std::fs::read_to_string(path).expect("fixture");
        let problems = parse(&text).expect_err("invalid");
        assert!(problems.iter().any(|p| p.message == "step \"evaluate\" is defined twice"), "{problems:?}");
        assert!(!problems.iter().any(|p| p.message.starts_with("dependency cycle")), "{problems:?}");
        let twice =
            "name: p\nsteps:\n  - name: a\n    run: [train]\n  - name: b\n    run: [train]\n    depends_on: [a, a]\n";
        let order: Vec<String> = parse(twice).expect("valid").steps.into_iter().map(|s| s.name).collect();
        assert_eq!(order, ["a", "b"]);
    }

    #[test]
    fn step_outputs_must_be_declared() {
        let problem = first_problem(&GOOD.replace("outputs.run_id", "outputs.nosuch"));
        assert_eq!(problem.line, 9, "{problem:?}");
        assert!(
            problem
                .message
                .contains("names output \"nosuch\", which step \"a\" does not declare (its outputs: run_id)"),
            "{problem:?}"
        );
        // A path under a declared output is declared; a sibling that shares a prefix is not.
        let nested =
            GOOD.replace("outputs.run_id", "outputs.metrics.mse").replace("outputs: [run_id]", "outputs: [metrics]");
        parse(&nested).expect("under a declared output");
        let sibling = GOOD.replace("outputs.run_id", "outputs.run_ids");
        assert!(first_problem(&sibling).message.contains("names output \"run_ids\""));
        let undeclared = GOOD.replace("    outputs: [run_id]\n", "");
        assert!(first_problem(&undeclared).message.contains("(its outputs: none)"));
    }

    #[test]
    fn decoding_problems_say_where() {
        let problem = first_problem("name: p\nsteps:\n  - name: a\n    run: [train]\n    name: b\n");
        assert_eq!((problem.line, problem.message.as_str()), (5, "duplicate key \"name\" (column 5)"));
        parse("\u{feff}name: p\nsteps:\n  - name: a\n    run: [train]\n").expect("a BOM is accepted");
        let err = parse_bytes(Path::new("p.yml"), b"name: p\nsteps:\n  - name: \xff\n").expect_err("not UTF-8");
        assert_eq!(err.to_string(), "p.yml:3: not valid UTF-8: byte 0xFF at byte offset 25 (column 11)");
    }
}
