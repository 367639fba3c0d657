//! `mlops reproduce`: a model rebuilt from its recorded lineage is bit-for-bit the same (local
//! runs, pipeline runs, registered versions by alias, a server run from an empty local store, data
//! from a datastore blob); a changed or missing input and changed numbers have their own exit codes.

use std::path::Path;

use serde_json::Value;

use crate::mlflow_server::MlflowServer;
use crate::pipeline::project;
use crate::servers::{azurite, azurite_connection_string};
use crate::support::{Workspace, diabetes, stderr};

/// `mlops reproduce ARGS -o json` in `ws`: exit code and report.
fn reproduce(ws: &Workspace, args: &[&str]) -> (Option<i32>, Value) {
    let mut all = vec!["reproduce"];
    all.extend_from_slice(args);
    all.extend(["-o", "json"]);
    let out = ws.mlops(&all).env("MLOPS_CACHE_DIR", ws.path().join("cache")).output().expect("run mlops");
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON report ({e}); exit {:?}; stderr:\n{}", out.status.code(), stderr(&out)));
    (out.status.code(), report)
}

fn problem_kinds(report: &Value) -> Vec<String> {
    report["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| p["kind"].as_str().expect("kind").to_string())
        .collect()
}

fn assert_identical(code: Option<i32>, report: &Value) {
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["outcome"], "identical");
    let comparison = &report["comparison"];
    assert_eq!(comparison["identical"], true);
    assert_eq!(comparison["max_difference"], 0.0);
    // 10 coefficients, the intercept and 4 test metrics, each recorded == reproduced.
    let values = comparison["values"].as_array().expect("values");
    assert_eq!(values.len(), 15, "{comparison:#}");
    for v in values {
        assert_eq!(v["recorded"], v["reproduced"], "{v}");
    }
    assert!(report["problems"].as_array().expect("problems").is_empty());
}

/// A workspace with a copy of the diabetes data and a run trained on it.
fn trained(ws: &Workspace, extra: &[&str]) -> String {
    std::fs::create_dir_all(ws.path().join("data")).expect("mkdir");
    std::fs::copy(diabetes(), ws.path().join("data/diabetes.csv")).expect("copy data");
    let mut args = vec!["train", "--data", "data/diabetes.csv", "--alpha", "0.3", "--seed", "7"];
    args.extend_from_slice(extra);
    ws.json(&args)["run_id"].as_str().expect("run id").to_string()
}

fn run_dir(ws: &Workspace, run_id: &str) -> std::path::PathBuf {
    ws.path().join("mlruns/0").join(run_id)
}

