//! Root fields of the identity data (users, …). Each mutation commits its change with its
//! event in one transaction and publishes the event after the commit.

use async_graphql::{Context, ID, Json, Object, Result};
use serde_json::Value;

use crate::auth::Scope;
use crate::domain::{identity::resources, identity::roles, identity::users};
use crate::error::AppError;
use crate::graphql::connection::{Connection, ResourceEdge, RoleEdge, UserEdge};
use crate::graphql::context;
use crate::graphql::guard::RequireScope;
use crate::graphql::identity::role::{
    CreateResourceInput, CreateRoleInput, CreateScopeInput, Permission, Resource, Role, UpdateRoleInput,
    UpdateScopeInput,
};
use crate::graphql::identity::user::{CreateUserInput, UpdateUserInput, User};
use crate::graphql::values::patch;

#[derive(Default)]
pub struct IdentityQuery;

#[Object]
impl IdentityQuery {
    /// One user by id; null when there is none in the caller's tenant. Needs `identity:read`.
    #[graphql(guard = "RequireScope(Scope::IdentityRead)")]
    async fn user(&self, ctx: &Context<'_>, #[graphql(desc = "The user's id.")] id: ID) -> Result<Option<User>> {
        let state = context::state(ctx)?;
        Ok(users::get(&state.db.read, context::tenant(ctx)?, &id)
            .await?
            .map(User::from))
    }

    /// The caller's users, oldest first. Needs `identity:read`.
    #[graphql(
        guard = "RequireScope(Scope::IdentityRead)",
        complexity = "crate::graphql::budget::page(first, child_complexity)"
    )]
    async fn users(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only users whose username, email, phone or name contains this (any case).")] search: Option<
            String,
        >,
        #[graphql(desc = "Page size, 0–100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Return items after this cursor (`pageInfo.endCursor`).")] after: Option<String>,
    ) -> Result<Connection<UserEdge>> {
        let state = context::state(ctx)?;
        let page = context::page(ctx, first, after)?;
        let page = users::list(&state.db.read, context::tenant(ctx)?, search.as_deref(), &page).await?;
        Ok(Connection::from_page(page, |m| &m.id, User::from))
    }

    /// One role by id; null when there is none in the caller's tenant. Needs `identity:read`.
    #[graphql(guard = "RequireScope(Scope::IdentityRead)")]
    async fn role(&self, ctx: &Context<'_>, #[graphql(desc = "The role's id.")] id: ID) -> Result<Option<Role>> {
        let state = context::state(ctx)?;
        Ok(roles::get(&state.db.read, context::tenant(ctx)?, &id).await?.map(Role))
    }

    /// The caller's roles, oldest first. Needs `identity:read`.
    #[graphql(
        guard = "RequireScope(Scope::IdentityRead)",
        complexity = "crate::graphql::budget::page(first, child_complexity)"
    )]
    async fn roles(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0–100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Return items after this cursor (`pageInfo.endCursor`).")] after: Option<String>,
    ) -> Result<Connection<RoleEdge>> {
        let state = context::state(ctx)?;
        let page = roles::list(
            &state.db.read,
            context::tenant(ctx)?,
            &context::page(ctx, first, after)?,
        )
        .await?;
        Ok(Connection::from_page(page, |m| &m.id, Role))
    }

    /// The caller's API resources with their permissions, oldest first. Needs `identity:read`.
    #[graphql(
        guard = "RequireScope(Scope::IdentityRead)",
        complexity = "crate::graphql::budget::page(first, child_complexity)"
    )]
    async fn resources(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 0–100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Return items after this cursor (`pageInfo.endCursor`).")] after: Option<String>,
    ) -> Result<Connection<ResourceEdge>> {
        let state = context::state(ctx)?;
        let page = resources::list_resources(
            &state.db.read,
            context::tenant(ctx)?,
            &context::page(ctx, first, after)?,
        )
        .await?;
        Ok(Connection::from_page(page, |m| &m.id, Resource))
    }
}

#[derive(Default)]
pub struct IdentityMutation;

