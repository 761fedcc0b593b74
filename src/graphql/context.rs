//! Typed access to what the HTTP layer puts into each request.

use async_graphql::Context;

use crate::auth::Claims;
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