#[test]
fn a_local_run_is_reproduced_bit_for_bit_and_every_changed_input_is_named() {
    let ws = Workspace::new();
    let run_id = trained(&ws, &[]);
    let (code, report) = reproduce(&ws, &[&run_id]);
    assert_identical(code, &report);
    assert_eq!(report["params"]["alpha"], 0.3);
    assert_eq!(report["params"]["seed"], 7);
    assert_eq!(report["data"]["from"], "path");
    assert_eq!(report["lineage"]["recorded_mlops_version"], env!("CARGO_PKG_VERSION"));

    // The same run, named as runs:/ URI, and with --log: the reproduction is a run linked to it.
    let (code, logged) = reproduce(&ws, &[&format!("runs:/{run_id}/model"), "--log", "--experiment", "repro"]);
    assert_identical(code, &logged);
    let new_run = logged["reproduction_run_id"].as_str().expect("logged run");
    let shown = ws.json(&["runs", "show", new_run]);
    assert_eq!(shown["tags"]["mlops.reproduces"], run_id.as_str(), "{shown:#}");

    // The recorded numbers were changed: exit 11 with the largest difference.
    let mse = run_dir(&ws, &run_id).join("metrics/mse");
    let line = std::fs::read_to_string(&mse).expect("mse");
    let fields: Vec<&str> = line.split_whitespace().collect();
    let recorded: f64 = fields[1].parse().expect("number");
    std::fs::write(&mse, format!("{} {:?} {}\n", fields[0], recorded + 0.5, fields[2])).expect("tamper");
    let (code, report) = reproduce(&ws, &[&run_id]);
    assert_eq!(code, Some(11), "{report:#}");
    assert_eq!(report["outcome"], "different");
    assert_eq!(report["comparison"]["max_difference_at"], "metric mse");
    assert_eq!(report["comparison"]["max_difference"], 0.5);
    let out = ws.run(&["reproduce", &run_id]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("largest difference 5e-1 at metric mse"), "{out:?}");
    std::fs::write(&mse, line).expect("restore");

    // The recorded mlops version differs: exit 12, saying so.
    let version_tag = run_dir(&ws, &run_id).join("tags/mlops.version");
    std::fs::write(&version_tag, "0.0.1").expect("edit tag");
    let (code, report) = reproduce(&ws, &[&run_id]);
    assert_eq!(code, Some(12), "{report:#}");
    assert_eq!(problem_kinds(&report), ["mlops-version"]);
    assert!(report["problems"][0]["message"].as_str().expect("message").contains("0.0.1"));
    std::fs::write(&version_tag, env!("CARGO_PKG_VERSION")).expect("restore tag");

    // One byte of the CSV changed: exit 12, data digest mismatch.
    let data = ws.path().join("data/diabetes.csv");
    let original = std::fs::read(&data).expect("data");
    let mut changed = original.clone();
    let last_digit = changed.iter().rposition(u8::is_ascii_digit).expect("a digit");
    changed[last_digit] = if changed[last_digit] == b'9' { b'8' } else { changed[last_digit] + 1 };
    std::fs::write(&data, &changed).expect("change a byte");
    let (code, report) = reproduce(&ws, &[&run_id]);
    assert_eq!(code, Some(12), "{report:#}");
    assert_eq!(problem_kinds(&report), ["data-digest-mismatch"]);
    assert!(report["comparison"].is_null(), "nothing is retrained on other data");

    // The original is still somewhere: --data points at it, checked by digest.
    let elsewhere = ws.path().join("archive.csv");
    std::fs::write(&elsewhere, &original).expect("archive");
    let (code, report) = reproduce(&ws, &[&run_id, "--data", "archive.csv"]);
    assert_identical(code, &report);
    assert_eq!(report["data"]["from"], "flag");

    // The data is gone: exit 12, data missing, naming where it looked.
    std::fs::remove_file(&data).expect("remove");
    let (code, report) = reproduce(&ws, &[&run_id]);
    assert_eq!(code, Some(12), "{report:#}");
    assert_eq!(problem_kinds(&report), ["data-missing"]);
    assert!(report["problems"][0]["message"].as_str().expect("message").contains("diabetes.csv"));
    let out = ws.run(&["reproduce", &run_id]);
    assert_eq!(out.status.code(), Some(12));
    assert!(String::from_utf8_lossy(&out.stdout).contains("data-missing: the training data is gone"), "{out:?}");

    // An unknown run is "not found".
    let out = ws.run(&["reproduce", "0123456789abcdef0123456789abcdef"]);
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
}

