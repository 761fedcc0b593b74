//! `viewer`: who the token says the caller is, so a client (the dashboard) can show what the
//! token may see and say what it may not, instead of asking and failing.

use async_graphql::{Context, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use crate::auth::Scope;
use crate::graphql::context;

#[derive(Default)]
pub struct ViewerQuery;

/// The caller as the token describes it.
#[derive(SimpleObject, Clone, Debug)]
pub struct Viewer {
    /// The token's `sub`, if it has one.
    pub subject: Option<String>,
    /// The tenant every request of this token reads and writes (from the claim the server's
    /// `HOOKD_TENANT_CLAIM` names).
    pub tenant: String,
    /// Every scope the token allows, `admin` expanded into the others.
    pub scopes: Vec<String>,
    /// When the token expires.
    pub expires_at: DateTime<Utc>,
}

#[Object]
impl ViewerQuery {
    /// The caller: tenant and scopes of the token. Needs only a valid token.
    async fn viewer(&self, ctx: &Context<'_>) -> Result<Viewer> {
        let claims = context::claims(ctx)?;
        Ok(Viewer {
            subject: claims.subject.clone(),
            tenant: claims.tenant.clone(),
            scopes: Scope::ALL
                .into_iter()
                .filter(|s| claims.allows(*s))
                .map(|s| s.as_str().to_owned())
                .collect(),
            expires_at: DateTime::from_timestamp(claims.expires_at, 0).unwrap_or_default(),
        })
    }
}
