//! The sending half of the relay: what this instance's bus publishes goes to the other
//! instances as NOTIFY messages, in publication order, packed under the payload limit.
//!
//! The bus queues signals after each commit without waiting (`bus::Outgoing`); this task sends
//! whatever has queued in one statement, so under load one round trip carries hundreds of
//! updates. Signals dropped on a full queue, or lost with a failed statement, are not resent:
//! the next message carries the time they were lost from, and the receivers catch up from
//! the database instead.

use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::bus::{Outgoing, Signal};
use crate::db::Db;
use crate::domain::now_ms;
use crate::relay::{CHANNEL, MAX_MESSAGE, Message, WireUpdate};

/// Most signals taken from the queue for one statement.
const BATCH: usize = 4096;
/// Most messages in one statement (each is one `pg_notify` call).
const MESSAGES_PER_STATEMENT: usize = 32;

/// Sends queued signals until `stop`, then sends what is left and returns.
pub async fn run(db: Db, me: String, outgoing: Outgoing, mut queue: mpsc::Receiver<Signal>, stop: CancellationToken) {
    let mut signals = Vec::with_capacity(BATCH);
    loop {
        let stopping = tokio::select! {
            received = queue.recv_many(&mut signals, BATCH) => received == 0,
            () = stop.cancelled() => true,
        };
        if stopping {
            while let Ok(signal) = queue.try_recv() {
                signals.push(signal);
            }
        }
        let lost_since = outgoing.take_lost_since();
        if !signals.is_empty() || lost_since.is_some() {
            let sent_from = now_ms();
            let messages = pack(&me, &signals, lost_since, &outgoing);
            if let Err(e) = send(&db, &messages).await {
                tracing::warn!(error = %e, "relaying to other instances failed; they will catch up from the database");
                outgoing.lost(
                    lost_since
                        .unwrap_or(sent_from)
                        .min(oldest(&signals).unwrap_or(sent_from)),
                );
            } else {
                metrics::counter!("hookd_relay_messages_sent_total").increment(messages.len() as u64);
            }
            signals.clear();
        }
        if stopping {
            return;
        }
    }
}

/// When the oldest update among `signals` was committed.
fn oldest(signals: &[Signal]) -> Option<i64> {
    signals
        .iter()
        .filter_map(|s| match s {
            Signal::Delivery(update) => Some(update.at),
            _ => None,
        })
        .min()
}

/// Packs `signals` into as few messages as fit under `MAX_MESSAGE`, in order. A wake-up and
/// a catch-up request ride on the first message.
pub fn pack(me: &str, signals: &[Signal], lost_since: Option<i64>, outgoing: &Outgoing) -> Vec<String> {
    let mut messages = Vec::new();
    let mut current = Message {
        from: me.to_owned(),
        wake: signals.iter().any(|s| matches!(s, Signal::Wake)),
        catch_up_from: lost_since,
        ..Message::default()
    };
    // The message as it stands, plus room for both arrays' brackets and keys.
    let base = |m: &Message| json_len(m) + 16;
    let mut size = base(&current);
    for signal in signals {
        let item = match signal {
            Signal::Wake => continue,
            Signal::Delivery(update) => Item::Delivery(WireUpdate::from(update.as_ref())),
            Signal::Event { tenant_id, event_id } => Item::Event((tenant_id.clone(), event_id.clone())),
        };
        let item_size = match &item {
            Item::Delivery(wire) => json_len(wire),
            Item::Event(pair) => json_len(pair),
        };
        if item_size.saturating_add(base(&Message::default()) + me.len()) > MAX_MESSAGE {
            // Cannot happen with bounded ids and the error cut to `MAX_ERROR`; if it did, the
            // receivers still get it from the database.
            outgoing.lost(now_ms());
            continue;
        }
        if size + item_size + 1 > MAX_MESSAGE {
            let full = std::mem::replace(
                &mut current,
                Message {
                    from: me.to_owned(),
                    ..Message::default()
                },
            );
            messages.extend(serde_json::to_string(&full).ok());
            size = base(&current);
        }
        match item {
            Item::Delivery(wire) => current.deliveries.push(wire),
            Item::Event(pair) => current.events.push(pair),
        }
        size += item_size + 1;
    }
    if current.wake || current.catch_up_from.is_some() || !current.deliveries.is_empty() || !current.events.is_empty() {
        messages.extend(serde_json::to_string(&current).ok());
    }
    messages
}

