//! Deliveries and their attempts: reading, statistics, redelivery, replay, cancellation.

use std::collections::HashMap;

use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Select, Statement, TransactionTrait,
};

use entity::{delivery, delivery_attempt};

use crate::db::{self, Db};
use crate::domain::caller::Caller;
use crate::domain::now_ms;
use crate::domain::page::{self, Order, Page, PageRequest};
use crate::domain::tenant::scoped;
use crate::domain::webhooks::hooks;
use crate::domain::webhooks::lifecycle;
use crate::domain::webhooks::outbox::Committed;
use crate::error::{AppError, AppResult};

pub use entity::delivery::{DeliveryStatus, Trigger};

/// Filters of the `deliveries` queries. Times are epoch ms.
#[derive(Clone, Debug, Default)]
pub struct DeliveryFilter {
    pub hook_id: Option<String>,
    pub event_id: Option<String>,
    pub status: Option<DeliveryStatus>,
    pub event_type: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
}

pub async fn get(db: &impl ConnectionTrait, tenant: &str, id: &str) -> AppResult<Option<delivery::Model>> {
    Ok(scoped::<delivery::Entity>(tenant)
        .filter(delivery::Column::Id.eq(id))
        .one(db)
        .await?)
}

pub async fn list(
    db: &impl ConnectionTrait,
    tenant: &str,
    filter: &DeliveryFilter,
    page: &PageRequest,
) -> AppResult<Page<delivery::Model>> {
    page::fetch(
        db,
        list_query(tenant, filter),
        delivery::Column::Id,
        page,
        Order::NewestFirst,
    )
    .await
}

