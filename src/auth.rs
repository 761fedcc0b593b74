//! Authentication: every request's JWT is verified here, and nowhere else.
//!
//! The algorithm is pinned by configuration, never read from the token: HS256 with our own
//! secret by default, or RS256/ES256/ES384 with a configured public key or a JWKS. A token that
//! is present but bad is rejected; there is no anonymous fallback. HTTP and WebSocket both end
//! with the same [`Claims`], which carry the tenant every query is scoped to and the scopes the
//! GraphQL guards check.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde_json::{Map, Value};
use tokio::sync::{Mutex, RwLock};

use crate::config::{Config, JwtKeyConfig, Secret};

/// Tenant used when a token carries no tenant claim.
pub const DEFAULT_TENANT: &str = "default";
/// Clock skew tolerated on `exp` and `nbf`.
const LEEWAY_SECS: u64 = 30;
/// An unknown `kid` refetches the JWKS at most this often, so a flood of forged tokens cannot
/// turn hookd into a load generator against the issuer.
const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(60);
const SECRET_FILE: &str = "jwt-secret";

/// A permission a token grants. `admin` grants all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    HooksRead,
    HooksWrite,
    DeliveriesRead,
    DeliveriesWrite,
    EventsWrite,
    IdentityRead,
    IdentityWrite,
    InteractionsWrite,
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 9] = [
        Scope::HooksRead,
        Scope::HooksWrite,
        Scope::DeliveriesRead,
        Scope::DeliveriesWrite,
        Scope::EventsWrite,
        Scope::IdentityRead,
        Scope::IdentityWrite,
        Scope::InteractionsWrite,
        Scope::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::HooksRead => "hooks:read",
            Scope::HooksWrite => "hooks:write",
            Scope::DeliveriesRead => "deliveries:read",
            Scope::DeliveriesWrite => "deliveries:write",
            Scope::EventsWrite => "events:write",
            Scope::IdentityRead => "identity:read",
            Scope::IdentityWrite => "identity:write",
            Scope::InteractionsWrite => "interactions:write",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of scopes. Scopes hookd does not know are ignored: an external issuer's tokens may
/// carry scopes meant for other services.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scopes(u16);

impl Scopes {
    pub fn parse(space_separated: &str) -> Scopes {
        Scopes(
            space_separated
                .split_ascii_whitespace()
                .filter_map(Scope::parse)
                .fold(0, |bits, scope| bits | scope.bit()),
        )
    }

    pub fn allows(self, scope: Scope) -> bool {
        self.0 & (Scope::Admin.bit() | scope.bit()) != 0
    }
}

/// Who is calling: the verified content of a token.
#[derive(Clone, Debug)]
pub struct Claims {
    pub subject: Option<String>,
    pub tenant: String,
    pub scopes: Scopes,
    /// `exp`, seconds since the Unix epoch; subscriptions end then.
    pub expires_at: i64,
}

impl Claims {
    pub fn allows(&self, scope: Scope) -> bool {
        self.scopes.allows(scope)
    }
}

/// Why a request is not authenticated. The message is safe to show to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthError(pub &'static str);

/// Where the generated HS256 secret lives in a data dir.
pub fn secret_path(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join(SECRET_FILE)
}

/// Loads the HS256 secret from the data dir, creating it (mode 0600) on first use; true when
/// this call created it.
pub fn load_or_create_secret(data_dir: &Path) -> anyhow::Result<(Secret, bool)> {
    let path = secret_path(data_dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let bytes = text.trim().as_bytes().to_vec();
            anyhow::ensure!(
                bytes.len() >= 32,
                "{} is too short; delete it to regenerate",
                path.display()
            );
            return Ok((Secret(bytes), false));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
    }
    std::fs::create_dir_all(data_dir)
        .map_err(|e| anyhow::anyhow!("cannot create data dir {}: {e}", data_dir.display()))?;
    let mut raw = [0u8; 48];
    rand::rng().fill_bytes(&mut raw);
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(&path) {
        Ok(mut file) => {
            file.write_all(encoded.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
            Ok((Secret(encoded.into_bytes()), true))
        }
        // Another process created it between our read and our create: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create_secret(data_dir),
        Err(e) => anyhow::bail!("cannot create {}: {e}", path.display()),
    }
}

enum Verifier {
    Static { algorithm: Algorithm, key: DecodingKey },
    Jwks(JwksCache),
}

/// Verifies tokens and, with an HS256 secret, mints them.
pub struct Auth {
    verifier: Verifier,
    encoding_key: Option<EncodingKey>,
    issuer: Option<String>,
    audience: Option<String>,
    tenant_claim: String,
    /// The HS256 secret was created by this start (the very first one on this data dir).
    created_secret: bool,
}

impl Auth {
    /// Builds the keys once at start-up. Creates the HS256 secret file when needed.
    pub fn from_config(config: &Config) -> anyhow::Result<Auth> {
        let mut created_secret = false;
        let (verifier, encoding_key) = match &config.jwt {
            JwtKeyConfig::Hs256(secret) => {
                let secret = match secret {
                    Some(secret) => secret.clone(),
                    None => {
                        let (secret, created) = load_or_create_secret(&config.data_dir)
                            .map_err(|e| anyhow::anyhow!("HOOKD_DATA_DIR (--data-dir): {e:#}"))?;
                        created_secret = created;
                        secret
                    }
                };
                (
                    Verifier::Static {
                        algorithm: Algorithm::HS256,
                        key: DecodingKey::from_secret(&secret.0),
                    },
                    Some(EncodingKey::from_secret(&secret.0)),
                )
            }
            JwtKeyConfig::PublicKey { algorithm, pem } => {
                let key = match algorithm {
                    Algorithm::RS256 => DecodingKey::from_rsa_pem(pem)?,
                    _ => DecodingKey::from_ec_pem(pem)?,
                };
                (
                    Verifier::Static {
                        algorithm: *algorithm,
                        key,
                    },
                    None,
                )
            }
            JwtKeyConfig::Jwks(url) => (Verifier::Jwks(JwksCache::new(url.clone())?), None),
        };
        Ok(Auth {
            verifier,
            encoding_key,
            issuer: config.jwt_issuer.clone(),
            audience: config.jwt_audience.clone(),
            tenant_claim: config.tenant_claim.clone(),
            created_secret,
        })
    }

    /// Whether this start created the HS256 secret: the first start on a data dir, the one
    /// time `serve` prints an admin token.
    pub fn created_secret(&self) -> bool {
        self.created_secret
    }

    /// Whether `mint` works (only with an HS256 secret).
    pub fn can_mint(&self) -> bool {
        self.encoding_key.is_some()
    }

    /// Verifies the value of an `Authorization` header (`Bearer <jwt>`; the scheme name is
    /// case-insensitive, RFC 9110 §11.1).
    pub async fn authenticate_header(&self, header: Option<&str>) -> Result<Claims, AuthError> {
        let header = header.ok_or(AuthError("missing bearer token"))?;
        let token = header
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token)
            .ok_or(AuthError("the Authorization header must be \"Bearer <token>\""))?;
        self.verify(token.trim()).await
    }

    /// Verifies a bare JWT.
    pub async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError("malformed token"))?;
        let (algorithm, key) = match &self.verifier {
            Verifier::Static { algorithm, key } => (*algorithm, key.clone()),
            Verifier::Jwks(cache) => cache.key_for(header.kid.as_deref()).await?,
        };
        if header.alg != algorithm {
            return Err(AuthError("token algorithm not accepted"));
        }
        let mut validation = Validation::new(algorithm);
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let mut required = vec!["exp"];
        required.extend(self.issuer.as_ref().map(|_| "iss"));
        required.extend(self.audience.as_ref().map(|_| "aud"));
        validation.set_required_spec_claims(&required);
        match &self.issuer {
            Some(iss) => validation.set_issuer(&[iss]),
            None => validation.iss = None,
        }
        match &self.audience {
            Some(aud) => validation.set_audience(&[aud]),
            None => validation.validate_aud = false,
        }
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            AuthError(match e.kind() {
                ErrorKind::ExpiredSignature => "token expired",
                ErrorKind::ImmatureSignature => "token not yet valid",
                ErrorKind::InvalidIssuer => "token issuer not accepted",
                ErrorKind::InvalidAudience => "token audience not accepted",
                ErrorKind::InvalidSignature => "invalid token signature",
                ErrorKind::MissingRequiredClaim(_) => "token lacks a required claim",
                _ => "invalid token",
            })
        })?;
        self.claims_from(data.claims)
    }

    fn claims_from(&self, claims: Map<String, Value>) -> Result<Claims, AuthError> {
        let tenant = match claims.get(&self.tenant_claim) {
            None | Some(Value::Null) => DEFAULT_TENANT.to_owned(),
            Some(Value::String(t)) if valid_tenant(t) => t.clone(),
            Some(_) => {
                return Err(AuthError(
                    "tenant claim must be a non-empty string of at most 128 characters",
                ));
            }
        };
        let scopes = match claims.get("scope") {
            Some(Value::String(s)) => Scopes::parse(s),
            _ => Scopes::default(),
        };
        let expires_at = claims
            .get("exp")
            .and_then(Value::as_i64)
            .ok_or(AuthError("invalid token"))?;
        let subject = claims.get("sub").and_then(Value::as_str).map(str::to_owned);
        Ok(Claims {
            subject,
            tenant,
            scopes,
            expires_at,
        })
    }

    /// Mints an HS256 token (for `hookd token` and the start-up banner).
    pub fn mint(&self, scopes: &[Scope], tenant: &str, ttl: Duration, subject: &str) -> anyhow::Result<String> {
        let key = self.encoding_key.as_ref().ok_or_else(|| {
            anyhow::anyhow!(
                "tokens can only be minted with an HS256 secret (HOOKD_JWKS_URL or HOOKD_JWT_PUBLIC_KEY is set)"
            )
        })?;
        anyhow::ensure!(valid_tenant(tenant), "tenant must be 1 to 128 characters");
        let now = chrono::Utc::now().timestamp();
        let mut claims = Map::new();
        claims.insert("sub".into(), subject.into());
        claims.insert(
            "scope".into(),
            scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ").into(),
        );
        claims.insert(self.tenant_claim.clone(), tenant.into());
        claims.insert("iat".into(), now.into());
        claims.insert("exp".into(), (now + ttl.as_secs() as i64).into());
        if let Some(iss) = &self.issuer {
            claims.insert("iss".into(), iss.as_str().into());
        }
        if let Some(aud) = &self.audience {
            claims.insert("aud".into(), aud.as_str().into());
        }
        Ok(jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, key)?)
    }
}

