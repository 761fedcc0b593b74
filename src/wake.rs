//! The dispatcher's doorbell: rung after a commit that created or requeued deliveries, and,
//! on PostgreSQL, relayed to the other processes' dispatchers.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::bus::{Outgoing, Signal};

/// Wakes the dispatcher: called after a commit that created or requeued deliveries. On
/// PostgreSQL it wakes the other instances' dispatchers too, through the relay.
#[derive(Clone, Debug, Default)]
pub struct Wake {
    here: Arc<Notify>,
    relay: Option<Outgoing>,
}

impl Wake {
    /// A wake that also reaches the other instances.
    pub fn relaying(relay: Outgoing) -> Wake {
        Wake {
            here: Arc::default(),
            relay: Some(relay),
        }
    }

    /// Wakes this instance's dispatcher and the others'.
    pub fn wake(&self) {
        if let Some(relay) = &self.relay {
            relay.send(Signal::Wake);
        }
        self.wake_here();
    }

    /// Wakes this instance's dispatcher only: room freed here, or a wake relayed from another.
    pub fn wake_here(&self) {
        self.here.notify_one();
    }

    pub async fn notified(&self) {
        self.here.notified().await;
    }
}
