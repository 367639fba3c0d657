//! Each credential kind of `mlops infra` against the stand-in's Entra ID and CI token sources.

use std::process::Command;

use rcgen::PublicKeyData as _;

use crate::infra::mlops;
use crate::standin::{self, StandIn};
use crate::support::{Workspace, stderr};

const TEMPLATE: &str = r#"{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","contentVersion":"1.0.0.0","resources":[],
"outputs":{"rg":{"type":"string","value":"[resourceGroup().name]"}}}"#;

fn setup() -> (Workspace, StandIn) {
    let ws = Workspace::new();
    ws.write("t.json", TEMPLATE);
    let standin = StandIn::start();
    standin.create_resource_group("rg", "westeurope");
    (ws, standin)
}

fn deploy(ws: &Workspace, standin: &StandIn, auth: &str) -> Command {
    mlops(ws, standin, &["infra", "deploy", "-g", "rg", "-f", "t.json", "-o", "json", "--auth", auth])
}

fn assert_deployed(mut cmd: Command, standin: &StandIn) {
    let out = cmd.output().expect("run");
    assert!(out.status.success(), "{}", stderr(&out));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(value["properties"]["outputs"]["rg"]["value"], "rg");
    let arm = standin.deployment_requests();
    assert!(
        !arm.is_empty()
            && arm.iter().all(|l| l.authorization.as_deref().is_some_and(|a| a.starts_with("Bearer standin-at-")))
    );
}

#[test]
fn client_certificate() {
    let (ws, standin) = setup();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("RSA key");
    let cert =
        rcgen::CertificateParams::new(vec!["mlops-sp".to_string()]).expect("params").self_signed(&key).expect("cert");
    standin.trust_certificate_key(&key.subject_public_key_info());
    let pem = ws.write("sp.pem", &format!("{}{}", key.serialize_pem(), cert.pem()));
    let mut cmd = deploy(&ws, &standin, "client-certificate");
    cmd.env("AZURE_TENANT_ID", standin::TENANT)
        .env("AZURE_CLIENT_ID", standin::CERT_CLIENT_ID)
        .env("AZURE_CLIENT_CERTIFICATE_PATH", &pem);
    assert_deployed(cmd, &standin);
    // A certificate that is not the registered one is refused by Entra.
    let other = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("RSA key");
    let other_cert =
        rcgen::CertificateParams::new(vec!["x".to_string()]).expect("params").self_signed(&other).expect("cert");
    let wrong = ws.write("wrong.pem", &format!("{}{}", other.serialize_pem(), other_cert.pem()));
    let mut cmd = deploy(&ws, &standin, "client-certificate");
    cmd.env("AZURE_TENANT_ID", standin::TENANT)
        .env("AZURE_CLIENT_ID", standin::CERT_CLIENT_ID)
        .env("AZURE_CLIENT_CERTIFICATE_PATH", &wrong);
    let out = cmd.output().expect("run");
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    assert!(stderr(&out).contains("700027"), "{}", stderr(&out));
}

#[test]
fn workload_identity_token_file() {
    let (ws, standin) = setup();
    let token = standin.mint_federated("system:serviceaccount:ml:runner");
    let file = ws.write("token", &format!("{token}\n"));
    let mut cmd = deploy(&ws, &standin, "auto");
    cmd.env("AZURE_TENANT_ID", standin::TENANT)
        .env("AZURE_CLIENT_ID", standin::FEDERATED_CLIENT_ID)
        .env("AZURE_FEDERATED_TOKEN_FILE", &file);
    assert_deployed(cmd, &standin);
}

#[test]
fn github_actions_oidc() {
    let (ws, standin) = setup();
    let mut cmd = deploy(&ws, &standin, "github-oidc");
    cmd.env("AZURE_TENANT_ID", standin::TENANT)
        .env("AZURE_CLIENT_ID", standin::FEDERATED_CLIENT_ID)
        .env("ACTIONS_ID_TOKEN_REQUEST_URL", format!("{}/github/idtoken?api-version=2.0", standin.url()))
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", standin::GITHUB_REQUEST_TOKEN);
    assert_deployed(cmd, &standin);
    let oidc = standin.log().into_iter().find(|l| l.path == "/github/idtoken").expect("OIDC request");
    assert!(oidc.query.contains("audience=api%3A%2F%2FAzureADTokenExchange"), "{}", oidc.query);
}

