//! Settings: read once from flags, `HOOKD_*` variables or a TOML file, validated once, then
//! immutable.
//!
//! Clap collects every setting as a raw string ([`RawSettings`]): a flag wins over its variable.
//! A setting neither gives is taken from the file named by `--config` / `HOOKD_CONFIG`, whose
//! keys are the settings' names in lower case without `HOOKD_` (`listen`, `retry_schedule`, …).
//! [`Config::from_raw`] then turns them into typed values. Doing the parsing ourselves rather
//! than in clap value parsers keeps every failure to a single line that names the variable and
//! the flag, whichever of the three the value came from, which is what an operator reading a
//! crash-looping service log needs.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

mod jwt_keys;

pub use jwt_keys::{JwtKeyConfig, Secret};

/// Every setting as given, before validation. Field docs are the `--help` text.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct RawSettings {
    /// A TOML file of settings (keys: the settings' names in lower case without HOOKD_); flags
    /// and variables win over it
    #[arg(long, env = "HOOKD_CONFIG")]
    pub config: Option<String>,
    /// Address to serve on, host:port [default: 127.0.0.1:8080]
    #[arg(long, env = "HOOKD_LISTEN")]
    pub listen: Option<String>,
    /// A separate address for /metrics alone, host:port (then the main address does not serve it)
    #[arg(long, env = "HOOKD_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,
    /// sqlite://… (embedded) or postgres://… [default: sqlite://<data dir>/hookd.db?mode=rwc]
    #[arg(long, env = "HOOKD_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Where the SQLite file and the generated JWT secret live [default: ./data]
    #[arg(long, env = "HOOKD_DATA_DIR")]
    pub data_dir: Option<String>,
    /// HS256 secret (≥ 32 bytes); generated and kept in the data dir when unset
    #[arg(long, env = "HOOKD_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Master key sealing the hooks' signing keys at rest: base64 of 32 bytes; generated and
    /// kept in the data dir (`master-key`, mode 0600) when unset
    #[arg(long, env = "HOOKD_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// JWKS URL of an external issuer (RS256/ES256/ES384)
    #[arg(long, env = "HOOKD_JWKS_URL")]
    pub jwks_url: Option<String>,
    /// PEM public key (or a path to one) of an external issuer (RS256/ES256/ES384)
    #[arg(long, env = "HOOKD_JWT_PUBLIC_KEY")]
    pub jwt_public_key: Option<String>,
    /// Required `iss` claim
    #[arg(long, env = "HOOKD_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    /// Required `aud` claim
    #[arg(long, env = "HOOKD_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Claim naming the tenant [default: tenant]
    #[arg(long, env = "HOOKD_TENANT_CLAIM")]
    pub tenant_claim: Option<String>,
    /// Comma-separated CIDRs that webhook targets may use despite being private
    #[arg(long, env = "HOOKD_ALLOWED_TARGETS")]
    pub allowed_targets: Option<String>,
    /// Per-attempt total timeout [default: 10s]
    #[arg(long, env = "HOOKD_DELIVERY_TIMEOUT")]
    pub delivery_timeout: Option<String>,
    /// Delays before retries 1..n, comma-separated, or "none" [default: 5s,5m,30m,2h,5h,10h,10h]
    #[arg(long, env = "HOOKD_RETRY_SCHEDULE")]
    pub retry_schedule: Option<String>,
    /// Deliveries in flight at once, all hooks [default: 256]
    #[arg(long, env = "HOOKD_MAX_IN_FLIGHT")]
    pub max_in_flight: Option<String>,
    /// Deliveries in flight at once for one hook [default: 64]
    #[arg(long, env = "HOOKD_MAX_IN_FLIGHT_PER_HOOK")]
    pub max_in_flight_per_hook: Option<String>,
    /// Longest a dispatcher goes without looking for due work it was not woken for (another instance's expired lease or retry) [default: 1s]
    #[arg(long, env = "HOOKD_POLL_INTERVAL")]
    pub poll_interval: Option<String>,
    /// Hooks one tenant may have [default: 100]
    #[arg(long, env = "HOOKD_MAX_HOOKS_PER_TENANT")]
    pub max_hooks_per_tenant: Option<String>,
    /// How long delivery attempts are kept [default: 30d]
    #[arg(long, env = "HOOKD_RETENTION")]
    pub retention: Option<String>,
    /// Serve GraphQL introspection (true/false) [default: true]
    #[arg(long, env = "HOOKD_INTROSPECTION")]
    pub introspection: Option<String>,
    /// How long sign-in failures count and a locked identifier stays locked [default: 10m]
    #[arg(long, env = "HOOKD_LOCKOUT_WINDOW")]
    pub lockout_window: Option<String>,
    /// Comma-separated CIDRs of proxies whose X-Forwarded-For is trusted
    #[arg(long, env = "HOOKD_TRUSTED_PROXIES")]
    pub trusted_proxies: Option<String>,
    /// Export traces over OTLP/HTTP to this collector, e.g. http://127.0.0.1:4318 (off when unset)
    #[arg(long, env = "HOOKD_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// OTLP encoding: http/protobuf or http/json [default: http/protobuf]
    #[arg(long, env = "HOOKD_OTLP_PROTOCOL")]
    pub otlp_protocol: Option<String>,
    /// Log format: text or json [default: text]
    #[arg(long, env = "HOOKD_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Largest GraphQL response body in bytes; a larger one is refused [default: 16777216]
    #[arg(long, env = "HOOKD_MAX_RESPONSE_BYTES")]
    pub max_response_bytes: Option<String>,
    /// WebSocket (subscription) connections open at once [default: 1024]
    #[arg(long, env = "HOOKD_MAX_CONNECTIONS")]
    pub max_connections: Option<String>,
    /// Active subscriptions on one WebSocket connection [default: 32]
    #[arg(long, env = "HOOKD_MAX_SUBSCRIPTIONS_PER_CONNECTION")]
    pub max_subscriptions_per_connection: Option<String>,
    /// Disable a hook whose attempts have all failed for this long [default: 5d]
    #[arg(long, env = "HOOKD_DISABLE_AFTER")]
    pub disable_after: Option<String>,
    /// ... and that has failed at least this many attempts in that time [default: 5]
    #[arg(long, env = "HOOKD_DISABLE_MIN_ATTEMPTS")]
    pub disable_min_attempts: Option<String>,
    /// SQLite commit durability: normal (survives a crash of hookd) or full (also a power loss) [default: normal]
    #[arg(long, env = "HOOKD_SQLITE_SYNCHRONOUS")]
    pub sqlite_synchronous: Option<String>,
}

