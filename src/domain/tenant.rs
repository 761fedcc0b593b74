//! Tenant scoping lives here: every read of a tenant-owned table starts from [`scoped`], so a
//! query that forgets the tenant cannot be written by accident.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Select};

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
