//! Root fields of organizations, their members, roles and permissions, and applications.

use async_graphql::{Context, ID, Object, Result};

use crate::auth::Scope;
use crate::domain::identity::organization_roles::{self as org_roles, ScopeChange};
use crate::domain::identity::organizations::{self, MemberChange, Members};
use crate::graphql::connection::{
    ApplicationEdge, Connection, OrganizationEdge, OrganizationRoleEdge, OrganizationScopeEdge,
};
use crate::graphql::context;
use crate::graphql::guard::RequireScope;
use crate::graphql::identity::organization::{
    Application, CreateApplicationInput, CreateOrganizationInput, CreateOrganizationRoleInput,
    CreateOrganizationScopeInput, Organization, OrganizationRole, OrganizationScope, UpdateOrganizationInput,
    UpdateOrganizationRoleInput, UpdateOrganizationScopeInput,
};
use crate::graphql::values::patch;

fn ids(ids: Vec<ID>) -> Vec<String> {
    ids.into_iter().map(|id| id.0).collect()
}

#[derive(Default)]
pub struct OrganizationQuery;

#[Object]
impl OrganizationQuery {
    /// One organization by id, with its members; null when there is none in the caller's
    /// tenant. Needs `identity:read`.
    #[graphql(guard = "RequireScope(Scope::IdentityRead)")]
    async fn organization(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The organization's id.")] id: ID,
    ) -> Result<Option<Organization>> {
        let state = context::state(ctx)?;
        Ok(organizations::get(&state.db.read, context::tenant(ctx)?, &id)
            .await?
            .map(Organization))
    }

    /// The caller's organizations, oldest first. Needs `identity:read`.
    #[graphql(
        guard = "RequireScope(Scope::IdentityRead)",
        complexity = "crate::graphql::budget::page(first, child_complexity)"
    )]
    async fn organizations(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0–100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Return items after this cursor (`pageInfo.endCursor`).")] after: Option<String>,
    ) -> Result<Connection<OrganizationEdge>> {
        let state = context::state(ctx)?;
        let page = organizations::list(
            &state.db.read,
            context::tenant(ctx)?,
            &context::page(ctx, first, after)?,
        )
        .await?;
        Ok(Connection::from_page(page, |m| &m.id, Organization))
    }

    /// The caller's organization roles, oldest first. Needs `identity:read`.
    #[graphql(
        guard = "RequireScope(Scope::IdentityRead)",
        complexity = "crate::graphql::budget::page(first, child_complexity)"
    )]
    async fn organization_roles(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0–100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Return items after this cursor (`pageInfo.endCursor`).")] after: Option<String>,
    ) -> Result<Connection<OrganizationRoleEdge>> {
        let state = context::state(ctx)?;
        let page = org_roles::list_roles(
            &state.db.read,
            context::tenant(ctx)?,
            &context::page(ctx, first, after)?,
        )
        .await?;
        Ok(Connection::from_page(page, |m| &m.id, OrganizationRole))
    }

    /// The caller's organization permissions, oldest first. Needs `identity:read`.
    #[graphql(
        guard = "RequireScope(Scope::IdentityRead)",
        complexity = "crate::graphql::budget::page(first, child_complexity)"
    )]
    async fn organization_scopes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0–100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Return items after this cursor (`pageInfo.endCursor`).")] after: Option<String>,
    ) -> Result<Connection<OrganizationScopeEdge>> {
        let state = context::state(ctx)?;
        let page = org_roles::list_scopes(
            &state.db.read,
            context::tenant(ctx)?,
            &context::page(ctx, first, after)?,
        )
        .await?;
        Ok(Connection::from_page(page, |m| &m.id, OrganizationScope))
    }

    /// One application by id; null when there is none in the caller's tenant. Needs
    /// `identity:read`.
    #[graphql(guard = "RequireScope(Scope::IdentityRead)")]
    async fn application(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The application's id.")] id: ID,
    ) -> Result<Option<Application>> {
        let state = context::state(ctx)?;
        Ok(
            organizations::get_application(&state.db.read, context::tenant(ctx)?, &id)
                .await?
                .map(Application),
        )
    }

    /// The caller's applications, oldest first. Needs `identity:read`.
    #[graphql(
        guard = "RequireScope(Scope::IdentityRead)",
        complexity = "crate::graphql::budget::page(first, child_complexity)"
    )]
    async fn applications(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0–100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Return items after this cursor (`pageInfo.endCursor`).")] after: Option<String>,
    ) -> Result<Connection<ApplicationEdge>> {
        let state = context::state(ctx)?;
        let page = organizations::list_applications(
            &state.db.read,
            context::tenant(ctx)?,
            &context::page(ctx, first, after)?,
        )
        .await?;
        Ok(Connection::from_page(page, |m| &m.id, Application))
    }
}