impl RawSettings {
    /// Every setting but `config`, by its key in a config file.
    fn entries(&mut self) -> [(&'static str, &mut Option<String>); 31] {
        [
            ("listen", &mut self.listen),
            ("metrics_listen", &mut self.metrics_listen),
            ("database_url", &mut self.database_url),
            ("data_dir", &mut self.data_dir),
            ("jwt_secret", &mut self.jwt_secret),
            ("secret_key", &mut self.secret_key),
            ("jwks_url", &mut self.jwks_url),
            ("jwt_public_key", &mut self.jwt_public_key),
            ("jwt_issuer", &mut self.jwt_issuer),
            ("jwt_audience", &mut self.jwt_audience),
            ("tenant_claim", &mut self.tenant_claim),
            ("allowed_targets", &mut self.allowed_targets),
            ("delivery_timeout", &mut self.delivery_timeout),
            ("retry_schedule", &mut self.retry_schedule),
            ("max_in_flight", &mut self.max_in_flight),
            ("max_in_flight_per_hook", &mut self.max_in_flight_per_hook),
            ("poll_interval", &mut self.poll_interval),
            ("max_hooks_per_tenant", &mut self.max_hooks_per_tenant),
            ("retention", &mut self.retention),
            ("introspection", &mut self.introspection),
            ("lockout_window", &mut self.lockout_window),
            ("trusted_proxies", &mut self.trusted_proxies),
            ("otlp_endpoint", &mut self.otlp_endpoint),
            ("otlp_protocol", &mut self.otlp_protocol),
            ("log_format", &mut self.log_format),
            ("max_response_bytes", &mut self.max_response_bytes),
            ("max_connections", &mut self.max_connections),
            (
                "max_subscriptions_per_connection",
                &mut self.max_subscriptions_per_connection,
            ),
            ("disable_after", &mut self.disable_after),
            ("disable_min_attempts", &mut self.disable_min_attempts),
            ("sqlite_synchronous", &mut self.sqlite_synchronous),
        ]
    }

    /// Fills the settings that neither a flag nor a variable gave from the file named by
    /// `config`, if any: its keys must be settings, its values strings, numbers, booleans or
    /// lists of strings (joined with commas, as `retry_schedule = ["5s", "5m"]`).
    pub fn with_file(mut self) -> Result<RawSettings, ConfigError> {
        let Some(path) = self.config.clone().filter(|p| !p.trim().is_empty()) else {
            return Ok(self);
        };
        let in_file = |message: String| bad("HOOKD_CONFIG", format!("{path}: {message}"));
        let text = std::fs::read_to_string(&path).map_err(|e| in_file(format!("cannot read it: {e}")))?;
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let line = e.span().map_or(0, |span| text[..span.start].lines().count().max(1));
            in_file(format!("line {line}: {}", e.message().trim()))
        })?;
        for (key, value) in table {
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Float(n) => n.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Array(items) => items
                    .into_iter()
                    .map(|item| match item {
                        toml::Value::String(s) => Ok(s),
                        _ => Err(in_file(format!("{key} may list strings only"))),
                    })
                    .collect::<Result<Vec<_>, _>>()?
                    .join(","),
                _ => {
                    return Err(in_file(format!(
                        "{key} must be a string, a number, a boolean or a list"
                    )));
                }
            };
            let mut entries = self.entries();
            let Some((_, slot)) = entries.iter_mut().find(|(name, _)| *name == key) else {
                return Err(in_file(format!("unknown setting {key:?}")));
            };
            if slot.is_none() {
                **slot = Some(text);
            }
        }
        Ok(self)
    }
}

