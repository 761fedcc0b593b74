//! Root fields of the identity data (users, …). Each mutation commits its change with its
//! event in one transaction and publishes the event after the commit.

use async_graphql::{Context, ID, Json, Object, Result};
use serde_json::Value;

use crate::auth::Scope;
use crate::domain::page::PageRequest;
use crate::domain::payload::RequestMeta;
use crate::domain::users;
use crate::graphql::context;
use crate::graphql::guard::RequireScope;
use crate::graphql::types::connection::{Connection, UserEdge};
use crate::graphql::types::user::{CreateUserInput, UpdateUserInput, User};

fn meta<'a>(ctx: &Context<'a>) -> RequestMeta {
    ctx.data_opt::<RequestMeta>().cloned().unwrap_or_default()
}

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
    #[graphql(guard = "RequireScope(Scope::IdentityRead)")]
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
        let page = PageRequest::new(first, after)?;
        let page = users::list(&state.db.read, context::tenant(ctx)?, search.as_deref(), &page).await?;
        Ok(Connection::from_page(page, |m| &m.id, User::from))
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
        let (user, emitted) = users::create(&state.db, context::tenant(ctx)?, &meta(ctx), input.into()).await?;
        state.published(vec![emitted]);
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
        let (user, emitted) = users::update(&state.db, context::tenant(ctx)?, &meta(ctx), &id, input.into()).await?;
        state.published(vec![emitted]);
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
        let (data, emitted) =
            users::set_custom_data(&state.db, context::tenant(ctx)?, &meta(ctx), &id, custom_data.0).await?;
        state.published(vec![emitted]);
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
        let (data, emitted) = users::set_profile(&state.db, context::tenant(ctx)?, &meta(ctx), &id, profile.0).await?;
        state.published(vec![emitted]);
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
        let (user, emitted) = users::set_password(&state.db, context::tenant(ctx)?, &meta(ctx), &id, password).await?;
        state.published(vec![emitted]);
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
        let (user, emitted) =
            users::set_suspended(&state.db, context::tenant(ctx)?, &meta(ctx), &id, is_suspended).await?;
        state.published(vec![emitted]);
        Ok(user.into())
    }

    /// Deletes a user and returns its id. Emits `User.Deleted` with the user as it was. Needs
    /// `identity:write`.
    #[graphql(guard = "RequireScope(Scope::IdentityWrite)")]
    async fn delete_user(&self, ctx: &Context<'_>, #[graphql(desc = "The user's id.")] id: ID) -> Result<ID> {
        let state = context::state(ctx)?;
        let (id, emitted) = users::delete(&state.db, context::tenant(ctx)?, &meta(ctx), &id).await?;
        state.published(vec![emitted]);
        Ok(ID(id))
    }
}
