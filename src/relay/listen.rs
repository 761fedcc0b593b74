//! The receiving half of the relay: a connection of its own LISTENs on the channel, and what
//! other instances send is published on this instance's bus and wakes its dispatcher.
//!
//! When that connection drops, the listener reconnects (backing off while the database is
//! away) and then catches up: every delivery updated and every event stored since `OVERLAP`
//! before the drop is published again, in its current state, up to `CATCH_UP` of each. So a
//! subscriber misses no delivery's final state and no event across the gap; it may see some
//! of them twice, and intermediate states within the gap only as the state that followed.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio_util::sync::CancellationToken;

use entity::{delivery, event};

use crate::bus::{Bus, DeliveryUpdate};
use crate::db::Db;
use crate::domain::now_ms;
use crate::relay::{CHANNEL, Header, Updates, own_prefix};
use crate::wake::Wake;

/// How far before a detected drop the catch-up starts: messages committed just before it may
/// not have reached this connection.
pub const OVERLAP: Duration = Duration::from_secs(2);
/// Most deliveries and most events one catch-up publishes.
pub const CATCH_UP: u64 = 10_000;
/// Longest pause between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The listening connection's `application_name`: `hookd relay <process id>`.
pub fn application_name() -> String {
    format!("hookd relay {}", std::process::id())
}

/// What the listener publishes to, and where it reads what a message only names.
pub struct Listen {
    pub url: String,
    pub db: Db,
    pub bus: Bus,
    pub wake: Wake,
    /// How this instance's own messages start: those are skipped.
    own_prefix: String,
}

fn unreadable(e: &serde_json::Error) {
    tracing::warn!(error = %e, "ignoring a relay message this build cannot read");
}

impl Listen {
    /// A listener on `url` for the instance `me`.
    pub fn new(url: String, me: &str, db: Db, bus: Bus, wake: Wake) -> Listen {
        Listen {
            url,
            db,
            bus,
            wake,
            own_prefix: own_prefix(me),
        }
    }

    /// Listens until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut gap_from: Option<i64> = None;
        let mut backoff = Duration::from_millis(100);
        while !shutdown.is_cancelled() {
            let mut listener = tokio::select! {
                connected = self.connect() => match connected {
                    Ok(listener) => listener,
                    Err(e) => {
                        tracing::warn!(error = %e, retry_in = ?backoff, "cannot listen for other instances' updates");
                        gap_from.get_or_insert(now_ms() - OVERLAP.as_millis() as i64);
                        tokio::select! {
                            () = tokio::time::sleep(backoff) => {}
                            () = shutdown.cancelled() => return,
                        }
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        continue;
                    }
                },
                () = shutdown.cancelled() => return,
            };
            backoff = Duration::from_millis(100);
            if let Some(from) = gap_from.take() {
                metrics::counter!("hookd_relay_reconnects_total").increment(1);
                tracing::info!("listening for other instances' updates again; catching up");
                self.catch_up(from).await;
            }
            loop {
                let received = tokio::select! {
                    received = listener.try_recv() => received,
                    () = shutdown.cancelled() => return,
                };
                match received {
                    Ok(Some(notification)) => self.handle(notification.payload()).await,
                    Ok(None) | Err(_) => {
                        tracing::warn!("the connection listening for other instances' updates dropped; reconnecting");
                        gap_from = Some(now_ms() - OVERLAP.as_millis() as i64);
                        break;
                    }
                }
            }
        }
    }

    async fn connect(&self) -> Result<PgListener, sea_orm::sqlx::Error> {
        // A pool of one, without timeouts, as `PgListener::connect` makes, but named so that
        // an operator can tell the connection apart in `pg_stat_activity`.
        let options = PgConnectOptions::from_str(&self.url)?.application_name(&application_name());
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_with(options)
            .await?;
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.ignore_pool_close_event(true);
        // Reconnecting is ours to do, so that the catch-up follows it.
        listener.eager_reconnect(false);
        listener.listen(CHANNEL).await?;
        Ok(listener)
    }

    /// One message from the channel. Its own messages are skipped unread, and the delivery
    /// updates are decoded only when someone here subscribes to them.
    async fn handle(&self, payload: &str) {
        if payload.starts_with(&self.own_prefix) {
            return;
        }
        metrics::counter!("hookd_relay_messages_received_total").increment(1);
        let header: Header = match serde_json::from_str(payload) {
            Ok(header) => header,
            Err(e) => return unreadable(&e),
        };
        let deliveries = if self.bus.watched_deliveries() {
            match serde_json::from_str::<Updates>(payload) {
                Ok(updates) => updates.deliveries,
                Err(e) => return unreadable(&e),
            }
        } else {
            Vec::new()
        };
        if header.wake {
            self.wake.wake_here();
        }
        if let Some(from) = header.catch_up_from {
            self.catch_up(from).await;
        }
        for wire in deliveries {
            if let Some(update) = wire.into_update() {
                self.bus.relayed_delivery(update);
            }
        }
        if !header.events.is_empty() && self.bus.watched_events() {
            match self.events(&header.events).await {
                Ok(events) => events.into_iter().for_each(|e| self.bus.relayed_event(e)),
                Err(e) => tracing::warn!(error = %e, "reading events another instance stored failed"),
            }
        }
    }

    /// The named events, in the order named (an event pruned meanwhile is left out).
    async fn events(&self, named: &[(String, String)]) -> Result<Vec<Arc<event::Model>>, sea_orm::DbErr> {
        let tenants: Vec<&str> = named.iter().map(|(tenant, _)| tenant.as_str()).collect();
        let ids: Vec<&str> = named.iter().map(|(_, id)| id.as_str()).collect();
        let mut found: HashMap<(String, String), event::Model> = event::Entity::find()
            .filter(event::Column::TenantId.is_in(tenants))
            .filter(event::Column::Id.is_in(ids))
            .all(&self.db.read)
            .await?
            .into_iter()
            .map(|e| ((e.tenant_id.clone(), e.id.clone()), e))
            .collect();
        Ok(named.iter().filter_map(|key| found.remove(key)).map(Arc::new).collect())
    }

    /// Publishes what changed since `from` (epoch ms) and wakes the dispatcher, for whatever
    /// this instance may have missed.
    async fn catch_up(&self, from: i64) {
        self.wake.wake_here();
        if let Err(e) = self.republish(from).await {
            tracing::warn!(error = %e, "catching up on other instances' updates failed");
        }
    }

    async fn republish(&self, from: i64) -> Result<(), sea_orm::DbErr> {
        if self.bus.watched_deliveries() {
            let changed = delivery::Entity::find()
                .filter(delivery::Column::UpdatedAt.gte(from))
                .order_by_asc(delivery::Column::UpdatedAt)
                .limit(CATCH_UP)
                .all(&self.db.read)
                .await?;
            if changed.len() as u64 == CATCH_UP {
                tracing::warn!(
                    from,
                    "more deliveries changed during the gap than a catch-up publishes; subscribers should query deliveries"
                );
            }
            for row in &changed {
                let mut update = DeliveryUpdate::of(row);
                update.at = row.updated_at;
                self.bus.relayed_delivery(Arc::new(update));
            }
        }
        if self.bus.watched_events() {
            let stored = event::Entity::find()
                .filter(event::Column::CreatedAt.gte(from))
                .order_by_asc(event::Column::CreatedAt)
                .limit(CATCH_UP)
                .all(&self.db.read)
                .await?;
            stored.into_iter().for_each(|e| self.bus.relayed_event(Arc::new(e)));
        }
        Ok(())
    }
}
