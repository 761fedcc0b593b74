//! Writes attempt outcomes back, many per transaction.
//!
//! Senders hand their outcomes to one recorder task over a bounded channel. The recorder takes
//! whatever has accumulated (up to `BATCH`) and stores it in one transaction: the attempt rows,
//! each delivery's new status, and for `410 Gone` the hook's disabling. One transaction per
//! batch rather than per attempt is what lets a single SQLite writer keep up with thousands of
//! deliveries per second. Updates only touch rows still SENDING, so a delivery cancelled while
//! its attempt was on the wire stays CANCELLED (its attempt is still recorded).

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, Set, Statement, TransactionTrait,
};
use tokio::sync::mpsc;

use entity::{delivery, delivery_attempt, hook};

use crate::bus::{Bus, DeliveryUpdate};
use crate::db::{Db, numbered, placeholders};
use crate::delivery::Wake;
use crate::delivery::claim::Claimed;
use crate::delivery::retry::Next;
use crate::delivery::sender::AttemptResult;
use crate::domain::deliveries::{self, DeliveryStatus, Trigger};
use crate::domain::{new_id, now_ms};
use crate::error::AppError;

const BATCH: usize = 512;

/// A finished piece of work on a claimed delivery.
#[derive(Debug)]
pub enum Record {
    /// An attempt was made.
    Attempt {
        delivery: Claimed,
        trigger: Trigger,
        result: AttemptResult,
        next: Next,
    },
    /// The hook or event is gone or the hook is disabled: nothing was sent.
    Cancel { delivery: Claimed },
    /// Not sent (the hook had too many in flight, or shutdown): back to PENDING at `due_at`.
    Release { delivery: Claimed, due_at: i64 },
}

/// Runs until every sender is gone, then returns.
pub async fn run(db: Db, mut records: mpsc::Receiver<Record>, wake: Wake, bus: Bus) {
    let mut batch = Vec::with_capacity(BATCH);
    while records.recv_many(&mut batch, BATCH).await > 0 {
        let retries = batch.iter().any(|r| {
            matches!(
                r,
                Record::Attempt {
                    next: Next::RetryAt(_),
                    ..
                } | Record::Release { .. }
            )
        });
        match write_batch(&db, &batch).await {
            Ok(updates) => updates.into_iter().for_each(|u| bus.delivery(u)),
            Err(e) => {
                // One bad record must not lose the others: store them one by one.
                tracing::warn!(error = ?e, size = batch.len(), "batch write failed; retrying records one by one");
                for record in &batch {
                    match write_batch(&db, std::slice::from_ref(record)).await {
                        Ok(updates) => updates.into_iter().for_each(|u| bus.delivery(u)),
                        Err(e) => tracing::error!(error = ?e, record = ?record, "cannot record delivery outcome"),
                    }
                }
            }
        }
        for record in &batch {
            count(record);
        }
        batch.clear();
        if retries {
            // A retry may be due sooner than the dispatcher's current sleep.
            wake.wake();
        }
    }
}

fn count(record: &Record) {
    let result = match record {
        Record::Attempt {
            next: Next::Succeeded, ..
        } => "succeeded",
        Record::Attempt {
            next: Next::RetryAt(_), ..
        } => "retry",
        Record::Attempt { .. } => "failed",
        Record::Cancel { .. } => "cancelled",
        Record::Release { .. } => return,
    };
    metrics::counter!("hookd_deliveries_total", "result" => result).increment(1);
    if let Record::Attempt { result, .. } = record {
        metrics::histogram!("hookd_delivery_attempt_duration_seconds").record(f64::from(result.duration_ms) / 1000.0);
    }
}

