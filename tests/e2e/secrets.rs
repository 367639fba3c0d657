//! No secret ever printed: planted secrets (URL password, basic auth, tracking token, Azure client
//! secret, federated token, SAS signature, scoring key) sent to a hostile server that echoes every
//! request back in its error body, at `-vvv` and `RUST_LOG=trace`, in text and JSON output. None
//! may appear in stdout or stderr, nor may their encoded forms (base64 basic auth, URL encoding).

use std::process::{Command, Output};
use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::support::{Workspace, diabetes, stderr};

/// Answers every request with a 400 whose body repeats the request: method, URL, every header
/// and the body, in both the MLflow and the Entra ID error shapes.
async fn echo(request: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let mut text = format!("{} {}", request.method(), request.uri());
    for (name, value) in request.headers() {
        text.push_str(&format!(" | {name}: {}", String::from_utf8_lossy(value.as_bytes())));
    }
    let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    text.push_str(&format!(" | body: {}", String::from_utf8_lossy(&body)));
    let doc = serde_json::json!({
        "error_code": "ECHO", "message": text,
        "error": "invalid_request", "error_description": text, "error_codes": [90002],
    });
    Ok(Response::builder()
        .status(400)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(doc.to_string())))
        .expect("response"))
}

/// The echo server on plain HTTP and on HTTPS (with its own CA, written to `ca.pem` in `ws`).
struct Echo {
    http: String,
    https: String,
    ca_pem: std::path::PathBuf,
    _runtime: tokio::runtime::Runtime,
}

impl Echo {
    fn start(ws: &Workspace) -> Echo {
        let _ = tokio_rustls::rustls::crypto::aws_lc_rs::default_provider().install_default();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "echo CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("CA");
        let leaf_key = KeyPair::generate().expect("key");
        let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
            .expect("params")
            .signed_by(&leaf_key, &ca)
            .expect("leaf");
        let ca_pem = ws.write("ca.pem", &ca.pem());
        let config = ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(leaf.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
            )
            .expect("TLS config");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
        let plain = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
        let tls = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
        let http = format!("http://{}", plain.local_addr().expect("addr"));
        let https = format!("https://{}", tls.local_addr().expect("addr"));
        runtime.spawn(async move {
            while let Ok((tcp, _)) = plain.accept().await {
                tokio::spawn(async move {
                    let conn = hyper::server::conn::http1::Builder::new();
                    let _ = conn.serve_connection(TokioIo::new(tcp), service_fn(echo)).await;
                });
            }
        });
        runtime.spawn(async move {
            while let Ok((tcp, _)) = tls.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(tcp).await else { return };
                    let conn = hyper::server::conn::http1::Builder::new();
                    let _ = conn.serve_connection(TokioIo::new(stream), service_fn(echo)).await;
                });
            }
        });
        Echo { http, https, ca_pem, _runtime: runtime }
    }
}

/// The planted secrets, and the forms in which they travel.
const PASSWORD: &str = "pw-PLANTED-url-7f3a";
const BASIC_PASSWORD: &str = "pw-PLANTED-basic-2c9d";
const TOKEN: &str = "tok-PLANTED-mlflow-81be";
const CLIENT_SECRET: &str = "cs-PLANTED-azure~5e61";
const FEDERATED: &str = "eyJPLANTED.federated.token44";
const SAS_SIG: &str = "PLANTEDsasSig0a9b";
const SCORING_KEY: &str = "key-PLANTED-scoring-d00d";

fn forbidden() -> Vec<String> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let mut all: Vec<String> =
        [PASSWORD, BASIC_PASSWORD, TOKEN, CLIENT_SECRET, FEDERATED, SAS_SIG, SCORING_KEY].map(String::from).to_vec();
    all.push(b64(&format!("echo-user:{PASSWORD}")));
    all.push(b64(&format!("basic-user:{BASIC_PASSWORD}")));
    all.push(CLIENT_SECRET.replace('~', "%7E"));
    all
}

/// Runs `cmd` twice, at `-vvv` and with `RUST_LOG=trace`, and fails on any planted secret in the
/// output; returns the outputs for further checks.
fn assert_clean(make: impl Fn() -> Command, what: &str) -> Vec<Output> {
    let mut outputs = Vec::new();
    for trace in [false, true] {
        let mut cmd = make();
        if trace {
            cmd.env("RUST_LOG", "trace");
        } else {
            cmd.arg("-vvv");
        }
        let out = cmd.output().expect("run mlops");
        let all = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        for secret in forbidden() {
            assert!(!all.contains(&secret), "{what} (trace {trace}) printed {secret:?}:\n{all}");
        }
        outputs.push(out);
    }
    outputs
}

