//! Tenant scoping lives here: every read of a tenant-owned table starts from [`scoped`], so a
//! query that forgets the tenant cannot be written by accident.

use std::collections::HashMap;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Select};

use crate::error::AppResult;

/// A table whose rows belong to one tenant.
pub trait TenantScoped: EntityTrait {
    fn tenant_column() -> Self::Column;
}

macro_rules! tenant_scoped {
    ($($table:ident),* $(,)?) => {
        $(
            impl TenantScoped for entity::$table::Entity {
                fn tenant_column() -> Self::Column {
                    entity::$table::Column::TenantId
                }
            }
        )*
    };
}

tenant_scoped!(
    hook,
    event,
    event_type,
    delivery,
    delivery_attempt,
    user,
    resource,
    scope,
    role,
    role_scope,
    user_role,
    application,
    organization,
    organization_user,
    organization_application,
    organization_role,
    organization_scope,
    organization_role_scope,
    sign_in_failure,
);

/// `SELECT … FROM e WHERE tenant_id = tenant`.
pub fn scoped<E: TenantScoped>(tenant: &str) -> Select<E> {
    E::find().filter(E::tenant_column().eq(tenant))
}

/// The members of many owners through a link table (roles of users, permissions of roles,
/// members of organizations), grouped by owner and ordered by member id: two queries, however
/// many owners. `owner` and `member` are the link table's columns; `member_id` is the member
/// table's id column and `id_of` reads it from a row.
pub async fn linked<L: TenantScoped, M: TenantScoped>(
    db: &impl ConnectionTrait,
    tenant: &str,
    owners: &[String],
    (owner, member): (L::Column, L::Column),
    member_id: M::Column,
    id_of: fn(&M::Model) -> &str,
) -> AppResult<HashMap<String, Vec<M::Model>>>
where
    M::Model: Clone,
{
    let mut links: Vec<(String, String)> = scoped::<L>(tenant)
        .select_only()
        .column(owner)
        .column(member)
        .filter(owner.is_in(owners.iter().map(String::as_str)))
        .into_tuple()
        .all(db)
        .await?;
    let members: HashMap<String, M::Model> = scoped::<M>(tenant)
        .filter(member_id.is_in(links.iter().map(|(_, m)| m.as_str())))
        .all(db)
        .await?
        .into_iter()
        .map(|m| (id_of(&m).to_owned(), m))
        .collect();
    links.sort();
    let mut grouped: HashMap<String, Vec<M::Model>> = HashMap::new();
    for (owner, member) in links {
        if let Some(m) = members.get(&member) {
            grouped.entry(owner).or_default().push(m.clone());
        }
    }
    Ok(grouped)
}
