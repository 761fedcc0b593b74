//! The delivery lifecycle: every statement that changes a delivery's status is in this file.
//!
//! ```text
//!   emit (outbox.rs: born PENDING, or born SENDING, leased to this process and handed over;
//!    │                 │  an ordered hook's: PENDING with no due time, waiting its turn)
//!    │   advance       │
//!    ▼ (ordered turn)  │
//!    ▼       claim     ▼            record
//! PENDING ─────────▶ SENDING ─────────────────────▶ SUCCEEDED | FAILED
//!    ▲  ▲               │ record (retry due later),
//!    │  └───────────────┘ release (not sent: hook busy, shutdown)
//!    │                  │
//!    │                  └── cancel (hook disabled, deleted, 410 Gone) ──▶ CANCELLED
//!    └── redeliver, replay ◀── SUCCEEDED | FAILED | CANCELLED
//!                              finished and older than the retention ── prune ──▶ removed
//! ```
//!
//! Deliveries are created by the outbox (`outbox::emit_many`), the one other place that writes
//! a status. Two rules hold for every statement here:
//! - No statement's parameter count grows with the data. Work over "all deliveries of a hook /
//!   of a range / of a status" is one set-based statement keyed on `hook_id` (or a bounded
//!   chunk of one, for pruning); statements that name ids take at most a recorder batch of them.
//! - Outcomes only land on rows still `SENDING` under the same lease (`due_at` is the lease's
//!   end, set by the claim), so a delivery cancelled while its attempt was on the wire stays
//!   `CANCELLED`, and a late outcome never lands on a delivery claimed again after its lease
//!   ran out.
//!
//! An ordered hook has at most one queued delivery with a due time: the one in turn. The others
//! wait PENDING with `due_at` null, which no claim and no `next_due` sees, so a backlog behind
//! a retry costs nothing while it waits. [`advance`] gives the oldest waiting one its turn when
//! none has it; every commit that may end or create a turn calls it (emit, record, redeliver,
//! replay, ordering switched on), under a lock on the hook's row, so two processes cannot both
//! hand out a turn.
//!
//! The hook's failure clock (`failing_since`, `failed_attempts`) is kept here too, by
//! [`settle`], in the recorder's transaction: a hook failing for longer than the
//! operator allows is disabled with its queued deliveries cancelled.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, EntityTrait, Statement, Value};

use entity::delivery::{self, DeliveryStatus, Trigger};
use entity::hook::{self, DisabledReason};

use crate::db::{Db, placeholders, statement};
use crate::domain::now_ms;

/// Most hooks with deliveries in flight named in one claim (a bound on the statement's
/// parameters). Past it, a busy hook's rows may still be claimed beyond its room; the dispatcher
/// hands those straight back.
pub const MAX_BUSY_HOOKS: usize = 512;
/// Rows examined per claimed row when spreading a claim over hooks.
const CANDIDATES_PER_SLOT: u64 = 4;
/// Rows removed per pruning statement.
const PRUNE_CHUNK: i64 = 5000;

async fn rows(db: &impl ConnectionTrait, sql: &str, values: Vec<Value>) -> Result<Vec<delivery::Model>, DbErr> {
    let backend = db.get_database_backend();
    delivery::Entity::find()
        .from_raw_sql(statement(backend, sql, values))
        .all(db)
        .await
}

async fn execute(db: &impl ConnectionTrait, sql: &str, values: Vec<Value>) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    Ok(db.execute_raw(statement(backend, sql, values)).await?.rows_affected())
}

/// What one claim took.
#[derive(Debug, Default)]
pub struct Claim {
    pub deliveries: Vec<delivery::Model>,
    /// More may be due right now: some tenant filled its share, or more tenants have work than
    /// one claim visits.
    pub more_due: bool,
}

