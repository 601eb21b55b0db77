//! RSA keys generated at test time, Google key-file JSON, and the JWT
//! plumbing shared by the token endpoint and the metadata server.

use std::io::Write;
use std::path::Path;

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde_json::{Value, json};

use super::state::{PROJECT_ID, now, random_digits, random_hex};

/// `kid` of every ID token the emulator signs.
pub const ID_TOKEN_KID: &str = "emulator-idtoken-key";

/// A freshly generated RSA-2048 key in the two forms the emulator needs.
pub struct RsaKey {
    /// PKCS#8 PEM, exactly as Google writes `private_key`.
    pub pem: String,
    /// Public half, used to verify signatures.
    pub public: DecodingKey,
}

impl RsaKey {
    /// Generates a new key; keys are never checked in, so tests hold no secrets.
    pub fn generate() -> Self {
        let pair = KeyPair::generate(KeySize::Rsa2048).expect("RSA-2048 key generation");
        let der: Pkcs8V1Der<'static> = pair.as_der().expect("PKCS#8 encoding");
        let public = pair.public_key();
        RsaKey {
            pem: pkcs8_pem(der.as_ref()),
            public: DecodingKey::from_rsa_raw_components(
                public.modulus().big_endian_without_leading_zero(),
                public.exponent().big_endian_without_leading_zero(),
            ),
        }
    }
}

/// PEM armour with 64-character lines and a trailing newline, like Google's files.
fn pkcs8_pem(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    pem
}

/// A complete `service_account` key file for an emulator-registered account.
#[derive(Debug, Clone)]
pub struct KeyFile {
    json: Value,
}

impl KeyFile {
    /// Builds the Google key JSON; returns it with the new `private_key_id`.
    pub(crate) fn build(email: &str, client_id: &str, token_uri: &str, pem: &str) -> Self {
        let cert_email = email.replace('@', "%40");
        KeyFile {
            json: json!({
                "type": "service_account",
                "project_id": PROJECT_ID,
                "private_key_id": random_hex(40),
                "private_key": pem,
                "client_email": email,
                "client_id": client_id,
                "auth_uri": "https://accounts.google.com/o/oauth2/auth",
                "token_uri": token_uri,
                "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
                "client_x509_cert_url":
                    format!("https://www.googleapis.com/robot/v1/metadata/x509/{cert_email}"),
                "universe_domain": "googleapis.com",
            }),
        }
    }

    /// The whole key file as JSON.
    pub fn json(&self) -> &Value {
        &self.json
    }

    /// `client_email`.
    pub fn email(&self) -> &str {
        self.field("client_email")
    }

    /// `private_key_id`, which clients must send as the JWT `kid`.
    pub fn private_key_id(&self) -> &str {
        self.field("private_key_id")
    }

    /// `private_key` (PKCS#8 PEM).
    pub fn private_key_pem(&self) -> &str {
        self.field("private_key")
    }

    /// Writes the key file with mode 0600, as a real downloaded key should be.
    pub fn write_to(&self, path: &Path) -> std::io::Result<()> {
        write_private_json(path, &self.json)
    }

    fn field(&self, name: &str) -> &str {
        self.json[name].as_str().unwrap_or_default()
    }
}

/// Writes pretty JSON readable only by the owner (credentials are secrets).
pub fn write_private_json(path: &Path, value: &Value) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")
}

/// The emulator's own key, which signs every ID token it issues.
pub struct Signer {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl Signer {
    /// Generates the emulator key.
    pub fn generate() -> Self {
        let key = RsaKey::generate();
        Signer {
            encoding: EncodingKey::from_rsa_pem(key.pem.as_bytes()).expect("own PEM parses"),
            decoding: key.public,
        }
    }

    /// Signs `claims` as an RS256 JWT with kid [`ID_TOKEN_KID`].
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(ID_TOKEN_KID.to_string());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("RS256 signing")
    }

    /// Checks an ID token's signature, kid and expiry; returns its claims.
    pub fn verify(&self, jwt: &str) -> Result<Value, String> {
        let raw = RawJwt::split(jwt).ok_or("not a well-formed JWT")?;
        if raw.header["alg"] != "RS256" || raw.header["kid"] != ID_TOKEN_KID {
            return Err(format!("unexpected JWT header {}", raw.header));
        }
        if !raw.verify(&self.decoding) {
            return Err("signature does not verify with the emulator key".into());
        }
        match raw.claims["exp"].as_u64() {
            Some(exp) if exp > now() => Ok(raw.claims),
            _ => Err(format!("expired or missing exp in {}", raw.claims)),
        }
    }
}

/// A JWT split into decoded JSON parts, before any verification.
pub struct RawJwt {
    /// Decoded header object.
    pub header: Value,
    /// Decoded claims object.
    pub claims: Value,
    signing_input: String,
    signature: String,
}

impl RawJwt {
    /// Splits `header.claims.signature`; `None` unless both parts are
    /// unpadded base64url JSON objects.
    pub fn split(token: &str) -> Option<Self> {
        let mut parts = token.split('.');
        let (h, c, s) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || s.is_empty() {
            return None;
        }
        Some(RawJwt {
            header: decode_object(h)?,
            claims: decode_object(c)?,
            signing_input: format!("{h}.{c}"),
            signature: s.to_string(),
        })
    }

    /// RS256 signature check against `key`.
    pub fn verify(&self, key: &DecodingKey) -> bool {
        jsonwebtoken::crypto::verify(&self.signature, self.signing_input.as_bytes(), key, Algorithm::RS256)
            .unwrap_or(false)
    }
}

fn decode_object(part: &str) -> Option<Value> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    serde_json::from_slice::<Value>(&bytes).ok().filter(Value::is_object)
}

/// A new service-account key plus the key file that carries it.
pub fn new_service_account_key(email: &str, client_id: &str, token_uri: &str) -> (KeyFile, RsaKey) {
    let key = RsaKey::generate();
    (KeyFile::build(email, client_id, token_uri, &key.pem), key)
}

/// A 21-digit unique id, like Google's `client_id` for service accounts.
pub fn new_unique_id() -> String {
    random_digits(21)
}