/// Validated settings. Cheap to clone; secrets are redacted from `Debug`.
#[derive(Clone, Debug)]
pub struct Config {
    pub listen: SocketAddr,
    /// Where `/metrics` is served alone, if apart from `listen`.
    pub metrics_listen: Option<SocketAddr>,
    pub database_url: String,
    pub data_dir: PathBuf,
    /// `HOOKD_SECRET_KEY`, checked; `None`: the data dir's key file.
    pub secret_key: Option<String>,
    pub jwt: JwtKeyConfig,
    pub jwt_issuer: Option<String>,
    pub jwt_audience: Option<String>,
    pub tenant_claim: String,
    pub allowed_targets: Vec<IpNet>,
    pub delivery_timeout: Duration,
    pub retry_schedule: Vec<Duration>,
    pub max_in_flight: usize,
    pub max_in_flight_per_hook: usize,
    pub poll_interval: Duration,
    pub max_hooks_per_tenant: u64,
    pub retention: Duration,
    pub introspection: bool,
    pub lockout_window: Duration,
    pub trusted_proxies: Vec<IpNet>,
    pub log_format: LogFormat,
    /// Where traces go, if anywhere.
    pub otlp: Option<Otlp>,
    pub max_response_bytes: usize,
    pub max_connections: usize,
    pub max_subscriptions_per_connection: usize,
    pub sqlite_synchronous: crate::db::SqliteDurability,
    /// A hook failing for this long (and `disable_min_attempts` attempts) is disabled.
    pub disable_after: Duration,
    pub disable_min_attempts: u32,
}

/// An OTLP/HTTP collector and the encoding it takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Otlp {
    /// The collector's base URL, without `/v1/traces`.
    pub endpoint: String,
    pub protocol: OtlpProtocol,
}

