//! The `Role`, `Permission` (a scope) and `Resource` types and their inputs. A role's
//! permissions come through a DataLoader.

use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, Result};
use chrono::{DateTime, Utc};

use entity::{resource, role, scope};

use crate::domain::identity::roles::{self, CreateRole, UpdateRole};
use crate::graphql::loaders::Loaders;
use crate::graphql::values::datetime;
use crate::graphql::values::patch;

/// Who a role is for.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum RoleType {
    /// Assigned to users (`"User"` in payloads).
    User,
    /// Assigned to machine-to-machine applications (`"MachineToMachine"` in payloads).
    MachineToMachine,
}

impl RoleType {
    /// From the stored (Logto) spelling.
    pub fn from_logto(s: &str) -> RoleType {
        if s == roles::RoleType::MachineToMachine.as_str() {
            RoleType::MachineToMachine
        } else {
            RoleType::User
        }
    }
}

impl From<RoleType> for roles::RoleType {
    fn from(t: RoleType) -> Self {
        match t {
            RoleType::User => roles::RoleType::User,
            RoleType::MachineToMachine => roles::RoleType::MachineToMachine,
        }
    }
}

/// A named set of permissions.
pub struct Role(pub role::Model);

/// A named set of permissions.
#[Object]
impl Role {
    /// Opaque id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// Unique per tenant.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// What the role is for.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// Who the role is for.
    #[graphql(name = "type")]
    async fn role_type(&self) -> RoleType {
        RoleType::from_logto(&self.0.role_type)
    }

    /// Whether new users get this role.
    async fn is_default(&self) -> bool {
        self.0.is_default
    }

    /// When the role was created.
    async fn created_at(&self) -> DateTime<Utc> {
        datetime(self.0.created_at)
    }

    /// The permissions the role grants.
    async fn scopes(&self, ctx: &Context<'_>) -> Result<Vec<Permission>> {
        let loaders = ctx.data::<Loaders>()?;
        Ok(loaders
            .role_scopes
            .load_one(self.0.id.clone())
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(Permission)
            .collect())
    }
}

/// A permission of an API resource (Logto's "scope").
pub struct Permission(pub scope::Model);

/// A permission of an API resource (Logto's "scope").
#[Object(name = "Scope")]
impl Permission {
    /// Opaque id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// The API resource it belongs to.
    async fn resource_id(&self) -> ID {
        ID(self.0.resource_id.clone())
    }

    /// Unique within its resource, no spaces, e.g. `read:users`.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// What the permission allows.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// When the permission was created.
    async fn created_at(&self) -> DateTime<Utc> {
        datetime(self.0.created_at)
    }
}

/// An API resource, identified by its indicator.
pub struct Resource(pub resource::Model);

/// An API resource, identified by its indicator.
#[Object]
impl Resource {
    /// Opaque id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// The resource indicator URI, unique per tenant.
    async fn indicator(&self) -> &str {
        &self.0.indicator
    }

    /// Its permissions.
    async fn scopes(&self, ctx: &Context<'_>) -> Result<Vec<Permission>> {
        let loaders = ctx.data::<Loaders>()?;
        Ok(loaders
            .resource_scopes
            .load_one(self.0.id.clone())
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(Permission)
            .collect())
    }
}

/// A new role.
#[derive(InputObject, Clone, Debug)]
pub struct CreateRoleInput {
    /// Unique per tenant, 1–128 characters.
    pub name: String,
    /// At most 1024 characters.
    pub description: Option<String>,
    /// Who the role is for (default USER).
    #[graphql(name = "type", default_with = "RoleType::User")]
    pub role_type: RoleType,
    /// Whether new users get this role (default false).
    #[graphql(default)]
    pub is_default: bool,
    /// Permissions to grant at once (emits `Role.Scopes.Updated` too).
    pub scope_ids: Option<Vec<ID>>,
}

impl From<CreateRoleInput> for CreateRole {
    fn from(input: CreateRoleInput) -> Self {
        CreateRole {
            name: input.name,
            description: input.description,
            role_type: input.role_type.into(),
            is_default: input.is_default,
            scope_ids: input.scope_ids.map(|ids| ids.into_iter().map(|id| id.0).collect()),
        }
    }
}

/// Changes to a role; omitted fields stay.
#[derive(InputObject, Clone, Debug, Default)]
pub struct UpdateRoleInput {
    /// New name.
    pub name: Option<String>,
    /// New description (`null` clears it).
    pub description: MaybeUndefined<String>,
    /// Whether new users get this role.
    pub is_default: Option<bool>,
}

impl From<UpdateRoleInput> for UpdateRole {
    fn from(input: UpdateRoleInput) -> Self {
        UpdateRole {
            name: input.name,
            description: patch(input.description),
            is_default: input.is_default,
        }
    }
}

/// A new API resource.
#[derive(InputObject, Clone, Debug)]
pub struct CreateResourceInput {
    /// Display name.
    pub name: String,
    /// An absolute URI identifying the API, unique per tenant.
    pub indicator: String,
}

/// A new permission.
#[derive(InputObject, Clone, Debug)]
pub struct CreateScopeInput {
    /// Unique within the resource, no spaces, e.g. `read:users`.
    pub name: String,
    /// What the permission allows.
    pub description: Option<String>,
}

/// Changes to a permission; omitted fields stay.
#[derive(InputObject, Clone, Debug, Default)]
pub struct UpdateScopeInput {
    /// New name.
    pub name: Option<String>,
    /// New description (`null` clears it).
    pub description: MaybeUndefined<String>,
}
