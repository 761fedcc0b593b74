//! Deliveries handed from the committing emit straight to this process's dispatcher.
//!
//! A group commit (`crate::group_commit`) stores each new delivery already leased to this
//! process (status SENDING, `due_at` the lease's end) when it holds a free place in this
//! channel, and after the commit hands the delivery over with its decoded hook and its event,
//! so the dispatcher sends it with no claim statement and no reads. The channel holds as many
//! deliveries as may be in flight (`HOOKD_MAX_IN_FLIGHT`), which bounds the memory they take;
//! a delivery that finds no place is stored PENDING and claimed as usual. A delivery handed
//! over but never sent (this process died, or shut down) keeps its lease; when the lease runs
//! out it is claimed like any other, so nothing is lost.

use std::sync::Arc;

use tokio::sync::mpsc;

use entity::{delivery, event};

use crate::delivery::target::Target;

/// A delivery leased to this process, with what sending it needs.
#[derive(Debug)]
pub struct Handed {
    /// As stored: SENDING, `due_at` the end of its lease.
    pub delivery: delivery::Model,
    pub target: Arc<Target>,
    pub event: Arc<event::Model>,
}

/// The sending side, held by the group commit.
#[derive(Clone, Debug)]
pub struct Handoff(mpsc::Sender<Handed>);

/// A place in the channel, taken before the delivery is stored leased.
pub type Place = mpsc::OwnedPermit<Handed>;

impl Handoff {
    pub fn channel(capacity: usize) -> (Handoff, mpsc::Receiver<Handed>) {
        let (sender, receiver) = mpsc::channel(capacity);
        (Handoff(sender), receiver)
    }

    /// A place for one delivery, if the channel has room and a dispatcher is listening.
    pub fn place(&self) -> Option<Place> {
        self.0.clone().try_reserve_owned().ok()
    }
}
