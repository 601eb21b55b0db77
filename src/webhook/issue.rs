//! Certificates for automatic TLS, as pure functions of the time and the names: a CA, and a
//! serving certificate it signs. What the Secret holds is [`Bundle`]; when to renew is
//! [`Bundle::renewal`].

use std::time::{Duration, SystemTime};

use crate::token::unix_seconds;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose,
};

/// The CA lives this many times as long as the serving certificate.
pub(crate) const CA_LIFE_FACTOR: u32 = 4;
/// Certificates are valid from a little before they are made, for skewed clocks.
const BACKDATE: Duration = Duration::from_secs(300);

/// A CA, the serving pair it signed, and the CAs clients should trust.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Bundle {
    pub(crate) ca_cert: String,
    pub(crate) ca_key: String,
    /// The CA's distinguished name, unique per CA so old and new never look alike.
    pub(crate) ca_name: String,
    pub(crate) ca_not_after: u64,
    pub(crate) tls_cert: String,
    pub(crate) tls_key: String,
    pub(crate) tls_not_after: u64,
    /// The DNS names the serving certificate holds.
    pub(crate) names: Vec<String>,
    /// The previous CA, trusted until it expires so certificates it signed stay valid.
    pub(crate) previous_ca: Option<(String, u64)>,
}

impl std::fmt::Debug for Bundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bundle")
            .field("ca_name", &self.ca_name)
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}

/// What a renewal has to replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Renewal {
    /// Nothing yet, or the CA has a third of its life left or less: a new CA and pair.
    Everything,
    /// The serving pair has a third of its life left or less, or wrong names.
    ServingPair,
}

impl Bundle {
    /// A new CA and serving pair, valid from `now` for `validity` (the CA four times that).
    pub(crate) fn create(names: &[String], validity: Duration, now: SystemTime) -> Result<Self, String> {
        let ca_life = validity.checked_mul(CA_LIFE_FACTOR).ok_or("--tls-validity is too long")?;
        let ca_key = KeyPair::generate().map_err(|e| format!("cannot make a CA key: {e}"))?;
        let ca_name = format!("gcp-token-agent webhook CA {}", unix_seconds(now));
        let params = ca_params(&ca_name, now, ca_life)?;
        let ca_cert = params.self_signed(&ca_key).map_err(|e| format!("cannot make the CA: {e}"))?;
        let ca = Self {
            ca_cert: ca_cert.pem(),
            ca_key: ca_key.serialize_pem(),
            ca_name,
            ca_not_after: unix_seconds(now).saturating_add(ca_life.as_secs()),
            tls_cert: String::new(),
            tls_key: String::new(),
            tls_not_after: 0,
            names: Vec::new(),
            previous_ca: None,
        };
        ca.reissue(names, validity, now)
    }

    /// A new serving pair from the same CA, capped at the CA's own expiry.
    pub(crate) fn reissue(
        &self,
        names: &[String],
        validity: Duration,
        now: SystemTime,
    ) -> Result<Self, String> {
        let ca_key =
            KeyPair::from_pem(&self.ca_key).map_err(|e| format!("the stored CA key is unusable: {e}"))?;
        let ca_life = Duration::from_secs(self.ca_not_after.saturating_sub(unix_seconds(now)));
        let issuer = Issuer::new(ca_params(&self.ca_name, now, ca_life)?, ca_key);
        let life = validity.min(ca_life);
        let mut params =
            CertificateParams::new(names.to_vec()).map_err(|e| format!("bad certificate names: {e}"))?;
        params.distinguished_name = name(names.first().map_or("gcp-token-agent-webhook", String::as_str));
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        set_validity(&mut params, now, life)?;
        let key = KeyPair::generate().map_err(|e| format!("cannot make a serving key: {e}"))?;
        let cert = params
            .signed_by(&key, &issuer)
            .map_err(|e| format!("cannot sign the serving certificate: {e}"))?;
        Ok(Self {
            tls_cert: cert.pem(),
            tls_key: key.serialize_pem(),
            tls_not_after: unix_seconds(now).saturating_add(life.as_secs()),
            names: names.to_vec(),
            ..self.clone()
        })
    }

