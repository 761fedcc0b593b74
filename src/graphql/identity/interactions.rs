//! What a sign-in front end calls (`interactions:write`): register, sign in, reset a password.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};

use crate::auth::Scope;
use crate::domain::identity::interactions::{self, SignIn};
use crate::graphql::context;
use crate::graphql::guard::RequireScope;

/// A new account from a sign-up form.
#[derive(InputObject, Clone, Debug)]
pub struct RegisterInput {
    /// Username (at least one of username and email).
    pub username: Option<String>,
    /// Email (at least one of username and email).
    pub email: Option<String>,
    /// 8 to 256 characters.
    pub password: String,
    /// The application the user signs up through.
    pub application_id: Option<ID>,
}

/// A sign-in attempt.
#[derive(InputObject, Clone, Debug)]
pub struct SignInInput {
    /// Username or email.
    pub identifier: String,
    /// The password.
    pub password: String,
    /// The application the user signs in through.
    pub application_id: Option<ID>,
}

/// A forgotten-password reset (the front end has verified the user by its own means).
#[derive(InputObject, Clone, Debug)]
pub struct ResetPasswordInput {
    /// Username or email.
    pub identifier: String,
    /// 8 to 256 characters.
    pub new_password: String,
    /// The application the user resets through.
    pub application_id: Option<ID>,
}

/// A finished interaction.
#[derive(SimpleObject, Clone, Debug)]
pub struct InteractionResult {
    /// The user.
    pub user_id: ID,
    /// A new session id, also in the events' `sessionId`.
    pub session_id: ID,
}

impl From<interactions::InteractionResult> for InteractionResult {
    fn from(r: interactions::InteractionResult) -> Self {
        InteractionResult {
            user_id: ID(r.user_id),
            session_id: ID(r.session_id),
        }
    }
}

#[derive(Default)]
pub struct InteractionMutation;

#[Object]
impl InteractionMutation {
    /// Registers a user with a password. Emits `User.Created` then `PostRegister`. Needs
    /// `interactions:write`.
    #[graphql(guard = "RequireScope(Scope::InteractionsWrite)")]
    async fn register(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new account.")] input: RegisterInput,
    ) -> Result<InteractionResult> {
        let state = context::state(ctx)?;
        let app = input.application_id.map(|id| id.0);
        let result = state.publish(
            interactions::register(
                &state.db,
                &context::caller(ctx)?,
                input.username,
                input.email,
                input.password,
                app,
            )
            .await?,
        );
        Ok(result.into())
    }

    /// Signs in with a password. Emits `PostSignIn`. A wrong password or unknown identifier is
    /// `UNAUTHENTICATED` (the same either way); the fifth failure within the lockout window
    /// emits `Identifier.Lockout`, and while locked every attempt emits it again and gets
    /// `IDENTIFIER_LOCKED`. A suspended user gets `FORBIDDEN`. Needs `interactions:write`.
    #[graphql(guard = "RequireScope(Scope::InteractionsWrite)")]
    async fn sign_in(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The attempt.")] input: SignInInput,
    ) -> Result<InteractionResult> {
        let state = context::state(ctx)?;
        let window = state.config.lockout_window;
        let app = input.application_id.map(|id| id.0);
        let outcome = state.publish(
            interactions::sign_in(
                &state.db,
                &context::caller(ctx)?,
                window,
                input.identifier,
                input.password,
                app,
            )
            .await?,
        );
        match outcome {
            SignIn::Ok(result) => Ok(result.into()),
            SignIn::Failed(error) => Err(error.into()),
        }
    }

    /// Sets a new password for a forgotten one. Emits `User.Data.Updated` then
    /// `PostResetPassword`. Needs `interactions:write`.
    #[graphql(guard = "RequireScope(Scope::InteractionsWrite)")]
    async fn reset_password(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The reset.")] input: ResetPasswordInput,
    ) -> Result<InteractionResult> {
        let state = context::state(ctx)?;
        let app = input.application_id.map(|id| id.0);
        let result = state.publish(
            interactions::reset_password(
                &state.db,
                &context::caller(ctx)?,
                input.identifier,
                input.new_password,
                app,
            )
            .await?,
        );
        Ok(result.into())
    }
}
