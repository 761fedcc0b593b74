//! One HTTP attempt of a delivery and what came back.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "delivery_attempts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    pub delivery_id: String,
    pub hook_id: String,
    /// 1-based, in the order attempts started.
    pub number: i32,
    pub trigger: super::delivery::Trigger,
    pub started_at: i64,
    pub duration_ms: i32,
    /// Null when no response came (timeout, refused, blocked target).
    pub response_status: Option<i32>,
    /// The first 20 KiB of the response body.
    #[sea_orm(column_type = "Text", nullable)]
    pub response_body: Option<String>,
    pub error: Option<String>,
    pub succeeded: bool,
    /// The request's headers as `name: value` lines, in the order sent; null before migration 14.
    #[sea_orm(column_type = "Text", nullable)]
    pub request_headers: Option<String>,
    /// The response's headers (bounded) in the same form; null when no response came.
    #[sea_orm(column_type = "Text", nullable)]
    pub response_headers: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
