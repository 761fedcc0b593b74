//! A user account of the identity data (Logto's `users`).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    pub username: Option<String>,
    pub primary_email: Option<String>,
    pub primary_phone: Option<String>,
    pub name: Option<String>,
    pub avatar: Option<String>,
    /// JSON object text.
    #[sea_orm(column_type = "Text")]
    pub custom_data: String,
    /// JSON object text (social identities).
    #[sea_orm(column_type = "Text")]
    pub identities: String,
    /// JSON object text (OIDC standard profile claims).
    #[sea_orm(column_type = "Text")]
    pub profile: String,
    /// Argon2id PHC string; never leaves the domain layer.
    pub password_hash: Option<String>,
    pub application_id: Option<String>,
    pub is_suspended: bool,
    pub last_sign_in_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
