//! Workload identity federation's trust set-up: OIDC issuers with their
//! signing keys (a Kubernetes cluster, say), the pool providers that trust
//! them, and the OAuth clients allowed to call STS.

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde_json::{Value, json};

use super::keys::RsaKey;
use super::state::{now, random_hex};

/// Trust configuration consulted by `POST /v1/token`.
#[derive(Default)]
pub struct Federation {
    /// Issuer URL -> kid -> public key (its JWKS).
    pub issuers: HashMap<String, HashMap<String, DecodingKey>>,
    /// Provider resource name (the STS `audience`) -> provider.
    pub providers: HashMap<String, Provider>,
    /// STS OAuth client id -> secret.
    pub clients: HashMap<String, String>,
    /// Leave `expires_in` out of STS answers, as Google does for Google subjects.
    pub omit_expires_in: bool,
}

/// A workload identity pool provider of the OIDC kind.
pub struct Provider {
    /// The only issuer (`iss`) it accepts.
    pub issuer: String,
    /// Subject-token `aud` values it accepts.
    pub allowed_audiences: Vec<String>,
    /// `principal://.../subject/` prefix of the identities it maps to.
    pub principal_prefix: String,
}

impl Provider {
    /// A provider for `audience` trusting `issuer`, with Google's default
    /// allowed audiences: the resource name itself and its `https:` form.
    /// Panics unless `audience` names a workload identity pool provider.
    pub fn new(audience: &str, issuer: &str) -> Self {
        let (number, pool) = parse_provider(audience)
            .unwrap_or_else(|| panic!("not a workload identity provider resource name: {audience}"));
        let https = format!("https:{audience}");
        Provider {
            issuer: issuer.to_string(),
            allowed_audiences: vec![audience.to_string(), https],
            principal_prefix: pool_principal_prefix(number, pool),
        }
    }
}

/// `principal://iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/POOL/subject/SUB`:
/// who a federated token from provider `audience` for subject `sub` acts as,
/// the member string to pass to `grant_token_creator`. Panics on a malformed audience.
pub fn sts_principal(audience: &str, sub: &str) -> String {
    let (number, pool) = parse_provider(audience)
        .unwrap_or_else(|| panic!("not a workload identity provider resource name: {audience}"));
    format!("{}{sub}", pool_principal_prefix(number, pool))
}

fn pool_principal_prefix(number: &str, pool: &str) -> String {
    format!(
        "principal://iam.googleapis.com/projects/{number}/locations/global/workloadIdentityPools/{pool}/subject/"
    )
}

/// `(number, pool)` of
/// `//iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER`.
fn parse_provider(audience: &str) -> Option<(&str, &str)> {
    let rest = audience.strip_prefix("//iam.googleapis.com/projects/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    let [number, "locations", "global", "workloadIdentityPools", pool, "providers", provider] = parts[..]
    else {
        return None;
    };
    let numeric = !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit());
    (numeric && !pool.is_empty() && !provider.is_empty()).then_some((number, pool))
}

/// An OIDC identity provider the test controls: it mints subject tokens
/// like a projected Kubernetes service-account token.
#[derive(Clone)]
pub struct OidcIssuer {
    url: String,
    kid: String,
    encoding: EncodingKey,
}

impl OidcIssuer {
    /// A new issuer at `url` with a fresh RSA-2048 key; returns it with the
    /// public half to register.
    pub(super) fn generate(url: &str) -> (Self, DecodingKey) {
        let key = RsaKey::generate();
        let encoding = EncodingKey::from_rsa_pem(key.pem.as_bytes()).expect("own PEM parses");
        let issuer = OidcIssuer { url: url.to_string(), kid: random_hex(40), encoding };
        (issuer, key.public)
    }

    /// The issuer URL, the `iss` of every token it mints.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The `kid` its tokens carry.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// An RS256 JWT {iss, sub, aud, iat: now, exp: now + lifetime}.
    pub fn mint(&self, sub: &str, aud: &str, lifetime_secs: u64) -> String {
        self.mint_claims(&self.claims(sub, aud, lifetime_secs))
    }

    /// Signs arbitrary `claims` with this issuer's key and kid, for tokens
    /// that are wrong in some other way (times, missing claims).
    pub fn mint_claims(&self, claims: &Value) -> String {
        sign(&self.kid, &self.encoding, claims)
    }

    /// Like [`OidcIssuer::mint`] but signed by a fresh key the emulator has
    /// never seen, under this issuer's kid: only the signature is wrong.
    pub fn mint_with_foreign_key(&self, sub: &str, aud: &str, lifetime_secs: u64) -> String {
        let (foreign, _) = OidcIssuer::generate(&self.url);
        sign(&self.kid, &foreign.encoding, &self.claims(sub, aud, lifetime_secs))
    }

    fn claims(&self, sub: &str, aud: &str, lifetime_secs: u64) -> Value {
        let iat = now();
        json!({ "iss": self.url, "sub": sub, "aud": aud, "iat": iat, "exp": iat + lifetime_secs })
    }
}

fn sign(kid: &str, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, claims, key).expect("RS256 signing")
}
