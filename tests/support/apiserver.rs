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
/// ServiceAccounts by "namespace/name", as JSON objects.
type Accounts = Arc<Mutex<std::collections::HashMap<String, serde_json::Value>>>;

use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        ServerConfig,
        pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
    },
};

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
        let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .expect("self-signed certificate");
        let ca_pem = cert.cert.pem();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
        let chain = vec![CertificateDer::from(cert.cert.der().to_vec())];
        let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocols")
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("server config");
        let acceptor = TlsAcceptor::from(Arc::new(config));
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
        self.accounts.lock().expect("lock").insert(format!("{namespace}/{name}"), account);
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
                async move { Ok::<_, std::convert::Infallible>(answer(&request, &seen, &accounts)) }
            });
            let _ =
                hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), service).await;
        });
    }
}

fn answer(
    request: &Request<hyper::body::Incoming>,
    seen: &Mutex<Vec<String>>,
    accounts: &Accounts,
) -> Response<Full<Bytes>> {
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
    if let Some((namespace, name)) =
        path.strip_prefix("/api/v1/namespaces/").and_then(|r| r.split_once("/serviceaccounts/"))
    {
        return match accounts.lock().expect("lock").get(&format!("{namespace}/{name}")) {
            Some(account) => json(200, &account.to_string()),
            None => json(
                404,
                r#"{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}"#,
            ),
        };
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
