//! Cycles: variables that refer to themselves, resources and modules that depend on each other.

use super::ast::*;
use super::convert::Compiler;
use super::convert::resources::Target;
use super::deps::{Dep, children, global};
use super::error::{DResult, Diag, ErrorKind};
use super::model::{Model, Sym};

/// Rejects variables whose values refer to themselves, directly or through other variables.
pub fn check_variable_cycles(model: &Model<'_>) -> DResult<()> {
    // 0 = unvisited, 1 = in progress, 2 = done
    let mut state = vec![0u8; model.vars.len()];
    for v in 0..model.vars.len() {
        visit_var(model, v, &mut state)?;
    }
    Ok(())
}

fn visit_var(model: &Model<'_>, v: usize, state: &mut [u8]) -> DResult<()> {
    if state[v] == 2 {
        return Ok(());
    }
    state[v] = 1;
    let mut refs = Vec::new();
    collect_var_refs(model, &model.vars[v].value, &[], &mut refs);
    for (w, span) in refs {
        if state[w] == 1 {
            return Err(Diag::new(
                ErrorKind::Cycle,
                span,
                format!("the variable '{}' depends on itself through '{}'", model.vars[v].name, model.vars[w].name),
            ));
        }
        visit_var(model, w, state)?;
    }
    state[v] = 2;
    Ok(())
}

fn collect_var_refs(model: &Model<'_>, e: &Expr, locals: &[String], out: &mut Vec<(usize, super::error::Span)>) {
    if let ExprKind::Ident(name) = &e.kind
        && let Some(Sym::Var(w)) = global(model, name, locals)
    {
        out.push((w, e.span));
    }
    children(e, locals, &mut |c, l| collect_var_refs(model, c, l, out));
}

impl Compiler<'_> {
    /// Rejects resources and modules that depend on each other in a cycle.
    pub fn check_dependency_cycles(&self, graph: &[(Target, Vec<Dep>)]) -> DResult<()> {
        let find = |t: Target| graph.iter().position(|(x, _)| *x == t);
        let mut state = vec![0u8; graph.len()];
        fn visit(
            i: usize,
            graph: &[(Target, Vec<Dep>)],
            state: &mut [u8],
            find: &dyn Fn(Target) -> Option<usize>,
        ) -> Result<(), usize> {
            if state[i] == 2 {
                return Ok(());
            }
            if state[i] == 1 {
                return Err(i);
            }
            state[i] = 1;
            for d in &graph[i].1 {
                if let Some(j) = find(d.target) {
                    visit(j, graph, state, find)?;
                }
            }
            state[i] = 2;
            Ok(())
        }
        for i in 0..graph.len() {
            if let Err(j) = visit(i, graph, &mut state, &find) {
                let (span, name) = match graph[j].0 {
                    Target::Res(r) => (self.model.resources[r].decl.name_span, &self.model.resources[r].decl.name),
                    Target::Module(m) => (self.model.modules[m].decl.name_span, &self.model.modules[m].decl.name),
                };
                return Err(Diag::new(
                    ErrorKind::Cycle,
                    span,
                    format!("'{name}' depends on itself through a cycle of references"),
                ));
            }
        }
        Ok(())
    }
}