/// Claims up to `limit` due deliveries, leased until `lease_until`, oldest first, spread over
/// tenants and hooks. One read finds the tenants with due deliveries ([`due_tenants_statement`],
/// at most [`MAX_TENANTS_PER_CLAIM`]); each then gets an equal share of `limit`, claimed by a
/// statement that names it ([`claim_statement`]). Within a tenant, at most `per_hook` of any one
/// hook are taken, and for the hooks in `busy` (those with deliveries in flight already, with
/// the room they have left) at most that room; a hook with no room is skipped. A tenant or hook
/// with a large backlog therefore takes a bounded share of a claim, and the deliveries of others
/// behind its backlog are claimed at once.
///
/// Every statement that locks or changes rows names its tenant, so on a database distributed by
/// tenant (Citus) each runs on one shard. On PostgreSQL the candidate rows are locked `FOR UPDATE
/// SKIP LOCKED`, so several processes claiming at once get different rows and never wait on each
/// other. A row whose lease ran out (its process died mid-attempt) is due again and is claimed
/// like a new one.
pub async fn claim(
    db: &Db,
    now: i64,
    lease_until: i64,
    limit: u64,
    per_hook: u64,
    busy: &[(&str, u64)],
) -> Result<Claim, DbErr> {
    let full: Vec<&str> = busy.iter().filter(|(_, room)| *room == 0).map(|(id, _)| *id).collect();
    let found = db
        .write
        .query_all_raw(due_tenants_statement(db.backend(), now, &full, limit))
        .await?;
    let tenants = found
        .iter()
        .map(|row| row.try_get::<String>("", "tenant_id"))
        .collect::<Result<Vec<_>, _>>()?;
    let mut claim = Claim {
        deliveries: Vec::new(),
        more_due: tenants.len() == MAX_TENANTS_PER_CLAIM,
    };
    let share = limit.div_ceil(tenants.len().max(1) as u64);
    for tenant in &tenants {
        let ask = share.min(limit - claim.deliveries.len() as u64);
        if ask == 0 {
            claim.more_due = true;
            break;
        }
        let statement = claim_statement(db.backend(), tenant, now, lease_until, ask, per_hook, busy);
        let taken = delivery::Entity::find().from_raw_sql(statement).all(&db.write).await?;
        claim.more_due |= taken.len() as u64 == ask;
        claim.deliveries.extend(taken);
    }
    // Nothing taken although tenants had work: other processes hold it (SKIP LOCKED).
    claim.more_due &= !claim.deliveries.is_empty();
    Ok(claim)
}

/// Most tenants one claim visits.
pub const MAX_TENANTS_PER_CLAIM: usize = 16;

/// The tenants with deliveries due at `now` outside the hooks in `full`, oldest due first: a
/// read across tenants (no lock), over the same bounded window of candidates a claim of `limit`
/// examines.
pub fn due_tenants_statement(backend: DbBackend, now: i64, full: &[&str], limit: u64) -> Statement {
    let full = &full[..full.len().min(MAX_BUSY_HOOKS)];
    let not_full = if full.is_empty() {
        String::new()
    } else {
        format!("AND hook_id NOT IN ({})", placeholders(full.len()))
    };
    let sql = format!(
        "SELECT tenant_id FROM \
           (SELECT tenant_id, due_at FROM deliveries \
            WHERE status IN ('PENDING', 'SENDING') AND due_at <= ? {not_full} \
            ORDER BY due_at LIMIT ?) candidates \
         GROUP BY tenant_id ORDER BY MIN(due_at) LIMIT ?"
    );
    let mut values: Vec<Value> = vec![now.into()];
    values.extend(full.iter().map(|id| (*id).into()));
    values.push(((limit * CANDIDATES_PER_SLOT) as i64).into());
    values.push((MAX_TENANTS_PER_CLAIM as i64).into());
    statement(backend, &sql, values)
}

/// The claim of one tenant's share, for [`claim`] and for the test that checks its plan.
pub fn claim_statement(
    backend: DbBackend,
    tenant: &str,
    now: i64,
    lease_until: i64,
    limit: u64,
    per_hook: u64,
    busy: &[(&str, u64)],
) -> Statement {
    let busy = &busy[..busy.len().min(MAX_BUSY_HOOKS)];
    let full: Vec<&str> = busy.iter().filter(|(_, room)| *room == 0).map(|(id, _)| *id).collect();
    let partial: Vec<(&str, u64)> = busy.iter().copied().filter(|(_, room)| *room > 0).collect();
    let not_full = if full.is_empty() {
        String::new()
    } else {
        format!("AND hook_id NOT IN ({})", placeholders(full.len()))
    };
    let room = if partial.is_empty() {
        "?".to_owned()
    } else {
        format!(
            "CASE hook_id {} ELSE ? END",
            vec!["WHEN ? THEN ?"; partial.len()].join(" ")
        )
    };
    let lock = match backend {
        DbBackend::Postgres => "FOR UPDATE SKIP LOCKED",
        _ => "",
    };
    let sql = format!(
        "UPDATE deliveries SET status = 'SENDING', due_at = ?, updated_at = ? \
         WHERE tenant_id = ? AND id IN (SELECT id FROM \
           (SELECT id, hook_id, due_at, ROW_NUMBER() OVER (PARTITION BY hook_id ORDER BY due_at) AS nth FROM \
             (SELECT id, hook_id, due_at FROM deliveries \
              WHERE tenant_id = ? AND status IN ('PENDING', 'SENDING') AND due_at <= ? {not_full} \
              ORDER BY due_at LIMIT ? {lock}) candidates) ranked \
           WHERE nth <= {room} ORDER BY due_at LIMIT ?) \
         RETURNING *"
    );
    let mut values: Vec<Value> = vec![lease_until.into(), now.into(), tenant.into(), tenant.into(), now.into()];
    values.extend(full.iter().map(|id| (*id).into()));
    values.push(((limit * CANDIDATES_PER_SLOT) as i64).into());
    for (id, room) in &partial {
        values.push((*id).into());
        values.push((*room as i64).into());
    }
    values.push((per_hook as i64).into());
    values.push((limit as i64).into());
    statement(backend, &sql, values)
}

