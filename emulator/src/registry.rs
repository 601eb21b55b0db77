//! Emulator set-up for workload identity federation (STS) and service
//! account impersonation (IAM Credentials).

use serde_json::{Value, json};

use super::Emulator;
use super::oidc::{OidcIssuer, Provider};

impl Emulator {
    /// Registers a trusted OIDC issuer at `issuer_url` with a fresh RSA-2048
    /// key. Calling it again for the same URL adds a key, as rotation does.
    pub fn add_oidc_issuer(&self, issuer_url: &str) -> OidcIssuer {
        // RSA generation is slow-ish, so it happens outside the lock.
        let (issuer, public) = OidcIssuer::generate(issuer_url);
        let mut state = self.shared.lock();
        let keys = state.federation.issuers.entry(issuer_url.to_string()).or_default();
        keys.insert(issuer.kid().to_string(), public);
        issuer
    }

    /// Registers the workload identity pool provider `audience`
    /// (`//iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER`)
    /// trusting `issuer`. Subject tokens may carry `aud` = `audience` or its
    /// `https://iam.googleapis.com/...` form, Google's defaults.
    /// Panics on a malformed `audience`, to catch typos in tests.
    pub fn add_workload_provider(&self, audience: &str, issuer: &OidcIssuer) {
        let provider = Provider::new(audience, issuer.url());
        self.shared.lock().federation.providers.insert(audience.to_string(), provider);
    }

    /// Replaces the subject-token audiences provider `audience` accepts, like
    /// `--allowed-audiences` does (the defaults then stop working).
    /// Panics if the provider was never registered.
    pub fn set_allowed_audiences(&self, audience: &str, allowed: &[&str]) {
        let mut state = self.shared.lock();
        let provider = state.federation.providers.get_mut(audience);
        let provider = provider.expect("set_allowed_audiences: unknown provider");
        provider.allowed_audiences = allowed.iter().map(|a| a.to_string()).collect();
    }

    /// `http://127.0.0.1:PORT/v1/token`, the `token_url` of `external_account` files.
    pub fn sts_url(&self) -> String {
        format!("{}/v1/token", self.url)
    }

    /// What `gcloud iam workload-identity-pools create-cred-config PROVIDER
    /// --credential-source-file=SUBJECT [--service-account=TARGET]` writes for a Kubernetes
    /// cluster, with Google's URLs swapped for this emulator's (impersonated tokens live 1800 s).
    pub fn external_account_config(&self, provider: &str, subject_file: &str, target: Option<&str>) -> Value {
        let mut config = json!({
            "universe_domain": "googleapis.com",
            "type": "external_account",
            "audience": provider,
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_url": self.sts_url(),
            "credential_source": { "file": subject_file, "format": { "type": "text" } },
        });
        if let Some(target) = target {
            config["service_account_impersonation_url"] = json!(self.iam_url(target, "generateAccessToken"));
            config["service_account_impersonation"] = json!({ "token_lifetime_seconds": 1800 });
        }
        config
    }

    /// Lets STS requests authenticate as this OAuth client (HTTP Basic).
    pub fn add_sts_client(&self, client_id: &str, client_secret: &str) {
        let clients = &mut self.shared.lock().federation.clients;
        clients.insert(client_id.to_string(), client_secret.to_string());
    }

    /// Leaves `expires_in` out of STS answers, as Google does when the
    /// subject token was itself a Google token.
    pub fn set_sts_omit_expires_in(&self, omit: bool) {
        self.shared.lock().federation.omit_expires_in = omit;
    }

    /// `{url}/v1/projects/-/serviceAccounts/{email}:{method}`, e.g. a
    /// `service_account_impersonation_url` with method "generateAccessToken".
    pub fn iam_url(&self, email: &str, method: &str) -> String {
        format!("{}/v1/projects/-/serviceAccounts/{email}:{method}", self.url)
    }

    /// Grants `member` (a service-account email, or a federated identity
    /// from [`super::sts_principal`]) Token Creator on `target_email`.
    /// Panics if the target was never registered, to catch typos in tests.
    pub fn grant_token_creator(&self, target_email: &str, member: &str) {
        let mut state = self.shared.lock();
        assert!(state.accounts.contains_key(target_email), "grant_token_creator: unknown service account");
        let members = state.iam.creators.entry(target_email.to_string()).or_default();
        members.insert(member.to_string());
    }

    /// Lets `generateAccessToken` for `target_email` ask for up to 12 h
    /// (the `iam.allowServiceAccountCredentialLifetimeExtension` org policy).
    pub fn allow_extended_lifetime(&self, target_email: &str) {
        self.shared.lock().iam.extended_lifetime.insert(target_email.to_string());
    }

    /// Makes `generateAccessToken` send `expireTime` with microseconds
    /// (`2026-11-25T23:44:10.123456Z`) instead of whole seconds.
    pub fn set_iam_fractional_expire_time(&self, fractional: bool) {
        self.shared.lock().iam.fractional_expire_time = fractional;
    }
}
