//! The CI/CD definitions (Azure DevOps YAML, GitHub Actions workflows) pass the checks
//! `scripts/check-cicd.sh` runs (check-jsonschema's bundled schemas, actionlint), and each check
//! catches its kind of breakage in a copy.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::{python, repo};

const DEFINITIONS: [&str; 3] = ["pipelines/azure-devops", "environment_setup/pipelines", ".github/workflows"];

fn check(root: &Path) -> Output {
    let venv_bin = python().parent().expect("venv bin").to_path_buf();
    let path = format!("{}:{}", venv_bin.display(), std::env::var("PATH").unwrap_or_default());
    Command::new("bash")
        .arg(repo().join("scripts/check-cicd.sh"))
        .arg(root)
        .env("PATH", path)
        .output()
        .expect("run scripts/check-cicd.sh")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// A copy of every definition, with `file` edited by `edit`.
fn broken_copy(file: &str, edit: impl Fn(&str) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for sub in DEFINITIONS {
        std::fs::create_dir_all(dir.path().join(sub)).expect("mkdir");
        for entry in std::fs::read_dir(repo().join(sub)).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "yml") {
                std::fs::copy(&path, dir.path().join(sub).join(path.file_name().expect("name"))).expect("copy");
            }
        }
    }
    let target = dir.path().join(file);
    let original = std::fs::read_to_string(&target).expect("read definition");
    let edited = edit(&original);
    assert_ne!(edited, original, "the edit must change {file}");
    std::fs::write(&target, edited).expect("write");
    dir
}

#[test]
fn the_repository_definitions_are_valid() {
    for file in [
        "pipelines/azure-devops/ci.yml",
        "pipelines/azure-devops/model-train-register.yml",
        "pipelines/azure-devops/model-deploy.yml",
        ".github/workflows/ci.yml",
        ".github/workflows/infra.yml",
        ".github/workflows/model-train-register.yml",
        ".github/workflows/model-deploy.yml",
    ] {
        assert!(repo().join(file).is_file(), "{file} is missing");
    }
    let out = check(&repo());
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("4 Azure DevOps and 4 GitHub Actions definitions are valid"), "{}", text(&out));
}

#[test]
fn each_check_fails_on_a_broken_definition() {
    // (file, text, replacement, what the failing check says)
    let cases = [
        // Azure Pipelines schema: a misspelt step key.
        (
            "pipelines/azure-devops/model-train-register.yml",
            "  - script: cargo build --release",
            "  - scrpt: cargo build --release",
            "'scrpt' was unexpected",
        ),
        // GitHub workflow schema: a job without runs-on.
        (
            ".github/workflows/model-deploy.yml",
            "    runs-on: ubuntu-latest",
            "    runs-onn: ubuntu-latest",
            "'runs-on' is a required property",
        ),
        // actionlint: valid against the schema, but a step output that no step sets.
        (
            ".github/workflows/model-train-register.yml",
            "steps.gate.outputs.registered",
            "steps.gates.outputs.registered",
            "property \"gates\" is not defined",
        ),
        // First run: a repository variable the header does not document.
        (
            ".github/workflows/model-deploy.yml",
            "and ACR_NAME (the container registry",
            "and the registry name (the container registry",
            "reads vars.ACR_NAME, which its header comment does not document",
        ),
        // First run: an Azure DevOps variable neither defined nor documented.
        (
            "pipelines/azure-devops/model-train-register.yml",
            "REGISTRY (the workspace's container registry",
            "the workspace's container registry (",
            "reads $(REGISTRY), which is neither defined under variables: nor documented",
        ),
        // First run: the pipeline published with a job image nothing built before.
        (
            "pipelines/azure-devops/model-train-register.yml",
            "--tag \"$(JOB_IMAGE)\" --push",
            "--tag \"$(JOB_IMAGE)\"",
            "publishes the pipeline with --image before any step it depends on builds the job image",
        ),
        // First run: the training job submitted before the data asset is created.
        (
            ".github/workflows/model-train-register.yml",
            "az ml data create",
            "az ml data list",
            "submits the pipeline with a data asset before any step it depends on creates it",
        ),
    ];
    for (file, from, to, expected) in cases {
        let dir = broken_copy(file, |s| s.replacen(from, to, 1));
        let out = check(dir.path());
        assert!(!out.status.success(), "{file}: the broken copy passed:\n{}", text(&out));
        assert!(text(&out).contains(expected), "{file}: {}", text(&out));
    }
}
