//! What this process knows about where a run comes from: the git work tree around the current
//! directory, the CI build it runs in, and this binary's version and target. The one place that
//! asks git and reads those variables, so domain code gets the facts as a value.

use std::process::{Command, Stdio};

use crate::env_vars;
use crate::tracking::lineage::{CodeLineage, redact_url};

/// The target triple this binary was built for (set by `build.rs`).
pub const BUILD_TARGET: &str = env!("MLOPS_BUILD_TARGET");

/// The code lineage of runs started by this process: `MLOPS_GIT_*` / `MLOPS_CI_*` when set (an
/// Azure ML job, told by the machine that submitted it), else git and the CI's own variables.
pub fn code_lineage() -> CodeLineage {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let ci = crate::settings::ci_build();
    let commit = var(env_vars::MLOPS_GIT_COMMIT).or_else(|| git(&["rev-parse", "--verify", "--quiet", "HEAD"]));
    let in_git = commit.is_some() && var(env_vars::MLOPS_GIT_COMMIT).is_none();
    let detect = |args: &[&str]| if in_git { git(args) } else { None };
    CodeLineage {
        git_repo_url: var(env_vars::MLOPS_GIT_REPO_URL)
            .or_else(|| detect(&["config", "--get", "remote.origin.url"]))
            .map(|u| redact_url(&u)),
        git_branch: var(env_vars::MLOPS_GIT_BRANCH).or_else(|| detect(&["symbolic-ref", "--quiet", "--short", "HEAD"])),
        git_dirty: match var(env_vars::MLOPS_GIT_DIRTY) {
            Some(text) => Some(text.trim().eq_ignore_ascii_case("true")),
            None if in_git => git_status_dirty(),
            None => None,
        },
        git_commit: commit,
        mlops_version: env!("CARGO_PKG_VERSION").to_string(),
        build_target: BUILD_TARGET.to_string(),
        ci_build_id: var(env_vars::MLOPS_CI_BUILD_ID).or_else(|| ci.as_ref().map(|c| c.id.clone())),
        ci_build_url: var(env_vars::MLOPS_CI_BUILD_URL).or_else(|| ci.and_then(|c| c.uri)),
    }
}

/// The `MLOPS_GIT_*` / `MLOPS_CI_*` variables that hand `lineage` to an `mlops` running elsewhere.
pub fn lineage_env(lineage: &CodeLineage) -> Vec<(String, String)> {
    let pairs = [
        (env_vars::MLOPS_GIT_COMMIT, lineage.git_commit.clone()),
        (env_vars::MLOPS_GIT_REPO_URL, lineage.git_repo_url.clone()),
        (env_vars::MLOPS_GIT_BRANCH, lineage.git_branch.clone()),
        (env_vars::MLOPS_GIT_DIRTY, lineage.git_dirty.map(|d| d.to_string())),
        (env_vars::MLOPS_CI_BUILD_ID, lineage.ci_build_id.clone()),
        (env_vars::MLOPS_CI_BUILD_URL, lineage.ci_build_url.clone()),
    ];
    pairs.into_iter().filter_map(|(k, v)| v.map(|v| (k.to_string(), v))).collect()
}

/// Runs git in the current directory; its trimmed stdout when it succeeded with some.
fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git").args(args).stdin(Stdio::null()).stderr(Stdio::null()).output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?.trim().to_string();
    (output.status.success() && !text.is_empty()).then_some(text)
}

/// Whether tracked files changed. Untracked files do not count: a work tree always has some
/// (./mlruns, for one), and they cannot change what committed code computes.
fn git_status_dirty() -> Option<bool> {
    let output = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    output.status.success().then_some(!output.stdout.is_empty())
}
