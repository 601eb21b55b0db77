//! TLS for the webhook: certificate and key from files, re-read when they rotate
//! (cert-manager and Secret updates swap them in place), without dropping connections.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
};

use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use tokio_rustls::rustls::{
    self, ServerConfig,
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};

use crate::{error::Error, telemetry::metrics::Metrics};

/// Serves whatever certificate was last loaded successfully.
#[derive(Debug)]
pub(crate) struct ReloadingCert {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    metrics: Metrics,
}

/// Serves the pair automatic TLS last put in (see `auto_tls`).
#[derive(Debug)]
pub(crate) struct SwappableCert {
    current: RwLock<Option<Arc<CertifiedKey>>>,
    metrics: Metrics,
}

impl SwappableCert {
    /// Nothing in service yet; `metrics` learns each pair's expiry.
    pub(crate) fn empty(metrics: Metrics) -> Arc<Self> {
        Arc::new(Self { current: RwLock::new(None), metrics })
    }

    /// Whether a pair is in service (handshakes fail until one is).
    pub(crate) fn is_loaded(&self) -> bool {
        self.current.read().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    /// Puts a PEM chain and key in service.
    pub(crate) fn set(&self, cert_pem: &[u8], key_pem: &[u8]) -> Result<(), String> {
        let (fresh, not_after) = pair_from_pem(cert_pem, key_pem)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(fresh));
        self.metrics.certificate_in_service(not_after);
        Ok(())
    }
}

impl ResolvesServerCert for SwappableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A rustls server configuration resolving through `resolver`.
pub(crate) fn server_config(resolver: Arc<dyn ResolvesServerCert>) -> Result<ServerConfig, Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Internal(format!("TLS setup: {e}")))?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The pair, and when its (first, serving) certificate expires: for the gauge only, so a
/// validity this reader cannot follow leaves the gauge alone rather than refusing the pair.
fn pair_from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<(CertifiedKey, Option<u64>), String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot read the certificate: {e}"))?;
    let not_after = chain.first().and_then(|der| super::not_after::not_after(der));
    let key =
        PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| format!("cannot read the private key: {e}"))?;
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let pair =
        CertifiedKey::from_der(chain, key, &provider).map_err(|e| format!("not a usable pair: {e}"))?;
    Ok((pair, not_after))
}

impl ReloadingCert {
    /// Loads the pair once; a bad pair at start-up is a configuration error. `metrics`
    /// learns its expiry, and each reloaded pair's.
    pub(crate) fn load(cert: &Path, key: &Path, metrics: Metrics) -> Result<Arc<Self>, Error> {
        let (current, not_after) =
            read_pair(cert, key).map_err(|why| Error::usage("--tls-cert/--tls-key", why))?;
        metrics.certificate_in_service(not_after);
        Ok(Arc::new(Self {
            cert: cert.to_owned(),
            key: key.to_owned(),
            current: RwLock::new(Arc::new(current)),
            metrics,
        }))
    }

    /// Re-reads the files; on failure the previous certificate stays in service.
    pub(crate) fn reload(&self) -> Result<(), String> {
        let (fresh, not_after) = read_pair(&self.cert, &self.key)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(fresh);
        self.metrics.certificate_in_service(not_after);
        Ok(())
    }

    /// The files to watch.
    pub(crate) fn files(&self) -> Vec<PathBuf> {
        vec![self.cert.clone(), self.key.clone()]
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap_or_else(|p| p.into_inner()).clone())
    }
}

fn read_pair(cert: &Path, key: &Path) -> Result<(CertifiedKey, Option<u64>), String> {
    let read = |path: &Path| {
        crate::input::read_file(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    let (cert_pem, key_pem) = (read(cert)?, read(key)?);
    if CertificateDer::pem_slice_iter(&cert_pem).next().is_none() {
        return Err(format!("{} holds no PEM certificate", cert.display()));
    }
    pair_from_pem(&cert_pem, &key_pem)
        .map_err(|why| format!("{} and {}: {why}", cert.display(), key.display()))
}
