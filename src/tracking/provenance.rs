//! Who and what produced a run: the user, the program, and the code lineage — the git work tree
//! around the current directory (commit, remote, branch, uncommitted changes), this binary's
//! version and target, and the CI build.

use std::process::{Command, Stdio};

use super::lineage::{CodeLineage, redact_url};

/// Who and what produced a run, recorded as MLflow system tags and lineage tags.
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    pub user: String,
    pub source_name: String,
    pub code: CodeLineage,
}

/// The target triple this binary was built for (set by `build.rs`).
pub const BUILD_TARGET: &str = env!("MLOPS_BUILD_TARGET");

/// Lineage the environment states, which wins over what git says (see `settings::lineage_overrides`).
#[derive(Debug, Clone, Default)]
pub struct LineageOverrides {
    pub git_commit: Option<String>,
    pub git_repo_url: Option<String>,
    pub git_branch: Option<String>,
    pub git_dirty: Option<bool>,
    pub ci_build_id: Option<String>,
    pub ci_build_url: Option<String>,
}

/// The provenance recorded on runs made by `user` from the current directory.
pub fn detect(user: String, overrides: LineageOverrides) -> Provenance {
    Provenance { user, source_name: "mlops".to_string(), code: code_lineage(overrides) }
}

/// The code lineage: `overrides` where set, else git (only inside a work tree that has a commit).
pub fn code_lineage(overrides: LineageOverrides) -> CodeLineage {
    let stated = overrides.git_commit.is_some();
    let commit = overrides.git_commit.or_else(|| git(&["rev-parse", "--verify", "--quiet", "HEAD"]));
    // Git is asked about the tree only when the commit came from it: a stated commit is not this tree's.
    let in_git = commit.is_some() && !stated;
    let detect = |args: &[&str]| if in_git { git(args) } else { None };
    CodeLineage {
        git_repo_url: overrides
            .git_repo_url
            .or_else(|| detect(&["config", "--get", "remote.origin.url"]))
            .map(|u| redact_url(&u)),
        git_branch: overrides.git_branch.or_else(|| detect(&["symbolic-ref", "--quiet", "--short", "HEAD"])),
        git_dirty: match overrides.git_dirty {
            Some(dirty) => Some(dirty),
            None if in_git => git_status_dirty(),
            None => None,
        },
        git_commit: commit,
        mlops_version: env!("CARGO_PKG_VERSION").to_string(),
        build_target: BUILD_TARGET.to_string(),
        ci_build_id: overrides.ci_build_id,
        ci_build_url: overrides.ci_build_url,
    }
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
