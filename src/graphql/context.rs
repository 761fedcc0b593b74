//! Typed access to what the HTTP layer puts into each request.

use async_graphql::Context;

use crate::auth::Claims;
use crate::domain::caller::{Caller, RequestMeta};
use crate::domain::page::PageRequest;
use crate::error::AppError;
use crate::state::AppState;

pub fn state<'a>(ctx: &Context<'a>) -> Result<&'a AppState, AppError> {
    ctx.data::<AppState>()
        .map_err(|_| AppError::Internal(anyhow::anyhow!("AppState missing from schema data")))
}

pub fn claims<'a>(ctx: &Context<'a>) -> Result<&'a Claims, AppError> {
    ctx.data::<Claims>()
        .map_err(|_| AppError::Unauthenticated("missing bearer token".to_owned()))
}

/// The tenant every query of this request is scoped to.
pub fn tenant<'a>(ctx: &Context<'a>) -> Result<&'a str, AppError> {
    claims(ctx).map(|c| c.tenant.as_str())
}

/// The caller's user agent and address, for event payloads (empty over WebSocket).
pub fn request_meta(ctx: &Context<'_>) -> RequestMeta {
    ctx.data_opt::<RequestMeta>().cloned().unwrap_or_default()
}

/// The tenant and request meta of this operation, for domain writes.
pub fn caller(ctx: &Context<'_>) -> Result<Caller, AppError> {
    Ok(Caller::new(tenant(ctx)?, request_meta(ctx)))
}

/// The page a list field asks for, counted only when its selection includes `totalCount`.
pub fn page(ctx: &Context<'_>, first: Option<i32>, after: Option<String>) -> Result<PageRequest, AppError> {
    Ok(PageRequest::new(first, after)?.counted(ctx.look_ahead().field("totalCount").exists()))
}
