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

use entity::{event, hook};

use crate::bus::Bus;
use crate::db::Db;
use crate::delivery::Wake;
use crate::delivery::claim::{self, Claimed};
use crate::delivery::recorder::Record;
use crate::delivery::retry::{self, Attempted, JITTER};
use crate::delivery::sender::{Outgoing, Sender};
use crate::domain::deliveries::{DeliveryStatus, Trigger};
use crate::domain::{hooks, now_ms, outbox};

/// Most deliveries claimed in one statement.
const BATCH: usize = 256;
/// Longest sleep without a wake-up: bounds how late an expired lease of a crashed process, or
/// a retry scheduled by another process, is noticed.
const IDLE: Duration = Duration::from_secs(1);
/// Pause after a database error before trying again.
const ON_ERROR: Duration = Duration::from_secs(1);

pub struct Dispatcher {
    pub db: Db,
    pub bus: Bus,
    pub sender: Arc<Sender>,
    pub wake: Wake,
    pub records: mpsc::Sender<Record>,
    pub lease: Duration,
    pub delivery_timeout: Duration,
    pub retry_schedule: Arc<[Duration]>,
    pub max_in_flight: usize,
    pub max_in_flight_per_hook: usize,
}

/// Per-hook in-flight limits, created on first use.
#[derive(Default)]
struct HookLimits {
    limits: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl HookLimits {
    fn for_hook(&self, hook_id: &str, per_hook: usize) -> Arc<Semaphore> {
        let mut limits = self.limits.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        limits
            .entry(hook_id.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(per_hook)))
            .clone()
    }
}

impl Dispatcher {
    /// Runs until `shutdown`, then waits for attempts in flight (up to the delivery timeout).
    pub async fn run(self, shutdown: CancellationToken) {
        let this = Arc::new(self);
        let in_flight = Arc::new(Semaphore::new(this.max_in_flight));
        let hook_limits = Arc::new(HookLimits::default());
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
            let claimed = match claim::claim(&this.db, now, lease_until, limit as u64).await {
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
                this.idle(&shutdown).await;
                continue;
            }
            for delivery in &claimed {
                this.bus.delivery(delivery.update(DeliveryStatus::Sending));
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
                let hook_limit = hook_limits.for_hook(&delivery.hook_id, this.max_in_flight_per_hook);
                tracker.spawn(
                    this.clone()
                        .deliver(delivery, hook, event, slot, hook_limit, shutdown.clone()),
                );
            }
            if drained {
                this.idle(&shutdown).await;
            }
        }
        tracker.close();
        let grace = this.delivery_timeout + Duration::from_secs(1);
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            tracing::warn!("attempts still in flight at shutdown; their leases will expire and they will be retried");
        }
    }

    async fn idle(&self, shutdown: &CancellationToken) {
        let sleep = match claim::next_due(&self.db).await {
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
        claimed: &[Claimed],
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
        delivery: Claimed,
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

    async fn attempt(&self, delivery: Claimed, hook: &hook::Model, event: &event::Model) -> Record {
        let trigger = Trigger::parse(&delivery.next_trigger);
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