enum Item {
    Delivery(WireUpdate),
    Event((String, String)),
}

fn json_len(value: &impl serde::Serialize) -> usize {
    serde_json::to_string(value).map_or(usize::MAX, |s| s.len())
}

/// Sends `messages` in order, `MESSAGES_PER_STATEMENT` per statement.
async fn send(db: &Db, messages: &[String]) -> Result<(), sea_orm::DbErr> {
    for chunk in messages.chunks(MESSAGES_PER_STATEMENT) {
        let calls: Vec<String> = (0..chunk.len()).map(|i| format!("pg_notify($1, ${})", i + 2)).collect();
        let mut values: Vec<Value> = vec![CHANNEL.into()];
        values.extend(chunk.iter().map(|m| Value::from(m.as_str())));
        let sql = format!("SELECT {}", calls.join(", "));
        db.write
            .execute_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql, values))
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use entity::delivery::DeliveryStatus;

    use super::*;
    use crate::bus::DeliveryUpdate;

    fn update(n: usize, error: Option<String>) -> Signal {
        Signal::Delivery(Arc::new(DeliveryUpdate {
            tenant_id: "tenant-with-a-long-name".into(),
            delivery_id: format!("{n:032}"),
            hook_id: "0".repeat(32),
            event_id: "1".repeat(32),
            event_type: "Organization.Membership.Updated".into(),
            status: DeliveryStatus::Failed,
            attempt_count: 3,
            response_status: Some(500),
            duration_ms: Some(12),
            error,
            next_attempt_at: None,
            at: 1_764_000_000_000,
        }))
    }

    #[test]
    fn messages_stay_under_the_limit_and_keep_the_order() {
        let (outgoing, _queue) = Outgoing::channel();
        let mut signals: Vec<Signal> = (0..1000).map(|n| update(n, Some("é".repeat(2000)))).collect();
        signals.push(Signal::Wake);
        signals.push(Signal::Event {
            tenant_id: "t".into(),
            event_id: "e".into(),
        });
        let messages = pack("me", &signals, Some(5), &outgoing);
        assert!(messages.len() >= 90, "{} messages", messages.len());
        let mut ids = Vec::new();
        let mut events = 0;
        for (i, text) in messages.iter().enumerate() {
            assert!(text.len() <= MAX_MESSAGE, "{} bytes", text.len());
            let message: Message = serde_json::from_str(text).expect("parses");
            assert_eq!(message.from, "me");
            assert!(text.starts_with(&crate::relay::own_prefix("me")), "{text}");
            assert_eq!(message.wake, i == 0);
            assert_eq!(message.catch_up_from, (i == 0).then_some(5));
            events += message.events.len();
            for wire in message.deliveries {
                let update = wire.into_update().expect("known status");
                assert_eq!(
                    update.error.as_deref().map(str::len),
                    Some(512),
                    "cut on a character boundary"
                );
                ids.push(update.delivery_id.clone());
            }
        }
        let expected: Vec<String> = (0..1000).map(|n| format!("{n:032}")).collect();
        assert_eq!(ids, expected);
        assert_eq!(events, 1);
        assert!(outgoing.take_lost_since().is_none());
    }

    #[test]
    fn nothing_to_say_sends_nothing() {
        let (outgoing, _queue) = Outgoing::channel();
        assert!(pack("me", &[], None, &outgoing).is_empty());
        assert_eq!(pack("me", &[Signal::Wake], None, &outgoing).len(), 1);
    }
}