/// When the next delivery outside `skip` falls due (a retry, or a lease running out), if any.
pub async fn next_due(db: &Db, skip: &[&str]) -> Result<Option<i64>, DbErr> {
    match db.read.query_one_raw(next_due_statement(db.backend(), skip)).await? {
        Some(row) => row.try_get::<Option<i64>>("", "due"),
        None => Ok(None),
    }
}

/// The statement of [`next_due`], for it and for the test that checks its plan.
pub fn next_due_statement(backend: DbBackend, skip: &[&str]) -> Statement {
    let skip = &skip[..skip.len().min(MAX_BUSY_HOOKS)];
    let not_skipped = if skip.is_empty() {
        String::new()
    } else {
        format!("AND hook_id NOT IN ({})", placeholders(skip.len()))
    };
    let sql = format!("SELECT MIN(due_at) AS due FROM deliveries WHERE status IN ('PENDING', 'SENDING') {not_skipped}");
    statement(backend, &sql, skip.iter().map(|id| (*id).into()).collect())
}

/// Marks claimed deliveries whose scheduled attempt succeeded SUCCEEDED in one statement;
/// returns the ids it updated (those still SENDING under the lease they were claimed with).
/// `claimed` is one recorder batch of `(tenant, id, lease end)`.
pub async fn succeed_scheduled(
    db: &impl ConnectionTrait,
    claimed: &[(&str, &str, i64)],
    now: i64,
) -> Result<Vec<String>, DbErr> {
    if claimed.is_empty() {
        return Ok(Vec::new());
    }
    let mut tenants: Vec<&str> = claimed.iter().map(|(tenant, _, _)| *tenant).collect();
    tenants.sort_unstable();
    tenants.dedup();
    let sql = format!(
        "UPDATE deliveries SET status = 'SUCCEEDED', attempt_count = attempt_count + 1, \
         round_attempts = round_attempts + 1, next_trigger = 'SCHEDULED', due_at = NULL, updated_at = ? \
         WHERE status = 'SENDING' AND tenant_id IN ({}) AND id IN ({}) AND due_at = CASE id {} END RETURNING id",
        placeholders(tenants.len()),
        placeholders(claimed.len()),
        vec!["WHEN ? THEN ?"; claimed.len()].join(" ")
    );
    let mut values: Vec<Value> = vec![now.into()];
    values.extend(tenants.iter().map(|tenant| (*tenant).into()));
    values.extend(claimed.iter().map(|(_, id, _)| (*id).into()));
    for (_, id, lease) in claimed {
        values.push((*id).into());
        values.push((*lease).into());
    }
    let backend = db.get_database_backend();
    let rows = db.query_all_raw(statement(backend, &sql, values)).await?;
    rows.iter().map(|row| row.try_get::<String>("", "id")).collect()
}

/// What one attempt did to its delivery.
#[derive(Clone, Copy, Debug)]
pub struct AttemptOutcome {
    /// SUCCEEDED, FAILED, or PENDING with `due_at` for a retry.
    pub status: DeliveryStatus,
    pub due_at: Option<i64>,
    pub attempt_count: i32,
    pub round_attempts: i32,
}