#[derive(Default)]
pub struct OrganizationMutation;

impl OrganizationMutation {
    async fn members(ctx: &Context<'_>, id: &str, members: Members, change: MemberChange) -> Result<Organization> {
        let state = context::state(ctx)?;
        let org =
            state.publish(organizations::change_members(&state.db, &context::caller(ctx)?, id, members, change).await?);
        Ok(Organization(org))
    }

    async fn role_scopes(ctx: &Context<'_>, id: &str, change: ScopeChange) -> Result<OrganizationRole> {
        let state = context::state(ctx)?;
        let role = state.publish(org_roles::change_role_scopes(&state.db, &context::caller(ctx)?, id, change).await?);
        Ok(OrganizationRole(role))
    }
}

#[Object]
impl OrganizationMutation {
    /// Creates an organization. Emits `Organization.Created`. Needs `identity:write`.
    #[graphql(guard = "RequireScope(Scope::IdentityWrite)")]
    async fn create_organization(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new organization.")] input: CreateOrganizationInput,
    ) -> Result<Organization> {
        let state = context::state(ctx)?;
        let custom_data = input.custom_data.map(|j| j.0);
        let org = state.publish(
            organizations::create(
                &state.db,
                &context::caller(ctx)?,
                input.name,
                input.description,
                custom_data,
            )
            .await?,
        );
        Ok(Organization(org))
    }

    /// Changes an organization. Emits `Organization.Data.Updated`. Needs `identity:write`.
    #[graphql(guard = "RequireScope(Scope::IdentityWrite)")]
    async fn update_organization(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The organization's id.")] id: ID,
        #[graphql(desc = "The changes.")] input: UpdateOrganizationInput,
    ) -> Result<Organization> {
        let state = context::state(ctx)?;
        let (name, description, custom_data) = (input.name, patch(input.description), input.custom_data.map(|j| j.0));
        let org = state.publish(
            organizations::update(&state.db, &context::caller(ctx)?, &id, name, description, custom_data).await?,
        );
        Ok(Organization(org))
    }

    /// Deletes an organization (its memberships go with it). Emits `Organization.Deleted`.
    /// Needs `identity:write`.
    #[graphql(guard = "RequireScope(Scope::IdentityWrite)")]
    async fn delete_organization(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The organization's id.")] id: ID,
    ) -> Result<ID> {
        let state = context::state(ctx)?;
        let id = state.publish(organizations::delete(&state.db, &context::caller(ctx)?, &id).await?);
        Ok(ID(id))
    }

    /// Adds users to an organization. Emits `Organization.Membership.Updated` with the users
    /// that were not members (`addedUserIds`); nothing when there are none. Needs
    /// `identity:write`.
    #[graphql(guard = "RequireScope(Scope::IdentityWrite)")]
    async fn add_organization_members(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The organization's id.")] id: ID,
        #[graphql(desc = "Users to add.")] user_ids: Vec<ID>,
    ) -> Result<Organization> {
        Self::members(ctx, &id, Members::Users, MemberChange::Add(ids(user_ids))).await
    }

    /// Makes the organization's user members exactly these. Emits
    /// `Organization.Membership.Updated` with `addedUserIds` / `removedUserIds` (each only when
    /// not empty; nothing when both are). Needs `identity:write`.
    #[graphql(guard = "RequireScope(Scope::IdentityWrite)")]
    async fn replace_organization_members(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The organization's id.")] id: ID,
        #[graphql(desc = "The users who should be members.")] user_ids: Vec<ID>,
    ) -> Result<Organization> {
        Self::members(ctx, &id, Members::Users, MemberChange::Replace(ids(user_ids))).await
    }

