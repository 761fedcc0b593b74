//! The root objects: each wing's fields merged into the one `Query` and `Mutation` the schema
//! serves. Adding a group of root fields means adding it here, and nowhere else.

use async_graphql::MergedObject;

use crate::graphql::identity::interactions::InteractionMutation;
use crate::graphql::identity::organizations::{OrganizationMutation, OrganizationQuery};
use crate::graphql::identity::users_and_roles::{IdentityMutation, IdentityQuery};
use crate::graphql::viewer::ViewerQuery;
use crate::graphql::webhooks::mutation::{DeliveryMutation, EventMutation, HookMutation};
use crate::graphql::webhooks::query::{EventQuery, HookQuery};

/// Read access to hooks, events, deliveries and identity data of the caller's tenant.
#[derive(MergedObject, Default)]
pub struct Query(ViewerQuery, HookQuery, EventQuery, IdentityQuery, OrganizationQuery);

/// Changes to hooks, events and identity data of the caller's tenant.
#[derive(MergedObject, Default)]
pub struct Mutation(
    HookMutation,
    EventMutation,
    DeliveryMutation,
    IdentityMutation,
    OrganizationMutation,
    InteractionMutation,
);
