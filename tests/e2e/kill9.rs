//! kill -9 at random points of `mlops train` (into the local store and to a server), `mlops model
//! register` and `mlops runs sync`, then MLflow's own client reads the whole store, and a sync
//! ends with exactly one server copy of every run.
//!
//! The kills are SIGKILL delivered by strace on entry to the n-th call of one syscall (a file
//! write, an open, a rename, a directory creation, an HTTP send or read), with the syscall and n
//! drawn from a seeded RNG within what a traced run of the same command made: the kill points are
//! random but reproducible, and nothing waits on time.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::mlflow_server::MlflowServer;
use crate::support::{Workspace, diabetes, python_json, stderr};

/// Fast retries, so a kill while the server is being retried does not wait MLflow's default minutes.
const FAST_RETRIES: [(&str, &str); 2] =
    [("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2"), ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0.05")];
/// Calls that change the store: a kill before one of them stops the writer between two steps.
const FILE_CALLS: &str = "write,openat,mkdir,rename,renameat,renameat2";
/// The same and the HTTP calls: a request sent with its answer unread, a request not yet sent.
const ALL_CALLS: &str = "write,openat,mkdir,rename,renameat,renameat2,writev,recvfrom,connect";
/// The seed of the kill points; another seed (MLOPS_TEST_KILL_SEED) explores other ones.
const DEFAULT_SEED: u64 = 0x6d6c_6f70_7321;

/// SplitMix64: a few lines of well-known generator instead of a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n.max(1)
    }
}

fn strace() -> Command {
    let found = Command::new("strace").arg("-V").stdout(Stdio::null()).status().is_ok_and(|s| s.success());
    assert!(found, "strace is missing: scripts/test.sh installs it (apt-get install strace)");
    Command::new("strace")
}

/// `strace <args> -- <cmd>`, with `cmd`'s environment and working directory.
fn traced(cmd: &Command, strace_args: &[String]) -> Command {
    let mut out = strace();
    out.arg("-f").arg("-qq").args(strace_args).arg("--").arg(cmd.get_program()).args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => out.env(key, value),
            None => out.env_remove(key),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        out.current_dir(dir);
    }
    out.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    out
}

/// Runs `cmd` to its end, traced, and returns per syscall of `calls` the most calls one thread
/// made (strace counts the calls of each thread).
fn calibrate(cmd: &Command, calls: &str) -> Vec<(String, u64)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let trace = dir.path().join("trace");
    let args = ["-o".to_string(), trace.display().to_string(), "-e".to_string(), format!("trace={calls}")];
    let status = traced(cmd, &args).status().expect("run strace");
    assert!(status.success(), "the traced run of {cmd:?} failed: {status}");
    let text = std::fs::read_to_string(&trace).expect("trace");
    let mut counts: HashMap<(String, String), u64> = HashMap::new();
    for line in text.lines() {
        let mut parts = line.splitn(2, ' ');
        let (Some(tid), Some(rest)) = (parts.next(), parts.next()) else { continue };
        let Some((name, _)) = rest.trim_start().split_once('(') else { continue };
        if !rest.starts_with('<') && calls.split(',').any(|c| c == name) {
            *counts.entry((tid.to_string(), name.to_string())).or_default() += 1;
        }
    }
    let mut most: BTreeMap<String, u64> = BTreeMap::new();
    for ((_, name), n) in counts {
        let entry = most.entry(name).or_default();
        *entry = (*entry).max(n);
    }
    most.into_iter().collect()
}

/// Runs `cmd`, killed on entry to its `n`-th `syscall`; whether it was killed (rather than done first).
fn killed_at(cmd: &Command, syscall: &str, n: u64) -> bool {
    let args = [
        "-o".to_string(),
        "/dev/null".to_string(),
        "-e".to_string(),
        format!("trace={syscall}"),
        "-e".to_string(),
        format!("inject={syscall}:signal=KILL:when={n}"),
    ];
    let status = traced(cmd, &args).status().expect("run strace");
    // strace ends itself with the signal that ended the traced command.
    status.signal() == Some(9) || status.code() == Some(128 + 9)
}

/// Runs the command `make` builds until `kills` runs were killed, each at a random point, at most
/// `attempts` times (a run may end before its point); half of the points are writes (where data
/// lands), the rest any of the calibrated calls. Returns the kills made.
fn kill_randomly(
    rng: &mut Rng,
    make: impl Fn() -> Command,
    calls: &[(String, u64)],
    kills: usize,
    attempts: usize,
) -> usize {
    let writes: Vec<&(String, u64)> = calls.iter().filter(|(name, _)| name == "write").collect();
    let mut done = 0;
    for _ in 0..attempts {
        if done == kills {
            break;
        }
        let pool: Vec<&(String, u64)> =
            if !writes.is_empty() && rng.below(2) == 0 { writes.clone() } else { calls.iter().collect() };
        let (name, most) = pool[rng.below(pool.len() as u64) as usize];
        if killed_at(&make(), name, 1 + rng.below(*most)) {
            done += 1;
        }
    }
    done
}

