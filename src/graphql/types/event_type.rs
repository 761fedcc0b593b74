use async_graphql::SimpleObject;

use crate::domain::catalogue::CatalogueEvent;

/// An event a hook can subscribe to.
#[derive(SimpleObject, Clone, Debug)]
pub struct EventType {
    /// The event name as it appears in payloads, e.g. `User.Created`.
    pub name: String,
    /// The group it belongs to, e.g. `User` or `Organization role`.
    pub group: String,
    /// When the event is emitted.
    pub description: String,
}

impl From<&CatalogueEvent> for EventType {
    fn from(e: &CatalogueEvent) -> Self {
        EventType {
            name: e.name.to_owned(),
            group: e.group.to_owned(),
            description: e.description.to_owned(),
        }
    }
}
