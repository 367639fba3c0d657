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
        self.train_on(&["--data", &data, "--alpha", alpha])
    }

    /// Trains with these extra arguments (data, target, alpha) and returns the run id.
    fn train_on(&self, extra: &[&str]) -> String {
        let local = self.ws.path().join("journal").display().to_string();
        let mut args = vec!["train", "--local-store", &local, "--experiment", &self.experiment];
        args.extend(extra);
        let report = self.json(&args, &[]);
        report["run_id"].as_str().expect("run id").to_string()
    }
}

const SCHEMA_MISMATCH: i32 = 13;

/// The gate compares like with like: a candidate trained on other features or another target
/// than the champion is refused with exit 13 and what differs, unless `--allow-schema-change`,
/// which the registered version records. A run without a model is refused as such.
fn schema_gate(store: &Store) {
    let name = unique("schema");
    let data = diabetes().display().to_string();
    let champion = store.train("0.5");
    store.json(&["model", "register", "--run-id", &champion, "--name", &name, "--if-better"], &[]);

    // The same dataset name (diabetes), without the S6 column.
    let fewer = crate::support::repo().join("tests/fixtures/schema/diabetes.csv").display().to_string();
    let fewer_features = store.train_on(&["--data", &fewer]);
    let other_target = store.train_on(&["--data", &data, "--target", "BMI"]);
    let cases: [(&str, &[&str]); 2] = [
        (&fewer_features, &["features removed: S6"]),
        (
            &other_target,
            &["features added: Y", "features removed: BMI", "target: \"Y\" (champion) vs \"BMI\" (candidate)"],
        ),
    ];
    for (run, needles) in cases {
        for command in [
            vec!["model", "register", "--run-id", run, "--name", &name, "--if-better"],
            vec!["model", "evaluate", "--run-id", run, "--name", &name],
        ] {
            let out = store.run(&command, &[]);
            assert_eq!(out.status.code(), Some(SCHEMA_MISMATCH), "{command:?}: {}", stderr(&out));
            for needle in needles {
                assert!(stderr(&out).contains(needle), "{command:?}: {needle:?} not in {}", stderr(&out));
            }
            assert!(stderr(&out).contains("--allow-schema-change"), "{}", stderr(&out));
            assert!(!stderr(&out).contains("dataset:"), "same dataset name: {}", stderr(&out));
        }
    }
    let shown = store.json(&["model", "show", &name], &[]);
    assert_eq!(shown["latest_version"], 1, "nothing was registered");

    // The override: compared anyway (BMI's error is far below Y's), and recorded on the version.
    let out = store.json(
        &["model", "register", "--run-id", &other_target, "--name", &name, "--if-better", "--allow-schema-change"],
        &[],
    );
    assert_eq!(out["evaluation"]["decision"], "better");
    assert_eq!(out["version"]["version"], 2);
    let changes = out["evaluation"]["schema_changes"].as_array().expect("schema_changes");
    assert_eq!(changes.len(), 3, "{changes:?}");
    let tag = out["version"]["tags"]["mlops.schema_change"].as_str().expect("schema change tag");
    assert!(tag.contains("target: \"Y\" (champion) vs \"BMI\" (candidate)"), "{tag}");
    let seen = python_json("read_registry.py", &[&store.uri, &name], None);
    assert_eq!(seen["versions"][1]["tags"]["mlops.schema_change"], tag);
    assert_eq!(seen["aliases"]["champion"], 2);

    // A run with no model (logged by MLflow's client) is refused as one without a model, not
    // as one without the metric.
    let out = crate::support::python_output("empty_run.py", &[&store.uri, &store.experiment], None);
    assert!(out.status.success(), "empty_run.py: {}", stderr(&out));
    // MLflow prints "View run …" lines first on a server; the id is the last line.
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let empty = stdout.lines().last().expect("run id").trim().to_string();
    for command in [
        vec!["model", "register", "--run-id", &empty, "--name", &name],
        vec!["model", "register", "--run-id", &empty, "--name", &name, "--if-better"],
    ] {
        let out = store.run(&command, &[]);
        assert_eq!(out.status.code(), Some(8), "{command:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(&format!("run {empty} has no model")), "{}", stderr(&out));
        assert!(!stderr(&out).contains("metric"), "{}", stderr(&out));
    }
}

#[test]
fn schema_gate_on_the_local_store() {
    schema_gate(&Store::local());
}

#[test]
fn schema_gate_on_an_mlflow_server() {
    schema_gate(&Store::server());
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

    // `model show NAME` lists the model's versions too, in JSON and text.
    let shown = store.json(&["model", "show", &name], &[]);
    assert_eq!(shown["latest_version"], 4);
    assert_eq!(shown["aliases"]["champion"], 1);
    let versions: Vec<u64> =
        shown["versions"].as_array().expect("versions").iter().filter_map(|v| v["version"].as_u64()).collect();
    assert_eq!(versions, [1, 2, 3, 4]);
    assert_eq!(shown["versions"][1]["run_id"], better.as_str());
    let out = store.run(&["model", "show", &name], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("VERSION  ALIASES"), "{text}");
    let rows: [Vec<&str>; 3] = [vec!["1", "champion", &first], vec!["2", &better], vec!["4", &worse]];
    for wanted in rows {
        assert!(
            text.lines().any(|l| l.split_whitespace().take(wanted.len()).eq(wanted.iter().copied())),
            "{wanted:?}: {text}"
        );
    }
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
