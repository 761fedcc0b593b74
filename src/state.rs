//! The state every request handler and resolver shares: cheap handles, cloned freely.

use std::sync::Arc;

use crate::auth::Auth;
use crate::config::Config;
use crate::db::Db;
use crate::domain::hooks::HookRules;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub auth: Arc<Auth>,
    pub config: Arc<Config>,
    pub hook_rules: Arc<HookRules>,
}