/// The filtered, tenant-scoped query behind [`list`] (before paging).
pub fn list_query(tenant: &str, filter: &DeliveryFilter) -> Select<delivery::Entity> {
    let mut query = scoped::<delivery::Entity>(tenant);
    if let Some(hook_id) = &filter.hook_id {
        query = query.filter(delivery::Column::HookId.eq(hook_id.as_str()));
    }
    if let Some(event_id) = &filter.event_id {
        query = query.filter(delivery::Column::EventId.eq(event_id.as_str()));
    }
    if let Some(status) = filter.status {
        query = query.filter(delivery::Column::Status.eq(status));
    }
    if let Some(event_type) = &filter.event_type {
        query = query.filter(delivery::Column::EventType.eq(event_type.as_str()));
    }
    if let Some(since) = filter.since {
        query = query.filter(delivery::Column::CreatedAt.gte(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(delivery::Column::CreatedAt.lt(until));
    }
    query
}

/// Attempts of many deliveries in one query, grouped by delivery, in attempt order.
pub async fn attempts_of(
    db: &impl ConnectionTrait,
    tenant: &str,
    delivery_ids: &[String],
) -> AppResult<HashMap<String, Vec<delivery_attempt::Model>>> {
    let attempts = scoped::<delivery_attempt::Entity>(tenant)
        .filter(delivery_attempt::Column::DeliveryId.is_in(delivery_ids.iter().map(String::as_str)))
        .order_by_asc(delivery_attempt::Column::Number)
        .all(db)
        .await?;
    let mut grouped: HashMap<String, Vec<delivery_attempt::Model>> = HashMap::new();
    for attempt in attempts {
        grouped.entry(attempt.delivery_id.clone()).or_default().push(attempt);
    }
    Ok(grouped)
}

/// Deliveries of many events in one query, grouped by event, each group in id order.
pub async fn of_events(
    db: &impl ConnectionTrait,
    tenant: &str,
    event_ids: &[String],
) -> AppResult<HashMap<String, Vec<delivery::Model>>> {
    let rows = of_events_query(tenant, event_ids).all(db).await?;
    let mut grouped: HashMap<String, Vec<delivery::Model>> = HashMap::new();
    for row in rows {
        grouped.entry(row.event_id.clone()).or_default().push(row);
    }
    for group in grouped.values_mut() {
        group.sort_by(|a, b| a.id.cmp(&b.id));
    }
    Ok(grouped)
}

/// The query of [`of_events`]. It has no ORDER BY on purpose: ordering by `id` lets SQLite's
/// planner prefer walking the tenant's whole `(tenant_id, id)` index over looking the events up
/// in `(tenant_id, event_id, id)`, which turns `Event.deliveries` into a scan of every delivery
/// the tenant ever stored. Groups are small; they are sorted after the read.
pub fn of_events_query(tenant: &str, event_ids: &[String]) -> Select<delivery::Entity> {
    scoped::<delivery::Entity>(tenant).filter(delivery::Column::EventId.is_in(event_ids.iter().map(String::as_str)))
}

/// Attempt statistics of one hook over the last `window_secs`.
#[derive(Clone, Debug, PartialEq)]
pub struct HookStats {
    pub request_count: u64,
    pub success_count: u64,
    pub p50_latency_ms: Option<i32>,
    pub p95_latency_ms: Option<i32>,
}

impl HookStats {
    /// No attempts.
    const EMPTY: HookStats = HookStats {
        request_count: 0,
        success_count: 0,
        p50_latency_ms: None,
        p95_latency_ms: None,
    };

    /// Takes the duration at `rank` (1-based, in order of duration) of `n` attempts as the
    /// median or the 95th percentile if it is one: the p-th percentile is the duration at rank
    /// ⌈p·n⌉, that is (n+1)/2 and (95n+99)/100 in integers. The queries select only those rows.
    fn take_percentiles(&mut self, rank: i64, n: i64, duration: i32) {
        if rank == (n + 1) / 2 {
            self.p50_latency_ms = Some(duration);
        }
        if rank == (95 * n + 99) / 100 {
            self.p95_latency_ms = Some(duration);
        }
    }
}

/// Statistics of many hooks over the same window: one query for the counts, one for the
/// percentiles (by rank, within each hook).
pub async fn stats_of_hooks(
    db: &impl ConnectionTrait,
    tenant: &str,
    hook_ids: &[String],
    window_secs: i64,
) -> AppResult<HashMap<String, HookStats>> {
    let since = now_ms() - window_secs * 1000;
    let backend = db.get_database_backend();
    let ids = crate::db::placeholders(hook_ids.len());
    let mut values: Vec<sea_orm::Value> = vec![tenant.into(), since.into()];
    values.extend(hook_ids.iter().map(|id| id.as_str().into()));

    let counts = crate::db::numbered(
        backend,
        &format!(
            "SELECT hook_id, COUNT(*) AS requests, SUM(CASE WHEN succeeded THEN 1 ELSE 0 END) AS successes \
             FROM delivery_attempts WHERE tenant_id = ? AND started_at >= ? AND hook_id IN ({ids}) GROUP BY hook_id"
        ),
    );
    let mut stats: HashMap<String, HookStats> = HashMap::new();
    for row in db
        .query_all_raw(Statement::from_sql_and_values(backend, counts, values.clone()))
        .await?
    {
        let hook_id: String = row.try_get("", "hook_id")?;
        let requests: i64 = row.try_get("", "requests")?;
        let successes: i64 = row.try_get("", "successes")?;
        stats.insert(
            hook_id,
            HookStats {
                request_count: requests.max(0) as u64,
                success_count: successes.max(0) as u64,
                p50_latency_ms: None,
                p95_latency_ms: None,
            },
        );
    }
    // The rows at the percentiles' ranks (`HookStats::take_percentiles`).
    let ranked = crate::db::numbered(
        backend,
        &format!(
            "SELECT hook_id, duration_ms, rn, n FROM (\
               SELECT hook_id, duration_ms, \
                      ROW_NUMBER() OVER (PARTITION BY hook_id ORDER BY duration_ms) AS rn, \
                      COUNT(*) OVER (PARTITION BY hook_id) AS n \
               FROM delivery_attempts WHERE tenant_id = ? AND started_at >= ? AND hook_id IN ({ids})) ranked \
             WHERE rn = (n + 1) / 2 OR rn = (95 * n + 99) / 100"
        ),
    );
    for row in db
        .query_all_raw(Statement::from_sql_and_values(backend, ranked, values))
        .await?
    {
        let hook_id: String = row.try_get("", "hook_id")?;
        let duration: i32 = row.try_get("", "duration_ms")?;
        let rank: i64 = row.try_get("", "rn")?;
        let n: i64 = row.try_get("", "n")?;
        if let Some(entry) = stats.get_mut(&hook_id) {
            entry.take_percentiles(rank, n, duration);
        }
    }
    Ok(stats)
}

/// One bucket of [`history_of_hook`]: the attempts that started in `[start, start + bucket)`.
#[derive(Clone, Debug, PartialEq)]
pub struct StatsBucket {
    pub start: i64,
    pub stats: HookStats,
}

/// Most buckets one history may have (31 days of hours).
pub const MAX_BUCKETS: i64 = 744;

/// One hook's attempt statistics over the last `window_secs` in buckets of `bucket_secs`,
/// oldest first, every bucket present (empty ones count zero). Buckets are aligned to
/// multiples of `bucket_secs` since the epoch (whole hours for 3600), the last one holding now.
/// One query: counts and percentiles by rank within each bucket.
pub async fn history_of_hook(
    db: &impl ConnectionTrait,
    tenant: &str,
    hook_id: &str,
    window_secs: i64,
    bucket_secs: i64,
) -> AppResult<Vec<StatsBucket>> {
    let bucket_ms = bucket_secs * 1000;
    let count = (window_secs + bucket_secs - 1) / bucket_secs;
    let end = (now_ms() / bucket_ms + 1) * bucket_ms;
    let start = end - count * bucket_ms;
    let mut buckets: Vec<StatsBucket> = (0..count)
        .map(|i| StatsBucket {
            start: start + i * bucket_ms,
            stats: HookStats::EMPTY,
        })
        .collect();
    let backend = db.get_database_backend();
    let sql = crate::db::numbered(
        backend,
        "SELECT b, duration_ms, rn, n, successes FROM (\
           SELECT b, duration_ms, \
                  ROW_NUMBER() OVER (PARTITION BY b ORDER BY duration_ms) AS rn, \
                  COUNT(*) OVER (PARTITION BY b) AS n, \
                  SUM(ok) OVER (PARTITION BY b) AS successes \
           FROM (SELECT (started_at - ?) / ? AS b, duration_ms, CASE WHEN succeeded THEN 1 ELSE 0 END AS ok \
                 FROM delivery_attempts WHERE tenant_id = ? AND hook_id = ? AND started_at >= ?) attempts) ranked \
         WHERE rn = (n + 1) / 2 OR rn = (95 * n + 99) / 100",
    );
    let values: Vec<sea_orm::Value> = vec![
        start.into(),
        bucket_ms.into(),
        tenant.into(),
        hook_id.into(),
        start.into(),
    ];
    for row in db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?
    {
        let b: i64 = row.try_get("", "b")?;
        let Some(bucket) = usize::try_from(b).ok().and_then(|b| buckets.get_mut(b)) else {
            continue; // started after `end`: a clock step; the next read has it
        };
        let duration: i32 = row.try_get("", "duration_ms")?;
        let rank: i64 = row.try_get("", "rn")?;
        let n: i64 = row.try_get("", "n")?;
        let successes: i64 = row.try_get("", "successes")?;
        bucket.stats.request_count = n.max(0) as u64;
        bucket.stats.success_count = successes.max(0) as u64;
        bucket.stats.take_percentiles(rank, n, duration);
    }
    Ok(buckets)
}

/// The first page of each hook's deliveries (newest first), all hooks in one query plus one
/// count, for `Hook.deliveries` on a list of hooks.
pub async fn pages_of_hooks(
    db: &impl ConnectionTrait,
    tenant: &str,
    hook_ids: &[String],
    status: Option<DeliveryStatus>,
    page: &PageRequest,
) -> AppResult<HashMap<String, Page<delivery::Model>>> {
    let backend = db.get_database_backend();
    let ids = crate::db::placeholders(hook_ids.len());
    let mut filter = format!("tenant_id = ? AND hook_id IN ({ids})");
    let mut values: Vec<sea_orm::Value> = vec![tenant.into()];
    values.extend(hook_ids.iter().map(|id| id.as_str().into()));
    if let Some(status) = status {
        filter.push_str(" AND status = ?");
        values.push(status.as_str().into());
    }
    let mut counts: HashMap<String, u64> = HashMap::new();
    let count_sql = crate::db::numbered(
        backend,
        &format!("SELECT hook_id, COUNT(*) AS n FROM deliveries WHERE {filter} GROUP BY hook_id"),
    );
    for row in db
        .query_all_raw(Statement::from_sql_and_values(backend, count_sql, values.clone()))
        .await?
    {
        let n: i64 = row.try_get("", "n")?;
        counts.insert(row.try_get("", "hook_id")?, n.max(0) as u64);
    }
    if let Some(after) = &page.after {
        filter.push_str(" AND id < ?");
        values.push(after.as_str().into());
    }
    values.push(((page.first + 1) as i64).into());
    let rows_sql = crate::db::numbered(
        backend,
        &format!(
            "SELECT * FROM (SELECT deliveries.*, ROW_NUMBER() OVER (PARTITION BY hook_id ORDER BY id DESC) AS rn \
             FROM deliveries WHERE {filter}) ranked WHERE rn <= ? ORDER BY id DESC"
        ),
    );
    let rows = delivery::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(backend, rows_sql, values))
        .all(db)
        .await?;
    let mut pages: HashMap<String, Page<delivery::Model>> = hook_ids
        .iter()
        .map(|id| {
            let page = Page {
                items: Vec::new(),
                has_next_page: false,
                has_previous_page: page.after.is_some(),
                total_count: counts.get(id).copied().unwrap_or(0),
            };
            (id.clone(), page)
        })
        .collect();
    for row in rows {
        if let Some(entry) = pages.get_mut(&row.hook_id) {
            if entry.items.len() as u64 == page.first {
                entry.has_next_page = true;
            } else {
                entry.items.push(row);
            }
        }
    }
    Ok(pages)
}

/// `redeliver`: one new attempt now, counted as MANUAL. A delivery being sent right now is left
/// alone (`CONFLICT`); the hook must exist and be enabled.
pub async fn redeliver(db: &Db, caller: &Caller, id: &str) -> AppResult<Committed<delivery::Model>> {
    let tenant = caller.tenant.as_str();
    let txn = db.write.begin().await?;
    let current = get(&txn, tenant, id).await?.ok_or(AppError::NotFound("delivery"))?;
    // The hook's row first, then its deliveries: the order the recorder takes them in.
    lifecycle::lock_hooks(&txn, &[(tenant, current.hook_id.as_str())]).await?;
    ensure_hook_enabled(&txn, tenant, &current.hook_id).await?;
    let updated = lifecycle::redeliver(&txn, tenant, id)
        .await?
        .ok_or_else(|| AppError::Conflict("the delivery is being sent right now; try again when it is done".into()))?;
    txn.commit().await?;
    Ok(Committed::changed(updated.clone(), vec![updated]))
}

/// `replayDeliveries`: requeues a hook's deliveries created in `[since, until)` whose status is
/// one of `statuses`, each with a fresh retry schedule. Returns how many were requeued.
pub async fn replay(
    db: &Db,
    caller: &Caller,
    hook_id: &str,
    since: i64,
    until: Option<i64>,
    statuses: &[DeliveryStatus],
) -> AppResult<Committed<usize>> {
    let tenant = caller.tenant.as_str();
    if let Some(s) = statuses.iter().find(|s| s.is_queued()) {
        return Err(AppError::bad_input(
            "statuses",
            format!(
                "{} deliveries are already queued; replay FAILED, CANCELLED or SUCCEEDED ones",
                s.as_str()
            ),
        ));
    }
    if statuses.is_empty() {
        return Err(AppError::bad_input("statuses", "name at least one status"));
    }
    if until.is_some_and(|u| u <= since) {
        return Err(AppError::bad_input("until", "until must be after since"));
    }
    let mut statuses = statuses.to_vec();
    statuses.sort_by_key(|s| s.as_str());
    statuses.dedup();
    let statuses = &statuses;
    db::retrying(|| async move {
        let txn = db.write.begin().await?;
        // The hook's row first, then its deliveries: the order the recorder takes them in.
        lifecycle::lock_hooks(&txn, &[(tenant, hook_id)]).await?;
        ensure_hook_enabled(&txn, tenant, hook_id).await?;
        let rows = lifecycle::replay(&txn, tenant, hook_id, since, until, statuses).await?;
        txn.commit().await?;
        Ok(Committed::changed(rows.len(), rows))
    })
    .await
}

async fn ensure_hook_enabled(db: &impl ConnectionTrait, tenant: &str, hook_id: &str) -> AppResult<()> {
    match hooks::get(db, tenant, hook_id).await? {
        None => Err(AppError::NotFound("hook")),
        Some(hook) if !hook.enabled => Err(AppError::Conflict("the hook is disabled; enable it first".into())),
        Some(_) => Ok(()),
    }
}

/// The backlog across tenants, for `/metrics`: how many deliveries wait (PENDING) and are in
/// flight (SENDING), and since when the most overdue waiting one has been due (epoch ms): a
/// delivery waiting for a retry, or its turn on an ordered hook, is not due yet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Backlog {
    pub pending: u64,
    pub sending: u64,
    pub oldest_due_at: Option<i64>,
}

