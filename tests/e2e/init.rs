//! `mlops init`: the project it writes passes `pipeline validate`, `infra build`, the CI definition
//! checks and `pipeline run` on its sample data (and its model reproduces); a second run changes
//! nothing; names that cannot be made valid are refused with the rule.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support::{Workspace, python, repo, stderr};

/// Every file under `dir` (but ./mlruns*) with its contents.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current).expect("read dir") {
            let path = entry.expect("entry").path();
            let relative = path.strip_prefix(dir).expect("inside").display().to_string();
            if relative.starts_with("mlruns") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                files.insert(relative, std::fs::read(&path).expect("read"));
            }
        }
    }
    files
}

#[test]
fn a_new_project_validates_builds_passes_ci_checks_and_runs() {
    let ws = Workspace::new();
    let report = ws.json(&["init", "proj", "--name", "Credit Risk"]);
    assert_eq!(report["names"]["name"], "credit-risk");
    assert_eq!(report["names"]["base_name"], "creditrisk");
    assert_eq!(report["written"], 18, "{report:#}");
    let proj = ws.path().join("proj");
    for file in [
        "mlops.toml",
        "README.md",
        "data/credit-risk.csv",
        "data/credit-risk.profile.json",
        "pipelines/parameters.json",
        "pipelines/credit-risk.yml",
        "environment_setup/src/main.bicep",
        "environment_setup/src/parameters.json",
        ".github/workflows/ci.yml",
        ".github/workflows/model-train-register.yml",
        "pipelines/azure-devops/model-train-register.yml",
    ] {
        assert!(proj.join(file).is_file(), "{file} missing");
    }
    // The repository's own files are the source: the Bicep is the same, the pipeline is renamed.
    let bicep = std::fs::read_to_string(proj.join("environment_setup/src/main.bicep")).expect("bicep");
    assert_eq!(bicep, std::fs::read_to_string(repo().join("environment_setup/src/main.bicep")).expect("repo bicep"));
    let pipeline = std::fs::read_to_string(proj.join("pipelines/credit-risk.yml")).expect("pipeline");
    let renamed = std::fs::read_to_string(repo().join("pipelines/diabetes-train.yml"))
        .expect("repo pipeline")
        .replace("pipelines/diabetes-train.yml", "pipelines/credit-risk.yml")
        .replace("diabetes-train", "credit-risk-train")
        .replace("diabetes-model", "credit-risk-model")
        .replace("diabetes_regression", "credit-risk")
        .replace("diabetes", "credit-risk");
    assert_eq!(pipeline, renamed);
    let parameters: Value =
        serde_json::from_str(&std::fs::read_to_string(proj.join("environment_setup/src/parameters.json")).expect("p"))
            .expect("JSON");
    assert_eq!(parameters["parameters"]["baseName"]["value"], "creditrisk");

    let in_proj = |args: &[&str]| {
        let mut cmd = ws.mlops(args);
        cmd.current_dir(&proj).env("MLOPS_CACHE_DIR", ws.path().join("cache"));
        cmd.output().expect("run mlops")
    };
    let out = in_proj(&["pipeline", "validate", "pipelines/credit-risk.yml"]);
    assert!(out.status.success(), "validate: {}", stderr(&out));

    let out = in_proj(&["infra", "build", "environment_setup/src/main.bicep", "--stdout"]);
    assert!(out.status.success(), "infra build: {}", stderr(&out));
    let built: Value = serde_json::from_slice(&out.stdout).expect("template");
    let committed: Value =
        serde_json::from_str(&std::fs::read_to_string(proj.join("environment_setup/src/main.json")).expect("arm"))
            .expect("JSON");
    assert_eq!(built, committed, "the generated ARM template is what the Bicep compiles to");

    let venv_bin = python().parent().expect("venv bin").to_path_buf();
    let check = Command::new("bash")
        .arg(repo().join("scripts/check-cicd.sh"))
        .arg(&proj)
        .env("PATH", format!("{}:{}", venv_bin.display(), std::env::var("PATH").unwrap_or_default()))
        .output()
        .expect("check-cicd");
    assert!(check.status.success(), "CI definitions: {}{}", String::from_utf8_lossy(&check.stdout), stderr(&check));

    let out = in_proj(&["pipeline", "run", "pipelines/credit-risk.yml", "-o", "json"]);
    assert!(out.status.success(), "pipeline run: {}", stderr(&out));
    let run: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(run["status"], "succeeded", "{run:#}");
    let out = in_proj(&["reproduce", "models:/credit-risk-model@champion", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "reproduce: {}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));

    // Twice without --force: nothing changes, and it says so.
    let before = snapshot(&proj);
    let out = ws.run(&["init", "proj", "--name", "Credit Risk"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to write: all 18 files exist"), "{out:?}");
    assert_eq!(snapshot(&proj), before);
    // An edited file is kept, and --dry-run --force only says it would overwrite it.
    std::fs::write(proj.join("mlops.toml"), "# mine\n").expect("edit");
    let again = ws.json(&["init", "proj", "--name", "Credit Risk", "--force", "--dry-run"]);
    assert_eq!(again["written"], 1);
    assert_eq!(std::fs::read_to_string(proj.join("mlops.toml")).expect("toml"), "# mine\n");
}

#[test]
fn dry_run_writes_nothing_and_bad_names_are_refused_with_the_rule() {
    let ws = Workspace::new();
    let report = ws.json(&["init", "new", "--name", "churn", "--dry-run"]);
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["files"].as_array().expect("files").len(), 18);
    assert!(report["files"].as_array().expect("files").iter().all(|f| f["action"] == "create"));
    assert!(!ws.path().join("new").exists());

    for (name, rule) in [
        ("ab", "at least 3 letters or digits"),
        ("9lives", "must start with a letter"),
        ("日本語", "must start with a letter"),
    ] {
        let out = ws.run(&["init", "x", "--name", name]);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains(rule), "{name}: {}", stderr(&out));
    }
    assert!(!ws.path().join("x").exists());
    ws.write("file", "x");
    let out = ws.run(&["init", "file", "--name", "churn"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
}
