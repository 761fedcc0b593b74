//! The dispatcher loop: send deliveries with bounded concurrency, hand the outcomes to the
//! recorder.
//!
//! Deliveries come two ways. Most new ones are born leased to this process and handed over in
//! memory by the group commit (`handoff.rs`): no statement at all before the request goes out.
//! The rest (identity events, a full handoff, retries, replays, leases that ran out) are
//! claimed from the table with a lease: a commit that creates claimable deliveries wakes the
//! loop at once, and between wake-ups the loop sleeps until the next delivery falls due, at
//! most the poll interval. No transaction is open while a request is on the wire: claim (or birth), send
//! and record are separate steps. A rate-limited hook's claimed deliveries first book their
//! send times (`domain/webhooks/pacing.rs`) and wait for them without holding a slot.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use entity::delivery::Trigger;
use entity::{delivery, event, hook};

use crate::bus::{Bus, DeliveryUpdate};
use crate::db::Db;
use crate::delivery::failure_log::FailureLog;
use crate::delivery::handoff::Handed;
use crate::delivery::recorder::Record;
use crate::delivery::retry::{self, Attempted, JITTER};
use crate::delivery::sender::{Outgoing, Sender};
use crate::delivery::target::{Target, delivery_body};
use crate::domain::now_ms;
use crate::domain::webhooks::{lifecycle, pacing};
use crate::seal::MasterKeys;
use crate::telemetry;
use crate::wake::Wake;
use tracing::Instrument;

/// Most deliveries claimed in one statement.
const BATCH: usize = 256;
/// Shortest sleep between claims that found nothing to take (milliseconds).
const MIN_IDLE_MS: i64 = 10;
/// Pause after a database error before trying again.
const ON_ERROR: Duration = Duration::from_secs(1);
/// A handed-over delivery is sent only if its lease outlasts an attempt by at least this.
const LEASE_MARGIN: Duration = Duration::from_secs(1);

/// The dispatcher loop's bounds and its attempts in flight.
struct Work<'a> {
    in_flight: &'a Arc<Semaphore>,
    hook_limits: &'a Arc<HookLimits>,
    tracker: &'a TaskTracker,
    /// Ends the waits of deliveries booked for later.
    shutdown: &'a CancellationToken,
    /// Room for deliveries waiting for their booked time (as many as may be in flight).
    waiting: &'a Arc<Semaphore>,
}

/// The dispatcher's handles and settings, built once by `delivery::run`.
pub struct Dispatcher {
    pub db: Db,
    /// Opens the hooks' signing keys.
    pub keys: Arc<MasterKeys>,
    /// Where the claim's SENDING updates go.
    pub bus: Bus,
    /// The HTTP client that sends (signing, SSRF checks, limits).
    pub sender: Arc<Sender>,
    /// Rung after commits that create or requeue deliveries; also by a hook that has room again.
    pub wake: Wake,
    /// Outcomes, to the recorder.
    pub records: mpsc::Sender<Record>,
    /// How long a claimed delivery is ours: longer than any attempt can take.
    pub lease: Duration,
    /// How long shutdown waits for attempts in flight.
    pub delivery_timeout: Duration,
    /// Delays before retries 1..n (`HOOKD_RETRY_SCHEDULE`).
    pub retry_schedule: Arc<[Duration]>,
    /// Deliveries in flight at once, all hooks (`HOOKD_MAX_IN_FLIGHT`).
    pub max_in_flight: usize,
    /// Deliveries one hook may have claimed and on the wire (`HOOKD_MAX_IN_FLIGHT_PER_HOOK`).
    pub max_in_flight_per_hook: usize,
    /// Longest sleep without a wake-up (`HOOKD_POLL_INTERVAL`): bounds how late work nobody
    /// rang for is noticed, such as the expired lease of a crashed instance.
    pub poll_interval: Duration,
    /// The WARN line of a failed attempt, at most one per hook every few seconds.
    pub failures: FailureLog,
}

