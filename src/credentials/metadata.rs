//! The GCE/GKE metadata server as a credential source.

/// The link-local address every GCE and GKE metadata server answers on.
pub(crate) const DEFAULT_METADATA_HOST: &str = "169.254.169.254";

/// Where to find a metadata server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataServer {
    /// `host[:port]`, as in `GCE_METADATA_HOST`.
    pub host: String,
    /// True when the user named it (flag or variable); false when ADC fell back to it,
    /// in which case "unreachable" means "no credentials", not "Google is down".
    pub explicit: bool,
}

impl MetadataServer {
    /// The base URL of the v1 API, with a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}/computeMetadata/v1/", self.host)
    }
}
