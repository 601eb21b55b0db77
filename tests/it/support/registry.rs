//! A stand-in container registry speaking just enough of the Docker Registry HTTP API v2 for
//! `skopeo inspect`: `/v2/` and one manifest, both behind HTTP Basic auth that takes the user
//! `oauth2accesstoken` with a password the test accepts (a token the emulator issued), as
//! Google's registries do.

use super::http::{Passwords, Request, Response, Server};

/// The one image it holds.
pub const REPOSITORY: &str = "project/repo/image";
/// Its one tag.
pub const TAG: &str = "v1";
/// The manifest of `REPOSITORY:TAG`: an OCI image manifest with no layers.
pub const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;

/// A running registry; dropping it stops it.
pub struct Registry {
    server: Server,
    passwords: Passwords,
}

impl Registry {
    /// Serves on 127.0.0.1; `accept` decides whether a Basic password is a valid token.
    pub fn start(accept: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        let (server, passwords) = Server::behind_basic_auth(
            move |user, password| user == "oauth2accesstoken" && accept(password),
            || {
                Response::challenge("stand-in registry")
                    .with_header("Docker-Distribution-API-Version", "registry/2.0")
            },
            answer,
        );
        Self { server, passwords }
    }

    /// `127.0.0.1:PORT`, the registry's name in image references and `credHelpers`.
    pub fn host(&self) -> String {
        self.server.host()
    }

    /// `docker://HOST/REPOSITORY:TAG`.
    pub fn image(&self) -> String {
        format!("docker://{}/{REPOSITORY}:{TAG}", self.host())
    }

    /// Every Basic password presented so far, in order.
    pub fn passwords(&self) -> Vec<String> {
        self.passwords.lock().expect("lock").clone()
    }
}

/// An authenticated request: the API root, the manifest by tag, or 404 in the API's shape.
fn answer(request: &Request) -> Response {
    let manifest_path = format!("/v2/{REPOSITORY}/manifests/{TAG}");
    let response = if request.path == "/v2/" {
        Response::new(200, "application/json", "{}")
    } else if request.path == manifest_path {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, MANIFEST.as_bytes());
        let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        Response::new(200, "application/vnd.oci.image.manifest.v1+json", MANIFEST)
            .with_header("Docker-Content-Digest", &format!("sha256:{hex}"))
    } else {
        let error = r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#;
        Response::new(404, "application/json", error)
    };
    response.with_header("Docker-Distribution-API-Version", "registry/2.0")
}
