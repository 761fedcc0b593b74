//! A webhook subscription: where to send which events, and the keys that sign them.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "hooks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
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
