//! Group commit: concurrent `emitEvent` calls share one write transaction.
//!
//! Each call (without an idempotency key; those need their own transaction to check the key)
//! queues its prepared event here and waits. One task takes whatever has queued, up to
//! `GROUP`, and stores it with a handful of statements in one transaction
//! (`outbox::emit_many`), so a burst of emits costs one commit instead of one each, and the
//! single SQLite writer is free sooner for the dispatcher and recorder. Nothing waits for a
//! group to fill: an emit on an idle server commits alone, at once.
//!
//! Each new delivery that finds a place in the dispatcher's handoff channel is stored already
//! leased to this process; after the commit the task publishes the group's events (the same
//! `Publisher` the request side uses), hands those deliveries with their hook and event to the
//! dispatcher (`delivery::handoff`), and answers every caller. A group whose transaction fails
//! is stored again one emit per transaction, so one bad emit fails alone.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::TransactionTrait;
use tokio::sync::{mpsc, oneshot};

use entity::delivery::DeliveryStatus;

use crate::db::Db;
use crate::delivery::handoff::{Handed, Handoff, Place};
use crate::delivery::target::Target;
use crate::domain::caller::Caller;
use crate::domain::now_ms;
use crate::domain::webhooks::outbox::{self, Born, Emitted, NewEvent};
use crate::error::{AppError, AppResult};
use crate::publish::Publisher;
use crate::seal::MasterKeys;

/// Most emits in one transaction.
pub const GROUP: usize = 256;
/// Emits waiting for the next group; callers wait when it is full.
const QUEUE: usize = 1024;

struct Request {
    tenant: String,
    new: NewEvent,
    reply: oneshot::Sender<AppResult<Emitted>>,
}

/// The handle `emitEvent` uses; cheap to clone. The task stops when the last handle is gone.
#[derive(Clone, Debug)]
pub struct GroupCommit(mpsc::Sender<Request>);

impl GroupCommit {
    /// Starts the task. Deliveries it hands over are leased for `lease`.
    /// `keys` open the hooks' signing keys for the deliveries it hands over.
    pub fn start(
        db: Db,
        publisher: Publisher,
        handoff: Handoff,
        lease: Duration,
        keys: Arc<MasterKeys>,
    ) -> GroupCommit {
        let (sender, requests) = mpsc::channel(QUEUE);
        tokio::spawn(run(db, requests, publisher, handoff, lease, keys));
        GroupCommit(sender)
    }

    /// Stores `new` with whatever other emits are queued, publishes it once committed, and
    /// returns what it stored (already published: nothing for the caller to do).
    pub async fn emit(&self, caller: &Caller, new: NewEvent) -> AppResult<Emitted> {
        let (reply, answer) = oneshot::channel();
        let request = Request {
            tenant: caller.tenant.clone(),
            new,
            reply,
        };
        self.0.send(request).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> AppError {
    AppError::Internal(anyhow::anyhow!("the group commit task stopped"))
}

type Reply = oneshot::Sender<AppResult<Emitted>>;

async fn run(
    db: Db,
    mut requests: mpsc::Receiver<Request>,
    publisher: Publisher,
    handoff: Handoff,
    lease: Duration,
    keys: Arc<MasterKeys>,
) {
    let mut group = Vec::with_capacity(GROUP);
    while requests.recv_many(&mut group, GROUP).await > 0 {
        let (news, replies): (Vec<(String, NewEvent)>, Vec<Reply>) =
            group.drain(..).map(|r| ((r.tenant, r.new), r.reply)).unzip();
        match store(&db, &news, &handoff, lease).await {
            Ok(stored) => hand_over(stored, replies, &publisher, &keys),
            Err(e) if news.len() == 1 => {
                if let Some(reply) = replies.into_iter().next() {
                    let _ = reply.send(Err(e));
                }
            }
            Err(e) => {
                tracing::warn!(error = ?e, size = news.len(), "a group of emits failed; storing them one by one");
                for (new, reply) in news.chunks(1).zip(replies) {
                    match store(&db, new, &handoff, lease).await {
                        Ok(stored) => hand_over(stored, vec![reply], &publisher, &keys),
                        Err(e) => drop(reply.send(Err(e))),
                    }
                }
            }
        }
    }
}

/// Stores `news` in one transaction: what each stored, and the handoff places its leased
/// deliveries hold, in the order they were created. On failure the places go back.
async fn store(
    db: &Db,
    news: &[(String, NewEvent)],
    handoff: &Handoff,
    lease: Duration,
) -> AppResult<(Vec<Emitted>, Vec<Place>)> {
    let lease_until = now_ms() + lease.as_millis() as i64;
    let mut places = Vec::new();
    let txn = db.write.begin().await?;
    // A paced hook's deliveries (ordered, rate-limited) go through the claim, where its order
    // and rate are kept.
    let emitted = outbox::emit_many(&txn, news, |hook| {
        let place = (!hook.paced()).then(|| handoff.place()).flatten();
        match place {
            Some(place) => {
                places.push(place);
                Born::LeasedUntil(lease_until)
            }
            None => Born::Pending,
        }
    })
    .await?;
    txn.commit().await?;
    Ok((emitted, places))
}

/// After the commit: publish, hand the leased deliveries to the dispatcher (after their
/// "created" update, so subscribers see them in order), answer each caller.
fn hand_over(
    (emitted, places): (Vec<Emitted>, Vec<Place>),
    replies: Vec<Reply>,
    publisher: &Publisher,
    keys: &MasterKeys,
) {
    publisher.emitted(&emitted);
    {
        let now = now_ms();
        // A hook whose keys do not open (its deliveries keep their lease and are claimed when
        // it runs out, and fail the same way there, loudly) gets no target.
        let mut targets: HashMap<&str, Option<Arc<Target>>> = HashMap::new();
        let mut places = places.into_iter();
        for e in &emitted {
            let leased = e
                .deliveries
                .iter()
                .zip(&e.hooks)
                .filter(|(d, _)| d.status == DeliveryStatus::Sending);
            for ((delivery, hook), place) in leased.zip(places.by_ref()) {
                let target = targets.entry(hook.id.as_str()).or_insert_with(|| {
                    Target::of(hook, now, keys)
                        .map_err(|e| tracing::error!(error = %e, "cannot open a hook's keys"))
                        .ok()
                        .map(Arc::new)
                });
                let Some(target) = target.clone() else { continue };
                place.send(Handed {
                    delivery: delivery.clone(),
                    target,
                    event: e.event.clone(),
                });
            }
        }
    }
    for (e, reply) in emitted.into_iter().zip(replies) {
        // A caller that went away (connection closed) misses only the answer: its event is
        // stored, published and being delivered.
        let _ = reply.send(Ok(e));
    }
}