impl Otlp {
    /// Where spans are posted.
    pub fn traces_url(&self) -> String {
        format!("{}/v1/traces", self.endpoint.trim_end_matches('/'))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtlpProtocol {
    Protobuf,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// A setting that failed validation. Displays as one line naming the variable and the flag.
#[derive(Debug)]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flag = self
            .variable
            .trim_start_matches("HOOKD_")
            .to_lowercase()
            .replace('_', "-");
        write!(f, "invalid {} (--{flag}): {}", self.variable, self.message)
    }
}

impl std::error::Error for ConfigError {}

fn bad(variable: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        message: message.into(),
    }
}

const DEFAULT_RETRY_SCHEDULE: &str = "5s,5m,30m,2h,5h,10h,10h";

impl Config {
    pub fn from_raw(raw: RawSettings) -> Result<Config, ConfigError> {
        let raw = raw.with_file()?;
        let listen = match raw.listen.as_deref() {
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
            Some(s) => parse_listen(s)?,
        };
        let metrics_listen = match non_empty(raw.metrics_listen) {
            None => None,
            Some(s) => Some(parse_listen(&s).map_err(|e| bad("HOOKD_METRICS_LISTEN", e.message))?),
        };
        let data_dir = PathBuf::from(raw.data_dir.unwrap_or_else(|| "./data".to_owned()));
        if data_dir.as_os_str().is_empty() {
            return Err(bad("HOOKD_DATA_DIR", "must not be empty"));
        }
        // The embedded database lives in the data dir unless a URL says otherwise.
        let database_url = raw
            .database_url
            .unwrap_or_else(|| format!("sqlite://{}/hookd.db?mode=rwc", data_dir.display()));
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(bad(
                "HOOKD_DATABASE_URL",
                "must start with sqlite:, postgres:// or postgresql://",
            ));
        }

        let secret_key = non_empty(raw.secret_key);
        if let Some(key) = &secret_key {
            crate::seal::MasterKey::parse(key).map_err(|e| bad("HOOKD_SECRET_KEY", e.to_string()))?;
        }
        let jwt = JwtKeyConfig::from_settings(raw.jwt_secret, raw.jwks_url, raw.jwt_public_key)?;
        let jwt_issuer = non_empty(raw.jwt_issuer);
        let jwt_audience = non_empty(raw.jwt_audience);
        let tenant_claim = raw.tenant_claim.unwrap_or_else(|| "tenant".to_owned());
        if tenant_claim.trim().is_empty() {
            return Err(bad("HOOKD_TENANT_CLAIM", "must not be empty"));
        }

        let allowed_targets = parse_cidrs("HOOKD_ALLOWED_TARGETS", raw.allowed_targets.as_deref())?;
        let trusted_proxies = parse_cidrs("HOOKD_TRUSTED_PROXIES", raw.trusted_proxies.as_deref())?;

        let delivery_timeout = match raw.delivery_timeout.as_deref() {
            None => Duration::from_secs(10),
            Some(s) => parse_duration("HOOKD_DELIVERY_TIMEOUT", s)?,
        };
        if delivery_timeout.is_zero() || delivery_timeout > Duration::from_secs(300) {
            return Err(bad("HOOKD_DELIVERY_TIMEOUT", "must be between 1ms and 5m"));
        }
        let retry_schedule = match raw.retry_schedule.as_deref().map(str::trim) {
            None => parse_schedule(DEFAULT_RETRY_SCHEDULE)?,
            Some("none") => Vec::new(),
            Some("") => {
                return Err(bad(
                    "HOOKD_RETRY_SCHEDULE",
                    "is empty: list the delays (e.g. 5s,5m) or say none for no retries",
                ));
            }
            Some(s) => parse_schedule(s)?,
        };
        if retry_schedule.len() > 20 {
            return Err(bad("HOOKD_RETRY_SCHEDULE", "at most 20 retries"));
        }