/// Stores one attempt's outcome on a claimed delivery (`id` of `tenant`, under the lease
/// ending `lease`); false when it is no longer ours (cancelled meanwhile, or claimed again).
pub async fn record_attempt(
    db: &impl ConnectionTrait,
    tenant: &str,
    id: &str,
    lease: i64,
    outcome: AttemptOutcome,
    now: i64,
) -> Result<bool, DbErr> {
    let sql = "UPDATE deliveries SET status = ?, due_at = ?, attempt_count = ?, round_attempts = ?, \
               next_trigger = 'SCHEDULED', updated_at = ? \
               WHERE tenant_id = ? AND id = ? AND status = 'SENDING' AND due_at = ?";
    let values = vec![
        outcome.status.as_str().into(),
        outcome.due_at.into(),
        outcome.attempt_count.into(),
        outcome.round_attempts.into(),
        now.into(),
        tenant.into(),
        id.into(),
        lease.into(),
    ];
    Ok(execute(db, sql, values).await? == 1)
}

/// At the start of a process that is the only one on its database (SQLite): every delivery a
/// previous run left SENDING goes back to PENDING, due now, instead of waiting out its lease.
pub async fn release_all(db: &Db) -> Result<u64, DbErr> {
    let now = now_ms();
    let sql = "UPDATE deliveries SET status = 'PENDING', due_at = ?, updated_at = ? WHERE status = 'SENDING'";
    execute(&db.write, sql, vec![now.into(), now.into()]).await
}

/// A claimed delivery that was not sent goes back to PENDING, due at `due_at`; false when it is
/// no longer ours.
pub async fn release(
    db: &impl ConnectionTrait,
    tenant: &str,
    id: &str,
    lease: i64,
    due_at: i64,
    now: i64,
) -> Result<bool, DbErr> {
    let sql = "UPDATE deliveries SET status = 'PENDING', due_at = ?, updated_at = ? \
               WHERE tenant_id = ? AND id = ? AND status = 'SENDING' AND due_at = ?";
    let values = vec![due_at.into(), now.into(), tenant.into(), id.into(), lease.into()];
    Ok(execute(db, sql, values).await? == 1)
}

/// A claimed delivery whose hook or event is gone, or whose hook is disabled: CANCELLED, if
/// still ours.
pub async fn cancel_claimed(
    db: &impl ConnectionTrait,
    tenant: &str,
    id: &str,
    lease: i64,
    now: i64,
) -> Result<bool, DbErr> {
    let sql = "UPDATE deliveries SET status = 'CANCELLED', due_at = NULL, updated_at = ? \
               WHERE tenant_id = ? AND id = ? AND status = 'SENDING' AND due_at = ?";
    Ok(execute(db, sql, vec![now.into(), tenant.into(), id.into(), lease.into()]).await? == 1)
}

/// Cancels every queued or in-flight delivery of a hook (disabled, deleted, or 410 Gone) in one
/// statement, and returns them as they now stand. An attempt already on the wire still records
/// its outcome, but the status stays CANCELLED.
pub async fn cancel_for_hook(
    db: &impl ConnectionTrait,
    tenant: &str,
    hook_id: &str,
) -> Result<Vec<delivery::Model>, DbErr> {
    let sql = "UPDATE deliveries SET status = 'CANCELLED', due_at = NULL, updated_at = ? \
               WHERE tenant_id = ? AND hook_id = ? AND status IN ('PENDING', 'SENDING') RETURNING *";
    rows(db, sql, vec![now_ms().into(), tenant.into(), hook_id.into()]).await
}

/// Disables an enabled hook for `reason` and cancels its queued deliveries, in the caller's
/// transaction. Returns the hook as it now stands and the cancelled deliveries, or None when it
/// was disabled (or deleted) already.
pub async fn disable_hook(
    db: &impl ConnectionTrait,
    tenant: &str,
    hook_id: &str,
    reason: DisabledReason,
    now: i64,
) -> Result<Option<(hook::Model, Vec<delivery::Model>)>, DbErr> {
    let backend = db.get_database_backend();
    let sql = "UPDATE hooks SET enabled = ?, disabled_reason = ?, updated_at = ? \
               WHERE tenant_id = ? AND id = ? AND enabled = ? RETURNING *";
    let values = vec![
        false.into(),
        reason.as_str().into(),
        now.into(),
        tenant.into(),
        hook_id.into(),
        true.into(),
    ];
    let Some(hook) = hook::Entity::find()
        .from_raw_sql(statement(backend, sql, values))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let cancelled = cancel_for_hook(db, tenant, hook_id).await?;
    Ok(Some((hook, cancelled)))
}

