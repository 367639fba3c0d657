//! The fault-injection suite: every client against a closed port, a silent server, a connection
//! reset mid-response, 429 with `Retry-After`, a burst of 503s and a body that trickles in, with
//! the DEFAULT retry settings (no fast-retry variables). Each case asserts an upper bound on the
//! time taken (generous: the real times are well under), the exit code, and that nothing is lost
//! (the run is journaled and syncs once; nothing is half-deployed).

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fault_proxy::{FaultProxy, Mode, SilentServer};
use crate::mlflow_server::{MlflowServer, free_port};
use crate::standin::{self, Fault, FaultKind, StandIn};
use crate::support::{Workspace, diabetes, stderr};

/// Every variable that changes the retry policy: the tests here run with the defaults.
const RETRY_VARS: [&str; 5] = [
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
    "MLFLOW_HTTP_REQUEST_TIMEOUT",
    "MLOPS_HTTP_RETRY_BUDGET",
    "MLOPS_HTTP_TIMEOUT",
];

fn defaults(mut cmd: Command) -> Command {
    for var in RETRY_VARS {
        cmd.env_remove(var);
    }
    cmd
}

/// Runs `cmd`; returns its output and how long it took.
fn timed(mut cmd: Command) -> (Output, Duration) {
    let start = Instant::now();
    let out = cmd.output().expect("run mlops");
    (out, start.elapsed())
}

/// `mlops train … -o json -v` against `uri` with the default retry settings.
fn train(ws: &Workspace, uri: &str, experiment: &str) -> (Output, Duration) {
    let data = diabetes().display().to_string();
    let args = ["train", "--data", &data, "--tracking-uri", uri, "--experiment", experiment, "-o", "json", "-v"];
    timed(defaults(ws.mlops(&args)))
}

