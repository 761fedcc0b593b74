//! How errors reach GraphQL clients: every `AppError` becomes an error with `extensions.code`
//! (and `extensions.field` for bad input), infrastructure errors are logged here with their
//! detail and shown only as "internal error", and errors async-graphql raises itself get a code
//! too. The conversion lives on this side so `error.rs`, and the domain with it, stays free of
//! GraphQL.

use async_graphql::ErrorExtensions;

use crate::error::AppError;

impl From<AppError> for async_graphql::Error {
    fn from(e: AppError) -> Self {
        match &e {
            AppError::Db(err) => tracing::error!(error = %err, "database error"),
            AppError::Internal(err) => {
                tracing::error!(error = format!("{err:#}"), "internal error")
            }
            _ => {}
        }
        let code = e.code();
        async_graphql::Error::new(e.client_message()).extend_with(|_, ext| {
            ext.set("code", code);
            if let AppError::BadInput { field, .. } = &e {
                ext.set("field", field.as_str());
            }
        })
    }
}

impl AppError {
    /// As a request-level error (outside any field).
    pub fn into_server_error(self) -> async_graphql::ServerError {
        async_graphql::Error::from(self).into_server_error(async_graphql::Pos::default())
    }
}

/// Gives every error a code. Errors from our resolvers carry one already; errors async-graphql
/// raises itself (syntax, unknown fields, bad argument types, depth and complexity limits) do
/// not, and clients must be able to branch on `extensions.code` for every error.
pub fn ensure_error_codes(response: &mut async_graphql::Response) {
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            let code = match error.message.as_str() {
                "Query is nested too deep." | "Query is too complex." => "LIMIT_EXCEEDED",
                _ => "BAD_USER_INPUT",
            };
            extensions.set("code", code);
        }
    }
}