/// The due time a requeued delivery gets: now, or none (waiting its turn) on an ordered hook.
const REQUEUED_DUE: &str = "CASE WHEN EXISTS (SELECT 1 FROM hooks h \
     WHERE h.tenant_id = deliveries.tenant_id AND h.id = deliveries.hook_id AND h.ordered = ?) THEN NULL ELSE ? END";

/// `redeliver`: one new attempt now (on an ordered hook: at its turn), counted as MANUAL,
/// unless the delivery is being sent right now. Returns the delivery as it now stands, or None
/// when it was SENDING.
pub async fn redeliver(db: &impl ConnectionTrait, tenant: &str, id: &str) -> Result<Option<delivery::Model>, DbErr> {
    let now = now_ms();
    let sql = format!(
        "UPDATE deliveries SET status = 'PENDING', next_trigger = ?, due_at = {REQUEUED_DUE}, updated_at = ? \
         WHERE tenant_id = ? AND id = ? AND status <> 'SENDING' RETURNING *"
    );
    let values = vec![
        Trigger::Manual.as_str().into(),
        true.into(),
        now.into(),
        now.into(),
        tenant.into(),
        id.into(),
    ];
    let Some(requeued) = rows(db, &sql, values).await?.pop() else {
        return Ok(None);
    };
    advance(db, &[(tenant, requeued.hook_id.as_str())], now).await?;
    Ok(Some(requeued))
}

/// `replayDeliveries`: requeues, in one statement, a hook's deliveries created in
/// `[since, until)` whose status is one of `statuses` (finished ones), each with a fresh retry
/// schedule (on an ordered hook, each at its turn). Returns them as they now stand.
pub async fn replay(
    db: &impl ConnectionTrait,
    tenant: &str,
    hook_id: &str,
    since: i64,
    until: Option<i64>,
    statuses: &[DeliveryStatus],
) -> Result<Vec<delivery::Model>, DbErr> {
    let now = now_ms();
    let until_clause = if until.is_some() { "AND created_at < ?" } else { "" };
    let sql = format!(
        "UPDATE deliveries SET status = 'PENDING', next_trigger = 'SCHEDULED', round_attempts = 0, \
         due_at = {REQUEUED_DUE}, updated_at = ? \
         WHERE tenant_id = ? AND hook_id = ? AND status IN ({}) AND created_at >= ? {until_clause} RETURNING *",
        placeholders(statuses.len())
    );
    let mut values: Vec<Value> = vec![true.into(), now.into(), now.into(), tenant.into(), hook_id.into()];
    values.extend(statuses.iter().map(|s| s.as_str().into()));
    values.push(since.into());
    values.extend(until.map(Value::from));
    let requeued = rows(db, &sql, values).await?;
    advance(db, &[(tenant, hook_id)], now).await?;
    Ok(requeued)
}

/// Retention: removes history from before `cutoff` (epoch ms) in chunks, so no transaction grows
/// large: attempts that started before it; finished deliveries last changed before it; events
/// older than it with no delivery left. Queued and in-flight deliveries are never touched,
/// however old. Returns how many rows went.
///
/// Each kind of row goes tenant by tenant: a read across tenants (no lock) finds some with rows
/// to remove, and the deletes name the tenant.
pub async fn prune(db: &Db, cutoff: i64) -> Result<u64, DbErr> {
    // (the tenants with rows to remove, the delete of one tenant's chunk)
    let kinds = [
        (
            "SELECT DISTINCT tenant_id FROM \
             (SELECT tenant_id FROM delivery_attempts WHERE started_at < ? LIMIT ?) old",
            "DELETE FROM delivery_attempts WHERE tenant_id = ? AND id IN \
             (SELECT id FROM delivery_attempts WHERE tenant_id = ? AND started_at < ? LIMIT ?)",
        ),
        (
            "SELECT DISTINCT tenant_id FROM \
             (SELECT tenant_id FROM deliveries \
              WHERE status IN ('SUCCEEDED', 'FAILED', 'CANCELLED') AND updated_at < ? LIMIT ?) old",
            "DELETE FROM deliveries WHERE tenant_id = ? AND id IN \
             (SELECT id FROM deliveries \
              WHERE tenant_id = ? AND status IN ('SUCCEEDED', 'FAILED', 'CANCELLED') AND updated_at < ? LIMIT ?)",
        ),
        (
            "SELECT DISTINCT tenant_id FROM \
             (SELECT tenant_id FROM events e WHERE created_at < ? \
              AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.tenant_id = e.tenant_id AND d.event_id = e.id) \
              LIMIT ?) old",
            "DELETE FROM events WHERE tenant_id = ? AND id IN \
             (SELECT id FROM events e WHERE e.tenant_id = ? AND created_at < ? \
              AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.tenant_id = e.tenant_id AND d.event_id = e.id) LIMIT ?)",
        ),
    ];
    let backend = db.backend();
    let mut removed = 0;
    for (find, delete) in kinds {
        loop {
            let found = db
                .write
                .query_all_raw(statement(backend, find, vec![cutoff.into(), PRUNE_CHUNK.into()]))
                .await?;
            if found.is_empty() {
                break;
            }
            for row in found {
                let tenant: String = row.try_get("", "tenant_id")?;
                loop {
                    let values = vec![
                        tenant.clone().into(),
                        tenant.clone().into(),
                        cutoff.into(),
                        PRUNE_CHUNK.into(),
                    ];
                    let rows = execute(&db.write, delete, values).await?;
                    removed += rows;
                    if rows < PRUNE_CHUNK as u64 {
                        break;
                    }
                }
            }
        }
    }
    Ok(removed)
}

