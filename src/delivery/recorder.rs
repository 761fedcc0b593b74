//! Writes attempt outcomes back, many per transaction.
//!
//! Senders hand their outcomes to one recorder task over a bounded channel. The recorder takes
//! whatever has accumulated (up to `BATCH`) and stores it in one transaction: the attempt rows,
//! each delivery's new status, and for `410 Gone` the hook's disabling. One transaction per
//! batch rather than per attempt is what lets a single SQLite writer keep up with thousands of
//! deliveries per second. Updates only touch rows still SENDING, so a delivery cancelled while
//! its attempt was on the wire stays CANCELLED (its attempt is still recorded).
//!
//! The same transaction moves each hook's failure clock (and disables a hook failing for too
//! long), gives the next delivery of an ordered hook its turn, and stores the operational
//! events the batch caused (`Hook.Disabled`, `Delivery.Exhausted`, `Delivery.Recovered`), which
//! are published with the delivery updates once it commits.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use sea_orm::{EntityTrait, Set, TransactionTrait};
use tokio::sync::mpsc;
use tracing::Instrument;

use entity::delivery::{self, DeliveryStatus, Trigger};
use entity::delivery_attempt;
use entity::hook::DisabledReason;

use crate::bus::DeliveryUpdate;
use crate::db::Db;
use crate::delivery::retry::Next;
use crate::delivery::sender::AttemptResult;
use crate::domain::webhooks::lifecycle::{self, AttemptOutcome, DisablePolicy, HookAttempts};
use crate::domain::webhooks::operational::{self, LastAttempt, Operational};
use crate::domain::{new_id, now_ms};
use crate::error::AppError;
use crate::publish::Publisher;

/// Most records stored in one transaction (and ids in one statement).
const BATCH: usize = 512;
/// A record that could not be stored is tried again after this, then after twice as long, …
const RETRY_FIRST: Duration = Duration::from_millis(500);
/// … at most this many times (about half a minute in all; by then the lease has usually run out
/// and the delivery is sent again anyway).
const RETRY_TRIES: u32 = 6;

/// A finished piece of work on a claimed delivery.
#[derive(Debug)]
pub enum Record {
    /// An attempt was made.
    Attempt {
        delivery: delivery::Model,
        trigger: Trigger,
        result: AttemptResult,
        next: Next,
        /// The attempt's span, when traces are on: the batch's span links to it.
        traceparent: Option<String>,
    },
    /// The hook or event is gone or the hook is disabled: nothing was sent.
    Cancel { delivery: delivery::Model },
    /// Not sent (the hook had too many in flight, or shutdown): back to PENDING at `due_at`.
    Release { delivery: delivery::Model, due_at: i64 },
}

/// A record whose write failed, waiting to be tried again on its own.
struct Failed {
    record: Record,
    tries: u32,
    at: tokio::time::Instant,
}

/// Runs until every sender is gone and nothing is left to retry, then returns.
///
/// A batch that cannot be stored is split: each record is tried on its own, and one that still
/// fails is set aside, logged once, and tried again with back-off (`RETRY_FIRST`, doubling, at
/// most `RETRY_TRIES` times), while later batches are stored as usual. A record given up on
/// leaves its delivery SENDING until the lease runs out; then it is claimed and sent again.
pub async fn run(db: Db, mut records: mpsc::Receiver<Record>, publisher: Publisher, policy: DisablePolicy) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut failed: Vec<Failed> = Vec::new();
    let mut open = true;
    while open || !failed.is_empty() {
        let next_retry = failed.iter().map(|f| f.at).min();
        tokio::select! {
            received = records.recv_many(&mut batch, BATCH), if open => open = received > 0,
            () = sleep_until(next_retry) => {}
        }
        let now = tokio::time::Instant::now();
        // Once every sender is gone (shutdown), each set-aside record gets one last try.
        let due: Vec<Failed> = extract(&mut failed, |f| f.at <= now || !open);
        for mut retry in due {
            match write_batch(&db, std::slice::from_ref(&retry.record), policy, &publisher).await {
                Ok(()) => {
                    count(&retry.record);
                    tracing::info!(delivery_id = %retry.record.delivery().id, tries = retry.tries, "stored a delivery outcome that failed before");
                }
                Err(e) if retry.tries >= RETRY_TRIES || !open => tracing::error!(
                    error = ?e,
                    delivery_id = %retry.record.delivery().id,
                    "giving up on storing a delivery outcome; the delivery is sent again when its lease runs out"
                ),
                Err(_) => {
                    retry.at = now + RETRY_FIRST * 2u32.pow(retry.tries);
                    retry.tries += 1;
                    failed.push(retry);
                }
            }
        }
        if batch.is_empty() {
            continue;
        }
        match write_batch(&db, &batch, policy, &publisher).await {
            Ok(()) => batch.iter().for_each(count),
            Err(e) => {
                // One bad record must not lose the others: store them one by one, and set aside
                // the ones that still fail.
                tracing::warn!(error = ?e, size = batch.len(), "batch write failed; storing its records one by one");
                for record in batch.drain(..) {
                    match write_batch(&db, std::slice::from_ref(&record), policy, &publisher).await {
                        Ok(()) => count(&record),
                        Err(e) => {
                            tracing::error!(error = ?e, delivery_id = %record.delivery().id, "cannot store a delivery outcome; trying again later");
                            failed.push(Failed {
                                record,
                                tries: 1,
                                at: tokio::time::Instant::now() + RETRY_FIRST,
                            });
                        }
                    }
                }
            }
        }
        batch.clear();
    }
}