        let max_in_flight = parse_count("HOOKD_MAX_IN_FLIGHT", raw.max_in_flight.as_deref(), 256, 65_536)?;
        let max_in_flight_per_hook = parse_count(
            "HOOKD_MAX_IN_FLIGHT_PER_HOOK",
            raw.max_in_flight_per_hook.as_deref(),
            64,
            65_536,
        )?;
        let poll_interval = match raw.poll_interval.as_deref() {
            None => Duration::from_secs(1),
            Some(s) => parse_duration("HOOKD_POLL_INTERVAL", s)?,
        };
        if poll_interval < Duration::from_millis(10) || poll_interval > Duration::from_secs(3600) {
            return Err(bad("HOOKD_POLL_INTERVAL", "must be between 10ms and 1h"));
        }
        let max_hooks_per_tenant = parse_count(
            "HOOKD_MAX_HOOKS_PER_TENANT",
            raw.max_hooks_per_tenant.as_deref(),
            100,
            1_000_000,
        )? as u64;
        let retention = match raw.retention.as_deref() {
            None => Duration::from_secs(30 * 86_400),
            Some(s) => parse_duration("HOOKD_RETENTION", s)?,
        };
        if retention < Duration::from_secs(60) {
            return Err(bad("HOOKD_RETENTION", "must be at least 1m"));
        }
        let lockout_window = match raw.lockout_window.as_deref() {
            None => Duration::from_secs(600),
            Some(s) => parse_duration("HOOKD_LOCKOUT_WINDOW", s)?,
        };
        if lockout_window.is_zero() {
            return Err(bad("HOOKD_LOCKOUT_WINDOW", "must be more than 0"));
        }
        let introspection = match raw.introspection.as_deref() {
            None | Some("true" | "1" | "yes" | "on") => true,
            Some("false" | "0" | "no" | "off") => false,
            Some(other) => {
                return Err(bad("HOOKD_INTROSPECTION", format!("{other:?} is not true or false")));
            }
        };
        let log_format = match raw.log_format.as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(bad("HOOKD_LOG_FORMAT", format!("{other:?} is not text or json")));
            }
        };

        let max_response_bytes = parse_count(
            "HOOKD_MAX_RESPONSE_BYTES",
            raw.max_response_bytes.as_deref(),
            16 * 1024 * 1024,
            1024 * 1024 * 1024,
        )?;
        let max_connections = parse_count("HOOKD_MAX_CONNECTIONS", raw.max_connections.as_deref(), 1024, 65_536)?;
        let max_subscriptions_per_connection = parse_count(
            "HOOKD_MAX_SUBSCRIPTIONS_PER_CONNECTION",
            raw.max_subscriptions_per_connection.as_deref(),
            32,
            1024,
        )?;

        let sqlite_synchronous = match raw.sqlite_synchronous.as_deref().map(str::trim) {
            None | Some("normal") => crate::db::SqliteDurability::Normal,
            Some("full") => crate::db::SqliteDurability::Full,
            Some(other) => {
                return Err(bad(
                    "HOOKD_SQLITE_SYNCHRONOUS",
                    format!("{other:?} is not normal or full"),
                ));
            }
        };

        let disable_after = match raw.disable_after.as_deref() {
            None => Duration::from_secs(5 * 86_400),
            Some(s) => parse_duration("HOOKD_DISABLE_AFTER", s)?,
        };
        if disable_after < Duration::from_secs(1) || disable_after > Duration::from_secs(365 * 86_400) {
            return Err(bad("HOOKD_DISABLE_AFTER", "must be between 1s and 365d"));
        }
        let disable_min_attempts = parse_count(
            "HOOKD_DISABLE_MIN_ATTEMPTS",
            raw.disable_min_attempts.as_deref(),
            5,
            1_000_000,
        )? as u32;

        let protocol = match raw.otlp_protocol.as_deref().map(str::trim) {
            None | Some("http/protobuf") => OtlpProtocol::Protobuf,
            Some("http/json") => OtlpProtocol::Json,
            Some(other) => {
                return Err(bad(
                    "HOOKD_OTLP_PROTOCOL",
                    format!("{other:?} is not http/protobuf or http/json"),
                ));
            }
        };
        let otlp = match non_empty(raw.otlp_endpoint) {
            None => None,
            Some(endpoint) => {
                let url = url::Url::parse(&endpoint)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
                if url.is_none() {
                    return Err(bad(
                        "HOOKD_OTLP_ENDPOINT",
                        format!("{endpoint:?} is not an http(s) URL like http://127.0.0.1:4318"),
                    ));
                }
                Some(Otlp { endpoint, protocol })
            }
        };

        Ok(Config {
            listen,
            metrics_listen,
            database_url,
            data_dir,
            secret_key,
            jwt,
            jwt_issuer,
            jwt_audience,
            tenant_claim,
            allowed_targets,
            delivery_timeout,
            retry_schedule,
            max_in_flight,
            max_in_flight_per_hook,
            poll_interval,
            max_hooks_per_tenant,
            retention,
            introspection,
            lockout_window,
            trusted_proxies,
            log_format,
            otlp,
            max_response_bytes,
            max_connections,
            max_subscriptions_per_connection,
            sqlite_synchronous,
            disable_after,
            disable_min_attempts,
        })
    }

    /// The lease a dispatcher takes on a delivery: long enough that an attempt in progress
    /// always finishes (or times out) before another instance may take the delivery over.
    pub fn lease(&self) -> Duration {
        2 * self.delivery_timeout + Duration::from_secs(5)
    }
}