fn valid_tenant(tenant: &str) -> bool {
    !tenant.is_empty() && tenant.chars().count() <= 128
}

/// JWKS keys by `kid`, refreshed when a token names a `kid` we do not have.
struct JwksCache {
    url: url::Url,
    client: reqwest::Client,
    keys: RwLock<HashMap<String, (Algorithm, DecodingKey)>>,
    /// When we last fetched; the mutex also makes concurrent misses share one fetch.
    last_fetch: Mutex<Option<Instant>>,
}

impl JwksCache {
    fn new(url: url::Url) -> anyhow::Result<JwksCache> {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?;
        Ok(JwksCache {
            url,
            client,
            keys: RwLock::new(HashMap::new()),
            last_fetch: Mutex::new(None),
        })
    }

    async fn key_for(&self, kid: Option<&str>) -> Result<(Algorithm, DecodingKey), AuthError> {
        if let Some(found) = self.lookup(kid).await {
            return Ok(found);
        }
        let mut last_fetch = self.last_fetch.lock().await;
        // Someone else may have refreshed while we waited for the lock.
        if let Some(found) = self.lookup(kid).await {
            return Ok(found);
        }
        if last_fetch.is_some_and(|at| at.elapsed() < JWKS_REFETCH_INTERVAL) {
            return Err(AuthError("unknown signing key"));
        }
        *last_fetch = Some(Instant::now());
        match self.fetch().await {
            Ok(keys) => *self.keys.write().await = keys,
            Err(e) => tracing::warn!(url = %self.url, error = %e, "JWKS fetch failed"),
        }
        self.lookup(kid).await.ok_or(AuthError("unknown signing key"))
    }