fn report(out: &Output) -> Value {
    assert!(out.status.success(), "train failed ({:?}): {}", out.status.code(), stderr(out));
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

/// The run was journaled: it is in the local store, pending, and the user is told how to sync.
fn assert_journaled(ws: &Workspace, out: &Output) -> String {
    let report = report(out);
    assert_eq!(report["sync"]["state"], "pending", "{}", report["sync"]);
    assert!(stderr(out).contains("mlops runs sync"), "the user is told how to finish: {}", stderr(out));
    let local_id = report["sync"]["local_run_id"].as_str().expect("local id").to_string();
    let shown = ws.json(&["runs", "show", &local_id]);
    assert_eq!(shown["info"]["status"], "FINISHED", "{shown}");
    local_id
}

/// Syncing the journal through `uri` leaves exactly one server copy of `local_id`.
fn assert_syncs_once(ws: &Workspace, server: &MlflowServer, uri: &str, local_id: &str) {
    let synced = ws.json(&["runs", "sync", "--to", uri]);
    assert!(synced["synced"].as_array().is_some_and(|s| !s.is_empty()), "{synced}");
    let filter = format!("tags.`mlops.source_run_id` = '{local_id}'");
    let remote = ws.json(&["runs", "list", "--tracking-uri", &server.uri, "--filter", &filter]);
    assert_eq!(remote["runs"].as_array().map(Vec::len), Some(1), "one server copy of {local_id}: {remote}");
}

/// The `-v` lines that announce a retry: one per retry, each naming the call, the attempt and the wait.
fn retry_lines(out: &Output) -> Vec<String> {
    stderr(out).lines().filter(|l| l.contains(" failed, next in ")).map(str::to_string).collect()
}

#[test]
fn tracking_closed_port_journals_within_seconds() {
    let ws = Workspace::new();
    let uri = format!("http://127.0.0.1:{}", free_port());
    let (out, took) = train(&ws, &uri, "closed");
    assert_journaled(&ws, &out);
    assert!(took < Duration::from_secs(5), "closed port took {took:?}");
    // A refused connection is retried once, and that retry is one line at -v.
    let lines = retry_lines(&out);
    assert_eq!(lines.len(), 1, "{}", stderr(&out));
    assert!(lines[0].contains("Connection refused") && lines[0].contains("attempt 1 of 2"), "{}", lines[0]);
    let report = report(&out);
    assert!(report["sync"]["error"].as_str().is_some_and(|e| e.contains("Connection refused")), "{report}");

    // MLflow's variables still override: no retries at all.
    let data = diabetes().display().to_string();
    let mut cmd = defaults(ws.mlops(&["train", "--data", &data, "--tracking-uri", &uri, "-o", "json", "-v"]));
    cmd.env("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0");
    let (out, _) = timed(cmd);
    assert_journaled(&ws, &out);
    assert!(retry_lines(&out).is_empty(), "{}", stderr(&out));
}

#[test]
fn tracking_silent_server_journals_within_the_bound() {
    let ws = Workspace::new();
    let silent = SilentServer::start();
    let (out, took) = train(&ws, &format!("http://127.0.0.1:{}", silent.port), "silent");
    assert_journaled(&ws, &out);
    assert!(took < Duration::from_secs(20), "silent server took {took:?}");

    // MLFLOW_HTTP_REQUEST_TIMEOUT bounds each attempt; with no retries, one attempt is all.
    let data = diabetes().display().to_string();
    let uri = format!("http://127.0.0.1:{}", silent.port);
    let mut cmd = defaults(ws.mlops(&["train", "--data", &data, "--tracking-uri", &uri, "-o", "json"]));
    cmd.env("MLFLOW_HTTP_REQUEST_TIMEOUT", "1").env("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0");
    let (out, took) = timed(cmd);
    assert_journaled(&ws, &out);
    assert!(took < Duration::from_secs(8), "a 1 s timeout without retries took {took:?}");
}

#[test]
fn tracking_reset_mid_response_then_sync_once() {
    let server = MlflowServer::shared();
    let ws = Workspace::new();
    let proxy = FaultProxy::start(&server.uri, Mode::DieAfter(0));
    let (out, took) = train(&ws, &proxy.uri, "reset");
    let local_id = assert_journaled(&ws, &out);
    assert!(took < Duration::from_secs(20), "resets took {took:?}");
    assert!(!retry_lines(&out).is_empty(), "a broken connection is retried: {}", stderr(&out));
    proxy.set_mode(Mode::Forward);
    assert_syncs_once(&ws, server, &proxy.uri, &local_id);
}

#[test]
fn tracking_429_with_retry_after_is_waited_out() {
    let server = MlflowServer::shared();
    let ws = Workspace::new();
    let proxy = FaultProxy::start(&server.uri, Mode::Status { status: 429, retry_after: Some(1), count: 2 });
    let (out, took) = train(&ws, &proxy.uri, "throttled");
    assert_eq!(report(&out)["sync"]["state"], "synced", "{}", stderr(&out));
    assert!(took < Duration::from_secs(20), "took {took:?}");
    let times = proxy.times();
    for pair in times[..3].windows(2) {
        let gap = pair[1].duration_since(pair[0]);
        assert!(gap >= Duration::from_millis(950), "waited {gap:?} after Retry-After: 1");
    }
    assert_eq!(retry_lines(&out).len(), 2, "{}", stderr(&out));

    // A Retry-After past the budget is not waited for: the run is journaled at once.
    proxy.set_mode(Mode::Status { status: 429, retry_after: Some(3600), count: 1000 });
    let (out, took) = train(&ws, &proxy.uri, "throttled");
    let local_id = assert_journaled(&ws, &out);
    assert!(took < Duration::from_secs(5), "took {took:?}");
    proxy.set_mode(Mode::Forward);
    assert_syncs_once(&ws, server, &proxy.uri, &local_id);
}

#[test]
fn tracking_503_burst_is_ridden_out_and_a_4xx_is_never_retried() {
    let server = MlflowServer::shared();
    let ws = Workspace::new();
    let proxy = FaultProxy::start(&server.uri, Mode::Status { status: 503, retry_after: None, count: 3 });
    let (out, took) = train(&ws, &proxy.uri, "burst");
    assert_eq!(report(&out)["sync"]["state"], "synced", "{}", stderr(&out));
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert_eq!(retry_lines(&out).len(), 3, "{}", stderr(&out));

    // A 400 is the server's answer: sent once, and the command says the server refused the run
    // (exit 9), which stays complete in the local store for a later sync.
    let before = proxy.seen().len();
    proxy.set_mode(Mode::Status { status: 400, retry_after: None, count: 1000 });
    let (out, took) = train(&ws, &proxy.uri, "refused");
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let listed = ws.json(&["runs", "list", "--experiment", "refused"]);
    let local_id = listed["runs"][0]["info"]["run_id"].as_str().expect("the run is in the local store").to_string();
    let sent = proxy.seen()[before..].to_vec();
    let distinct: std::collections::HashSet<_> = sent.iter().collect();
    assert_eq!(distinct.len(), sent.len(), "a 400 is an answer, each call sent once: {sent:?}");
    assert!(retry_lines(&out).is_empty(), "{}", stderr(&out));
    proxy.set_mode(Mode::Forward);
    assert_syncs_once(&ws, server, &proxy.uri, &local_id);
}

#[test]
fn tracking_slow_body_is_cut_off_within_the_bound() {
    let server = MlflowServer::shared();
    let ws = Workspace::new();
    let proxy = FaultProxy::start(&server.uri, Mode::SlowBody);
    let (out, took) = train(&ws, &proxy.uri, "slow");
    let local_id = assert_journaled(&ws, &out);
    assert!(took < Duration::from_secs(20), "slow body took {took:?}");
    proxy.set_mode(Mode::Forward);
    assert_syncs_once(&ws, server, &proxy.uri, &local_id);
}

// Entra ID sign-in and ARM, against the HTTPS stand-in (its own fault injection stands in for the
// proxy, which speaks plain HTTP) or against nothing at all.

const TEMPLATE: &str = r#"{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","contentVersion":"1.0.0.0","resources":[],
"outputs":{"rg":{"type":"string","value":"[resourceGroup().name]"}}}"#;