#[test]
fn pipeline_runs_and_registered_versions_by_alias_are_reproduced() {
    let ws = project();
    let out = ws.run(&["pipeline", "run", "pipelines/diabetes-train.yml", "-o", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pipeline: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let parent = pipeline["parent_run_id"].as_str().expect("parent");
    let train = pipeline["steps"].as_array().expect("steps").iter().find(|s| s["name"] == "train").expect("train");
    let train_run = train["run_id"].as_str().expect("train run");

    let (code, report) = reproduce(&ws, &[train_run]);
    assert_identical(code, &report);
    // The pipeline trained on a registered dataset version: its registry copy is what is read.
    assert_eq!(report["data"]["from"], "path");
    assert!(report["data"]["source"].as_str().expect("source").contains("mlruns-datasets"), "{report:#}");

    let (code, report) = reproduce(&ws, &[parent]);
    assert_identical(code, &report);
    assert_eq!(report["run_id"], train_run);
    assert_eq!(report["pipeline_run_id"], parent);

    let (code, report) = reproduce(&ws, &["models:/diabetes-model@champion"]);
    assert_identical(code, &report);
    assert_eq!(report["run_id"], train_run);
    assert_eq!(report["model"]["version"], 1);

    // The version carries the run's lineage as tags.
    let version = ws.json(&["model", "show", "diabetes-model/1"]);
    let tags = &version["tags"];
    assert_eq!(tags["mlops.version"], env!("CARGO_PKG_VERSION"), "{version:#}");
    assert_eq!(tags["mlops.dataset.name"], "diabetes");
    assert_eq!(tags["mlops.dataset.version"], "1");
    assert_eq!(tags["mlops.param.alpha"], "0.4");
    assert_eq!(tags["mlops.data.sha256"], report["data"]["sha256"]);
    assert!(tags["mlops.build.target"].as_str().is_some_and(|t| t.contains('-')), "{tags}");

    // The registered copy was deleted: the data is gone, and the message names where it was.
    std::fs::remove_dir_all(ws.path().join("mlruns-datasets")).expect("remove registry");
    let (code, report) = reproduce(&ws, &["models:/diabetes-model/1"]);
    assert_eq!(code, Some(12), "{report:#}");
    assert_eq!(problem_kinds(&report), ["data-missing"]);
    assert!(report["problems"][0]["message"].as_str().expect("message").contains("mlruns-datasets"), "{report:#}");
    // The original file, changed since, is offered instead: its digest does not match.
    let data = ws.path().join("data/diabetes.csv");
    let mut bytes = std::fs::read(&data).expect("data");
    bytes.extend_from_slice(b"\n");
    std::fs::write(&data, bytes).expect("append");
    let (code, report) = reproduce(&ws, &["models:/diabetes-model/1", "--data", "data/diabetes.csv"]);
    assert_eq!(code, Some(12), "{report:#}");
    assert_eq!(problem_kinds(&report), ["data-digest-mismatch"]);
}

#[test]
fn a_server_run_is_reproduced_from_an_empty_local_store() {
    let server = MlflowServer::shared();
    let trainer = Workspace::new();
    let data = diabetes().display().to_string();
    let trained = trainer.json(&[
        "train",
        "--data",
        &data,
        "--tracking-uri",
        &server.uri,
        "--experiment",
        "reproduce",
        "--alpha",
        "0.2",
    ]);
    assert_eq!(trained["sync"]["state"], "synced", "{trained:#}");
    let run_id = trained["run_id"].as_str().expect("run id");
    let registered = trainer.json(&[
        "model",
        "register",
        "--run-id",
        run_id,
        "--name",
        "reproduce-remote",
        "--alias",
        "champion",
        "--tracking-uri",
        &server.uri,
    ]);
    assert_eq!(registered["version"]["tags"]["mlops.param.alpha"], "0.2", "{registered:#}");

    // Another machine: nothing local, only the server.
    let fresh = Workspace::new();
    let (code, report) = reproduce(&fresh, &[run_id, "--tracking-uri", &server.uri]);
    assert_identical(code, &report);
    assert_eq!(report["data"]["source"], data.as_str());
    let (code, report) = reproduce(&fresh, &["models:/reproduce-remote@champion", "--tracking-uri", &server.uri]);
    assert_identical(code, &report);
    assert!(!fresh.path().join("mlruns").join("0").join(run_id).exists());

    // A pipeline run on the server: its parent run id stands for its training step, found by search.
    let ws = project();
    let out = ws
        .mlops(&["pipeline", "run", "pipelines/diabetes-train.yml", "--tracking-uri", &server.uri, "-o", "json"])
        .env("MLFLOW_EXPERIMENT_NAME", "reproduce-pipeline")
        .output()
        .expect("pipeline");
    assert!(out.status.success(), "{}", stderr(&out));
    let pipeline: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let parent = pipeline["parent_run_id"].as_str().expect("parent");
    let train = pipeline["steps"].as_array().expect("steps").iter().find(|s| s["name"] == "train").expect("train");
    let (code, report) = reproduce(&fresh, &[parent, "--tracking-uri", &server.uri]);
    assert_identical(code, &report);
    assert_eq!(report["pipeline_run_id"], parent);
    assert_eq!(report["run_id"], train["run_id"]);
}

#[test]
fn data_in_a_datastore_blob_is_fetched_and_checked() {
    let ws = Workspace::new();
    let azurite = azurite();
    let cs = azurite_connection_string(&azurite);
    std::fs::copy(diabetes(), ws.path().join("d.csv")).expect("copy");
    let registered = ws
        .mlops(&[
            "data",
            "register",
            "--name",
            "blobbed",
            "--data",
            "d.csv",
            "--datastore",
            "blob:datasets",
            "-o",
            "json",
        ])
        .env("AZURE_STORAGE_CONNECTION_STRING", &cs)
        .output()
        .expect("run");
    assert!(registered.status.success(), "{}", stderr(&registered));
    let run_id = ws.json(&["train", "--dataset", "blobbed:1"])["run_id"].as_str().expect("run").to_string();
    let source = std::fs::read_to_string(run_dir(&ws, &run_id).join("tags/mlops.data.source")).expect("source tag");
    assert!(source.starts_with(&azurite.base) && source.contains("/datasets/blobbed/sha256/"), "{source}");

    // Only the blob is left: the registry's copy and the original are gone.
    std::fs::remove_dir_all(ws.path().join("mlruns-datasets")).expect("remove registry");
    std::fs::remove_file(ws.path().join("d.csv")).expect("remove original");
    let out = ws
        .mlops(&["reproduce", &run_id, "-o", "json"])
        .env("MLOPS_CACHE_DIR", ws.path().join("cache"))
        .env("AZURE_STORAGE_CONNECTION_STRING", &cs)
        .output()
        .expect("run");
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_identical(out.status.code(), &report);
    assert_eq!(report["data"]["from"], "blob");
    assert!(Path::new(report["data"]["path"].as_str().expect("path")).starts_with(ws.path().join("cache")));

    // An Azure ML step reads its input at a mount path; MLOPS_DATA_SOURCE (set by pipeline submit)
    // records the blob instead, and that is where the reproduction finds the data.
    let mount = ws.path().join("mnt/azureml/input/d.csv");
    std::fs::create_dir_all(mount.parent().expect("dir")).expect("mkdir");
    std::fs::copy(diabetes(), &mount).expect("mount");
    let out = ws
        .mlops(&["train", "--data", mount.to_str().expect("path"), "-o", "json"])
        .env("MLOPS_DATA_SOURCE", &source)
        .output()
        .expect("train");
    assert!(out.status.success(), "{}", stderr(&out));
    let mounted: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let mounted_id = mounted["run_id"].as_str().expect("run");
    let recorded = std::fs::read_to_string(run_dir(&ws, mounted_id).join("tags/mlops.data.source")).expect("tag");
    assert_eq!(recorded, source);
    std::fs::remove_dir_all(ws.path().join("mnt")).expect("unmount");
    let out = ws
        .mlops(&["reproduce", mounted_id, "-o", "json"])
        .env("MLOPS_CACHE_DIR", ws.path().join("cache"))
        .env("AZURE_STORAGE_CONNECTION_STRING", &cs)
        .output()
        .expect("run");
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_identical(out.status.code(), &report);
    assert_eq!(report["data"]["source"], source.as_str());
}

/// `cmd` without the lineage the environment of the test run may state (the CI running the tests,
/// `MLOPS_GIT_*`), so git and the variables the test sets decide.
fn without_ci_lineage(mut cmd: std::process::Command) -> std::process::Command {
    for name in [
        "BUILD_BUILDID",
        "SYSTEM_COLLECTIONURI",
        "SYSTEM_TEAMPROJECT",
        "GITHUB_RUN_ID",
        "GITHUB_SERVER_URL",
        "GITHUB_REPOSITORY",
        "MLOPS_GIT_COMMIT",
        "MLOPS_GIT_REPO_URL",
        "MLOPS_GIT_BRANCH",
        "MLOPS_GIT_DIRTY",
        "MLOPS_CI_BUILD_ID",
        "MLOPS_CI_BUILD_URL",
    ] {
        cmd.env_remove(name);
    }
    cmd
}

/// Runs git in `dir`, requiring success.
fn git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn git_lineage_is_recorded_and_a_dirty_tree_is_flagged_and_not_reproducible() {
    let ws = Workspace::new();
    std::fs::create_dir_all(ws.path().join("data")).expect("mkdir");
    std::fs::copy(diabetes(), ws.path().join("data/diabetes.csv")).expect("copy");
    ws.write("notes.txt", "v1\n");
    git(ws.path(), &["init", "-q", "-b", "main"]);
    git(ws.path(), &["remote", "add", "origin", "https://user:s3cr3t-token@example.com/team/model.git"]);
    git(ws.path(), &["add", "notes.txt", "data/diabetes.csv"]);
    git(ws.path(), &["commit", "-q", "-m", "start"]);

    let out = without_ci_lineage(ws.mlops(&["train", "-o", "json"]))
        .env("GITHUB_RUN_ID", "4242")
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_REPOSITORY", "team/model")
        .output()
        .expect("train");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("uncommitted"), "a clean tree gets no warning: {}", stderr(&out));
    let clean: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let clean_id = clean["run_id"].as_str().expect("run");
    let tags = &ws.json(&["runs", "show", clean_id])["tags"];
    assert_eq!(tags["mlflow.source.git.commit"].as_str().map(str::len), Some(40), "{tags:#}");
    assert_eq!(tags["mlflow.source.git.repoURL"], "https://example.com/team/model.git", "no credentials in tags");
    assert_eq!(tags["mlflow.source.git.branch"], "main");
    assert_eq!(tags["mlops.source.git.dirty"], "false");
    assert_eq!(tags["mlops.ci.build_id"], "4242");
    assert_eq!(tags["mlops.ci.build_url"], "https://github.com/team/model/actions/runs/4242");
    assert!(!tags.to_string().contains("s3cr3t"));
    let (code, report) = reproduce(&ws, &[clean_id]);
    assert_identical(code, &report);

    // Untracked files (./mlruns) do not make a tree dirty; a changed tracked file does.
    ws.write("notes.txt", "v2\n");
    let out = without_ci_lineage(ws.mlops(&["train", "-o", "json"])).output().expect("train");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("warning: the git work tree has uncommitted changes"), "{}", stderr(&out));
    let dirty: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let dirty_id = dirty["run_id"].as_str().expect("run");
    assert_eq!(ws.json(&["runs", "show", dirty_id])["tags"]["mlops.source.git.dirty"], "true");
    let (code, report) = reproduce(&ws, &[dirty_id]);
    assert_eq!(code, Some(12), "{report:#}");
    assert_eq!(problem_kinds(&report), ["dirty-tree"]);
    // The numbers are still compared, for information.
    assert_eq!(report["comparison"]["identical"], true);

    // Where there is no work tree (an Azure ML job), the lineage stated in MLOPS_GIT_*/MLOPS_CI_* is recorded.
    let elsewhere = Workspace::new();
    std::fs::create_dir_all(elsewhere.path().join("data")).expect("mkdir");
    std::fs::copy(diabetes(), elsewhere.path().join("data/diabetes.csv")).expect("copy");
    let out = without_ci_lineage(elsewhere.mlops(&["train", "-o", "json"]))
        .env("MLOPS_GIT_COMMIT", "89abcdef0123456789abcdef0123456789abcdef")
        .env("MLOPS_GIT_REPO_URL", "https://bot:token@example.com/team/model.git")
        .env("MLOPS_GIT_DIRTY", "true")
        .env("MLOPS_CI_BUILD_ID", "9")
        .output()
        .expect("train");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("uncommitted changes"), "{}", stderr(&out));
    let stated: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let tags = &elsewhere.json(&["runs", "show", stated["run_id"].as_str().expect("run")])["tags"];
    assert_eq!(tags["mlflow.source.git.commit"], "89abcdef0123456789abcdef0123456789abcdef");
    assert_eq!(tags["mlflow.source.git.repoURL"], "https://example.com/team/model.git");
    assert_eq!(tags["mlops.source.git.dirty"], "true");
    assert_eq!(tags["mlops.ci.build_id"], "9");
    assert!(tags.get("mlflow.source.git.branch").is_none(), "{tags:#}");
}
