//! Where tokens go: files (atomic), the CLI's disk cache, exec-credential output, the Docker
//! and git credential-helper protocols, Docker's config.json, and the helpers' symlinks.

pub(crate) mod docker_config;
pub(crate) mod docker_credential;
pub(crate) mod exec_credential;
pub(crate) mod files;
pub(crate) mod git_credential;
pub(crate) mod helper_scope;
pub(crate) mod links;
pub(crate) mod token_cache;

/// The user name Google's registries and git hosts pair with an access token as password.
pub(crate) const OAUTH2_USERNAME: &str = "oauth2accesstoken";
