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
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// A retired signing key that still signs until `expires_at` (ms).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreviousKey {
    pub key: String,
    pub expires_at: i64,
}

/// The JSON columns, decoded. They are written only by hookd from validated input, so a value
/// that does not decode is treated as empty rather than failing a read.
impl Model {
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
