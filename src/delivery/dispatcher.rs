//! The dispatcher loop: claim due deliveries, send each with bounded concurrency, hand the
//! outcomes to the recorder.
//!
//! A commit that creates deliveries wakes the loop at once, so a new delivery is claimed and
//! sent without waiting for a poll tick. Between wake-ups the loop sleeps until the next
//! delivery falls due (a retry or an expired lease), at most `IDLE`. No transaction is open
//! while a request is on the wire: claim, send and record are three separate steps.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use entity::delivery::Trigger;
use entity::{delivery, event, hook};

use crate::bus::{Bus, DeliveryUpdate};
use crate::db::Db;
use crate::delivery::Wake;
use crate::delivery::recorder::Record;
use crate::delivery::retry::{self, Attempted, JITTER};
use crate::delivery::sender::{Outgoing, Sender};
use crate::domain::{hooks, lifecycle, now_ms, outbox};

/// Most deliveries claimed in one statement.
const BATCH: usize = 256;
/// Longest sleep without a wake-up: bounds how late an expired lease of a crashed process, or
/// a retry scheduled by another process, is noticed.
const IDLE: Duration = Duration::from_secs(1);
/// Pause after a database error before trying again.
const ON_ERROR: Duration = Duration::from_secs(1);

/// The dispatcher's handles and settings, built once by `delivery::run`.
pub struct Dispatcher {
    pub db: Db,
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
}

/// The deliveries each hook has claimed and not finished, with the semaphore that lets at most
/// `per_hook` of them be on the wire. A hook at its limit is skipped by the next claim, so its
/// backlog never fills the slots other hooks (other tenants) need. Entries go when a hook has
/// nothing claimed, so the map is bounded by the deliveries in flight.
struct HookLimits {
    per_hook: usize,
    hooks: Mutex<HashMap<String, (usize, Arc<Semaphore>)>>,
}