    /// A new CA and pair that still trusts this bundle's CA while it is valid.
    pub(crate) fn rotate(
        &self,
        names: &[String],
        validity: Duration,
        now: SystemTime,
    ) -> Result<Self, String> {
        let mut next = Self::create(names, validity, now)?;
        if self.ca_not_after > unix_seconds(now) {
            next.previous_ca = Some((self.ca_cert.clone(), self.ca_not_after));
        }
        Ok(next)
    }

    /// What must be renewed at `now`, if anything.
    pub(crate) fn renewal(&self, names: &[String], validity: Duration, now: SystemTime) -> Option<Renewal> {
        let now = unix_seconds(now);
        let third = |life: u64| life / 3;
        let ca_life = validity.as_secs().saturating_mul(u64::from(CA_LIFE_FACTOR));
        if self.ca_not_after <= now.saturating_add(third(ca_life)) {
            return Some(Renewal::Everything);
        }
        let stale = self.tls_not_after <= now.saturating_add(third(validity.as_secs()));
        (stale || self.names != names).then_some(Renewal::ServingPair)
    }

    /// The PEM CAs a client should trust: this CA, and the previous one while it is valid.
    pub(crate) fn ca_bundle(&self, now: SystemTime) -> String {
        match &self.previous_ca {
            Some((pem, not_after)) if *not_after > unix_seconds(now) => format!("{}{pem}", self.ca_cert),
            _ => self.ca_cert.clone(),
        }
    }
}

fn ca_params(common_name: &str, now: SystemTime, life: Duration) -> Result<CertificateParams, String> {
    let mut params = CertificateParams::default();
    params.distinguished_name = name(common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    set_validity(&mut params, now, life)?;
    Ok(params)
}

fn name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name
}

fn set_validity(params: &mut CertificateParams, now: SystemTime, life: Duration) -> Result<(), String> {
    let at = |secs: u64| {
        i64::try_from(secs)
            .ok()
            .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
            .ok_or_else(|| format!("{secs} is not a usable certificate time"))
    };
    let start = unix_seconds(now).saturating_sub(BACKDATE.as_secs());
    params.not_before = at(start)?;
    params.not_after = at(unix_seconds(now).saturating_add(life.as_secs()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    fn names() -> Vec<String> {
        ["wh", "wh.ns", "wh.ns.svc", "wh.ns.svc.cluster.local"].map(str::to_owned).to_vec()
    }

    #[test]
    fn a_new_bundle_renews_its_pair_with_a_third_left_and_its_ca_likewise() {
        let start = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let bundle = Bundle::create(&names(), 90 * DAY, start).expect("bundle");
        assert_eq!(bundle.renewal(&names(), 90 * DAY, start), None);
        assert_eq!(bundle.renewal(&names(), 90 * DAY, start + 61 * DAY), Some(Renewal::ServingPair));
        assert_eq!(bundle.renewal(&names()[..1], 90 * DAY, start), Some(Renewal::ServingPair));
        let later = bundle.reissue(&names(), 90 * DAY, start + 61 * DAY).expect("reissue");
        assert_eq!(later.ca_cert, bundle.ca_cert, "the CA stays");
        assert_eq!(later.renewal(&names(), 90 * DAY, start + 61 * DAY), None);
        assert_eq!(later.renewal(&names(), 90 * DAY, start + 241 * DAY), Some(Renewal::Everything));
    }

    #[test]
    fn a_rotated_ca_keeps_trusting_the_old_one_until_it_expires() {
        let start = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let old = Bundle::create(&names(), DAY, start).expect("bundle");
        let new = old.rotate(&names(), DAY, start + 3 * DAY).expect("rotate");
        assert_ne!(new.ca_cert, old.ca_cert);
        assert_eq!(new.ca_bundle(start + 3 * DAY), format!("{}{}", new.ca_cert, old.ca_cert));
        assert_eq!(new.ca_bundle(start + 5 * DAY), new.ca_cert, "dropped once expired");
    }
}
