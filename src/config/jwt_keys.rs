//! Which keys verify tokens, as configured: one of `HOOKD_JWT_SECRET` (or a generated secret),
//! `HOOKD_JWKS_URL`, `HOOKD_JWT_PUBLIC_KEY`, validated at start-up with one-line errors like
//! every other setting. `auth.rs` turns this into verifiers.

use std::fmt;

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey};

use crate::config::{ConfigError, config_error};

/// An HS256 secret. Never printed.
#[derive(Clone)]
pub struct Secret(pub(crate) Vec<u8>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// How tokens are verified, as configured.
#[derive(Clone, Debug)]
pub enum JwtKeyConfig {
    /// HS256 with `HOOKD_JWT_SECRET`, or with a secret generated into the data dir when `None`.
    Hs256(Option<Secret>),
    /// One public key; the algorithm follows from the key type (RSA → RS256, P-256 → ES256,
    /// P-384 → ES384).
    PublicKey { algorithm: Algorithm, pem: Vec<u8> },
    /// Keys from a JWKS endpoint, fetched lazily and cached by `kid`.
    Jwks(url::Url),
}

impl JwtKeyConfig {
    pub(crate) fn from_settings(
        secret: Option<String>,
        jwks_url: Option<String>,
        public_key: Option<String>,
    ) -> Result<JwtKeyConfig, ConfigError> {
        let secret = secret.filter(|s| !s.is_empty());
        let jwks_url = jwks_url.filter(|s| !s.is_empty());
        let public_key = public_key.filter(|s| !s.is_empty());
        match (secret, jwks_url, public_key) {
            (None, None, None) => Ok(JwtKeyConfig::Hs256(None)),
            (Some(secret), None, None) => {
                if secret.len() < 32 {
                    return Err(config_error("HOOKD_JWT_SECRET", "must be at least 32 bytes long"));
                }
                Ok(JwtKeyConfig::Hs256(Some(Secret(secret.into_bytes()))))
            }
            (None, Some(url), None) => {
                let parsed = url::Url::parse(&url)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https"))
                    .ok_or_else(|| config_error("HOOKD_JWKS_URL", format!("{url:?} is not an http(s) URL")))?;
                Ok(JwtKeyConfig::Jwks(parsed))
            }
            (None, None, Some(key)) => {
                let pem = if key.trim_start().starts_with("-----BEGIN") {
                    key.into_bytes()
                } else {
                    std::fs::read(&key).map_err(|e| {
                        config_error("HOOKD_JWT_PUBLIC_KEY", format!("cannot read PEM file {key:?}: {e}"))
                    })?
                };
                let algorithm = public_key_algorithm(&pem)
                    .ok_or_else(|| config_error("HOOKD_JWT_PUBLIC_KEY", "not a PEM RSA, P-256 or P-384 public key"))?;
                Ok(JwtKeyConfig::PublicKey { algorithm, pem })
            }
            _ => Err(config_error(
                "HOOKD_JWT_SECRET",
                "set only one of HOOKD_JWT_SECRET, HOOKD_JWKS_URL and HOOKD_JWT_PUBLIC_KEY",
            )),
        }
    }
}

/// Picks the algorithm a PEM public key is for, by its type and (for EC) its curve OID.
fn public_key_algorithm(pem: &[u8]) -> Option<Algorithm> {
    if DecodingKey::from_rsa_pem(pem).is_ok() {
        return Some(Algorithm::RS256);
    }
    DecodingKey::from_ec_pem(pem).ok()?;
    let text = std::str::from_utf8(pem).ok()?;
    let body: String = text.lines().filter(|line| !line.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(body.trim()).ok()?;
    // Named-curve OIDs as DER: prime256v1 (1.2.840.10045.3.1.7) and secp384r1 (1.3.132.0.34).
    const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    const P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
    let contains = |needle: &[u8]| der.windows(needle.len()).any(|w| w == needle);
    if contains(P256) {
        Some(Algorithm::ES256)
    } else if contains(P384) {
        Some(Algorithm::ES384)
    } else {
        None
    }
}
