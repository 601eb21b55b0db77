//! HTTPS in front of a plain-HTTP server (the emulator): TLS ends here with a certificate made
//! at test time for 127.0.0.1 and localhost, and the bytes go on to the server unchanged. A
//! client reaches the emulator over TLS only if it trusts this certificate.

use std::{net::SocketAddr, sync::Arc, thread::JoinHandle};

use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        ServerConfig,
        pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
    },
};

/// A TLS acceptor with a certificate made now for 127.0.0.1 and localhost, and that
/// certificate in PEM (the CA a client must trust).
pub fn self_signed_acceptor() -> (TlsAcceptor, String) {
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
    (acceptor, ca_pem)
}

/// A running front; dropping it stops it.
pub struct TlsFront {
    addr: SocketAddr,
    ca_pem: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TlsFront {
    /// Listens on 127.0.0.1 (a free port) and forwards every connection to `backend`.
    pub fn start(backend: SocketAddr) -> Self {
        let (acceptor, ca_pem) = self_signed_acceptor();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let thread = std::thread::spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                tokio::select! {
                    () = forward(listener, acceptor, backend) => {}
                    _ = stopped => {}
                }
            });
        });
        Self { addr, ca_pem, stop: Some(stop), thread: Some(thread) }
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The certificate (its own CA), PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn forward(listener: tokio::net::TcpListener, acceptor: TlsAcceptor, backend: SocketAddr) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            // A client that does not trust the certificate aborts the handshake: nothing to forward.
            let Ok(mut tls) = acceptor.accept(stream).await else { return };
            let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await else { return };
            let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
        });
    }
}