fn parse_schedule(s: &str) -> Result<Vec<Duration>, ConfigError> {
    s.split(',')
        .map(str::trim)
        .map(|delay| {
            if delay.is_empty() {
                return Err(bad("HOOKD_RETRY_SCHEDULE", format!("{s:?} has an empty delay")));
            }
            parse_duration("HOOKD_RETRY_SCHEDULE", delay)
        })
        .collect()
}

/// `127.0.0.1:8080`, `[::1]:8080`, or a host name and port such as `localhost:8080` (its first
/// address).
fn parse_listen(s: &str) -> Result<SocketAddr, ConfigError> {
    if let Ok(address) = s.parse() {
        return Ok(address);
    }
    let wrong = || {
        bad(
            "HOOKD_LISTEN",
            format!("{s:?} is not an address like 127.0.0.1:8080 or localhost:8080"),
        )
    };
    let (host, port) = s.rsplit_once(':').ok_or_else(wrong)?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(wrong());
    }
    std::net::ToSocketAddrs::to_socket_addrs(s)
        .map_err(|e| bad("HOOKD_LISTEN", format!("cannot resolve {host:?}: {e}")))?
        .next()
        .ok_or_else(|| bad("HOOKD_LISTEN", format!("{host:?} has no address")))
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

/// `10s`, `5m`, `2h`, `30d`, `250ms`, or a bare `0`.
pub fn parse_duration(variable: &'static str, s: &str) -> Result<Duration, ConfigError> {
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(s).map_err(|_| bad(variable, format!("{s:?} is not a duration like 10s, 5m or 2h")))
}

fn parse_count(variable: &'static str, s: Option<&str>, default: usize, max: usize) -> Result<usize, ConfigError> {
    let Some(s) = s else { return Ok(default) };
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(bad(
            variable,
            format!("{s:?} is not a whole number between 1 and {max}"),
        )),
    }
}

fn parse_cidrs(variable: &'static str, s: Option<&str>) -> Result<Vec<IpNet>, ConfigError> {
    s.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| bad(variable, format!("{s:?} is not a CIDR like 127.0.0.0/8")))
        })
        .collect()
}

pub(crate) fn config_error(variable: &'static str, message: impl Into<String>) -> ConfigError {
    bad(variable, message)
}

#[cfg(test)]
mod tests {
    use clap::Args;

    use super::RawSettings;

    /// Every setting can be given in the config file, under its flag's name.
    #[test]
    fn every_setting_has_a_file_key() {
        let flags: Vec<String> = RawSettings::augment_args(clap::Command::new("settings"))
            .get_arguments()
            .map(|arg| arg.get_id().to_string())
            .filter(|id| id != "config")
            .collect();
        let mut raw = RawSettings::default();
        let keys: Vec<String> = raw.entries().iter().map(|(key, _)| (*key).to_owned()).collect();
        assert_eq!(keys, flags);
    }
}