/// Most hooks named in one statement.
const ADVANCE_CHUNK: usize = 256;

/// `tenant_id IN (…) AND id IN (…)` naming `hooks` (at most [`ADVANCE_CHUNK`]), with its values.
fn naming_hooks(hooks: &[(&str, &str)]) -> (String, Vec<Value>) {
    let mut tenants: Vec<&str> = hooks.iter().map(|(tenant, _)| *tenant).collect();
    tenants.sort_unstable();
    tenants.dedup();
    let sql = format!(
        "tenant_id IN ({}) AND id IN ({})",
        placeholders(tenants.len()),
        placeholders(hooks.len())
    );
    let mut values: Vec<Value> = tenants.iter().map(|t| (*t).into()).collect();
    values.extend(hooks.iter().map(|(_, id)| (*id).into()));
    (sql, values)
}

/// Gives the oldest waiting delivery of each ordered hook in `hooks` its turn (a due time of
/// `now`) when none of the hook's queued deliveries has one. A hook that is not ordered (any
/// more) gets every waiting delivery it has due now: a delivery stored waiting by an emit that
/// read the hook just before ordering was switched off is not left behind. On PostgreSQL the
/// hooks' rows are locked first (in one order), so that this and an emit, a hook update or
/// another process's advance on the same hook run one after the other and never hand out two
/// turns, nor miss a delivery committed meanwhile. Returns how many deliveries became due.
pub async fn advance(db: &impl ConnectionTrait, hooks: &[(&str, &str)], now: i64) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    let lock = match backend {
        DbBackend::Postgres => "FOR UPDATE",
        _ => "",
    };
    let mut turned = 0;
    for chunk in hooks.chunks(ADVANCE_CHUNK) {
        let (named, values) = naming_hooks(chunk);
        let sql = format!("SELECT tenant_id, id, ordered FROM hooks WHERE {named} ORDER BY tenant_id, id {lock}");
        for row in db.query_all_raw(statement(backend, &sql, values)).await? {
            let tenant: String = row.try_get("", "tenant_id")?;
            let hook_id: String = row.try_get("", "id")?;
            let statement = if row.try_get::<bool>("", "ordered")? {
                turn_statement(backend, &tenant, &hook_id, now)
            } else {
                due_now_statement(backend, &tenant, &hook_id, now)
            };
            turned += db.execute_raw(statement).await?.rows_affected();
        }
    }
    Ok(turned)
}

/// Every waiting delivery of a hook that is not ordered becomes due (values: now, now, tenant,
/// hook).
const DUE_NOW: &str = "UPDATE deliveries SET due_at = ?, updated_at = ? \
     WHERE tenant_id = ? AND hook_id = ? AND status IN ('PENDING', 'SENDING') AND due_at IS NULL";

fn due_now_statement(backend: DbBackend, tenant: &str, hook_id: &str, now: i64) -> Statement {
    statement(
        backend,
        DUE_NOW,
        vec![now.into(), now.into(), tenant.into(), hook_id.into()],
    )
}

