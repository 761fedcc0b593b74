//! The webhook core: hooks and their validation, the event catalogue and custom event types,
//! events, deliveries, and the outbox where a change, its event and its deliveries commit
//! together. `lifecycle.rs` holds every statement that moves a delivery between statuses, so
//! the delivery state machine has one home; the dispatcher in `delivery/` calls it.

pub mod catalogue;
pub mod deliveries;
pub mod events;
pub mod filter;
pub mod hooks;
pub mod lifecycle;
pub mod operational;
pub mod outbox;
pub mod pacing;
