//! An HTTPS stand-in for a Kubernetes API server: a self-signed certificate made at test
//! time, `/version` and `/api` answered, every Authorization header recorded. Bearer tokens
//! it is told to accept get 200; anything else 401, as a real API server would answer.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    thread::JoinHandle,
};

use base64::Engine;
use http_body_util::Full;
use hyper::{Request, Response, body::Bytes, service::service_fn};
use hyper_util::rt::TokioIo;
/// Objects by their API path (`/api/v1/namespaces/NS/secrets/NAME`), as JSON, and the last
/// resourceVersion handed out.
#[derive(Default)]
struct Store {
    objects: std::collections::HashMap<String, serde_json::Value>,
    version: u64,
}
type Accounts = Arc<Mutex<Store>>;

use tokio_rustls::TlsAcceptor;

/// A running stand-in; dropping it stops the server.
pub struct ApiServer {
    addr: SocketAddr,
    ca_pem: String,
    seen: Arc<Mutex<Vec<String>>>,
    accounts: Accounts,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ApiServer {
    /// Starts on 127.0.0.1 with a fresh self-signed certificate.
    pub fn start() -> Self {
        let (acceptor, ca_pem) = super::tls_front::self_signed_acceptor();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let accounts: Accounts = Arc::default();
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let recorder = seen.clone();
        let served = accounts.clone();
        let thread = std::thread::spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                tokio::select! {
                    () = accept_loop(listener, acceptor, recorder, served) => {}
                    _ = stopped => {}
                }
            });
        });
        Self { addr, ca_pem, seen, accounts, stop: Some(stop), thread: Some(thread) }
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The CA (its own certificate) as kubeconfig's base64 `certificate-authority-data`.
    pub fn ca_data(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.ca_pem)
    }

    /// Registers a ServiceAccount with these annotations, served at
    /// `/api/v1/namespaces/NS/serviceaccounts/NAME`.
    pub fn add_service_account(&self, namespace: &str, name: &str, annotations: &[(&str, &str)]) {
        let annotations: serde_json::Map<String, serde_json::Value> =
            annotations.iter().map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v))).collect();
        let account = serde_json::json!({
            "apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": { "name": name, "namespace": namespace, "annotations": annotations, "uid": "0000-stand-in" },
        });
        self.put(&format!("/api/v1/namespaces/{namespace}/serviceaccounts/{name}"), account);
    }

    /// Stores `object` at its API path, as if created there.
    pub fn put(&self, path: &str, object: serde_json::Value) {
        self.accounts.lock().expect("lock").objects.insert(path.to_owned(), object);
    }

    /// The object at an API path, if any.
    pub fn get(&self, path: &str) -> Option<serde_json::Value> {
        self.accounts.lock().expect("lock").objects.get(path).cloned()
    }

    /// A kubeconfig for this server (token auth), as kube-rs and kubectl read it.
    pub fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: standin\n  cluster:\n    server: {}\n    certificate-authority-data: {}\n\
             contexts:\n- name: standin\n  context:\n    cluster: standin\n    user: standin\ncurrent-context: standin\n\
             users:\n- name: standin\n  user:\n    token: stand-in-token\n",
            self.url(),
            self.ca_data()
        )
    }

    /// Every bearer token presented so far, in order.
    pub fn bearer_tokens(&self) -> Vec<String> {
        self.seen.lock().expect("lock").clone()
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    acceptor: TlsAcceptor,
    seen: Arc<Mutex<Vec<String>>>,
    accounts: Accounts,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let (acceptor, seen, accounts) = (acceptor.clone(), seen.clone(), accounts.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(stream).await else { return };
            let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                let (seen, accounts) = (seen.clone(), accounts.clone());
                async move {
                    use http_body_util::BodyExt;
                    let (parts, body) = request.into_parts();
                    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                    let request = Request::from_parts(parts, body);
                    Ok::<_, std::convert::Infallible>(answer(&request, &seen, &accounts))
                }
            });
            let _ =
                hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), service).await;
        });
    }
}

fn answer(request: &Request<Bytes>, seen: &Mutex<Vec<String>>, accounts: &Accounts) -> Response<Full<Bytes>> {
    let bearer = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let Some(token) = bearer else {
        return json(
            401,
            r#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Unauthorized","code":401}"#,
        );
    };
    seen.lock().expect("lock").push(token);
    let path = request.uri().path();
    if path.starts_with("/api/v1/namespaces/") || path.starts_with("/apis/") {
        let mut store = accounts.lock().expect("lock");
        return store.serve(request.method().as_str(), path, request.body());
    }
    match path {
        "/version" => json(
            200,
            r#"{"major":"1","minor":"33","gitVersion":"v1.33.0","gitCommit":"stand-in","gitTreeState":"clean",
               "buildDate":"2026-01-01T00:00:00Z","goVersion":"go1.24","compiler":"gc","platform":"linux/amd64"}"#,
        ),
        "/api" => json(
            200,
            r#"{"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"127.0.0.1"}]}"#,
        ),
        _ => json(
            404,
            r#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}"#,
        ),
    }
}

fn json(status: u16, body: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("response")
}

const NOT_FOUND: &str =
    r#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}"#;
const CONFLICT: &str =
    r#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Conflict","code":409}"#;

impl Store {
    /// GET, POST (create), PUT (replace, checking resourceVersion) and PATCH (strategic merge,
    /// lists merged by `name`) on stored objects, as the API server answers them.
    fn serve(&mut self, method: &str, path: &str, body: &[u8]) -> Response<Full<Bytes>> {
        let parsed = serde_json::from_slice::<serde_json::Value>(body);
        match (method, parsed) {
            ("GET", _) => {
                self.objects.get(path).map_or_else(|| json(404, NOT_FOUND), |o| json(200, &o.to_string()))
            }
            ("POST", Ok(object)) => {
                let name = object["metadata"]["name"].as_str().unwrap_or_default();
                let key = format!("{path}/{name}");
                if self.objects.contains_key(&key) {
                    return json(409, CONFLICT);
                }
                self.store(key, object, 201)
            }
            ("PUT", Ok(object)) => {
                let Some(current) = self.objects.get(path) else { return json(404, NOT_FOUND) };
                if object["metadata"]["resourceVersion"] != current["metadata"]["resourceVersion"] {
                    return json(409, CONFLICT);
                }
                self.store(path.to_owned(), object, 200)
            }
            ("PATCH", Ok(patch)) => {
                let Some(mut current) = self.objects.get(path).cloned() else { return json(404, NOT_FOUND) };
                merge(&mut current, &patch);
                self.store(path.to_owned(), current, 200)
            }
            _ => json(
                400,
                r#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"BadRequest","code":400}"#,
            ),
        }
    }

    fn store(&mut self, key: String, mut object: serde_json::Value, status: u16) -> Response<Full<Bytes>> {
        self.version += 1;
        object["metadata"]["resourceVersion"] = serde_json::Value::from(self.version.to_string());
        let body = object.to_string();
        self.objects.insert(key, object);
        json(status, &body)
    }
}

/// A strategic merge: objects merge key by key, lists of named objects merge by name.
fn merge(target: &mut serde_json::Value, patch: &serde_json::Value) {
    use serde_json::Value;
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                merge(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
        (Value::Array(target), Value::Array(patch)) if patch.iter().all(|p| p.get("name").is_some()) => {
            for item in patch {
                match target.iter_mut().find(|t| t.get("name") == item.get("name")) {
                    Some(existing) => merge(existing, item),
                    None => target.push(item.clone()),
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}