#[Object]
impl IdentityMutation {
    /// Creates a user. Emits `User.Created`. Needs `identity:write`.
    #[graphql(guard = "RequireScope(Scope::IdentityWrite)")]
    async fn create_user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new user.")] input: CreateUserInput,
    ) -> Result<User> {
        let state = context::state(ctx)?;
        let user = state.publish(users::create(&state.db, &context::caller(ctx)?, input.into()).await?);
        Ok(user.into())
    }

    /// Changes a user's identifiers and name. Emits `User.Data.Updated`. Needs `identity:write`.
    #[graphql(guard = "RequireScope(Scope::IdentityWrite)")]
    async fn update_user(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user's id.")] id: ID,
        #[graphql(desc = "The changes.")] input: UpdateUserInput,
    ) -> Result<User> {
        let state = context::state(ctx)?;
        let user = state.publish(users::update(&state.db, &context::caller(ctx)?, &id, input.into()).await?);
        Ok(user.into())
    }

    /// Replaces a user's custom data and returns it. Emits `User.Data.Updated` with the custom
    /// data as `data`. Needs `identity:write`.
    #[graphql(guard = "RequireScope(Scope::IdentityWrite)")]
    async fn update_user_custom_data(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user's id.")] id: ID,
        #[graphql(desc = "The new custom data (a JSON object).")] custom_data: Json<Value>,
    ) -> Result<Json<Value>> {
        let state = context::state(ctx)?;
        let data = state.publish(users::set_custom_data(&state.db, &context::caller(ctx)?, &id, custom_data.0).await?);
        Ok(Json(data))
    }

    /// Replaces a user's profile claims and returns them. Emits `User.Data.Updated` with the
    /// profile as `data`. Needs `identity:write`.
    #[graphql(guard = "RequireScope(Scope::IdentityWrite)")]
    async fn update_user_profile(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user's id.")] id: ID,
        #[graphql(desc = "The new profile (a JSON object).")] profile: Json<Value>,
    ) -> Result<Json<Value>> {
        let state = context::state(ctx)?;
        let data = state.publish(users::set_profile(&state.db, &context::caller(ctx)?, &id, profile.0).await?);
        Ok(Json(data))
    }

    /// Sets a user's password (8–256 characters). Emits `User.Data.Updated`. Needs
    /// `identity:write`.
    #[graphql(guard = "RequireScope(Scope::IdentityWrite)")]
    async fn update_user_password(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user's id.")] id: ID,
        #[graphql(desc = "The new password.")] password: String,
    ) -> Result<User> {
        let state = context::state(ctx)?;
        let user = state.publish(users::set_password(&state.db, &context::caller(ctx)?, &id, password).await?);
        Ok(user.into())
    }

    /// Suspends or reactivates a user. Emits `User.SuspensionStatus.Updated`. Needs
    /// `identity:write`.
    #[graphql(guard = "RequireScope(Scope::IdentityWrite)")]
    async fn set_user_suspended(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user's id.")] id: ID,
        #[graphql(desc = "Suspend (true) or reactivate (false).")] is_suspended: bool,
    ) -> Result<User> {
        let state = context::state(ctx)?;
        let user = state.publish(users::set_suspended(&state.db, &context::caller(ctx)?, &id, is_suspended).await?);
        Ok(user.into())
    }

    /// Deletes a user and returns its id. Emits `User.Deleted` with the user as it was. Needs
    /// `identity:write`.
    #[graphql(guard = "RequireScope(Scope::IdentityWrite)")]
    async fn delete_user(&self, ctx: &Context<'_>, #[graphql(desc = "The user's id.")] id: ID) -> Result<ID> {
        let state = context::state(ctx)?;
        let id = state.publish(users::delete(&state.db, &context::caller(ctx)?, &id).await?);
        Ok(ID(id))
    }

    /// Assigns roles to a user. Emits `User.Roles.Updated` with the roles the user did not have
    /// (`addedRoleIds`); nothing when there are none. Needs `identity:write`.
    #[graphql(guard = "RequireScope(Scope::IdentityWrite)")]
    async fn assign_user_roles(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user's id.")] user_id: ID,
        #[graphql(desc = "Roles to assign.")] role_ids: Vec<ID>,
    ) -> Result<User> {
        let state = context::state(ctx)?;
        if role_ids.is_empty() {
            return Err(AppError::bad_input("roleIds", "name at least one role").into());
        }
        let ids: Vec<String> = role_ids.into_iter().map(|id| id.0).collect();
        let user = state.publish(roles::assign_to_user(&state.db, &context::caller(ctx)?, &user_id, &ids).await?);
        Ok(user.into())
    }

    /// Removes a role from a user. Emits `User.Roles.Updated` with `removedRoleIds`. Needs
    /// `identity:write`.
    #[graphql(guard = "RequireScope(Scope::IdentityWrite)")]
    async fn remove_user_role(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The user's id.")] user_id: ID,
        #[graphql(desc = "The role to remove.")] role_id: ID,
    ) -> Result<User> {
        let state = context::state(ctx)?;
        let user = state.publish(roles::remove_from_user(&state.db, &context::caller(ctx)?, &user_id, &role_id).await?);
        Ok(user.into())
    }

    /// Creates a role. Emits `Role.Created` (after `Role.Scopes.Updated` when `scopeIds` are
    /// given). Needs `identity:write`.
    #[graphql(guard = "RequireScope(Scope::IdentityWrite)")]
    async fn create_role(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new role.")] input: CreateRoleInput,
    ) -> Result<Role> {
        let state = context::state(ctx)?;
        let role = state.publish(roles::create(&state.db, &context::caller(ctx)?, input.into()).await?);
        Ok(Role(role))
    }

    /// Changes a role. Emits `Role.Data.Updated`. Needs `identity:write`.
    #[graphql(guard = "RequireScope(Scope::IdentityWrite)")]
    async fn update_role(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The role's id.")] id: ID,
        #[graphql(desc = "The changes.")] input: UpdateRoleInput,
    ) -> Result<Role> {
        let state = context::state(ctx)?;
        let role = state.publish(roles::update(&state.db, &context::caller(ctx)?, &id, input.into()).await?);
        Ok(Role(role))
    }

    /// Deletes a role (and its assignments). Emits `Role.Deleted`. Needs `identity:write`.
    #[graphql(guard = "RequireScope(Scope::IdentityWrite)")]
    async fn delete_role(&self, ctx: &Context<'_>, #[graphql(desc = "The role's id.")] id: ID) -> Result<ID> {
        let state = context::state(ctx)?;
        let id = state.publish(roles::delete(&state.db, &context::caller(ctx)?, &id).await?);
        Ok(ID(id))
    }

    /// Grants permissions to a role and returns all of its permissions. Emits
    /// `Role.Scopes.Updated` with them as `data`. Needs `identity:write`.
    #[graphql(guard = "RequireScope(Scope::IdentityWrite)")]
    async fn add_role_scopes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The role's id.")] id: ID,
        #[graphql(desc = "Permissions to grant.")] scope_ids: Vec<ID>,
    ) -> Result<Vec<Permission>> {
        let state = context::state(ctx)?;
        let ids: Vec<String> = scope_ids.into_iter().map(|id| id.0).collect();
        let scopes = state.publish(roles::add_scopes(&state.db, &context::caller(ctx)?, &id, &ids).await?);
        Ok(scopes.into_iter().map(Permission).collect())
    }

    /// Takes a permission from a role and returns the permissions left. Emits
    /// `Role.Scopes.Updated`. Needs `identity:write`.
    #[graphql(guard = "RequireScope(Scope::IdentityWrite)")]
    async fn remove_role_scope(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The role's id.")] id: ID,
        #[graphql(desc = "The permission to take away.")] scope_id: ID,
    ) -> Result<Vec<Permission>> {
        let state = context::state(ctx)?;
        let scopes = state.publish(roles::remove_scope(&state.db, &context::caller(ctx)?, &id, &scope_id).await?);
        Ok(scopes.into_iter().map(Permission).collect())
    }

    /// Creates an API resource (no event, as in Logto). Needs `identity:write`.
    #[graphql(guard = "RequireScope(Scope::IdentityWrite)")]
    async fn create_resource(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new resource.")] input: CreateResourceInput,
    ) -> Result<Resource> {
        let state = context::state(ctx)?;
        let resource =
            resources::create_resource(&state.db, &context::caller(ctx)?, input.name, input.indicator).await?;
        Ok(Resource(resource))
    }

    /// Creates a permission of an API resource. Emits `Scope.Created`. Needs `identity:write`.
    #[graphql(guard = "RequireScope(Scope::IdentityWrite)")]
    async fn create_scope(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The API resource.")] resource_id: ID,
        #[graphql(desc = "The new permission.")] input: CreateScopeInput,
    ) -> Result<Permission> {
        let state = context::state(ctx)?;
        let scope = state.publish(
            resources::create_scope(
                &state.db,
                &context::caller(ctx)?,
                &resource_id,
                input.name,
                input.description,
            )
            .await?,
        );
        Ok(Permission(scope))
    }

    /// Changes a permission. Emits `Scope.Data.Updated`. Needs `identity:write`.
    #[graphql(guard = "RequireScope(Scope::IdentityWrite)")]
    async fn update_scope(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The permission's id.")] id: ID,
        #[graphql(desc = "The changes.")] input: UpdateScopeInput,
    ) -> Result<Permission> {
        let state = context::state(ctx)?;
        let description = patch(input.description);
        let scope = state
            .publish(resources::update_scope(&state.db, &context::caller(ctx)?, &id, input.name, description).await?);
        Ok(Permission(scope))
    }

    /// Deletes a permission (and its grants). Emits `Scope.Deleted`. Needs `identity:write`.
    #[graphql(guard = "RequireScope(Scope::IdentityWrite)")]
    async fn delete_scope(&self, ctx: &Context<'_>, #[graphql(desc = "The permission's id.")] id: ID) -> Result<ID> {
        let state = context::state(ctx)?;
        let id = state.publish(resources::delete_scope(&state.db, &context::caller(ctx)?, &id).await?);
        Ok(ID(id))
    }
}
