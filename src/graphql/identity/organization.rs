//! The `Organization`, `Application`, `OrganizationRole` and `OrganizationScope` types and their
//! inputs. Members and permissions are read through DataLoaders, so a page of organizations
//! costs a fixed number of queries.

use async_graphql::{Context, Enum, ID, InputObject, Json, MaybeUndefined, Object, Result};
use chrono::{DateTime, Utc};
use serde_json::Value;

use entity::{application, organization, organization_role, organization_scope};

use crate::graphql::identity::role::RoleType;
use crate::graphql::identity::user::User;
use crate::graphql::loaders::Loaders;
use crate::graphql::values::datetime;

/// An organization, with users and applications as members.
pub struct Organization(pub organization::Model);

/// An organization, with users and applications as members.
#[Object]
impl Organization {
    /// Opaque id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// What the organization is.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// Free-form data of your application.
    async fn custom_data(&self) -> Json<Value> {
        Json(serde_json::from_str(&self.0.custom_data).unwrap_or_else(|_| Value::Object(Default::default())))
    }

    /// When the organization was created.
    async fn created_at(&self) -> DateTime<Utc> {
        datetime(self.0.created_at)
    }

    /// Its user members.
    async fn members(&self, ctx: &Context<'_>) -> Result<Vec<User>> {
        let loaders = ctx.data::<Loaders>()?;
        Ok(loaders
            .organization_users
            .load_one(self.0.id.clone())
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(User)
            .collect())
    }

    /// Its application members.
    async fn applications(&self, ctx: &Context<'_>) -> Result<Vec<Application>> {
        let loaders = ctx.data::<Loaders>()?;
        Ok(loaders
            .organization_applications
            .load_one(self.0.id.clone())
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(Application)
            .collect())
    }
}

/// What kind of application.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ApplicationType {
    /// A native (mobile or desktop) app (`"Native"` in payloads).
    Native,
    /// A single-page web app (`"SPA"`).
    Spa,
    /// A traditional server-rendered web app (`"Traditional"`).
    Traditional,
    /// A machine-to-machine client (`"MachineToMachine"`).
    MachineToMachine,
}

impl ApplicationType {
    pub fn as_logto(self) -> &'static str {
        match self {
            ApplicationType::Native => "Native",
            ApplicationType::Spa => "SPA",
            ApplicationType::Traditional => "Traditional",
            ApplicationType::MachineToMachine => "MachineToMachine",
        }
    }
}

/// An application users sign in through, or a machine-to-machine client.
pub struct Application(pub application::Model);

/// An application users sign in through, or a machine-to-machine client.
#[Object]
impl Application {
    /// Opaque id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// What the application is.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// What kind of application.
    #[graphql(name = "type")]
    async fn app_type(&self) -> ApplicationType {
        match self.0.app_type.as_str() {
            "Native" => ApplicationType::Native,
            "Traditional" => ApplicationType::Traditional,
            "MachineToMachine" => ApplicationType::MachineToMachine,
            _ => ApplicationType::Spa,
        }
    }

    /// When the application was created.
    async fn created_at(&self) -> DateTime<Utc> {
        datetime(self.0.created_at)
    }
}

/// A role within organizations.
pub struct OrganizationRole(pub organization_role::Model);

/// A role within organizations.
#[Object]
impl OrganizationRole {
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

    /// The organization permissions the role grants.
    async fn scopes(&self, ctx: &Context<'_>) -> Result<Vec<OrganizationScope>> {
        let loaders = ctx.data::<Loaders>()?;
        Ok(loaders
            .organization_role_scopes
            .load_one(self.0.id.clone())
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(OrganizationScope)
            .collect())
    }
}

/// A permission within organizations.
pub struct OrganizationScope(pub organization_scope::Model);

/// A permission within organizations.
#[Object]
impl OrganizationScope {
    /// Opaque id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    /// Unique per tenant.
    async fn name(&self) -> &str {
        &self.0.name
    }

    /// What the permission allows.
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
}

/// A new organization.
#[derive(InputObject, Clone, Debug)]
pub struct CreateOrganizationInput {
    /// Display name, 1–128 characters.
    pub name: String,
    /// At most 1024 characters.
    pub description: Option<String>,
    /// A JSON object, at most 64 KiB.
    pub custom_data: Option<Json<Value>>,
}

/// Changes to an organization; omitted fields stay.
#[derive(InputObject, Clone, Debug, Default)]
pub struct UpdateOrganizationInput {
    /// New name.
    pub name: Option<String>,
    /// New description (`null` clears it).
    pub description: MaybeUndefined<String>,
    /// New custom data (replaces the old).
    pub custom_data: Option<Json<Value>>,
}

/// A new application.
#[derive(InputObject, Clone, Debug)]
pub struct CreateApplicationInput {
    /// Display name, 1–128 characters.
    pub name: String,
    /// What kind of application.
    #[graphql(name = "type")]
    pub app_type: ApplicationType,
    /// At most 1024 characters.
    pub description: Option<String>,
}

/// A new organization role.
#[derive(InputObject, Clone, Debug)]
pub struct CreateOrganizationRoleInput {
    /// Unique per tenant, 1–128 characters.
    pub name: String,
    /// At most 1024 characters.
    pub description: Option<String>,
    /// Who the role is for (default USER).
    #[graphql(name = "type", default_with = "RoleType::User")]
    pub role_type: RoleType,
    /// Organization permissions to grant at once (emits `OrganizationRole.Scopes.Updated` too).
    pub organization_scope_ids: Option<Vec<ID>>,
}

/// Changes to an organization role or permission; omitted fields stay.
#[derive(InputObject, Clone, Debug, Default)]
pub struct UpdateOrganizationRoleInput {
    /// New name.
    pub name: Option<String>,
    /// New description (`null` clears it).
    pub description: MaybeUndefined<String>,
}

/// A new organization permission.
#[derive(InputObject, Clone, Debug)]
pub struct CreateOrganizationScopeInput {
    /// Unique per tenant, 1–128 characters.
    pub name: String,
    /// At most 1024 characters.
    pub description: Option<String>,
}

/// Changes to an organization permission; omitted fields stay.
#[derive(InputObject, Clone, Debug, Default)]
pub struct UpdateOrganizationScopeInput {
    /// New name.
    pub name: Option<String>,
    /// New description (`null` clears it).
    pub description: MaybeUndefined<String>,
}
