//! A coordination.k8s.io Lease, so only one replica writes the TLS Secret. Taken when absent,
//! expired or already ours; every write carries the resourceVersion it read, so two replicas
//! racing for it cannot both win.

use std::time::Duration;

use k8s_openapi::{
    api::coordination::v1::{Lease as LeaseObject, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::MicroTime,
    jiff::Timestamp,
};
use kube::{
    Api,
    api::{ObjectMeta, PostParams},
};

/// One replica's view of the Lease.
pub(crate) struct Lease {
    api: Api<LeaseObject>,
    name: String,
    identity: String,
    duration: Duration,
}

impl Lease {
    pub(crate) fn new(client: kube::Client, namespace: &str, name: &str, duration: Duration) -> Self {
        // The pod name is unique among live replicas; the suffix tells restarts apart.
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "gcp-token-agent".to_owned());
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_owned(),
            identity: format!("{host}-{:08x}", fastrand::u32(..)),
            duration,
        }
    }

    /// Takes or renews the Lease; `false` while another live replica holds it.
    pub(crate) async fn hold(&self) -> Result<bool, String> {
        let now = Timestamp::now();
        let found = self.api.get_opt(&self.name).await.map_err(|e| self.error("read", &e))?;
        let spec = found.as_ref().and_then(|l| l.spec.clone()).unwrap_or_default();
        let ours = spec.holder_identity.as_deref() == Some(self.identity.as_str());
        let expired = spec.renew_time.as_ref().is_none_or(|renewed| {
            let life = i64::from(spec.lease_duration_seconds.unwrap_or(0));
            renewed.0.as_second().saturating_add(life) < now.as_second()
        });
        if !ours && !expired {
            return Ok(false);
        }
        let seconds = i32::try_from(self.duration.as_secs()).unwrap_or(i32::MAX).max(1);
        let spec = LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(seconds),
            renew_time: Some(MicroTime(now)),
            acquire_time: if ours { spec.acquire_time } else { Some(MicroTime(now)) },
            lease_transitions: Some(spec.lease_transitions.unwrap_or(0).saturating_add(i32::from(!ours))),
            ..spec
        };
        let params = PostParams::default();
        let written = match found {
            Some(mut lease) => {
                lease.spec = Some(spec);
                self.api.replace(&self.name, &params, &lease).await
            }
            None => {
                let metadata = ObjectMeta { name: Some(self.name.clone()), ..Default::default() };
                self.api.create(&params, &LeaseObject { metadata, spec: Some(spec) }).await
            }
        };
        match written {
            Ok(_) => Ok(true),
            // Another replica wrote first: it holds the Lease now.
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(e) => Err(self.error("write", &e)),
        }
    }

    fn error(&self, what: &str, e: &kube::Error) -> String {
        format!("cannot {what} Lease {}: {e}", self.name)
    }
}
