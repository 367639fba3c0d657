//! An HTTP proxy in front of a real server that injects faults: 500s for a while, any status
//! with `Retry-After`, a body that trickles in, or a server that stops answering (connections
//! dropped) after some number of requests; and a server that accepts connections and never answers.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;

/// What the proxy does with the next requests.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    Forward,
    /// Answer this many requests with a 500 HTML page, then forward.
    Fail500(usize),
    /// Forward this many requests, then drop every connection mid-response.
    DieAfter(usize),
    /// Answer `count` requests with `status` (and `Retry-After: retry_after` seconds), then forward.
    Status {
        status: u16,
        retry_after: Option<u64>,
        count: usize,
    },
    /// Send the headers of a 200, then one byte of body per second, forever.
    SlowBody,
}

#[derive(Clone)]
struct Shared {
    upstream: String,
    mode: Arc<Mutex<Mode>>,
    seen: Arc<Mutex<Vec<String>>>,
    times: Arc<Mutex<Vec<std::time::Instant>>>,
    client: reqwest::Client,
}

/// A running proxy; dropping it stops the runtime that serves it.
pub struct FaultProxy {
    pub uri: String,
    shared: Shared,
    _runtime: tokio::runtime::Runtime,
}

impl FaultProxy {
    pub fn start(upstream: &str, mode: Mode) -> Self {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
        let shared = Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            mode: Arc::new(Mutex::new(mode)),
            seen: Arc::new(Mutex::new(Vec::new())),
            times: Arc::new(Mutex::new(Vec::new())),
            client: reqwest::Client::new(),
        };
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
        let uri = format!("http://{}", listener.local_addr().expect("addr"));
        let app = axum::Router::new().fallback(proxy).with_state(shared.clone());
        runtime.spawn(async move { axum::serve(listener, app).await });
        FaultProxy { uri, shared, _runtime: runtime }
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().expect("lock") = mode;
    }

    /// "METHOD path" of every request that reached the proxy, in order.
    pub fn seen(&self) -> Vec<String> {
        self.shared.seen.lock().expect("lock").clone()
    }

    /// When each request of [`FaultProxy::seen`] arrived.
    pub fn times(&self) -> Vec<std::time::Instant> {
        self.shared.times.lock().expect("lock").clone()
    }
}

async fn proxy(State(shared): State<Shared>, request: Request) -> Response {
    let method = request.method().clone();
    let path_and_query = request.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default();
    shared.seen.lock().expect("lock").push(format!("{method} {}", request.uri().path()));
    shared.times.lock().expect("lock").push(std::time::Instant::now());
    let action = {
        let mut mode = shared.mode.lock().expect("lock");
        match *mode {
            Mode::Forward => Mode::Forward,
            Mode::Fail500(0) => {
                *mode = Mode::Forward;
                Mode::Forward
            }
            Mode::Fail500(n) => {
                *mode = Mode::Fail500(n - 1);
                Mode::Fail500(n)
            }
            Mode::DieAfter(0) => Mode::DieAfter(0),
            Mode::DieAfter(n) => {
                *mode = Mode::DieAfter(n - 1);
                Mode::Forward
            }
            Mode::Status { count: 0, .. } => {
                *mode = Mode::Forward;
                Mode::Forward
            }
            Mode::Status { status, retry_after, count } => {
                *mode = Mode::Status { status, retry_after, count: count - 1 };
                Mode::Status { status, retry_after, count }
            }
            Mode::SlowBody => Mode::SlowBody,
        }
    };
    match action {
        Mode::Fail500(_) => Response::builder()
            .status(500)
            .header("content-type", "text/html")
            .body(Body::from("<html><body><h1>Internal Server Error</h1></body></html>"))
            .expect("response"),
        Mode::DieAfter(_) => {
            // Headers, then a body that fails: the connection is torn down mid-response.
            let failing = futures_stream_error();
            Response::builder().status(200).body(Body::from_stream(failing)).expect("response")
        }
        Mode::Status { status, retry_after, .. } => {
            let mut builder = Response::builder().status(status).header("content-type", "application/json");
            if let Some(seconds) = retry_after {
                builder = builder.header("retry-after", seconds.to_string());
            }
            let body = format!(r#"{{"error_code":"INJECTED","message":"injected HTTP {status}"}}"#);
            builder.body(Body::from(body)).expect("response")
        }
        Mode::SlowBody => {
            let trickle = futures::stream::unfold((), |()| async {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                Some((Ok::<_, std::io::Error>(b" ".to_vec()), ()))
            });
            Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(Body::from_stream(trickle))
                .expect("response")
        }
        Mode::Forward => forward(&shared, method, &path_and_query, request).await,
    }
}

/// A server that accepts every connection and never sends a byte: a hung process, a firewall
/// that swallows packets after the handshake.
pub struct SilentServer {
    pub port: u16,
    _runtime: tokio::runtime::Runtime,
}

impl SilentServer {
    pub fn start() -> Self {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
        let port = listener.local_addr().expect("addr").port();
        runtime.spawn(async move {
            let mut held = Vec::new();
            while let Ok((tcp, _)) = listener.accept().await {
                held.push(tcp);
            }
        });
        SilentServer { port, _runtime: runtime }
    }
}

fn futures_stream_error() -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    futures::stream::once(async {
        Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "injected: server died"))
    })
}

async fn forward(shared: &Shared, method: axum::http::Method, path_and_query: &str, request: Request) -> Response {
    let headers = request.headers().clone();
    let body = axum::body::to_bytes(request.into_body(), usize::MAX).await.unwrap_or_default();
    let url = format!("{}{}", shared.upstream, path_and_query);
    let method = reqwest::Method::from_bytes(method.as_str().as_bytes()).expect("method");
    let mut upstream = shared.client.request(method, url).body(body.to_vec());
    for (name, value) in headers.iter() {
        if name != "host" && name != "content-length" {
            upstream = upstream.header(name.as_str(), value.as_bytes());
        }
    }
    match upstream.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_string);
            let bytes = response.bytes().await.unwrap_or_default();
            let mut builder = Response::builder().status(status);
            if let Some(ct) = content_type {
                builder = builder.header("content-type", ct);
            }
            builder.body(Body::from(bytes)).expect("response")
        }
        Err(e) => Response::builder().status(502).body(Body::from(e.to_string())).expect("response"),
    }
}