    /// Removes a user from an organization. Emits `Organization.Membership.Updated` with
    /// `removedUserIds`. Needs `identity:write`.
    #[graphql(guard = "RequireScope(Scope::IdentityWrite)")]
    async fn remove_organization_member(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The organization's id.")] id: ID,
        #[graphql(desc = "The user to remove.")] user_id: ID,
    ) -> Result<Organization> {
        Self::members(ctx, &id, Members::Users, MemberChange::Remove(user_id.0)).await
    }

    /// Adds applications to an organization. Emits `Organization.Membership.Updated` with
    /// `addedApplicationIds`. Needs `identity:write`.
    #[graphql(guard = "RequireScope(Scope::IdentityWrite)")]
    async fn add_organization_applications(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The organization's id.")] id: ID,
        #[graphql(desc = "Applications to add.")] application_ids: Vec<ID>,
    ) -> Result<Organization> {
        Self::members(ctx, &id, Members::Applications, MemberChange::Add(ids(application_ids))).await
    }

    /// Makes the organization's application members exactly these. Emits
    /// `Organization.Membership.Updated` with the deltas. Needs `identity:write`.
    #[graphql(guard = "RequireScope(Scope::IdentityWrite)")]
    async fn replace_organization_applications(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The organization's id.")] id: ID,
        #[graphql(desc = "The applications that should be members.")] application_ids: Vec<ID>,
    ) -> Result<Organization> {
        Self::members(
            ctx,
            &id,
            Members::Applications,
            MemberChange::Replace(ids(application_ids)),
        )
        .await
    }

    /// Removes an application from an organization. Emits `Organization.Membership.Updated`
    /// with `removedApplicationIds`. Needs `identity:write`.
    #[graphql(guard = "RequireScope(Scope::IdentityWrite)")]
    async fn remove_organization_application(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The organization's id.")] id: ID,
        #[graphql(desc = "The application to remove.")] application_id: ID,
    ) -> Result<Organization> {
        Self::members(ctx, &id, Members::Applications, MemberChange::Remove(application_id.0)).await
    }

    /// Creates an organization role. Emits `OrganizationRole.Created` (after
    /// `OrganizationRole.Scopes.Updated` when permissions are given). Needs `identity:write`.
    #[graphql(guard = "RequireScope(Scope::IdentityWrite)")]
    async fn create_organization_role(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new role.")] input: CreateOrganizationRoleInput,
    ) -> Result<OrganizationRole> {
        let state = context::state(ctx)?;
        let scope_ids = input.organization_scope_ids.map(ids);
        let role = state.publish(
            org_roles::create_role(
                &state.db,
                &context::caller(ctx)?,
                input.name,
                input.description,
                input.role_type.into(),
                scope_ids,
            )
            .await?,
        );
        Ok(OrganizationRole(role))
    }

    /// Changes an organization role. Emits `OrganizationRole.Data.Updated`. Needs
    /// `identity:write`.
    #[graphql(guard = "RequireScope(Scope::IdentityWrite)")]
    async fn update_organization_role(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The role's id.")] id: ID,
        #[graphql(desc = "The changes.")] input: UpdateOrganizationRoleInput,
    ) -> Result<OrganizationRole> {
        let state = context::state(ctx)?;
        let role = state.publish(
            org_roles::update_role(
                &state.db,
                &context::caller(ctx)?,
                &id,
                input.name,
                patch(input.description),
            )
            .await?,
        );
        Ok(OrganizationRole(role))
    }

    /// Deletes an organization role. Emits `OrganizationRole.Deleted`. Needs `identity:write`.
    #[graphql(guard = "RequireScope(Scope::IdentityWrite)")]
    async fn delete_organization_role(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The role's id.")] id: ID,
    ) -> Result<ID> {
        let state = context::state(ctx)?;
        let id = state.publish(org_roles::delete_role(&state.db, &context::caller(ctx)?, &id).await?);
        Ok(ID(id))
    }