/// Stores a batch in one transaction; returns the updates to publish once it committed.
async fn write_batch(db: &Db, batch: &[Record]) -> Result<Vec<DeliveryUpdate>, AppError> {
    let txn = db.write.begin().await?;
    let now = now_ms();
    let attempts: Vec<delivery_attempt::ActiveModel> = batch
        .iter()
        .filter_map(|record| match record {
            Record::Attempt {
                delivery,
                trigger,
                result,
                next,
            } => Some(delivery_attempt::ActiveModel {
                id: Set(new_id()),
                tenant_id: Set(delivery.tenant_id.clone()),
                delivery_id: Set(delivery.id.clone()),
                hook_id: Set(delivery.hook_id.clone()),
                number: Set(delivery.attempt_count + 1),
                trigger: Set(trigger.as_str().to_owned()),
                started_at: Set(result.started_at),
                duration_ms: Set(result.duration_ms),
                response_status: Set(result.status.map(i32::from)),
                response_body: Set(result.body.clone()),
                error: Set(result.error.clone()),
                succeeded: Set(*next == Next::Succeeded),
            }),
            _ => None,
        })
        .collect();
    if !attempts.is_empty() {
        delivery_attempt::Entity::insert_many(attempts).exec(&txn).await?;
    }
    let mut updates = Vec::with_capacity(batch.len());
    // The common case, a successful scheduled attempt, is stored for the whole batch in one
    // statement; the rest one by one.
    let succeeded: Vec<&Record> = batch
        .iter()
        .filter(|r| {
            matches!(
                r,
                Record::Attempt {
                    next: Next::Succeeded,
                    trigger: Trigger::Scheduled,
                    ..
                }
            )
        })
        .collect();
    if !succeeded.is_empty() {
        let ids: Vec<&str> = succeeded
            .iter()
            .filter_map(|r| match r {
                Record::Attempt { delivery, .. } => Some(delivery.id.as_str()),
                _ => None,
            })
            .collect();
        let stored: std::collections::HashSet<String> = mark_succeeded(&txn, &ids, now).await?.into_iter().collect();
        for record in succeeded {
            if let Record::Attempt { delivery, result, .. } = record
                && stored.contains(&delivery.id)
            {
                updates.push(DeliveryUpdate {
                    attempt_count: delivery.attempt_count + 1,
                    response_status: result.status.map(i32::from),
                    duration_ms: Some(result.duration_ms),
                    error: result.error.clone(),
                    ..delivery.update(DeliveryStatus::Succeeded)
                });
            }
        }
    }
    for record in batch {
        match record {
            Record::Attempt {
                next: Next::Succeeded,
                trigger: Trigger::Scheduled,
                ..
            } => {}
            Record::Attempt {
                delivery,
                trigger,
                result,
                next,
            } => {
                let (status, due_at) = match next {
                    Next::Succeeded => (DeliveryStatus::Succeeded, None),
                    Next::RetryAt(at) => (DeliveryStatus::Pending, Some(*at)),
                    Next::Failed | Next::FailedAndDisableHook => (DeliveryStatus::Failed, None),
                };
                let round = delivery.round_attempts + i32::from(*trigger == Trigger::Scheduled);
                let updated = set_status(&delivery.id, status, due_at, now)
                    .col_expr(delivery::Column::AttemptCount, Expr::value(delivery.attempt_count + 1))
                    .col_expr(delivery::Column::RoundAttempts, Expr::value(round))
                    .col_expr(delivery::Column::NextTrigger, Expr::value(Trigger::Scheduled.as_str()))
                    .exec(&txn)
                    .await?;
                if updated.rows_affected == 1 {
                    updates.push(DeliveryUpdate {
                        attempt_count: delivery.attempt_count + 1,
                        response_status: result.status.map(i32::from),
                        duration_ms: Some(result.duration_ms),
                        error: result.error.clone(),
                        next_attempt_at: due_at,
                        ..delivery.update(status)
                    });
                }
                if *next == Next::FailedAndDisableHook {
                    let cancelled = disable_hook(&txn, &delivery.hook_id, now).await?;
                    updates.extend(cancelled.iter().map(DeliveryUpdate::of));
                }
            }
            Record::Cancel { delivery } => {
                let updated = set_status(&delivery.id, DeliveryStatus::Cancelled, None, now)
                    .exec(&txn)
                    .await?;
                if updated.rows_affected == 1 {
                    updates.push(delivery.update(DeliveryStatus::Cancelled));
                }
            }
            Record::Release { delivery, due_at } => {
                let updated = set_status(&delivery.id, DeliveryStatus::Pending, Some(*due_at), now)
                    .exec(&txn)
                    .await?;
                if updated.rows_affected == 1 {
                    updates.push(DeliveryUpdate {
                        next_attempt_at: Some(*due_at),
                        ..delivery.update(DeliveryStatus::Pending)
                    });
                }
            }
        }
    }
    txn.commit().await?;
    Ok(updates)
}

/// Marks scheduled, successful deliveries SUCCEEDED in one statement; returns the ids it
/// updated (those still SENDING).
async fn mark_succeeded(txn: &DatabaseTransaction, ids: &[&str], now: i64) -> Result<Vec<String>, AppError> {
    let backend = txn.get_database_backend();
    let sql = format!(
        "UPDATE deliveries SET status = 'SUCCEEDED', attempt_count = attempt_count + 1, \
         round_attempts = round_attempts + 1, next_trigger = 'SCHEDULED', due_at = NULL, updated_at = ? \
         WHERE status = 'SENDING' AND id IN ({}) RETURNING id",
        placeholders(ids.len())
    );
    let mut values: Vec<sea_orm::Value> = vec![now.into()];
    values.extend(ids.iter().map(|id| (*id).into()));
    let rows = txn
        .query_all_raw(Statement::from_sql_and_values(backend, numbered(backend, &sql), values))
        .await?;
    rows.iter()
        .map(|row| row.try_get::<String>("", "id").map_err(AppError::from))
        .collect()
}

/// `UPDATE deliveries SET status, due_at, updated_at WHERE id AND status = 'SENDING'`.
fn set_status(
    id: &str,
    status: DeliveryStatus,
    due_at: Option<i64>,
    now: i64,
) -> sea_orm::UpdateMany<delivery::Entity> {
    delivery::Entity::update_many()
        .col_expr(delivery::Column::Status, Expr::value(status.as_str()))
        .col_expr(delivery::Column::DueAt, Expr::value(due_at))
        .col_expr(delivery::Column::UpdatedAt, Expr::value(now))
        .filter(delivery::Column::Id.eq(id))
        .filter(delivery::Column::Status.eq(DeliveryStatus::Sending.as_str()))
}

/// `410 Gone`: the receiver does not want this hook any more. Returns the deliveries cancelled.
async fn disable_hook(txn: &DatabaseTransaction, hook_id: &str, now: i64) -> Result<Vec<delivery::Model>, AppError> {
    hook::Entity::update_many()
        .col_expr(hook::Column::Enabled, Expr::value(false))
        .col_expr(hook::Column::UpdatedAt, Expr::value(now))
        .filter(hook::Column::Id.eq(hook_id))
        .exec(txn)
        .await?;
    let cancelled = deliveries::cancel_for_hook(txn, hook_id).await?;
    tracing::warn!(hook_id, "receiver answered 410 Gone: hook disabled");
    Ok(cancelled)
}
