//! GraphQL for the webhook core: the `Hook`, `Event`, `EventType` and `Delivery` types, their
//! root query and mutation fields, and the two subscriptions (`deliveryUpdates`,
//! `eventEmitted`). `Hook`, `Delivery` and `Event` refer to each other because the schema's
//! graph does (a hook's deliveries, a delivery's hook and event): that circle is inherent.

pub mod delivery;
pub mod event;
pub mod event_type;
pub mod hook;
pub mod mutation;
pub mod query;
pub mod subscription;