fn train(ws: &Workspace, experiment: &str, args: &[&str]) -> Command {
    let data = diabetes().display().to_string();
    let mut all = vec!["train", "--data", data.as_str(), "--experiment", experiment, "-o", "json"];
    all.extend(args);
    let mut cmd = ws.mlops(&all);
    cmd.envs(FAST_RETRIES);
    cmd
}

fn run_json(mut cmd: Command) -> Value {
    let out = cmd.output().expect("run mlops");
    assert!(out.status.success(), "{cmd:?} failed: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

/// A metric history as a sorted multiset, for comparing stores.
fn points(history: &Value) -> Vec<String> {
    let mut out: Vec<String> = history.as_array().expect("history").iter().map(Value::to_string).collect();
    out.sort();
    out
}

#[test]
fn the_store_and_sync_survive_kill_9_anywhere() {
    let server = MlflowServer::shared();
    let seed = std::env::var("MLOPS_TEST_KILL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_SEED);
    eprintln!("kill points from seed {seed} (MLOPS_TEST_KILL_SEED)");
    let mut rng = Rng(seed);
    let ws = Workspace::new();
    let mut kills = 0;
    let t0 = std::time::Instant::now();
    let lap = |what: &str| eprintln!("{what}: {:?}", t0.elapsed());

    // Into the local store: train and register, killed anywhere.
    let trained = train(&ws, "kill9", &[]);
    let train_calls = calibrate(&trained, FILE_CALLS);
    let finished = run_json(train(&ws, "kill9", &[]));
    let run_id = finished["run_id"].as_str().expect("run id").to_string();
    kills += kill_randomly(&mut rng, || train(&ws, "kill9", &[]), &train_calls, 15, 45);
    assert_eq!(kills, 15, "trains ended before their kill point; calls: {train_calls:?}");
    lap("local train kills");
    let register = |name: &str| {
        ws.mlops(&["model", "register", "--run-id", &run_id, "--name", name, "--allow-duplicate", "-o", "json"])
    };
    let register_calls = calibrate(&register("kill9"), FILE_CALLS);
    for i in 0..6 {
        // Every other kill registers a new model name, so its directory is being made too.
        let name = if i % 2 == 0 { "kill9".to_string() } else { format!("kill9-new-{i}") };
        kills += kill_randomly(&mut rng, || register(&name), &register_calls, 1, 3);
    }
    run_json(register("kill9"));
    lap("register kills");
    // To a server: train (the run is journaled, then pushed) and sync, killed anywhere, calibrated
    // on a workspace of their own so the kills here find work to interrupt.
    let other = Workspace::new();
    let to_server = |ws: &Workspace, experiment: &str| train(ws, experiment, &["--tracking-uri", &server.uri]);
    let sync = |ws: &Workspace| {
        let mut cmd = ws.mlops(&["runs", "sync", "--to", &server.uri, "-o", "json"]);
        cmd.envs(FAST_RETRIES);
        cmd
    };
    let server_train_calls = calibrate(&to_server(&other, "kill9-calibration"), ALL_CALLS);
    run_json(train(&other, "kill9-calibration", &[]));
    let sync_calls = calibrate(&sync(&other), ALL_CALLS);
    lap("calibrated");
    // Each round leaves a pushed-in-part run, then kills syncs (one that finds too little to do
    // before its kill point simply finishes).
    let mut rounds = 0;
    while kills < 36 {
        rounds += 1;
        assert!(rounds <= 12, "{kills} kills after {rounds} rounds; calls: {server_train_calls:?} {sync_calls:?}");
        kills += kill_randomly(&mut rng, || to_server(&ws, "kill9"), &server_train_calls, 1, 3);
        kills += kill_randomly(&mut rng, || sync(&ws), &sync_calls, 2, 2);
    }
    assert!(kills >= 30, "{kills} kills");

    lap("server kills");
    // MLflow's client reads the whole local store as the kills left it: every run, metric,
    // input, output, logged model and registered version.
    let store = ws.path().join("mlruns");
    let local = python_json("read_all.py", &[&format!("file://{}", store.display())], None);
    lap("local read");
    let local_runs = local["runs"].as_array().expect("runs");
    let listed = run_json(ws.mlops(&["runs", "list", "--max-results", "1000", "-o", "json"]));
    assert_eq!(local_runs.len(), listed["runs"].as_array().expect("runs").len(), "MLflow sees every run mlops lists");
    for run in local_runs.iter().filter(|r| r["status"] == "FINISHED") {
        for metric in ["mse", "rmse", "mae", "r2"] {
            assert_eq!(run["metrics"][metric].as_array().map(Vec::len), Some(1), "{metric} of {run}");
        }
        assert_eq!(run["outputs"].as_array().map(Vec::len), Some(1), "a finished run's logged model: {run}");
    }
    let registered = local["registered_models"].as_array().expect("registered models");
    let versions = registered.iter().find(|m| m["name"] == "kill9").map(|m| &m["versions"]);
    assert!(versions.and_then(Value::as_array).is_some_and(|v| v.len() >= 2), "registry: {registered:?}");

    // Sync finishes what every kill left, ending the abandoned runs as KILLED.
    let synced = run_json(sync(&ws));
    assert_eq!(synced["failed"], serde_json::json!([]), "{synced}");
    let again = run_json(sync(&ws));
    assert!(again["synced"].as_array().expect("synced").iter().all(|o| o["uploaded"] == false), "{again}");
    lap("synced");
    let listed = run_json(ws.mlops(&["runs", "list", "--max-results", "1000", "-o", "json"]));
    let local_runs = listed["runs"].as_array().expect("runs");
    let ended = |status: &str| local_runs.iter().filter(|r| r["info"]["status"] == status).count();
    assert_eq!(ended("RUNNING"), 0, "no run is left RUNNING");
    // Killed trains left runs RUNNING; the syncs (killed ones included) ended them as KILLED.
    assert!(ended("KILLED") > 0, "{listed}");

    // Exactly one server copy of every run, with exactly its points, one logged model at most,
    // linked once.
    let remote = python_json("read_all.py", &[&server.uri, "kill9"], None);
    let remote_runs = remote["runs"].as_array().expect("runs");
    let mut by_source: HashMap<&str, Vec<&Value>> = HashMap::new();
    for run in remote_runs {
        let source = run["tags"]["mlops.source_run_id"].as_str().expect("every server run names its source");
        by_source.entry(source).or_default().push(run);
    }
    let histories: HashMap<&str, &Value> =
        local["runs"].as_array().expect("runs").iter().map(|r| (r["run_id"].as_str().unwrap_or_default(), r)).collect();
    for listed in local_runs {
        let id = listed["info"]["run_id"].as_str().expect("id");
        // Histories as MLflow read them before the sync (sync adds no points locally).
        let run = histories.get(id).copied().unwrap_or(&Value::Null);
        let twins = by_source.remove(id).unwrap_or_default();
        assert_eq!(twins.len(), 1, "local run {id} has {} server copies", twins.len());
        let twin = twins[0];
        assert_eq!(twin["status"], listed["info"]["status"], "{id}");
        assert_eq!(twin["params"], run["params"], "{id}");
        assert_eq!(twin["inputs"], run["inputs"], "{id}");
        let keys = |r: &Value| {
            let mut keys: Vec<String> =
                r["metrics"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
            keys.sort();
            keys
        };
        assert_eq!(keys(twin), keys(run), "{id}");
        for (key, history) in run["metrics"].as_object().expect("metrics") {
            assert_eq!(points(&twin["metrics"][key]), points(history), "{key} of {id}");
        }
        let twin_id = twin["run_id"].as_str().expect("id");
        let models: Vec<&Value> = remote["logged_models"]
            .as_array()
            .expect("models")
            .iter()
            .filter(|m| m["source_run_id"] == twin_id)
            .collect();
        let outputs = twin["outputs"].as_array().expect("outputs");
        assert!(models.len() <= 1 && outputs.len() == models.len(), "{id}: {models:?} / {outputs:?}");
        if listed["info"]["status"] == "FINISHED" {
            assert_eq!(models.len(), 1, "{id} has its logged model on the server");
        }
    }
    lap("remote read");
    assert!(by_source.is_empty(), "server runs of no local run: {:?}", by_source.keys());
    assert_staging_leftovers_are_invisible(&store);
}

/// A kill between creating and renaming a staged file leaves it, but never where MLflow reads keys.
fn assert_staging_leftovers_are_invisible(store: &Path) {
    let mut pending = vec![store.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("list").flatten() {
            let path = entry.path();
            let staged = entry.file_name().to_string_lossy().starts_with(".mlops-tmp-");
            if path.is_dir() {
                // A staging directory is never read; what is inside it does not matter.
                if !staged {
                    pending.push(path);
                }
            } else if staged {
                let parent = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                assert!(!["metrics", "params", "tags", "inputs", "outputs"].contains(&parent.as_str()), "{path:?}");
            }
        }
    }
}
