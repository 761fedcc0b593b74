//! Claiming due deliveries with a lease.
//!
//! One statement moves a batch of due rows to SENDING and pushes their `due_at` to the end of
//! the lease, returning them. On PostgreSQL the inner select takes `FOR UPDATE SKIP LOCKED`, so
//! several hookd processes claiming at once each get different rows and never wait on each
//! other. SQLite has one writer (this process), which serializes claims already. A row whose
//! lease ran out (its process died mid-attempt) is due again and is claimed like a new one.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult, Statement};

use crate::db::Db;

/// A claimed delivery: what the sender needs, without the payload.
#[derive(Clone, Debug, FromQueryResult)]
pub struct Claimed {
    pub id: String,
    pub tenant_id: String,
    pub event_id: String,
    pub hook_id: String,
    pub event_type: String,
    pub attempt_count: i32,
    pub round_attempts: i32,
    pub next_trigger: String,
}

const RETURNING: &str =
    "RETURNING id, tenant_id, event_id, hook_id, event_type, attempt_count, round_attempts, next_trigger";

/// Claims up to `limit` deliveries due at `now`, leased until `lease_until` (epoch ms).
pub async fn claim(db: &Db, now: i64, lease_until: i64, limit: u64) -> Result<Vec<Claimed>, DbErr> {
    let backend = db.backend();
    let sql = match backend {
        DbBackend::Postgres => format!(
            "UPDATE deliveries SET status = 'SENDING', due_at = $1, updated_at = $2 \
             WHERE id IN (SELECT id FROM deliveries \
                          WHERE status IN ('PENDING', 'SENDING') AND due_at <= $2 \
                          ORDER BY due_at LIMIT $3 FOR UPDATE SKIP LOCKED) {RETURNING}"
        ),
        _ => format!(
            "UPDATE deliveries SET status = 'SENDING', due_at = ?1, updated_at = ?2 \
             WHERE id IN (SELECT id FROM deliveries \
                          WHERE status IN ('PENDING', 'SENDING') AND due_at <= ?2 \
                          ORDER BY due_at LIMIT ?3) {RETURNING}"
        ),
    };
    let statement =
        Statement::from_sql_and_values(backend, sql, [lease_until.into(), now.into(), (limit as i64).into()]);
    Claimed::find_by_statement(statement).all(&db.write).await
}

/// When the next delivery falls due (a retry, or a lease running out), if any.
pub async fn next_due(db: &Db) -> Result<Option<i64>, DbErr> {
    let statement = Statement::from_string(
        db.backend(),
        "SELECT MIN(due_at) AS due FROM deliveries WHERE status IN ('PENDING', 'SENDING')",
    );
    match db.read.query_one_raw(statement).await? {
        Some(row) => row.try_get::<Option<i64>>("", "due"),
        None => Ok(None),
    }
}

impl Claimed {
    /// The update subscribers get for this delivery in `status`.
    pub fn update(&self, status: crate::domain::deliveries::DeliveryStatus) -> crate::bus::DeliveryUpdate {
        crate::bus::DeliveryUpdate {
            tenant_id: self.tenant_id.clone(),
            delivery_id: self.id.clone(),
            hook_id: self.hook_id.clone(),
            event_id: self.event_id.clone(),
            event_type: self.event_type.clone(),
            status,
            attempt_count: self.attempt_count,
            response_status: None,
            duration_ms: None,
            error: None,
            next_attempt_at: None,
            at: crate::domain::now_ms(),
        }
    }
}