/// The turn of one ordered hook, for [`advance`] and for the test that checks its plan: its
/// oldest waiting delivery becomes due at `now`, unless one of its queued deliveries is in turn.
pub fn turn_statement(backend: DbBackend, tenant: &str, hook_id: &str, now: i64) -> Statement {
    let sql = "UPDATE deliveries SET due_at = ?, updated_at = ? WHERE tenant_id = ? AND id = \
               (SELECT id FROM deliveries WHERE tenant_id = ? AND hook_id = ? \
                AND status IN ('PENDING', 'SENDING') AND due_at IS NULL ORDER BY id LIMIT 1) \
               AND NOT EXISTS (SELECT 1 FROM deliveries WHERE tenant_id = ? AND hook_id = ? \
                AND status IN ('PENDING', 'SENDING') AND due_at IS NOT NULL)";
    let values = vec![
        now.into(),
        now.into(),
        tenant.into(),
        tenant.into(),
        hook_id.into(),
        tenant.into(),
        hook_id.into(),
    ];
    statement(backend, sql, values)
}

/// A hook's ordering was switched on or off (the caller holds the hook's row). On: its oldest
/// queued delivery keeps its due time (or its lease), and the other waiting ones line up behind
/// it in id order (a retry's due time is dropped; it comes at its turn). Off: every waiting
/// delivery is due now. Returns the deliveries in turn or made due, to publish.
pub async fn set_ordered(
    db: &impl ConnectionTrait,
    tenant: &str,
    hook_id: &str,
    ordered: bool,
) -> Result<Vec<delivery::Model>, DbErr> {
    let now = now_ms();
    if !ordered {
        let sql = format!("{DUE_NOW} RETURNING *");
        return rows(db, &sql, vec![now.into(), now.into(), tenant.into(), hook_id.into()]).await;
    }
    let park = "UPDATE deliveries SET due_at = NULL, updated_at = ? \
                WHERE tenant_id = ? AND hook_id = ? AND status IN ('PENDING', 'SENDING') AND status = 'PENDING' \
                AND id > (SELECT MIN(id) FROM deliveries WHERE tenant_id = ? AND hook_id = ? \
                          AND status IN ('PENDING', 'SENDING'))";
    let values = vec![now.into(), tenant.into(), hook_id.into(), tenant.into(), hook_id.into()];
    execute(db, park, values).await?;
    advance(db, &[(tenant, hook_id)], now).await?;
    let in_turn = "SELECT * FROM deliveries WHERE tenant_id = ? AND hook_id = ? \
                   AND status IN ('PENDING', 'SENDING') AND due_at IS NOT NULL";
    rows(db, in_turn, vec![tenant.into(), hook_id.into()]).await
}

/// When a hook that keeps failing is disabled: after `after` of failed attempts only, and at
/// least `min_attempts` of them (`HOOKD_DISABLE_AFTER`, `HOOKD_DISABLE_MIN_ATTEMPTS`).
#[derive(Clone, Copy, Debug)]
pub struct DisablePolicy {
    pub after: Duration,
    pub min_attempts: u32,
}

/// What a batch of attempts did to one hook, in the order they were made.
#[derive(Clone, Copy, Debug, Default)]
pub struct HookAttempts {
    /// Some attempt succeeded.
    pub succeeded: bool,
    /// Failed attempts after the last success (all of them when none succeeded).
    pub failed_after: i32,
    /// When the first of those started (epoch ms).
    pub first_failed_at: Option<i64>,
}

impl HookAttempts {
    /// Adds one attempt, made after those already counted.
    pub fn add(&mut self, succeeded: bool, started_at: i64) {
        if succeeded {
            *self = HookAttempts {
                succeeded: true,
                ..HookAttempts::default()
            };
        } else {
            self.failed_after += 1;
            self.first_failed_at.get_or_insert(started_at);
        }
    }
}

/// Locks the rows of `hooks` (PostgreSQL; SQLite has one writer), in one order, before the
/// caller touches their deliveries: the order every writer takes a hook and its deliveries in.
pub async fn lock_hooks(db: &impl ConnectionTrait, hooks: &[(&str, &str)]) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    if backend != DbBackend::Postgres {
        return Ok(());
    }
    let mut hooks = hooks.to_vec();
    hooks.sort_unstable();
    hooks.dedup();
    for chunk in hooks.chunks(ADVANCE_CHUNK) {
        let (named, values) = naming_hooks(chunk);
        let sql = format!("SELECT id FROM hooks WHERE {named} ORDER BY tenant_id, id FOR UPDATE");
        db.query_all_raw(statement(backend, &sql, values)).await?;
    }
    Ok(())
}

/// What [`settle`] did to the hooks of a recorder batch.
#[derive(Debug, Default)]
pub struct Settled {
    /// Hooks disabled for failing too long (reason FAILING), with their cancelled deliveries.
    pub disabled: Vec<(hook::Model, Vec<delivery::Model>)>,
    /// Deliveries of ordered hooks that got their turn.
    pub turned: u64,
}

