//! Who and what produced a run: the user, the program and the git commit of the working tree.

/// Who and what produced a run, recorded as MLflow system tags.
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    pub user: String,
    pub source_name: String,
    pub git_commit: Option<String>,
}

/// The provenance recorded on runs made by `user` from the current directory.
pub fn detect(user: String) -> Provenance {
    Provenance { user, source_name: "mlops".to_string(), git_commit: git_commit() }
}

/// `HEAD` of the git work tree around the current directory, if there is one.
fn git_commit() -> Option<String> {
    let output = std::process::Command::new("git")
        .args(["rev-parse", "--verify", "--quiet", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let commit = String::from_utf8(output.stdout).ok()?.trim().to_string();
    (output.status.success() && commit.len() == 40).then_some(commit)
}
