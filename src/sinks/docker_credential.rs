//! Docker's credential-helper protocol: `get` reads a registry on stdin and answers
//! `{"ServerURL","Username","Secret"}`; `list` answers `{"REGISTRY":"USERNAME",...}`.

use serde::Serialize;

use super::OAUTH2_USERNAME;
use crate::token::Token;

/// What Docker's helpers print (exit 1) for a registry they hold nothing for: Docker then
/// goes on without credentials, as for any registry its helper does not know.
pub(crate) const NOT_FOUND: &str = "credentials not found in native keychain\n";

/// A registry URL fits in far less; anything longer on stdin is not one.
pub(crate) const MAX_SERVER_URL: u64 = 4096;

/// The registry Docker asks about: one line of text, as given (without its newline).
pub(crate) fn server_url(input: &[u8]) -> Result<String, String> {
    let text = std::str::from_utf8(input).map_err(|_| "is not UTF-8".to_owned())?;
    let url = text.trim();
    if url.is_empty() {
        return Err("is empty; expected the registry's host or URL, e.g. us-docker.pkg.dev".to_owned());
    }
    if url.contains(['\n', '\r']) {
        return Err("holds more than one line; expected only the registry's host or URL".to_owned());
    }
    if url.chars().any(char::is_control) {
        return Err("holds control characters; expected the registry's host or URL".to_owned());
    }
    Ok(url.to_owned())
}

/// Field names and order as Docker's own helpers print them.
#[derive(Serialize)]
struct Credentials<'a> {
    #[serde(rename = "ServerURL")]
    server_url: &'a str,
    #[serde(rename = "Username")]
    username: &'a str,
    #[serde(rename = "Secret")]
    secret: &'a str,
}

/// The answer to `get`: Google's registries take an access token as the password of the user
/// `oauth2accesstoken`.
pub(crate) fn render_get(server_url: &str, token: &Token) -> String {
    let credentials = Credentials { server_url, username: OAUTH2_USERNAME, secret: token.value.expose() };
    // Serializing three strings cannot fail.
    let json = serde_json::to_string(&credentials).unwrap_or_default();
    format!("{json}\n")
}

/// The answer to `list`: each registry with the user name it would get.
pub(crate) fn render_list(registries: &[String]) -> String {
    let map: serde_json::Map<String, serde_json::Value> =
        registries.iter().map(|r| (r.clone(), OAUTH2_USERNAME.into())).collect();
    format!("{}\n", serde_json::Value::Object(map))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::secret::Secret;

    #[test]
    fn the_registry_is_one_line_taken_as_given() {
        assert_eq!(server_url(b"us-docker.pkg.dev\n").as_deref(), Ok("us-docker.pkg.dev"));
        assert_eq!(server_url(b"https://gcr.io").as_deref(), Ok("https://gcr.io"));
        assert_eq!(server_url(b"  127.0.0.1:5000\r\n").as_deref(), Ok("127.0.0.1:5000"));
        assert!(server_url(b"").expect_err("empty").contains("empty"));
        assert!(server_url(b"\n\n").expect_err("blank").contains("empty"));
        assert!(server_url(b"gcr.io\nquay.io\n").expect_err("two").contains("more than one line"));
        assert!(server_url(b"gcr\x01.io").expect_err("control").contains("control"));
        assert!(server_url(b"gcr\xff.io").expect_err("bytes").contains("UTF-8"));
    }

    #[test]
    fn get_and_list_answer_in_docker_s_shape() {
        let token = Token::new(Secret::new("ya29.t"), SystemTime::now(), Duration::from_secs(3600));
        assert_eq!(
            render_get("https://gcr.io", &token),
            "{\"ServerURL\":\"https://gcr.io\",\"Username\":\"oauth2accesstoken\",\"Secret\":\"ya29.t\"}\n"
        );
        let list = render_list(&["gcr.io".to_owned(), "127.0.0.1:5000".to_owned()]);
        assert_eq!(list, "{\"127.0.0.1:5000\":\"oauth2accesstoken\",\"gcr.io\":\"oauth2accesstoken\"}\n");
        assert_eq!(render_list(&[]), "{}\n");
    }
}