fn azure_setup() -> (Workspace, StandIn) {
    let ws = Workspace::new();
    ws.write("t.json", TEMPLATE);
    let standin = StandIn::start();
    standin.create_resource_group("rg", "westeurope");
    (ws, standin)
}

/// `mlops infra deploy` as the stand-in's service principal, default retry settings.
fn deploy(ws: &Workspace, standin: &StandIn) -> Command {
    let mut cmd = defaults(crate::infra::mlops(
        ws,
        standin,
        &["infra", "deploy", "-g", "rg", "-f", "t.json", "-o", "json", "-v", "--auth", "client-secret"],
    ));
    cmd.env("AZURE_TENANT_ID", standin::TENANT)
        .env("AZURE_CLIENT_ID", standin::CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", standin::CLIENT_SECRET);
    cmd
}

fn assert_deployed(out: &Output) {
    assert!(out.status.success(), "{}", stderr(out));
    let value: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(value["properties"]["provisioningState"], "Succeeded", "{value}");
}

/// Nothing reached ARM's deployments: no PUT was accepted.
fn assert_nothing_deployed(standin: &StandIn) {
    let accepted: Vec<_> =
        standin.deployment_requests().into_iter().filter(|l| l.method == "PUT" && l.status < 300).collect();
    assert!(accepted.is_empty(), "half-deployed: {accepted:?}");
}

#[test]
fn sign_in_unreachable_exits_9_within_seconds_naming_host_and_os_error() {
    let (ws, standin) = azure_setup();
    let port = free_port();
    let mut cmd = deploy(&ws, &standin);
    cmd.env("AZURE_AUTHORITY_HOST", format!("https://127.0.0.1:{port}"));
    let (out, took) = timed(cmd);
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
    assert!(took < Duration::from_secs(5), "closed authority took {took:?}");
    let err = stderr(&out);
    assert!(err.contains(&format!("cannot reach 127.0.0.1:{port}")) && err.contains("Connection refused"), "{err}");
    assert_eq!(retry_lines(&out).len(), 1, "{err}");
    assert_nothing_deployed(&standin);

    // An unknown host (DNS failure) too.
    let mut cmd = deploy(&ws, &standin);
    cmd.env("AZURE_AUTHORITY_HOST", "https://login.nosuchhost.invalid");
    let (out, took) = timed(cmd);
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
    assert!(took < Duration::from_secs(10), "unknown authority took {took:?}");
    assert!(stderr(&out).contains("cannot reach login.nosuchhost.invalid"), "{}", stderr(&out));

    // And a silent one.
    let silent = SilentServer::start();
    let mut cmd = deploy(&ws, &standin);
    cmd.env("AZURE_AUTHORITY_HOST", format!("https://127.0.0.1:{}", silent.port));
    let (out, took) = timed(cmd);
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
    assert!(took < Duration::from_secs(20), "silent authority took {took:?}");
    assert_nothing_deployed(&standin);
}

#[test]
fn sign_in_rides_out_503_429_and_resets() {
    let (ws, standin) = azure_setup();
    for kind in [
        FaultKind::Status { status: 503, retry_after: None },
        FaultKind::Status { status: 429, retry_after: Some(1) },
        FaultKind::Reset,
    ] {
        standin.inject(Fault { method: Some("POST"), path_contains: "oauth2".into(), kind: kind.clone(), count: 2 });
        let (out, took) = timed(deploy(&ws, &standin));
        assert_deployed(&out);
        assert!(took < Duration::from_secs(30), "{kind:?} took {took:?}");
        assert_eq!(retry_lines(&out).len(), 2, "{kind:?}: {}", stderr(&out));
    }
}

#[test]
fn arm_faults_are_retried_within_the_budget_and_never_half_deploy() {
    let (ws, standin) = azure_setup();
    // A 503 burst and a reset on the deployment PUT: retried, deployed once.
    for kind in [FaultKind::Status { status: 503, retry_after: None }, FaultKind::Reset] {
        standin.inject(Fault { method: Some("PUT"), path_contains: "/deployments/".into(), kind, count: 2 });
    }
    let (out, took) = timed(deploy(&ws, &standin));
    assert_deployed(&out);
    assert!(took < Duration::from_secs(60), "took {took:?}");

    // Throttled for longer than the budget: exit 9 at once, nothing deployed.
    let (ws, standin) = azure_setup();
    standin.inject(Fault {
        method: Some("PUT"),
        path_contains: "/deployments/".into(),
        kind: FaultKind::Status { status: 429, retry_after: Some(3600) },
        count: 100,
    });
    let (out, took) = timed(deploy(&ws, &standin));
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(stderr(&out).contains("429"), "{}", stderr(&out));
    assert_nothing_deployed(&standin);

    // ARM not listening: exit 9 within seconds, nothing deployed.
    let (ws, standin) = azure_setup();
    let mut cmd = deploy(&ws, &standin);
    let port = free_port();
    cmd.env("AZURE_RESOURCE_MANAGER_ENDPOINT", format!("https://127.0.0.1:{port}"))
        .env("AZURE_RESOURCE_MANAGER_AUDIENCE", standin.url());
    let (out, took) = timed(cmd);
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
    assert!(took < Duration::from_secs(5), "closed ARM took {took:?}");
    assert!(stderr(&out).contains("Connection refused"), "{}", stderr(&out));
    assert_nothing_deployed(&standin);

    // ARM accepting connections and never answering: each attempt is cut at MLOPS_HTTP_TIMEOUT
    // (default 30 s; 3 s here to keep the test short), all of them within the budget.
    let silent = SilentServer::start();
    let mut cmd = deploy(&ws, &standin);
    cmd.env("AZURE_RESOURCE_MANAGER_ENDPOINT", format!("https://127.0.0.1:{}", silent.port))
        .env("AZURE_RESOURCE_MANAGER_AUDIENCE", standin.url())
        .env("MLOPS_HTTP_TIMEOUT", "3");
    let (out, took) = timed(cmd);
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
    assert!(took < Duration::from_secs(30), "silent ARM took {took:?}");
    assert!(stderr(&out).contains("timed out") || stderr(&out).contains("retry budget"), "{}", stderr(&out));
    assert_nothing_deployed(&standin);
}