    async fn lookup(&self, kid: Option<&str>) -> Option<(Algorithm, DecodingKey)> {
        let keys = self.keys.read().await;
        match kid {
            Some(kid) => keys.get(kid).cloned(),
            // A token without `kid` is accepted only when the set holds exactly one key.
            None if keys.len() == 1 => keys.values().next().cloned(),
            None => None,
        }
    }

    async fn fetch(&self) -> anyhow::Result<HashMap<String, (Algorithm, DecodingKey)>> {
        let set: JwkSet = self
            .client
            .get(self.url.clone())
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let algorithm = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => Algorithm::RS256,
                AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
                    EllipticCurve::P256 => Algorithm::ES256,
                    EllipticCurve::P384 => Algorithm::ES384,
                    _ => continue,
                },
                _ => continue,
            };
            let (Some(kid), Ok(key)) = (jwk.common.key_id.clone(), DecodingKey::from_jwk(jwk)) else {
                continue;
            };
            keys.insert(kid, (algorithm, key));
        }
        Ok(keys)
    }
}

/// Shared handle used by the HTTP layer and the GraphQL context.
pub type SharedAuth = Arc<Auth>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_allows_everything_and_unknown_scopes_are_ignored() {
        let scopes = Scopes::parse("admin openid");
        assert!(Scope::ALL.iter().all(|s| scopes.allows(*s)));
        let scopes = Scopes::parse("hooks:read profile");
        assert!(scopes.allows(Scope::HooksRead));
        assert!(!scopes.allows(Scope::HooksWrite));
    }
}