/// The hooks' side of a recorder batch, in its transaction. `finished` are the hooks with a
/// delivery that finished (an ordered one's next delivery gets its turn, as in [`advance`]);
/// `attempts` what the batch's attempts did to each hook's failure clock: a hook whose last
/// attempt succeeded is not failing; a failing one counts its failures from the first since its
/// last success, and is disabled (reason FAILING) once enabled, failing since at least
/// `policy.after` before `now` and with at least `policy.min_attempts` failures.
///
/// In the common case (no hook ordered, none failing) this is one statement for the whole
/// batch: it clears the clocks of the hooks that recovered and, in the same pass, locks the
/// ordered ones (PostgreSQL) and says which they are.
pub async fn settle(
    db: &impl ConnectionTrait,
    finished: &[(&str, &str)],
    attempts: &[((&str, &str), HookAttempts)],
    policy: DisablePolicy,
    now: i64,
) -> Result<Settled, DbErr> {
    let backend = db.get_database_backend();
    let recovered: Vec<(&str, &str)> = attempts
        .iter()
        .filter(|(_, a)| a.failed_after == 0)
        .map(|(hook, _)| *hook)
        .collect();
    let mut hooks: Vec<(&str, &str)> = finished.iter().chain(&recovered).copied().collect();
    hooks.sort_unstable();
    hooks.dedup();
    let mut settled = Settled::default();
    let mut ordered: Vec<(String, String)> = Vec::new();
    for chunk in hooks.chunks(ADVANCE_CHUNK) {
        let back: Vec<&str> = chunk
            .iter()
            .filter(|hook| recovered.contains(hook))
            .map(|(_, id)| *id)
            .collect();
        // `id IN ()` is not SQL: an id no hook has stands for none.
        let back_values: Vec<Value> = if back.is_empty() {
            vec!["".into()]
        } else {
            back.iter().map(|id| (*id).into()).collect()
        };
        let back_list = placeholders(back_values.len());
        let (named, named_values) = naming_hooks(chunk);
        let sql = format!(
            "UPDATE hooks SET \
               failing_since = CASE WHEN id IN ({back_list}) THEN NULL ELSE failing_since END, \
               failed_attempts = CASE WHEN id IN ({back_list}) THEN 0 ELSE failed_attempts END \
             WHERE {named} AND (ordered = ? OR (id IN ({back_list}) AND failing_since IS NOT NULL)) \
             RETURNING tenant_id, id, ordered"
        );
        let mut values = back_values.clone();
        values.extend(back_values.clone());
        values.extend(named_values);
        values.push(true.into());
        values.extend(back_values);
        for row in db.query_all_raw(statement(backend, &sql, values)).await? {
            if row.try_get::<bool>("", "ordered")? {
                ordered.push((row.try_get("", "tenant_id")?, row.try_get("", "id")?));
            }
        }
    }
    for (tenant, hook_id) in &ordered {
        if finished.contains(&(tenant.as_str(), hook_id.as_str())) {
            settled.turned += db
                .execute_raw(turn_statement(backend, tenant, hook_id, now))
                .await?
                .rows_affected();
        }
    }
    let after_ms = policy.after.as_millis() as i64;
    for ((tenant, hook_id), attempt) in attempts.iter().filter(|(_, a)| a.failed_after > 0) {
        let first = attempt.first_failed_at.unwrap_or(now);
        // After a success in this batch the run starts anew; otherwise it goes on.
        let (since, count) = if attempt.succeeded {
            ("?", "?")
        } else {
            ("COALESCE(failing_since, ?)", "failed_attempts + ?")
        };
        let sql = format!(
            "UPDATE hooks SET failing_since = {since}, failed_attempts = {count} \
             WHERE tenant_id = ? AND id = ? RETURNING *"
        );
        let values = vec![
            first.into(),
            attempt.failed_after.into(),
            (*tenant).into(),
            (*hook_id).into(),
        ];
        let Some(hook) = hook::Entity::find()
            .from_raw_sql(statement(backend, &sql, values))
            .one(db)
            .await?
        else {
            continue; // deleted meanwhile
        };
        let failing_long = hook.failing_since.is_some_and(|since| since <= now - after_ms);
        if hook.enabled && failing_long && hook.failed_attempts as u32 >= policy.min_attempts {
            settled
                .disabled
                .extend(disable_hook(db, tenant, hook_id, DisabledReason::Failing, now).await?);
        }
    }
    Ok(settled)
}