#[test]
fn planted_secrets_never_print_even_when_a_server_echoes_them() {
    let ws = Workspace::new();
    let echo = Echo::start(&ws);
    let data = diabetes().display().to_string();
    let host = echo.http.trim_start_matches("http://").to_string();

    // Tracking: a password in the URI, basic auth from variables, a bearer token; text and JSON.
    let url_with_password = format!("http://echo-user:{PASSWORD}@{host}");
    for (uri, env) in [
        (url_with_password.clone(), vec![]),
        (
            echo.http.clone(),
            vec![("MLFLOW_TRACKING_USERNAME", "basic-user"), ("MLFLOW_TRACKING_PASSWORD", BASIC_PASSWORD)],
        ),
        (echo.http.clone(), vec![("MLFLOW_TRACKING_TOKEN", TOKEN)]),
    ] {
        for json in [false, true] {
            let outputs = assert_clean(
                || {
                    let mut cmd = ws.mlops(&["train", "--data", &data, "--tracking-uri", &uri]);
                    if json {
                        cmd.args(["-o", "json"]);
                    }
                    cmd.envs(env.iter().copied());
                    cmd
                },
                "train",
            );
            // The server's echo did reach the output, masked: the test would pass vacuously otherwise.
            assert!(outputs.iter().any(|o| stderr(o).contains("***")), "{}", stderr(&outputs[0]));
        }
    }
    // The URI is still shown, with its password masked, where the run's destination is named.
    let out = ws.mlops(&["train", "--data", &data, "--tracking-uri", &url_with_password]).output().expect("run");
    assert!(stderr(&out).contains(&format!("http://echo-user:***@{host}")), "{out:?}");
    assert_clean(|| ws.mlops(&["runs", "sync", "--to", &url_with_password]), "runs sync");

    // Azure sign-in: a client secret and a federated token, echoed by a hostile authority.
    ws.write("t.json", r#"{"$schema":"https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#","contentVersion":"1.0.0.0","resources":[]}"#);
    let federated = ws.write("federated-token", FEDERATED);
    for auth in ["client-secret", "workload-identity"] {
        let outputs = assert_clean(
            || {
                let mut cmd = ws.mlops(&["infra", "validate", "-g", "rg", "-f", "t.json", "--auth", auth]);
                cmd.env("AZURE_AUTHORITY_HOST", &echo.https)
                    .env("AZURE_RESOURCE_MANAGER_ENDPOINT", &echo.https)
                    .env("SSL_CERT_FILE", &echo.ca_pem)
                    .env("AZURE_SUBSCRIPTION_ID", "00000000-0000-0000-0000-000000000000")
                    .env("AZURE_TENANT_ID", "72f988bf-86f1-41af-91ab-2d7cd011db47")
                    .env("AZURE_CLIENT_ID", "11111111-2222-3333-4444-555555555555")
                    .env("AZURE_CLIENT_SECRET", CLIENT_SECRET)
                    .env("AZURE_FEDERATED_TOKEN_FILE", &federated);
                cmd
            },
            auth,
        );
        assert!(outputs.iter().all(|o| o.status.code() == Some(10)), "{}", stderr(&outputs[0]));
        assert!(stderr(&outputs[0]).contains("***"), "the echo reached the output, masked: {}", stderr(&outputs[0]));
    }

    // A SAS signature written into a request-log URL, and one given as the credential.
    let model = crate::serve::train(&ws);
    let in_url = format!("https://acct.blob.core.windows.net/logs/p?sv=2024-01-01&sig={SAS_SIG}");
    assert_clean(|| ws.mlops(&["serve", "--model", &model, "--port", "0", "--request-log", &in_url]), "SAS in URL");
    assert_clean(
        || {
            let mut cmd = ws.mlops(&[
                "serve",
                "--model",
                &model,
                "--port",
                "0",
                "--request-log",
                &format!("{}/logs/p", echo.http),
            ]);
            cmd.env("MLOPS_REQUEST_LOG_SAS", format!("sv=2024-01-01&sig={SAS_SIG}"));
            cmd
        },
        "SAS credential",
    );

    // The scoring key of a smoke test against an endpoint that echoes it.
    assert_clean(
        || ws.mlops(&["smoke-test", "--url", &format!("{}/score", echo.http), "--key", SCORING_KEY, "--timeout", "2"]),
        "smoke-test",
    );
}