/// The deliveries each hook has claimed and not finished. The claim gives a hook no more than
/// the room it has left, and skips a hook with none, so one hook's backlog never holds the slots
/// other hooks (other tenants) need. A rate-limited hook's room is what its rate books within
/// the booking horizon, so a claim takes no more of its backlog than it can send soon (and
/// never churns the rest back and forth). Entries go when a hook has nothing claimed; caps are
/// kept for at most `MAX_CAPS` hooks. Both maps are bounded.
struct HookLimits {
    per_hook: usize,
    inner: Mutex<Limits>,
}

#[derive(Default)]
struct Limits {
    claimed: HashMap<String, usize>,
    /// Rate-limited hooks' room, below `per_hook`.
    caps: HashMap<String, usize>,
}

/// Rate-limited hooks whose room a dispatcher remembers.
const MAX_CAPS: usize = 10_000;

impl HookLimits {
    fn new(per_hook: usize) -> HookLimits {
        HookLimits {
            per_hook,
            inner: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Limits> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn limit(&self, limits: &Limits, hook_id: &str) -> usize {
        limits.caps.get(hook_id).copied().unwrap_or(self.per_hook)
    }

    /// Counts a claimed delivery of `hook_id`, unless the hook is at its limit (then false).
    fn admit(&self, hook_id: &str) -> bool {
        let mut limits = self.lock();
        let limit = self.limit(&limits, hook_id);
        let count = limits.claimed.entry(hook_id.to_owned()).or_insert(0);
        if *count >= limit {
            return false;
        }
        *count += 1;
        true
    }

    /// A claimed delivery of `hook_id` is done; true when the hook just went below its limit.
    fn finished(&self, hook_id: &str) -> bool {
        let mut limits = self.lock();
        let limit = self.limit(&limits, hook_id);
        let Some(count) = limits.claimed.get_mut(hook_id) else {
            return false;
        };
        *count = count.saturating_sub(1);
        let room_again = *count + 1 == limit;
        if *count == 0 {
            limits.claimed.remove(hook_id);
        }
        room_again
    }

    /// `hook_id` sends at most `rate` a second: its room is what that books within the horizon.
    fn cap(&self, hook_id: &str, rate: u32) {
        let horizon = pacing::HORIZON.as_secs_f64();
        let cap = ((f64::from(rate) * horizon).ceil() as usize).clamp(1, self.per_hook);
        let mut limits = self.lock();
        if limits.caps.get(hook_id) == Some(&cap) {
            return;
        }
        if limits.caps.len() >= MAX_CAPS {
            limits.caps.clear();
        }
        limits.caps.insert(hook_id.to_owned(), cap);
    }

    /// `hook_id` has no rate limit (any more).
    fn uncap(&self, hook_id: &str) {
        let mut limits = self.lock();
        if !limits.caps.is_empty() {
            limits.caps.remove(hook_id);
        }
    }

    /// Hooks with deliveries in flight or a rate cap, and the room each has left, fullest
    /// first, at most `lifecycle::MAX_BUSY_HOOKS`.
    fn busy(&self) -> Vec<(String, u64)> {
        let limits = self.lock();
        let mut busy: Vec<(String, u64)> = limits
            .claimed
            .keys()
            .chain(limits.caps.keys().filter(|id| !limits.claimed.contains_key(*id)))
            .map(|id| {
                let count = limits.claimed.get(id).copied().unwrap_or(0);
                (id.clone(), self.limit(&limits, id).saturating_sub(count) as u64)
            })
            .collect();
        busy.sort_by_key(|(_, room)| *room);
        busy.truncate(lifecycle::MAX_BUSY_HOOKS);
        busy
    }
}

/// What one pass of the loop found to do.
enum Claimed {
    /// A full batch: more may be due, claim again at once.
    More,
    /// Everything due was taken; hooks at their limit were skipped.
    Drained { skipped: Vec<String> },
    /// The database failed; try again after a pause.
    Failed,
}

impl Dispatcher {
    /// Runs until `shutdown`, then waits for attempts in flight (up to the delivery timeout).
    ///
    /// Two sources feed it: deliveries born leased to this process, `handed` over in memory by
    /// the group commit and sent with no statement at all; and claims, made at start, when a
    /// commit or the recorder rings `wake`, and when the next stored delivery falls due (a
    /// retry, a lease run out).
    pub async fn run(self, mut handed: mpsc::Receiver<Handed>, shutdown: CancellationToken) {
        let this = Arc::new(self);
        let in_flight = Arc::new(Semaphore::new(this.max_in_flight));
        let waiting = Arc::new(Semaphore::new(this.max_in_flight));
        let hook_limits = Arc::new(HookLimits::new(this.max_in_flight_per_hook));
        let tracker = TaskTracker::new();
        let work = Work {
            in_flight: &in_flight,
            hook_limits: &hook_limits,
            tracker: &tracker,
            shutdown: &shutdown,
            waiting: &waiting,
        };
        let mut claim_now = true;
        let mut claim_at = Instant::now();
        let mut taken = Vec::with_capacity(BATCH);
        while !shutdown.is_cancelled() {
            // Handed-over deliveries first, but while claims are due at most half of the free
            // slots, so that neither new deliveries nor a stored backlog starves the other.
            let free = in_flight.available_permits();
            let share = if claim_now { free.div_ceil(2) } else { free };
            for _ in 0..share.min(BATCH) {
                let Ok(delivery) = handed.try_recv() else { break };
                this.take(delivery, &work).await;
            }
            let free = in_flight.available_permits();
            if claim_now && free > 0 {
                match this.claim(free.min(BATCH), &work).await {
                    Claimed::More => continue,
                    Claimed::Drained { skipped } => {
                        claim_now = false;
                        claim_at = Instant::now() + this.until_due(&skipped).await;
                    }
                    Claimed::Failed => {
                        tokio::select! {
                            () = tokio::time::sleep(ON_ERROR) => {}
                            () = shutdown.cancelled() => break,
                        }
                        continue;
                    }
                }
            }
            tokio::select! {
                () = this.wake.notified() => claim_now = true,
                () = tokio::time::sleep_until(claim_at), if !claim_now => claim_now = true,
                received = handed.recv_many(&mut taken, free.min(BATCH)), if free > 0 && !handed.is_closed() => {
                    for delivery in taken.drain(..) {
                        this.take(delivery, &work).await;
                    }
                    if received == 0 {
                        // The group commit is gone (the server is stopping): nothing more comes.
                        handed.close();
                    }
                }
                // Every slot is busy: wait for one to free up.
                permit = in_flight.clone().acquire_owned(), if free == 0 => drop(permit),
                () = shutdown.cancelled() => break,
            }
        }
        // Deliveries handed over and not yet taken go back to PENDING, due now, for whoever
        // runs next; new ones are stored PENDING from here on.
        handed.close();
        while let Ok(Handed { delivery, .. }) = handed.try_recv() {
            this.release(delivery).await;
        }
        tracker.close();
        let grace = this.delivery_timeout + Duration::from_secs(1);
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            tracing::warn!("attempts still in flight at shutdown; their leases will expire and they will be retried");
        }
    }

    /// Claims up to `limit` due deliveries and starts sending them.
    async fn claim(self: &Arc<Self>, limit: usize, work: &Work<'_>) -> Claimed {
        let span = tracing::debug_span!("dispatcher.claim", limit, claimed = tracing::field::Empty);
        self.claim_in(limit, work, &span).instrument(span.clone()).await
    }

    async fn claim_in(self: &Arc<Self>, limit: usize, work: &Work<'_>, span: &tracing::Span) -> Claimed {
        let now = now_ms();
        let lease_until = now + self.lease.as_millis() as i64;
        let busy = work.hook_limits.busy();
        let busy: Vec<(&str, u64)> = busy.iter().map(|(id, room)| (id.as_str(), *room)).collect();
        let skipped: Vec<String> = busy
            .iter()
            .filter(|(_, room)| *room == 0)
            .map(|(id, _)| (*id).to_owned())
            .collect();
        let per_hook = self.max_in_flight_per_hook as u64;
        let lifecycle::Claim {
            deliveries: claimed,
            more_due,
        } = match lifecycle::claim(&self.db, now, lease_until, limit as u64, per_hook, &busy).await {
            Ok(claim) => claim,
            Err(e) => {
                tracing::error!(error = %e, "claiming deliveries failed");
                return Claimed::Failed;
            }
        };
        span.record("claimed", claimed.len());
        if claimed.is_empty() {
            return Claimed::Drained { skipped };
        }
        for delivery in &claimed {
            self.bus.delivery(DeliveryUpdate::of(delivery));
        }
        let (hooks, events) = match self.load(&claimed).await {
            Ok(loaded) => loaded,
            Err(e) => {
                // The claimed rows keep their lease and are retried when it runs out.
                tracing::error!(error = %e, "loading hooks and events of claimed deliveries failed");
                return Claimed::Failed;
            }
        };
        // More may be due: claim again at once. Otherwise everything due was taken, so wait
        // for a wake-up (a commit since the claim has left one stored) instead of spending a
        // write on a claim that finds nothing.
        let mut paced: HashMap<String, (Arc<Target>, Vec<delivery::Model>)> = HashMap::new();
        for delivery in claimed {
            let hook = hooks.get(&delivery.hook_id).cloned();
            match hook {
                Some(hook) if hook.enabled && hook.rate_limit.is_some() => {
                    work.hook_limits.cap(&hook.hook_id, hook.rate_limit.unwrap_or(u32::MAX));
                    paced
                        .entry(delivery.hook_id.clone())
                        .or_insert((hook, Vec::new()))
                        .1
                        .push(delivery);
                }
                hook => {
                    if let Some(hook) = &hook {
                        work.hook_limits.uncap(&hook.hook_id);
                    }
                    let event = events.get(&delivery.event_id).cloned();
                    self.start(delivery, hook, event, None, work).await;
                }
            }
        }
        for (hook, deliveries) in paced.into_values() {
            self.pace(hook, deliveries, &events, work).await;
        }
        if more_due {
            Claimed::More
        } else {
            Claimed::Drained { skipped }
        }
    }

    /// A delivery handed over by the group commit: sent now, unless its lease is nearly spent
    /// (it waited too long) or there is no room for it, then released.
    async fn take(self: &Arc<Self>, handed: Handed, work: &Work<'_>) {
        let Handed {
            delivery,
            target,
            event,
        } = handed;
        let left = delivery.due_at.unwrap_or_default() - now_ms();
        if left < (self.delivery_timeout + LEASE_MARGIN).as_millis() as i64 {
            self.release(delivery).await;
            return;
        }
        self.bus.delivery(DeliveryUpdate::of(&delivery));
        self.start(delivery, Some(target), Some(event), None, work).await;
    }

    /// Books send times for claimed deliveries of a rate-limited hook and starts those that got
    /// one; the rest go back to the table, due when their turn could come.
    async fn pace(
        self: &Arc<Self>,
        hook: Arc<Target>,
        deliveries: Vec<delivery::Model>,
        events: &HashMap<String, Arc<event::Model>>,
        work: &Work<'_>,
    ) {
        let rate = hook.rate_limit.unwrap_or(u32::MAX);
        let tenant = deliveries[0].tenant_id.clone();
        let now_us = chrono::Utc::now().timestamp_micros();
        let booked = pacing::book(&self.db, &tenant, &hook.hook_id, rate, deliveries.len(), now_us).await;
        let booked = match booked {
            Ok(booked) => booked,
            Err(e) => {
                tracing::error!(error = %e, hook_id = %hook.hook_id, "booking send times failed; the deliveries are claimed again shortly");
                let later = now_ms() + ON_ERROR.as_millis() as i64;
                for delivery in deliveries {
                    self.release_until(delivery, later).await;
                }
                return;
            }
        };
        // A send that could start only this much after its booked time (all slots were busy)
        // is booked again rather than sent close behind the next one: half an interval, and no
        // less than a timer's and a busy machine's usual lateness.
        let late = (500 / i64::from(rate.max(1))).max(50);
        // `book` answers one time for each delivery: a send time, or when to claim it again.
        let mut deliveries = deliveries;
        let unbooked = deliveries.split_off(booked.at.len().min(deliveries.len()));
        for (delivery, at) in deliveries.into_iter().zip(booked.at) {
            let event = events.get(&delivery.event_id).cloned();
            self.start(delivery, Some(hook.clone()), event, Some((at, late)), work)
                .await;
        }
        for (delivery, due_at) in unbooked.into_iter().zip(booked.later) {
            self.release_until(delivery, due_at).await;
        }
    }

    /// Sends a leased delivery in its own task, within the global and per-hook limits; past
    /// them it is handed straight back, due now, without holding a slot. A delivery booked for
    /// `at` (epoch ms) waits for its time without a slot (as many wait as may be in flight),
    /// then for a free one; one that gets it more than `late` ms after its time goes back to
    /// be booked again.
    async fn start(
        self: &Arc<Self>,
        delivery: delivery::Model,
        hook: Option<Arc<Target>>,
        event: Option<Arc<event::Model>>,
        booked: Option<(i64, i64)>,
        work: &Work<'_>,
    ) {
        if !work.hook_limits.admit(&delivery.hook_id) {
            // Past the hook's room (only when more hooks are busy than a claim can name, or a
            // hook's handed deliveries outrun its limit).
            self.release(delivery).await;
            return;
        }
        let this = self.clone();
        let hook_limits = work.hook_limits.clone();
        let hook_id = delivery.hook_id.clone();
        let finished = move |this: Arc<Self>| {
            if hook_limits.finished(&hook_id) {
                // The hook was skipped by claims while at its limit; it has room now.
                this.wake.wake_here();
            }
        };
        let Some((at, late)) = booked else {
            let Ok(slot) = work.in_flight.clone().try_acquire_owned() else {
                finished(self.clone());
                self.release(delivery).await;
                return;
            };
            work.tracker.spawn(async move {
                this.clone().deliver(delivery, hook, event, slot).await;
                finished(this);
            });
            return;
        };
        let Ok(waiting) = work.waiting.clone().try_acquire_owned() else {
            // As many wait as may be in flight: the rest wait in the table, due at their time.
            finished(self.clone());
            self.release_until(delivery, at).await;
            return;
        };
        let in_flight = work.in_flight.clone();
        let shutdown = work.shutdown.clone();
        work.tracker.spawn(async move {
            let wait = Duration::from_millis((at - now_ms()).max(0) as u64);
            let slot = tokio::select! {
                slot = async {
                    tokio::time::sleep(wait).await;
                    in_flight.acquire_owned().await
                } => slot.ok(),
                () = shutdown.cancelled() => None,
            };
            drop(waiting);
            let now = now_ms();
            let lease_left = delivery.due_at.unwrap_or_default() - now;
            match slot {
                Some(slot)
                    if now <= at + late && lease_left >= (this.delivery_timeout + LEASE_MARGIN).as_millis() as i64 =>
                {
                    this.clone().deliver(delivery, hook, event, slot).await;
                }
                _ => this.release(delivery).await,
            }
            finished(this);
        });
    }

    /// Back to PENDING, due now, through the recorder.
    async fn release(&self, delivery: delivery::Model) {
        self.release_until(delivery, now_ms()).await;
    }

    /// Back to PENDING, due at `due_at`, through the recorder.
    async fn release_until(&self, delivery: delivery::Model, due_at: i64) {
        let release = Record::Release { delivery, due_at };
        if self.records.send(release).await.is_err() {
            tracing::error!("recorder stopped; the delivery is claimed again when its lease runs out");
        }
    }

    /// How long until the next delivery outside `skipped` falls due, at most the poll interval.
    async fn until_due(&self, skipped: &[String]) -> Duration {
        let skip: Vec<&str> = skipped.iter().map(String::as_str).collect();
        match lifecycle::next_due(&self.db, &skip).await {
            // At least a moment: rows due now that the claim could not take (locked by another
            // transaction on PostgreSQL) must not make this loop spin.
            Ok(Some(due)) => {
                Duration::from_millis((due - now_ms()).clamp(MIN_IDLE_MS, self.poll_interval.as_millis() as i64) as u64)
            }
            _ => self.poll_interval,
        }
    }

    /// The hooks (decoded once per batch) and events of `claimed`.
    async fn load(
        &self,
        claimed: &[delivery::Model],
    ) -> Result<(HashMap<String, Arc<Target>>, HashMap<String, Arc<event::Model>>), sea_orm::DbErr> {
        let mut tenants: Vec<&str> = claimed.iter().map(|c| c.tenant_id.as_str()).collect();
        tenants.sort_unstable();
        tenants.dedup();
        let hook_ids: Vec<&str> = claimed.iter().map(|c| c.hook_id.as_str()).collect();
        let event_ids: Vec<&str> = claimed.iter().map(|c| c.event_id.as_str()).collect();
        let now = now_ms();
        let hooks = hook::Entity::find()
            .filter(hook::Column::TenantId.is_in(tenants.clone()))
            .filter(hook::Column::Id.is_in(hook_ids))
            .all(&self.db.read)
            .await?
            .into_iter()
            // A hook whose keys do not open fails the whole load (the claimed rows keep their
            // lease), rather than looking deleted, which would cancel its deliveries.
            .map(|h| match Target::of(&h, now, &self.keys) {
                Ok(target) => Ok((h.id.clone(), Arc::new(target))),
                Err(e) => Err(sea_orm::DbErr::Custom(format!("{e:#}"))),
            })
            .collect::<Result<_, _>>()?;
        let events = event::Entity::find()
            .filter(event::Column::TenantId.is_in(tenants))
            .filter(event::Column::Id.is_in(event_ids))
            .all(&self.db.read)
            .await?
            .into_iter()
            .map(|e| (e.id.clone(), Arc::new(e)))
            .collect();
        Ok((hooks, events))
    }

    async fn deliver(
        self: Arc<Self>,
        delivery: delivery::Model,
        hook: Option<Arc<Target>>,
        event: Option<Arc<event::Model>>,
        _slot: OwnedSemaphorePermit,
    ) {
        let record = match (hook, event) {
            (Some(hook), Some(event)) if hook.enabled => self.attempt(delivery, &hook, &event).await,
            _ => Record::Cancel { delivery },
        };
        if self.records.send(record).await.is_err() {
            tracing::error!("recorder stopped; the outcome is lost and the delivery will be retried after its lease");
        }
    }

    async fn attempt(&self, delivery: delivery::Model, hook: &Target, event: &event::Model) -> Record {
        // A child of the operation that emitted the event: one trace from mutation to receiver.
        let span = tracing::debug_span!(
            "delivery.attempt",
            otel.kind = "client",
            hook.id = %delivery.hook_id,
            delivery.id = %delivery.id,
            event.r#type = %delivery.event_type,
            attempt = delivery.attempt_count + 1,
            http.response.status_code = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
            error.class = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        if let Some(parent) = &event.traceparent {
            telemetry::set_parent(&span, parent);
        }
        let traceparent = telemetry::traceparent_of(&span);
        let trigger = delivery.next_trigger;
        let body = delivery_body(&event.payload, &event.id, &hook.hook_id);
        let outgoing = Outgoing {
            traceparent: traceparent.as_deref(),
            ..hook.outgoing(&hook.url, &delivery.id, &body)
        };
        let result = self.sender.send(&outgoing).instrument(span.clone()).await;
        span.record("duration_ms", result.duration_ms);
        if let Some(status) = result.status {
            span.record("http.response.status_code", status);
        }
        if !result.succeeded() {
            span.record("error.class", result.error_class());
            span.record("otel.status_code", "ERROR");
            self.failures.failed(&delivery, &result);
        }
        let attempted = Attempted {
            succeeded: result.succeeded(),
            status: result.status,
            retry_after: result.retry_after,
            trigger,
            round_attempts: delivery.round_attempts + i32::from(trigger == Trigger::Scheduled),
        };
        let jitter = rand::random_range(-JITTER..=JITTER);
        let next = retry::decide(attempted, &self.retry_schedule, now_ms(), jitter);
        Record::Attempt {
            delivery,
            trigger,
            result,
            next,
            traceparent,
        }
    }
}
