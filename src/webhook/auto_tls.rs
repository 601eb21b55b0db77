//! Automatic TLS (`--tls-secret`): the webhook keeps its CA and serving certificate in a
//! Secret, so `helm template` renders no key material and GitOps diffs stay stable. Every
//! replica serves what the Secret holds; only the replica holding the Lease of the same name
//! creates or renews it, and keeps the MutatingWebhookConfiguration's caBundle current,
//! trusting a new CA before any certificate it signed is served.

use std::{collections::BTreeMap, sync::Arc, time::Duration, time::SystemTime};

use base64::Engine;
use k8s_openapi::{
    ByteString,
    api::{admissionregistration::v1::MutatingWebhookConfiguration, core::v1::Secret},
};
use kube::{
    Api,
    api::{ObjectMeta, Patch, PatchParams, PostParams},
};

use super::{
    issue::{Bundle, Renewal},
    lease::Lease,
    tls::SwappableCert,
};
use crate::{config::AutoTlsSettings as Settings, error::Result};

const NOTE: &str = "gcp-token-agent.io/";

/// Runs until `shutdown`: load, renew when due, repeat.
pub(crate) async fn keep(
    client: kube::Client,
    settings: Settings,
    cert: Arc<SwappableCert>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let poll = (settings.validity / 20).clamp(Duration::from_secs(1), Duration::from_secs(60));
    let lease = Lease::new(client.clone(), &settings.namespace, &settings.secret, poll * 3);
    loop {
        if let Err(why) = round(&client, &settings, &cert, &lease).await {
            tracing::warn!("automatic TLS: {why}");
        }
        tokio::select! {
            () = tokio::time::sleep(poll) => {}
            _ = shutdown.wait_for(|stopped| *stopped) => return,
        }
    }
}

async fn round(
    client: &kube::Client,
    settings: &Settings,
    cert: &SwappableCert,
    lease: &Lease,
) -> Result<(), String> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &settings.namespace);
    let found = secrets
        .get_opt(&settings.secret)
        .await
        .map_err(|e| format!("cannot read Secret {}: {e}", settings.secret))?;
    // An unusable pair (hand-edited, another version's) is not served and is replaced below.
    let stored = found.as_ref().and_then(read).filter(|bundle| {
        cert.set(bundle.tls_cert.as_bytes(), bundle.tls_key.as_bytes())
            .map_err(|why| tracing::warn!("automatic TLS: the stored pair is unusable ({why}); issuing anew"))
            .is_ok()
    });
    if !lease.hold().await? {
        return Ok(());
    }
    let now = SystemTime::now();
    let renewal = stored
        .as_ref()
        .map_or(Some(Renewal::Everything), |b| b.renewal(&settings.names, settings.validity, now));
    let bundle = match (renewal, &stored) {
        (None, Some(bundle)) => bundle.clone(),
        (Some(Renewal::ServingPair), Some(bundle)) => {
            bundle.reissue(&settings.names, settings.validity, now)?
        }
        (_, Some(bundle)) => bundle.rotate(&settings.names, settings.validity, now)?,
        (_, None) => Bundle::create(&settings.names, settings.validity, now)?,
    };
    // Trust first, then serve: the API server must know a new CA before it sees its certificates.
    patch_ca_bundle(client, settings, &bundle.ca_bundle(now)).await?;
    if renewal.is_some() {
        if let Err(why) = write(&secrets, settings, found, &bundle, now).await {
            // Another replica wrote first (it took the Lease while we were slow): trust what
            // the Secret now holds again, not the bundle that lost.
            if let Ok(Some(bundle)) =
                secrets.get_opt(&settings.secret).await.map(|s| s.as_ref().and_then(read))
            {
                patch_ca_bundle(client, settings, &bundle.ca_bundle(SystemTime::now())).await?;
            }
            return Err(why);
        }
        cert.set(bundle.tls_cert.as_bytes(), bundle.tls_key.as_bytes())?;
        tracing::info!(
            not_after = bundle.tls_not_after,
            ?renewal,
            "automatic TLS: issued a serving certificate"
        );
    }
    Ok(())
}