/// The backlog across tenants, in two reads.
pub async fn backlog(db: &impl ConnectionTrait, now: i64) -> AppResult<Backlog> {
    let backend = db.get_database_backend();
    let sql = "SELECT status, COUNT(*) AS n FROM deliveries WHERE status IN ('PENDING', 'SENDING') GROUP BY status";
    let mut backlog = Backlog::default();
    for row in db.query_all_raw(Statement::from_string(backend, sql)).await? {
        let n = row.try_get::<i64>("", "n")?.max(0) as u64;
        match row.try_get::<String>("", "status")?.as_str() {
            "SENDING" => backlog.sending = n,
            _ => backlog.pending = n,
        }
    }
    let sql = "SELECT MIN(due_at) AS due FROM deliveries WHERE status IN ('PENDING', 'SENDING') \
               AND status = 'PENDING' AND due_at <= ?";
    let row = db
        .query_one_raw(crate::db::statement(backend, sql, vec![now.into()]))
        .await?;
    backlog.oldest_due_at = match row {
        Some(row) => row.try_get("", "due")?,
        None => None,
    };
    Ok(backlog)
}

/// The `limit` hooks with the most queued deliveries, across tenants, for `/metrics`:
/// `(hook id, pending, sending)`, most queued first.
pub async fn busiest_hooks(db: &impl ConnectionTrait, limit: u64) -> AppResult<Vec<(String, u64, u64)>> {
    let backend = db.get_database_backend();
    let sql = format!(
        "SELECT hook_id, \
           SUM(CASE WHEN status = 'PENDING' THEN 1 ELSE 0 END) AS pending, \
           SUM(CASE WHEN status = 'SENDING' THEN 1 ELSE 0 END) AS sending \
         FROM deliveries WHERE status IN ('PENDING', 'SENDING') \
         GROUP BY hook_id ORDER BY COUNT(*) DESC, hook_id LIMIT {limit}"
    );
    db.query_all_raw(Statement::from_string(backend, sql))
        .await?
        .iter()
        .map(|row| {
            let count = |column| row.try_get::<i64>("", column).map(|n| n.max(0) as u64);
            Ok((row.try_get("", "hook_id")?, count("pending")?, count("sending")?))
        })
        .collect()
}
