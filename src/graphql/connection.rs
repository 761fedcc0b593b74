//! Relay connections (`edges { cursor node }`, `pageInfo`, `totalCount`).

use async_graphql::{OutputType, SimpleObject};

use crate::domain::page::{Page, encode_cursor};
use crate::graphql::identity::organization::{Application, Organization, OrganizationRole, OrganizationScope};
use crate::graphql::identity::role::{Resource, Role};
use crate::graphql::identity::user::User;
use crate::graphql::webhooks::delivery::Delivery;
use crate::graphql::webhooks::event::Event;
use crate::graphql::webhooks::hook::Hook;

/// Edge of the hooks list.
pub type HookEdge = Edge<Hook>;
/// Edge of an events list.
pub type EventEdge = Edge<Event>;
/// Edge of a deliveries list.
pub type DeliveryEdge = Edge<Delivery>;
/// Edge of a users list.
pub type UserEdge = Edge<User>;
/// Edge of a roles list.
pub type RoleEdge = Edge<Role>;
/// Edge of an API resources list.
pub type ResourceEdge = Edge<Resource>;
/// Edge of an organizations list.
pub type OrganizationEdge = Edge<Organization>;
/// Edge of an organization roles list.
pub type OrganizationRoleEdge = Edge<OrganizationRole>;
/// Edge of an organization permissions list.
pub type OrganizationScopeEdge = Edge<OrganizationScope>;
/// Edge of an applications list.
pub type ApplicationEdge = Edge<Application>;

/// Where a page sits in the whole list.
#[derive(SimpleObject, Clone, Debug)]
pub struct PageInfo {
    /// More items follow this page: pass `endCursor` as `after` to get them.
    pub has_next_page: bool,
    /// Items come before this page (this page was fetched with `after`).
    pub has_previous_page: bool,
    /// Cursor of the first item of this page.
    pub start_cursor: Option<String>,
    /// Cursor of the last item of this page; pass it as `after` for the next page.
    pub end_cursor: Option<String>,
}

/// One item of a page and the cursor that points at it.
#[derive(SimpleObject)]
#[graphql(concrete(name = "HookEdge", params(Hook)))]
#[graphql(concrete(name = "EventEdge", params(Event)))]
#[graphql(concrete(name = "DeliveryEdge", params(Delivery)))]
#[graphql(concrete(name = "UserEdge", params(User)))]
#[graphql(concrete(name = "RoleEdge", params(Role)))]
#[graphql(concrete(name = "ResourceEdge", params(Resource)))]
#[graphql(concrete(name = "OrganizationEdge", params(Organization)))]
#[graphql(concrete(name = "OrganizationRoleEdge", params(OrganizationRole)))]
#[graphql(concrete(name = "OrganizationScopeEdge", params(OrganizationScope)))]
#[graphql(concrete(name = "ApplicationEdge", params(Application)))]
pub struct Edge<T: OutputType> {
    /// Opaque cursor of this item.
    pub cursor: String,
    /// The item.
    pub node: T,
}

/// A page of a list, Relay style.
#[derive(SimpleObject)]
#[graphql(concrete(name = "HookConnection", params(HookEdge)))]
#[graphql(concrete(name = "EventConnection", params(EventEdge)))]
#[graphql(concrete(name = "DeliveryConnection", params(DeliveryEdge)))]
#[graphql(concrete(name = "UserConnection", params(UserEdge)))]
#[graphql(concrete(name = "RoleConnection", params(RoleEdge)))]
#[graphql(concrete(name = "ResourceConnection", params(ResourceEdge)))]
#[graphql(concrete(name = "OrganizationConnection", params(OrganizationEdge)))]
#[graphql(concrete(name = "OrganizationRoleConnection", params(OrganizationRoleEdge)))]
#[graphql(concrete(name = "OrganizationScopeConnection", params(OrganizationScopeEdge)))]
#[graphql(concrete(name = "ApplicationConnection", params(ApplicationEdge)))]
pub struct Connection<E: OutputType> {
    /// The items of this page with their cursors.
    pub edges: Vec<E>,
    /// Where this page sits in the whole list.
    pub page_info: PageInfo,
    /// How many items match the filters, over all pages.
    pub total_count: u64,
}

impl<T: OutputType> Connection<Edge<T>>
where
    Edge<T>: OutputType,
{
    /// Builds a connection from a page of rows, given each row's id and its GraphQL node.
    pub fn from_page<M>(page: Page<M>, id: impl Fn(&M) -> &str, node: impl Fn(M) -> T) -> Self {
        let edges: Vec<Edge<T>> = page
            .items
            .into_iter()
            .map(|m| Edge {
                cursor: encode_cursor(id(&m)),
                node: node(m),
            })
            .collect();
        let page_info = PageInfo {
            has_next_page: page.has_next_page,
            has_previous_page: page.has_previous_page,
            start_cursor: edges.first().map(|e| e.cursor.clone()),
            end_cursor: edges.last().map(|e| e.cursor.clone()),
        };
        Connection {
            edges,
            page_info,
            total_count: page.total_count,
        }
    }
}
