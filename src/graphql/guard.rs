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

/// Fields below an object that lead to another scope's types, with the scope each needs.
pub type NestedScopes = &'static [(&'static [&'static str], Scope)];

/// Checks, before a mutation runs, that the caller may read every field it selected from the
/// mutation's result (`nested`, the result type's cross-scope fields). The field guards would
/// refuse those fields anyway, but only after the mutation committed: this refuses the whole
/// mutation first, so a forbidden selection changes nothing.
pub fn selection_allowed(ctx: &Context<'_>, nested: NestedScopes) -> Result<(), AppError> {
    let claims = context::claims(ctx)?;
    for (path, scope) in nested {
        let selected = path
            .iter()
            .fold(ctx.look_ahead(), |ahead, field| ahead.field(field))
            .exists();
        if selected && !claims.allows(*scope) {
            return Err(AppError::Forbidden(format!(
                "selecting {} needs the {} scope",
                path.join("."),
                scope.as_str()
            )));
        }
    }
    Ok(())
}
