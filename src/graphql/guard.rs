//! Scope checks, attached to fields as `#[graphql(guard = "RequireScope(Scope::…)")]`.

use async_graphql::{Context, Guard, Result};

use crate::auth::Scope;
use crate::error::AppError;
use crate::graphql::context;

pub struct RequireScope(pub Scope);

impl Guard for RequireScope {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        let claims = context::claims(ctx)?;
        if claims.allows(self.0) {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!("this needs the {} scope", self.0.as_str())).into())
        }
    }
}
