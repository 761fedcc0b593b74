//! A webhook subscription: where to send which events, and the keys that sign them.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "hooks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    pub name: String,
    pub url: String,
    /// JSON array of event names, e.g. `["User.Created","PostSignIn"]`.
    #[sea_orm(column_type = "Text")]
    pub events: String,
    /// JSON array of `[name, value]` pairs, in the order given.
    #[sea_orm(column_type = "Text")]
    pub headers: String,
    pub enabled: bool,
    /// Current signing key, `whsec_` + base64 of 32 random bytes.
    pub signing_key: String,
    /// JSON array of `{"key": …, "expiresAt": <ms>}`: keys still valid during a rotation grace.
    #[sea_orm(column_type = "Text")]
    pub previous_keys: String,
    /// RFC 9535 JSONPath query on the event envelope; the hook receives an event only when it
    /// selects at least one node. `None`: every event of the hook's types.
    #[sea_orm(column_type = "Text", nullable)]
    pub filter: Option<String>,
    /// Which signatures the hook's requests carry.
    pub signing_scheme: SigningScheme,
    /// Ed25519 private key, `whsk_` + base64 of its 32-byte seed, once a scheme has used it.
    pub ed25519_key: Option<String>,
    /// Deliveries go one at a time, in event order.
    pub ordered: bool,
    /// Deliveries per second, across all processes; `None`: unlimited.
    pub rate_limit: Option<i32>,
    /// When the next send of a rate-limited hook may start (epoch microseconds).
    pub rate_next_at: Option<i64>,
    /// When the current run of failed attempts began (epoch ms); `None` after a success.
    pub failing_since: Option<i64>,
    /// Failed attempts since `failing_since`.
    pub failed_attempts: i32,
    /// Why a disabled hook is off; `None` while enabled.
    pub disabled_reason: Option<DisabledReason>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Which signatures a hook's requests carry. Stored as its upper-case name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum SigningScheme {
    /// HMAC-SHA256 with the `whsec_` key: `logto-signature-sha-256` and `webhook-signature: v1,…`.
    #[default]
    #[sea_orm(string_value = "HMAC")]
    Hmac,
    /// Ed25519 only: `webhook-signature: v1a,…`, no shared secret on the receiver.
    #[sea_orm(string_value = "ED25519")]
    Ed25519,
    /// Both: every header of `Hmac`, and a `v1a,` entry beside the `v1,` ones.
    #[sea_orm(string_value = "HMAC_AND_ED25519")]
    HmacAndEd25519,
}

impl SigningScheme {
    pub fn hmac(self) -> bool {
        self != SigningScheme::Ed25519
    }

    pub fn ed25519(self) -> bool {
        self != SigningScheme::Hmac
    }
}

/// Why a hook was disabled. Stored as its upper-case name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum DisabledReason {
    /// The receiver answered `410 Gone`.
    #[sea_orm(string_value = "GONE")]
    Gone,
    /// Every attempt failed for longer than `HOOKD_DISABLE_AFTER`.
    #[sea_orm(string_value = "FAILING")]
    Failing,
    /// Someone turned it off through the API.
    #[sea_orm(string_value = "USER")]
    User,
}

impl DisabledReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DisabledReason::Gone => "GONE",
            DisabledReason::Failing => "FAILING",
            DisabledReason::User => "USER",
        }
    }
}

/// A retired signing key (`whsec_…` or `whsk_…`) that still signs until `expires_at` (ms).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviousKey {
    pub key: String,
    pub expires_at: i64,
}

/// The JSON columns, decoded. They are written only by hookd from validated input, so a value
/// that does not decode is treated as empty rather than failing a read.
impl Model {
    /// Whether the hook's deliveries must go through the claim, where ordering and the rate
    /// limit are kept, rather than be born leased and handed over in memory.
    pub fn paced(&self) -> bool {
        self.ordered || self.rate_limit.is_some()
    }

    /// The event names this hook receives, in the order given.
    pub fn event_names(&self) -> Vec<String> {
        serde_json::from_str(&self.events).unwrap_or_default()
    }

    /// The extra headers, in the order given.
    pub fn header_pairs(&self) -> Vec<(String, String)> {
        serde_json::from_str(&self.headers).unwrap_or_default()
    }

    /// Retired keys still inside their grace period at `now` (ms), newest first.
    pub fn previous_keys_at(&self, now: i64) -> Vec<PreviousKey> {
        let keys: Vec<PreviousKey> = serde_json::from_str(&self.previous_keys).unwrap_or_default();
        keys.into_iter().filter(|k| k.expires_at > now).collect()
    }
}