impl HookLimits {
    fn new(per_hook: usize) -> HookLimits {
        HookLimits {
            per_hook,
            hooks: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (usize, Arc<Semaphore>)>> {
        self.hooks.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts a claimed delivery of `hook_id`; returns the hook's semaphore.
    fn claimed(&self, hook_id: &str) -> Arc<Semaphore> {
        let mut hooks = self.lock();
        let entry = hooks
            .entry(hook_id.to_owned())
            .or_insert_with(|| (0, Arc::new(Semaphore::new(self.per_hook))));
        entry.0 += 1;
        entry.1.clone()
    }

    /// A claimed delivery of `hook_id` is done; true when the hook just went below its limit.
    fn finished(&self, hook_id: &str) -> bool {
        let mut hooks = self.lock();
        let Some(entry) = hooks.get_mut(hook_id) else {
            return false;
        };
        entry.0 -= 1;
        let room = entry.0 + 1 == self.per_hook;
        if entry.0 == 0 {
            hooks.remove(hook_id);
        }
        room
    }

    /// Hooks with as many deliveries claimed as they may have in flight, at most
    /// `lifecycle::MAX_SKIPPED_HOOKS`.
    fn full(&self) -> Vec<String> {
        self.lock()
            .iter()
            .filter(|(_, (claimed, _))| *claimed >= self.per_hook)
            .map(|(id, _)| id.clone())
            .take(lifecycle::MAX_SKIPPED_HOOKS)
            .collect()
    }
}

impl Dispatcher {
    /// Runs until `shutdown`, then waits for attempts in flight (up to the delivery timeout).
    pub async fn run(self, shutdown: CancellationToken) {
        let this = Arc::new(self);
        let in_flight = Arc::new(Semaphore::new(this.max_in_flight));
        let hook_limits = Arc::new(HookLimits::new(this.max_in_flight_per_hook));
        let tracker = TaskTracker::new();
        while !shutdown.is_cancelled() {
            let free = in_flight.available_permits();
            if free == 0 {
                // Every slot is busy: wait for one to free up before claiming more.
                tokio::select! {
                    permit = in_flight.clone().acquire_owned() => drop(permit),
                    () = shutdown.cancelled() => break,
                }
                continue;
            }
            let now = now_ms();
            let lease_until = now + this.lease.as_millis() as i64;
            let limit = free.min(BATCH);
            let full = hook_limits.full();
            let skip: Vec<&str> = full.iter().map(String::as_str).collect();
            let per_hook = this.max_in_flight_per_hook as u64;
            let claimed = match lifecycle::claim(&this.db, now, lease_until, limit as u64, per_hook, &skip).await {
                Ok(claimed) => claimed,
                Err(e) => {
                    tracing::error!(error = %e, "claiming deliveries failed");
                    tokio::select! {
                        () = tokio::time::sleep(ON_ERROR) => {}
                        () = shutdown.cancelled() => break,
                    }
                    continue;
                }
            };
            if claimed.is_empty() {
                this.idle(&skip, &shutdown).await;
                continue;
            }
            for delivery in &claimed {
                this.bus.delivery(DeliveryUpdate::of(delivery));
            }
            let (hooks, events) = match this.load(&claimed).await {
                Ok(loaded) => loaded,
                Err(e) => {
                    // The claimed rows keep their lease and are retried when it runs out.
                    tracing::error!(error = %e, "loading hooks and events of claimed deliveries failed");
                    tokio::time::sleep(ON_ERROR).await;
                    continue;
                }
            };
            // A full batch means more may be due: claim again at once. Otherwise everything due
            // was taken, so wait for a wake-up (a commit since the claim has left one stored)
            // instead of spending a write on a claim that finds nothing.
            let drained = claimed.len() < limit;
            for delivery in claimed {
                // Cannot fail: the claim took no more rows than there were free slots.
                let Ok(slot) = in_flight.clone().try_acquire_owned() else {
                    break;
                };
                let hook = hooks.get(&delivery.hook_id).cloned();
                let event = events.get(&delivery.event_id).cloned();
                let hook_limit = hook_limits.claimed(&delivery.hook_id);
                let this = this.clone();
                let hook_limits = hook_limits.clone();
                let shutdown = shutdown.clone();
                tracker.spawn(async move {
                    let hook_id = delivery.hook_id.clone();
                    this.clone()
                        .deliver(delivery, hook, event, slot, hook_limit, shutdown)
                        .await;
                    if hook_limits.finished(&hook_id) {
                        // The hook was skipped by claims while at its limit; it has room now.
                        this.wake.wake();
                    }
                });
            }
            if drained {
                this.idle(&skip, &shutdown).await;
            }
        }
        tracker.close();
        let grace = this.delivery_timeout + Duration::from_secs(1);
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            tracing::warn!("attempts still in flight at shutdown; their leases will expire and they will be retried");
        }
    }

    /// Waits for a wake-up, or until the next delivery outside `skip` falls due (at most `IDLE`).
    async fn idle(&self, skip: &[&str], shutdown: &CancellationToken) {
        let sleep = match lifecycle::next_due(&self.db, skip).await {
            Ok(Some(due)) => Duration::from_millis((due - now_ms()).clamp(0, IDLE.as_millis() as i64) as u64),
            _ => IDLE,
        };
        tokio::select! {
            () = self.wake.notified() => {}
            () = tokio::time::sleep(sleep) => {}
            () = shutdown.cancelled() => {}
        }
    }

    async fn load(
        &self,
        claimed: &[delivery::Model],
    ) -> Result<(HashMap<String, Arc<hook::Model>>, HashMap<String, Arc<event::Model>>), sea_orm::DbErr> {
        let hook_ids: Vec<&str> = claimed.iter().map(|c| c.hook_id.as_str()).collect();
        let event_ids: Vec<&str> = claimed.iter().map(|c| c.event_id.as_str()).collect();
        let hooks = hook::Entity::find()
            .filter(hook::Column::Id.is_in(hook_ids))
            .all(&self.db.read)
            .await?
            .into_iter()
            .map(|h| (h.id.clone(), Arc::new(h)))
            .collect();
        let events = event::Entity::find()
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
        hook: Option<Arc<hook::Model>>,
        event: Option<Arc<event::Model>>,
        _slot: OwnedSemaphorePermit,
        limit: Arc<Semaphore>,
        shutdown: CancellationToken,
    ) {
        let record = match (hook, event) {
            (Some(hook), Some(event)) if hook.enabled => {
                // Waiting for the hook's limit must end well inside the lease, or another
                // process could take the delivery over while we still mean to send it.
                let permit = tokio::select! {
                    permit = tokio::time::timeout(self.lease / 4, limit.acquire_owned()) => permit.ok().and_then(Result::ok),
                    () = shutdown.cancelled() => None,
                };
                match permit {
                    Some(_permit) => self.attempt(delivery, &hook, &event).await,
                    None => Record::Release {
                        delivery,
                        due_at: now_ms() + 1000,
                    },
                }
            }
            _ => Record::Cancel { delivery },
        };
        if self.records.send(record).await.is_err() {
            tracing::error!("recorder stopped; the outcome is lost and the delivery will be retried after its lease");
        }
    }

    async fn attempt(&self, delivery: delivery::Model, hook: &hook::Model, event: &event::Model) -> Record {
        let trigger = delivery.next_trigger;
        let body = outbox::delivery_body(&event.payload, &event.id, &hook.id);
        let headers = hooks::headers_of(hook);
        let previous: Vec<String> = hooks::previous_keys_of(hook, now_ms())
            .into_iter()
            .map(|k| k.key)
            .collect();
        let result = self
            .sender
            .send(&Outgoing {
                url: &hook.url,
                message_id: &delivery.id,
                body: &body,
                custom_headers: &headers,
                signing_key: &hook.signing_key,
                previous_keys: &previous,
            })
            .await;
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
        }
    }
}