/// The bundle a Secret holds, if it is one of ours and complete.
fn read(secret: &Secret) -> Option<Bundle> {
    let data = secret.data.as_ref()?;
    let text = |key: &str| data.get(key).and_then(|b| String::from_utf8(b.0.clone()).ok());
    let notes = secret.metadata.annotations.as_ref()?;
    let note = |key: &str| notes.get(&format!("{NOTE}{key}")).cloned();
    let number = |key: &str| note(key).and_then(|v| v.parse::<u64>().ok());
    let previous = text("ca-previous.crt").filter(|p| !p.is_empty()).zip(number("previous-ca-not-after"));
    Some(Bundle {
        ca_cert: text("ca-current.crt")?,
        ca_key: text("ca.key")?,
        ca_name: note("ca-name")?,
        ca_not_after: number("ca-not-after")?,
        tls_cert: text("tls.crt")?,
        tls_key: text("tls.key")?,
        tls_not_after: number("tls-not-after")?,
        names: note("tls-names")?.split(',').map(str::to_owned).collect(),
        previous_ca: previous,
    })
}

async fn write(
    secrets: &Api<Secret>,
    settings: &Settings,
    found: Option<Secret>,
    bundle: &Bundle,
    now: SystemTime,
) -> Result<(), String> {
    let bytes = |text: &str| ByteString(text.as_bytes().to_vec());
    let (previous, previous_not_after) = bundle.previous_ca.clone().unwrap_or_default();
    let data = BTreeMap::from([
        ("tls.crt".to_owned(), bytes(&bundle.tls_cert)),
        ("tls.key".to_owned(), bytes(&bundle.tls_key)),
        ("ca.crt".to_owned(), bytes(&bundle.ca_bundle(now))),
        ("ca-current.crt".to_owned(), bytes(&bundle.ca_cert)),
        ("ca.key".to_owned(), bytes(&bundle.ca_key)),
        ("ca-previous.crt".to_owned(), bytes(&previous)),
    ]);
    let notes = BTreeMap::from([
        (format!("{NOTE}ca-name"), bundle.ca_name.clone()),
        (format!("{NOTE}ca-not-after"), bundle.ca_not_after.to_string()),
        (format!("{NOTE}tls-not-after"), bundle.tls_not_after.to_string()),
        (format!("{NOTE}tls-names"), bundle.names.join(",")),
        (format!("{NOTE}previous-ca-not-after"), previous_not_after.to_string()),
        (format!("{NOTE}renewed-at"), crate::token::unix_seconds(now).to_string()),
    ]);
    let exists = found.is_some();
    let mut secret = found.unwrap_or_default();
    secret.metadata = ObjectMeta {
        name: Some(settings.secret.clone()),
        namespace: Some(settings.namespace.clone()),
        annotations: Some(notes),
        // Keep resourceVersion: a concurrent writer makes this fail instead of being overwritten.
        ..secret.metadata
    };
    secret.type_ = Some("kubernetes.io/tls".to_owned());
    secret.data = Some(data);
    let params = PostParams { field_manager: Some("gcp-token-agent".to_owned()), ..Default::default() };
    let result = if exists {
        secrets.replace(&settings.secret, &params, &secret).await
    } else {
        secrets.create(&params, &secret).await
    };
    result.map(drop).map_err(|e| format!("cannot write Secret {}: {e}", settings.secret))
}

/// Sets every webhook's `clientConfig.caBundle` of the configuration to `pem`, if it differs.
async fn patch_ca_bundle(client: &kube::Client, settings: &Settings, pem: &str) -> Result<(), String> {
    let name = &settings.webhook_configuration;
    let api: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let config =
        api.get(name).await.map_err(|e| format!("cannot read MutatingWebhookConfiguration {name}: {e}"))?;
    let webhooks = config.webhooks.unwrap_or_default();
    let encoded = base64::engine::general_purpose::STANDARD.encode(pem);
    let stale: Vec<serde_json::Value> = webhooks
        .iter()
        .filter(|w| w.client_config.ca_bundle.as_ref().map(|b| b.0.as_slice()) != Some(pem.as_bytes()))
        .map(|w| serde_json::json!({"name": w.name, "clientConfig": {"caBundle": encoded}}))
        .collect();
    if stale.is_empty() {
        return Ok(());
    }
    // Strategic merge: `webhooks` merges by name, so only each caBundle changes.
    let patch = Patch::Strategic(serde_json::json!({"webhooks": stale}));
    api.patch(name, &PatchParams::default(), &patch)
        .await
        .map(drop)
        .map_err(|e| format!("cannot patch the caBundle of MutatingWebhookConfiguration {name}: {e}"))
}