    /// Grants organization permissions to an organization role. Emits
    /// `OrganizationRole.Scopes.Updated`, as Logto does, also when all were granted already.
    /// Needs `identity:write`.
    #[graphql(guard = "RequireScope(Scope::IdentityWrite)")]
    async fn add_organization_role_scopes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The role's id.")] id: ID,
        #[graphql(desc = "Permissions to grant.")] organization_scope_ids: Vec<ID>,
    ) -> Result<OrganizationRole> {
        Self::role_scopes(ctx, &id, ScopeChange::Add(ids(organization_scope_ids))).await
    }

    /// Makes an organization role's permissions exactly these. Emits
    /// `OrganizationRole.Scopes.Updated`, as Logto does, also when they were these already.
    /// Needs `identity:write`.
    #[graphql(guard = "RequireScope(Scope::IdentityWrite)")]
    async fn replace_organization_role_scopes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The role's id.")] id: ID,
        #[graphql(desc = "The permissions the role should grant.")] organization_scope_ids: Vec<ID>,
    ) -> Result<OrganizationRole> {
        Self::role_scopes(ctx, &id, ScopeChange::Replace(ids(organization_scope_ids))).await
    }

    /// Takes an organization permission from an organization role. Emits
    /// `OrganizationRole.Scopes.Updated`. Needs `identity:write`.
    #[graphql(guard = "RequireScope(Scope::IdentityWrite)")]
    async fn remove_organization_role_scope(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The role's id.")] id: ID,
        #[graphql(desc = "The permission to take away.")] organization_scope_id: ID,
    ) -> Result<OrganizationRole> {
        Self::role_scopes(ctx, &id, ScopeChange::Remove(organization_scope_id.0)).await
    }

    /// Creates an organization permission. Emits `OrganizationScope.Created`. Needs
    /// `identity:write`.
    #[graphql(guard = "RequireScope(Scope::IdentityWrite)")]
    async fn create_organization_scope(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new permission.")] input: CreateOrganizationScopeInput,
    ) -> Result<OrganizationScope> {
        let state = context::state(ctx)?;
        let scope = state
            .publish(org_roles::create_scope(&state.db, &context::caller(ctx)?, input.name, input.description).await?);
        Ok(OrganizationScope(scope))
    }

    /// Changes an organization permission. Emits `OrganizationScope.Data.Updated`. Needs
    /// `identity:write`.
    #[graphql(guard = "RequireScope(Scope::IdentityWrite)")]
    async fn update_organization_scope(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The permission's id.")] id: ID,
        #[graphql(desc = "The changes.")] input: UpdateOrganizationScopeInput,
    ) -> Result<OrganizationScope> {
        let state = context::state(ctx)?;
        let scope = state.publish(
            org_roles::update_scope(
                &state.db,
                &context::caller(ctx)?,
                &id,
                input.name,
                patch(input.description),
            )
            .await?,
        );
        Ok(OrganizationScope(scope))
    }

    /// Deletes an organization permission. Emits `OrganizationScope.Deleted`. Needs
    /// `identity:write`.
    #[graphql(guard = "RequireScope(Scope::IdentityWrite)")]
    async fn delete_organization_scope(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The permission's id.")] id: ID,
    ) -> Result<ID> {
        let state = context::state(ctx)?;
        let id = state.publish(org_roles::delete_scope(&state.db, &context::caller(ctx)?, &id).await?);
        Ok(ID(id))
    }

    /// Creates an application (no event, as in Logto). Needs `identity:write`.
    #[graphql(guard = "RequireScope(Scope::IdentityWrite)")]
    async fn create_application(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new application.")] input: CreateApplicationInput,
    ) -> Result<Application> {
        let state = context::state(ctx)?;
        let app_type = input.app_type.as_logto();
        let app = organizations::create_application(
            &state.db,
            &context::caller(ctx)?,
            input.name,
            app_type,
            input.description,
        )
        .await?;
        Ok(Application(app))
    }
}