/// What a stored batch changed in deliveries: to publish once its transaction committed.
#[derive(Default)]
struct Stored {
    updates: Vec<DeliveryUpdate>,
    /// Some delivery is due sooner than the dispatchers may expect: a retry, a release, an
    /// ordered hook's next turn.
    wake: bool,
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Removes and returns the items of `items` that match.
fn extract<T>(items: &mut Vec<T>, matches: impl Fn(&T) -> bool) -> Vec<T> {
    let (taken, kept) = std::mem::take(items).into_iter().partition(|item| matches(item));
    *items = kept;
    taken
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
    let hook = crate::metrics::hook_label(&record.delivery().hook_id);
    metrics::counter!("hookd_hook_deliveries_total", "hook_id" => hook, "result" => result).increment(1);
    if let Record::Attempt { result, .. } = record {
        metrics::histogram!("hookd_delivery_attempt_duration_seconds").record(f64::from(result.duration_ms) / 1000.0);
        if !result.succeeded() {
            metrics::counter!("hookd_delivery_attempts_failed_total", "class" => result.error_class()).increment(1);
        }
    }
}

/// Stores a batch in one transaction, then publishes what it changed: the delivery updates and
/// the operational events the batch caused. Its span links to the attempts it records (the
/// first [`MAX_LINKS`]), each in its event's trace.
async fn write_batch(db: &Db, batch: &[Record], policy: DisablePolicy, publisher: &Publisher) -> Result<(), AppError> {
    let span = tracing::debug_span!("recorder.write", records = batch.len());
    let attempts = batch.iter().filter_map(|record| match record {
        Record::Attempt { traceparent, .. } => traceparent.as_deref(),
        _ => None,
    });
    for traceparent in attempts.take(MAX_LINKS) {
        crate::telemetry::add_link(&span, traceparent);
    }
    store_batch(db, batch, policy, publisher).instrument(span).await
}

/// Most attempts one recorder span links to.
const MAX_LINKS: usize = 128;

async fn store_batch(db: &Db, batch: &[Record], policy: DisablePolicy, publisher: &Publisher) -> Result<(), AppError> {
    let txn = db.write.begin().await?;
    let now = now_ms();
    // The hooks whose rows this transaction will change (failure clocks, disabling), locked
    // first and in one order, as every other writer locks a hook before its deliveries. A batch
    // of successes on hooks that are not failing changes no hook row and locks none.
    let failing: Vec<(&str, &str)> = batch
        .iter()
        .filter(|r| matches!(r, Record::Attempt { result, .. } if !result.succeeded()))
        .map(|r| (r.delivery().tenant_id.as_str(), r.delivery().hook_id.as_str()))
        .collect();
    lifecycle::lock_hooks(&txn, &failing).await?;
    let attempts: Vec<delivery_attempt::ActiveModel> = batch
        .iter()
        .filter_map(|record| match record {
            Record::Attempt {
                delivery,
                trigger,
                result,
                next,
                ..
            } => Some(delivery_attempt::ActiveModel {
                id: Set(new_id()),
                tenant_id: Set(delivery.tenant_id.clone()),
                delivery_id: Set(delivery.id.clone()),
                hook_id: Set(delivery.hook_id.clone()),
                number: Set(delivery.attempt_count + 1),
                trigger: Set(*trigger),
                started_at: Set(result.started_at),
                duration_ms: Set(result.duration_ms),
                response_status: Set(result.status.map(i32::from)),
                response_body: Set(result.body.clone()),
                error: Set(result.error.clone()),
                succeeded: Set(*next == Next::Succeeded),
                request_headers: Set(Some(result.request_headers.clone())),
                response_headers: Set(result.status.map(|_| result.response_headers.clone())),
            }),
            _ => None,
        })
        .collect();
    if !attempts.is_empty() {
        delivery_attempt::Entity::insert_many(attempts).exec(&txn).await?;
    }
    let mut stored = Stored::default();
    let mut news: Vec<Operational> = Vec::new();
    // Hooks with a delivery that finished: an ordered one's next delivery gets its turn.
    let mut finished: Vec<(&str, &str)> = Vec::new();
    // Attempts whose outcome was stored, for the hooks' failure clocks: (delivery, result,
    // succeeded).
    let mut landed: Vec<(&delivery::Model, &AttemptResult, bool)> = Vec::new();
    // The common case, a successful scheduled attempt, is stored for the whole batch in one
    // statement; the rest one by one.
    let succeeded: Vec<&Record> = batch.iter().filter(|r| r.is_scheduled_success()).collect();
    let claimed: Vec<(&str, &str, i64)> = succeeded
        .iter()
        .map(|r| (r.delivery().tenant_id.as_str(), r.delivery().id.as_str(), r.lease()))
        .collect();
    let ours: HashSet<String> = lifecycle::succeed_scheduled(&txn, &claimed, now)
        .await?
        .into_iter()
        .collect();
    for record in succeeded {
        if let Record::Attempt { delivery, result, .. } = record
            && ours.contains(&delivery.id)
        {
            stored
                .updates
                .push(attempted(delivery, DeliveryStatus::Succeeded, None, result));
            finished.push((&delivery.tenant_id, &delivery.hook_id));
            landed.push((delivery, result, true));
            // Earlier attempts of this round failed.
            if delivery.round_attempts > 0 {
                news.extend(operational::delivery_recovered(delivery, delivery.attempt_count + 1));
            }
        }
    }
    for record in batch.iter().filter(|r| !r.is_scheduled_success()) {
        let delivery = record.delivery();
        match record {
            Record::Attempt {
                trigger, result, next, ..
            } => {
                let (status, due_at) = match next {
                    Next::Succeeded => (DeliveryStatus::Succeeded, None),
                    Next::RetryAt(at) => (DeliveryStatus::Pending, Some(*at)),
                    Next::Failed | Next::FailedAndDisableHook => (DeliveryStatus::Failed, None),
                };
                let outcome = AttemptOutcome {
                    status,
                    due_at,
                    attempt_count: delivery.attempt_count + 1,
                    round_attempts: delivery.round_attempts + i32::from(*trigger == Trigger::Scheduled),
                };
                let ours =
                    lifecycle::record_attempt(&txn, &delivery.tenant_id, &delivery.id, record.lease(), outcome, now)
                        .await?;
                if ours {
                    landed.push((delivery, result, status == DeliveryStatus::Succeeded));
                    stored.updates.push(attempted(delivery, status, due_at, result));
                    stored.wake |= due_at.is_some();
                    if status != DeliveryStatus::Pending {
                        finished.push((&delivery.tenant_id, &delivery.hook_id));
                    }
                    if status == DeliveryStatus::Failed {
                        let last = LastAttempt {
                            response_status: result.status.map(i32::from),
                            error: result.error.as_deref(),
                        };
                        news.extend(operational::delivery_exhausted(delivery, outcome.attempt_count, last));
                    }
                }
                // A 410 that answered an attempt of a delivery cancelled meanwhile (the hook was
                // disabled, perhaps enabled again since) does not disable the hook again.
                if ours && *next == Next::FailedAndDisableHook {
                    let disabled = lifecycle::disable_hook(
                        &txn,
                        &delivery.tenant_id,
                        &delivery.hook_id,
                        DisabledReason::Gone,
                        now,
                    )
                    .await?;
                    if let Some((hook, cancelled)) = disabled {
                        tracing::warn!(hook_id = %hook.id, cancelled = cancelled.len(), "receiver answered 410 Gone: hook disabled");
                        stored.updates.extend(cancelled.iter().map(DeliveryUpdate::of));
                        news.push(operational::hook_disabled(&hook, DisabledReason::Gone));
                    }
                }
            }
            Record::Cancel { .. } => {
                if lifecycle::cancel_claimed(&txn, &delivery.tenant_id, &delivery.id, record.lease(), now).await? {
                    stored.updates.push(DeliveryUpdate::of(&delivery::Model {
                        status: DeliveryStatus::Cancelled,
                        due_at: None,
                        ..delivery.clone()
                    }));
                    finished.push((&delivery.tenant_id, &delivery.hook_id));
                }
            }
            Record::Release { due_at, .. } => {
                if lifecycle::release(&txn, &delivery.tenant_id, &delivery.id, record.lease(), *due_at, now).await? {
                    stored.updates.push(DeliveryUpdate::of(&delivery::Model {
                        status: DeliveryStatus::Pending,
                        due_at: Some(*due_at),
                        ..delivery.clone()
                    }));
                    stored.wake = true;
                }
            }
        }
    }
    finished.sort_unstable();
    finished.dedup();
    let settled = lifecycle::settle(&txn, &finished, &hook_attempts(&landed), policy, now).await?;
    stored.wake |= settled.turned > 0;
    for (hook, cancelled) in settled.disabled {
        tracing::warn!(hook_id = %hook.id, failing_since = ?hook.failing_since, failed_attempts = hook.failed_attempts, "every attempt failed for too long: hook disabled");
        stored.updates.extend(cancelled.iter().map(DeliveryUpdate::of));
        news.push(operational::hook_disabled(&hook, DisabledReason::Failing));
    }
    let emitted = operational::emit(&txn, &news).await?;
    txn.commit().await?;
    stored.updates.into_iter().for_each(|u| publisher.bus.delivery(u));
    publisher.emitted(&emitted);
    if stored.wake {
        publisher.wake.wake();
    }
    Ok(())
}

/// Each hook's attempts among `landed` (those whose outcome was stored: an attempt of a
/// delivery cancelled or claimed again meanwhile no longer speaks for its hook), in the order
/// they were made.
fn hook_attempts<'a>(
    landed: &[(&'a delivery::Model, &AttemptResult, bool)],
) -> Vec<((&'a str, &'a str), HookAttempts)> {
    let mut by_hook: HashMap<(&str, &str), HookAttempts> = HashMap::new();
    let mut made = landed.to_vec();
    made.sort_by_key(|(_, result, _)| result.started_at);
    for (delivery, result, succeeded) in made {
        by_hook
            .entry((delivery.tenant_id.as_str(), delivery.hook_id.as_str()))
            .or_default()
            .add(succeeded, result.started_at);
    }
    let mut attempts: Vec<_> = by_hook.into_iter().collect();
    attempts.sort_unstable_by_key(|(hook, _)| *hook);
    attempts
}

/// The update for a delivery whose attempt was stored in `status`.
fn attempted(
    delivery: &delivery::Model,
    status: DeliveryStatus,
    due_at: Option<i64>,
    result: &AttemptResult,
) -> DeliveryUpdate {
    DeliveryUpdate {
        attempt_count: delivery.attempt_count + 1,
        response_status: result.status.map(i32::from),
        duration_ms: Some(result.duration_ms),
        error: result.error.clone(),
        ..DeliveryUpdate::of(&delivery::Model {
            status,
            due_at,
            ..delivery.clone()
        })
    }
}

impl Record {
    fn delivery(&self) -> &delivery::Model {
        match self {
            Record::Attempt { delivery, .. } | Record::Cancel { delivery } | Record::Release { delivery, .. } => {
                delivery
            }
        }
    }

    /// The end of the lease the delivery was claimed with (the claim set `due_at` to it).
    fn lease(&self) -> i64 {
        self.delivery().due_at.unwrap_or_default()
    }

    fn is_scheduled_success(&self) -> bool {
        matches!(
            self,
            Record::Attempt {
                next: Next::Succeeded,
                trigger: Trigger::Scheduled,
                ..
            }
        )
    }
}
