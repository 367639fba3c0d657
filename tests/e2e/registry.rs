//! The model registry and the evaluation gate, on the local store and on a real MLflow server,
//! read back with MLflow's own client.

use serde_json::Value;

use crate::mlflow_server::MlflowServer;
use crate::support::{Workspace, diabetes, python_json, stderr};

const NOT_BETTER: i32 = 3;

/// A workspace bound to one tracking store (a local directory or a server URI).
struct Store {
    ws: Workspace,
    uri: String,
    experiment: String,
}

impl Store {
    fn local() -> Self {
        let ws = Workspace::new();
        let uri = format!("file://{}", ws.path().join("mlruns").display());
        Store { ws, uri, experiment: unique("registry") }
    }

    fn server() -> Self {
        Store { ws: Workspace::new(), uri: MlflowServer::shared().uri.clone(), experiment: unique("registry") }
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        let mut all = args.to_vec();
        all.extend(["--tracking-uri", &self.uri]);
        let mut cmd = self.ws.mlops(&all);
        cmd.env("MLOPS_CACHE_DIR", self.ws.path().join("cache"));
        for var in [
            "BUILD_BUILDID",
            "SYSTEM_COLLECTIONURI",
            "SYSTEM_TEAMPROJECT",
            "GITHUB_RUN_ID",
            "GITHUB_SERVER_URL",
            "GITHUB_REPOSITORY",
        ] {
            cmd.env_remove(var);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run mlops")
    }

    fn json(&self, args: &[&str], env: &[(&str, &str)]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let out = self.run(&all, env);
        assert!(out.status.success(), "mlops {all:?}: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).expect("json")
    }

    fn train(&self, alpha: &str) -> String {
        let data = diabetes().display().to_string();
        let local = self.ws.path().join("journal").display().to_string();
        let args =
            ["train", "--data", &data, "--alpha", alpha, "--local-store", &local, "--experiment", &self.experiment];
        let report = self.json(&args, &[]);
        report["run_id"].as_str().expect("run id").to_string()
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

fn release_flow(store: &Store) {
    let name = unique("diabetes");
    let first = store.train("0.5");
    let worse = store.train("1.0");
    let equal = store.train("0.5");
    let better = store.train("0.4");

    // First registration: no champion yet.
    let out = store.json(&["model", "register", "--run-id", &first, "--name", &name, "--if-better"], &[]);
    assert_eq!(out["registered"], true);
    assert_eq!(out["evaluation"]["decision"], "first");
    assert_eq!(out["evaluation"]["champion"], Value::Null);
    assert_eq!(out["version"]["version"], 1);
    assert_eq!(out["version"]["aliases"], serde_json::json!(["champion"]));

    // Worse and equal runs: exit 3, nothing registered; the report says why.
    for candidate in [&worse, &equal] {
        let report = store.ws.path().join("gate.json");
        let out = store.run(
            &[
                "model",
                "register",
                "--run-id",
                candidate,
                "--name",
                &name,
                "--if-better",
                "--report",
                report.to_str().expect("utf-8"),
            ],
            &[],
        );
        assert_eq!(out.status.code(), Some(NOT_BETTER), "{}", stderr(&out));
        let gate: Value = serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
        assert_eq!(gate["decision"], "not-better");
        assert_eq!(gate["champion"]["version"], 1);
        assert_eq!(gate["metric"], "mse");
        assert_eq!(gate["direction"], "minimize");
        assert!(gate["delta"].as_f64().expect("delta") >= 0.0);
    }
    let evaluated = store.run(&["model", "evaluate", "--run-id", &equal, "--name", &name], &[]);
    assert_eq!(evaluated.status.code(), Some(NOT_BETTER), "equal counts as not better");
    let skipped =
        store.json(&["model", "evaluate", "--run-id", &worse, "--name", &name, "--on-not-better", "skip"], &[]);
    assert_eq!(skipped["decision"], "not-better", "skip keeps the decision in the report");

    // A better run registers as version 2 and takes the champion alias; CI tags are recorded.
    let devops = [
        ("BUILD_BUILDID", "4242"),
        ("SYSTEM_COLLECTIONURI", "https://dev.azure.com/contoso/"),
        ("SYSTEM_TEAMPROJECT", "mlops"),
    ];
    let out = store
        .json(&["model", "register", "--run-id", &better, "--name", &name, "--if-better", "--tag", "team=ml"], &devops);
    assert_eq!(out["evaluation"]["decision"], "better");
    assert_eq!(out["version"]["version"], 2);
    let tags = &out["version"]["tags"];
    assert_eq!(tags["BuildId"], "4242");
    assert_eq!(tags["BuildUri"], "https://dev.azure.com/contoso/mlops/_build/results?buildId=4242");
    assert_eq!(tags["team"], "ml");
    assert_eq!(tags["run_id"], better.as_str());
    assert_eq!(tags["dataset_name"], "diabetes");
    assert!(tags["mse"].as_str().is_some_and(|m| m.parse::<f64>().is_ok()));

    // GitHub Actions build tags, and the duplicate guard.
    let github =
        [("GITHUB_RUN_ID", "99"), ("GITHUB_SERVER_URL", "https://github.com"), ("GITHUB_REPOSITORY", "org/repo")];
    let staged = store.json(&["model", "register", "--run-id", &worse, "--name", &name, "--alias", "staging"], &github);
    assert_eq!(staged["version"]["tags"]["BuildUri"], "https://github.com/org/repo/actions/runs/99");
    let dup = store.run(&["model", "register", "--run-id", &worse, "--name", &name], &[]);
    assert_eq!(dup.status.code(), Some(2), "{}", stderr(&dup));
    assert!(stderr(&dup).contains("is already registered as"), "{}", stderr(&dup));
    let allowed = store.json(&["model", "register", "--run-id", &worse, "--name", &name, "--allow-duplicate"], &[]);
    assert_eq!(allowed["version"]["version"], 4);

    // MLflow's client sees the same versions, tags and aliases.
    let seen = python_json("read_registry.py", &[&store.uri, &name], None);
    assert_eq!(seen["aliases"], serde_json::json!({"champion": 2, "staging": 3}));
    assert_eq!(seen["versions"].as_array().map(Vec::len), Some(4));
    assert_eq!(seen["versions"][1]["run_id"], better.as_str());
    assert_eq!(seen["versions"][1]["tags"]["BuildId"], "4242");

    // Rollback: champion back to version 1; predict follows the alias.
    store.json(&["model", "alias", "set", &name, "champion", "1"], &[]);
    let shown = store.json(&["model", "show", &format!("{name}@champion")], &[]);
    assert_eq!(shown["version"], 1);
    let data = diabetes().display().to_string();
    let by_alias = store.json(&["predict", "--model", &format!("models:/{name}@champion"), "--data", &data], &[]);
    let by_version = store.json(&["predict", "--model", &format!("models:/{name}/1"), "--data", &data], &[]);
    assert_eq!(by_alias["predictions"], by_version["predictions"]);
    assert_eq!(by_alias["predictions"].as_array().map(Vec::len), Some(442));
    let dest = store.ws.path().join("downloaded");
    store.json(&["model", "download", &format!("{name}@champion"), "--dest", dest.to_str().expect("utf-8")], &[]);
    assert!(dest.join("MLmodel").is_file() && dest.join("model.json").is_file());
    store.json(&["model", "alias", "delete", &name, "staging"], &[]);
    let listed = store.json(&["model", "list", &name], &[]);
    assert_eq!(listed["versions"].as_array().map(Vec::len), Some(4));
    assert!(
        listed["versions"].as_array().expect("versions").iter().all(|v| !v["aliases"].to_string().contains("staging"))
    );
}

/// `models:/NAME/latest` is the highest version, wherever a model URI or spec is taken.
fn latest_resolves(store: &Store) {
    let name = unique("latest");
    let data = diabetes().display().to_string();
    for alpha in ["0.5", "1.0"] {
        let run = store.train(alpha);
        store.json(&["model", "register", "--run-id", &run, "--name", &name], &[]);
    }
    let shown = store.json(&["model", "show", &format!("{name}/latest")], &[]);
    assert_eq!(shown["version"], 2);
    let predict =
        |model: String| store.json(&["predict", "--model", &model, "--data", &data], &[])["predictions"].clone();
    let latest = predict(format!("models:/{name}/latest"));
    assert_eq!(latest, predict(format!("models:/{name}/2")));
    assert_ne!(latest, predict(format!("models:/{name}/1")));
    assert_eq!(latest, predict(format!("models:/{name}/LATEST")), "case-insensitive, as in MLflow");
    let out = store.run(&["model", "show", &format!("{}/latest", unique("none"))], &[]);
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
}

#[test]
fn latest_on_the_local_store() {
    latest_resolves(&Store::local());
}

#[test]
fn latest_on_an_mlflow_server() {
    latest_resolves(&Store::server());
}

fn bad_inputs(store: &Store) {
    let name = unique("bad");
    let run = store.train("0.5");
    // Each case: the command line (split at spaces), the exit code, a part of the error message.
    let register = format!("model register --run-id {run} --name {name}");
    let cases: Vec<(String, i32, &str)> = vec![
        (format!("model register --run-id {} --name {name}", "f".repeat(32)), 8, "not found"),
        (format!("model evaluate --run-id {run} --name {name} --metric auc"), 6, "has no metric \"auc\""),
        ("model show no-such-model".into(), 8, "registered model \"no-such-model\" not found"),
        (format!("{register} --tag novalue"), 2, "expected KEY=VALUE"),
        (format!("{register} --alias latest"), 2, "'latest' is reserved"),
        (format!("{register} --alias v2"), 2, "reserved"),
    ];
    for (line, code, needle) in cases {
        let args: Vec<&str> = line.split(' ').collect();
        let out = store.run(&args, &[]);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(needle), "{args:?}: {needle:?} not in {}", stderr(&out));
    }
    // Nothing above registered anything.
    let out = store.run(&["model", "show", &name], &[]);
    assert_eq!(out.status.code(), Some(8), "{}", stderr(&out));
}

#[test]
fn release_flow_on_the_local_store() {
    let store = Store::local();
    release_flow(&store);
    // `mlflow migrate-filestore` takes the registry along (versions, tags, aliases).
    let venv_bin = crate::support::python().parent().expect("bin").to_path_buf();
    let db = format!("sqlite:///{}", store.ws.path().join("migrated.db").display());
    let out = std::process::Command::new(venv_bin.join("mlflow"))
        .args(["migrate-filestore", "--source"])
        .arg(store.ws.path().join("mlruns"))
        .args(["--target", &db])
        .env("MLFLOW_ALLOW_FILE_STORE", "true")
        .output()
        .expect("run mlflow migrate-filestore");
    assert!(out.status.success(), "migrate-filestore: {}", String::from_utf8_lossy(&out.stderr));
    let models = std::fs::read_dir(store.ws.path().join("mlruns/models")).expect("models").count();
    assert_eq!(models, 1);
    let name = std::fs::read_dir(store.ws.path().join("mlruns/models"))
        .expect("models")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .next()
        .expect("a model");
    let migrated = python_json("read_registry.py", &[&db, &name], None);
    let original = python_json("read_registry.py", &[&store.uri, &name], None);
    assert_eq!(migrated, original);
}

#[test]
fn release_flow_on_an_mlflow_server() {
    release_flow(&Store::server());
}

#[test]
fn bad_input_on_the_local_store() {
    bad_inputs(&Store::local());
}

#[test]
fn bad_input_on_an_mlflow_server() {
    bad_inputs(&Store::server());
}