#[test]
fn azure_pipelines_oidc() {
    let (ws, standin) = setup();
    let mut cmd = deploy(&ws, &standin, "azure-pipelines");
    cmd.env("AZURE_TENANT_ID", standin::TENANT)
        .env("AZURE_CLIENT_ID", standin::FEDERATED_CLIENT_ID)
        .env("SYSTEM_OIDCREQUESTURI", format!("{}/pipelines/oidc", standin.url()))
        .env("AZURESUBSCRIPTION_SERVICE_CONNECTION_ID", standin::SERVICE_CONNECTION_ID)
        .env("SYSTEM_ACCESSTOKEN", standin::PIPELINES_ACCESS_TOKEN);
    assert_deployed(cmd, &standin);
}

#[test]
fn managed_identity_app_service_endpoint() {
    let (ws, standin) = setup();
    let mut cmd = deploy(&ws, &standin, "auto");
    cmd.env("IDENTITY_ENDPOINT", format!("{}/msi/token", standin.url())).env("IDENTITY_HEADER", standin::MSI_HEADER);
    assert_deployed(cmd, &standin);
}

#[test]
fn azure_cli() {
    let (ws, standin) = setup();
    let bin = ws.path().join("bin");
    std::fs::create_dir(&bin).expect("bin");
    let token = standin.issue_token();
    let expires = chrono::Utc::now().timestamp() + 3600;
    let script = format!(
        "#!/bin/sh\necho '{{\"accessToken\": \"{token}\", \"expiresOn\": \"2099-01-01 00:00:00.000000\", \"expires_on\": {expires}, \"subscription\": \"{}\", \"tenant\": \"{}\", \"tokenType\": \"Bearer\"}}'\n",
        standin::SUBSCRIPTION,
        standin::TENANT
    );
    let az = bin.join("az");
    std::fs::write(&az, script).expect("az");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut cmd = deploy(&ws, &standin, "auto");
    cmd.env("PATH", format!("{}:/usr/bin:/bin", bin.display()));
    assert_deployed(cmd, &standin);
}

#[test]
fn custom_audience_and_unknown_cloud() {
    let (ws, standin) = setup();
    let mut cmd = deploy(&ws, &standin, "client-secret");
    cmd.env("AZURE_TENANT_ID", standin::TENANT)
        .env("AZURE_CLIENT_ID", standin::CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", standin::CLIENT_SECRET)
        .env("AZURE_RESOURCE_MANAGER_AUDIENCE", "https://management.core.windows.net/");
    assert_deployed(cmd, &standin);
    let mut cmd = deploy(&ws, &standin, "client-secret");
    cmd.env("AZURE_CLOUD", "Mars");
    let out = cmd.output().expect("run");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("unknown cloud \"Mars\""));
}

/// With nothing set, one attempt names every variable each way of signing in lacks, and a forced
/// method names all of its own.
#[test]
fn nothing_set_names_every_missing_variable_at_once() {
    let (ws, standin) = setup();
    let out = deploy(&ws, &standin, "auto").output().expect("run");
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    for line in [
        "- client-secret: AZURE_CLIENT_SECRET, AZURE_TENANT_ID and AZURE_CLIENT_ID are not set",
        "- client-certificate: AZURE_CLIENT_CERTIFICATE_PATH, AZURE_TENANT_ID and AZURE_CLIENT_ID are not set",
        "- workload-identity: AZURE_FEDERATED_TOKEN_FILE, AZURE_TENANT_ID and AZURE_CLIENT_ID are not set",
        "- github-oidc: ACTIONS_ID_TOKEN_REQUEST_URL, ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "- azure-pipelines: SYSTEM_OIDCREQUESTURI, AZURESUBSCRIPTION_SERVICE_CONNECTION_ID, SYSTEM_ACCESSTOKEN",
    ] {
        assert!(stderr(&out).contains(line), "{line:?} not in {}", stderr(&out));
    }
    let mut cmd = deploy(&ws, &standin, "client-secret");
    cmd.env("AZURE_TENANT_ID", standin::TENANT);
    let out = cmd.output().expect("run");
    assert_eq!(out.status.code(), Some(10), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("--auth client-secret cannot be used: AZURE_CLIENT_SECRET and AZURE_CLIENT_ID are not set"),
        "{}",
        stderr(&out)
    );
    assert!(standin.deployment_requests().is_empty(), "nothing reached ARM");
}
