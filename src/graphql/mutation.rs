use async_graphql::{Context, ID, MergedObject, Object, Result};

use crate::auth::Scope;
use crate::domain::hooks;
use crate::graphql::context;
use crate::graphql::guard::RequireScope;
use crate::graphql::types::hook::{CreateHookInput, Hook, UpdateHookInput};

/// Changes to hooks, events and identity data of the caller's tenant.
#[derive(MergedObject, Default)]
pub struct Mutation(HookMutation);

#[derive(Default)]
pub struct HookMutation;

#[Object]
impl HookMutation {
    /// Creates a hook with a fresh signing key. Needs `hooks:write`.
    #[graphql(guard = "RequireScope(Scope::HooksWrite)")]
    async fn create_hook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The new hook.")] input: CreateHookInput,
    ) -> Result<Hook> {
        let state = context::state(ctx)?;
        let tenant = context::tenant(ctx)?;
        Ok(
            hooks::create(&state.db, tenant, input.into(), &state.hook_rules)
                .await?
                .into(),
        )
    }

    /// Changes a hook; omitted fields stay as they are. Needs `hooks:write`.
    #[graphql(guard = "RequireScope(Scope::HooksWrite)")]
    async fn update_hook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The hook's id.")] id: ID,
        #[graphql(desc = "The changes.")] input: UpdateHookInput,
    ) -> Result<Hook> {
        let state = context::state(ctx)?;
        let tenant = context::tenant(ctx)?;
        Ok(
            hooks::update(&state.db, tenant, &id, input.into(), &state.hook_rules)
                .await?
                .into(),
        )
    }

    /// Deletes a hook and returns its id. Needs `hooks:write`.
    #[graphql(guard = "RequireScope(Scope::HooksWrite)")]
    async fn delete_hook(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The hook's id.")] id: ID,
    ) -> Result<ID> {
        let state = context::state(ctx)?;
        let tenant = context::tenant(ctx)?;
        Ok(ID(hooks::delete(&state.db, tenant, &id).await?))
    }

    /// Gives the hook a new signing key at once. The old key keeps signing the Standard
    /// Webhooks header for the grace period, so receivers can switch without losing
    /// deliveries; at most 10 old keys are kept. Needs `hooks:write`.
    #[graphql(guard = "RequireScope(Scope::HooksWrite)")]
    async fn rotate_hook_signing_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The hook's id.")] id: ID,
        #[graphql(
            desc = "Seconds the old key keeps signing, 0–2592000 (default one day).",
            default = 86400
        )]
        grace_period_seconds: i32,
    ) -> Result<Hook> {
        let state = context::state(ctx)?;
        let tenant = context::tenant(ctx)?;
        Ok(
            hooks::rotate_signing_key(&state.db, tenant, &id, grace_period_seconds.into())
                .await?
                .into(),
        )
    }
}
