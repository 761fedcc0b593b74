//! hookd: a webhook service for identity events.
//!
//! The server is a library function: [`start`] connects and migrates, [`App::serve`] serves on
//! a listener until a cancellation token fires. `main.rs` and the integration tests call the
//! same two functions. See `ARCHITECTURE.md` for the map.

pub mod auth;
pub mod bus;
pub mod config;
pub mod db;
pub mod delivery;
pub mod domain;
pub mod error;
pub mod graphql;
pub mod group_commit;
pub mod http;
pub mod metrics;
pub mod publish;
pub mod relay;
pub mod seal;
pub mod ssrf;
pub mod state;
pub mod telemetry;
pub mod wake;

use std::sync::Arc;

use sea_orm::DbBackend;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::auth::Auth;
use crate::bus::{Bus, Outgoing, Signal};
use crate::config::Config;
use crate::db::Db;
use crate::delivery::handoff::{Handed, Handoff};
use crate::delivery::sender::Sender;
use crate::domain::webhooks::hooks::HookRules;
use crate::domain::webhooks::lifecycle;
use crate::group_commit::GroupCommit;
use crate::publish::Publisher;
use crate::seal::MasterKeys;
use crate::ssrf::TargetPolicy;
use crate::state::AppState;
use crate::wake::Wake;

/// A started (connected, migrated) but not yet serving hookd.
pub struct App {
    state: AppState,
    /// Deliveries born leased to this process, for the dispatcher `serve` starts.
    handed: mpsc::Receiver<Handed>,
    /// On PostgreSQL: what the bus queued for the other instances, for the relay `serve` starts.
    relay: Option<(Outgoing, mpsc::Receiver<Signal>)>,
}

/// Creates the data dir (mode 0700) if missing, connects to the configured database and applies
/// pending migrations; a failure names the setting.
pub async fn open_database(config: &Config) -> anyhow::Result<Db> {
    let mut data_dir = std::fs::DirBuilder::new();
    data_dir.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut data_dir, 0o700);
    data_dir.create(&config.data_dir).map_err(|e| {
        anyhow::anyhow!(
            "HOOKD_DATA_DIR (--data-dir): cannot create {}: {e}",
            config.data_dir.display()
        )
    })?;
    let db = Db::connect(&config.database_url, config.sqlite_synchronous)
        .await
        .map_err(|e| anyhow::anyhow!("HOOKD_DATABASE_URL (--database-url): {e:#}"))?;
    db.migrate()
        .await
        .map_err(|e| anyhow::anyhow!("HOOKD_DATABASE_URL (--database-url): cannot migrate the database: {e}"))?;
    Ok(db)
}

/// Connects to the database, applies migrations and loads the keys.
pub async fn start(config: Config) -> anyhow::Result<App> {
    // The database first: a start that fails on it creates no JWT secret, so the first start
    // that succeeds is the one that creates it and prints the admin token.
    let db = open_database(&config).await?;
    let auth = Auth::from_config(&config)?;
    let keys = Arc::new(MasterKeys::load(config.secret_key.as_deref(), &config.data_dir)?);
    let resealed = seal::seal_stored(&db, &keys)
        .await
        .map_err(|e| anyhow::anyhow!("hooks' signing keys: {e:#}"))?;
    if resealed > 0 {
        tracing::info!(
            resealed,
            "sealed hooks' signing keys stored before this version or under another master key"
        );
    }
    let targets = Arc::new(TargetPolicy::new(config.allowed_targets.clone()));
    let sender = Sender::new(targets.clone(), config.delivery_timeout)?;
    let hook_rules = HookRules {
        max_hooks_per_tenant: config.max_hooks_per_tenant,
        targets,
        keys: keys.clone(),
    };
    metrics::install();
    // On PostgreSQL the bus and the wake-ups reach the other instances on the database too.
    let relay = (db.backend() == DbBackend::Postgres).then(Outgoing::channel);
    let (bus, wake) = match &relay {
        Some((outgoing, _)) => (Bus::relaying(outgoing.clone()), Wake::relaying(outgoing.clone())),
        None => (Bus::default(), Wake::default()),
    };
    let (handoff, handed) = Handoff::channel(config.max_in_flight);
    let publisher = Publisher {
        bus: bus.clone(),
        wake: wake.clone(),
    };
    let emits = GroupCommit::start(db.clone(), publisher, handoff, config.lease(), keys);
    Ok(App {
        handed,
        relay,
        state: AppState {
            emits,
            db,
            auth: Arc::new(auth),
            config: Arc::new(config),
            hook_rules: Arc::new(hook_rules),
            wake,
            sender: Arc::new(sender),
            bus,
            test_sends: Arc::default(),
        },
    })
}

impl App {
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves HTTP and runs the dispatcher until `shutdown` is cancelled; then stops taking
    /// requests and work, finishes attempts in flight (up to the delivery timeout), stores
    /// their outcomes, and returns.
    pub async fn serve(self, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
        // Deliveries left SENDING by a previous process are due once their lease runs out;
        // anything PENDING is due now. Either way the dispatcher's first claim finds them. On
        // SQLite this is the only process, so no lease belongs to anyone alive: they are all
        // due now.
        let state = &self.state;
        if state.db.backend() == DbBackend::Sqlite {
            let released = lifecycle::release_all(&state.db).await?;
            if released > 0 {
                tracing::info!(released, "deliveries a previous run left in flight are due now");
            }
        }
        // The relay's sending half outlives the dispatcher, so that its last outcomes reach
        // the other instances too.
        let relay_stop = CancellationToken::new();
        let relay = self.relay.map(|(outgoing, queue)| {
            let me = domain::new_id();
            let listen = relay::listen::Listen::new(
                state.config.database_url.clone(),
                &me,
                state.db.clone(),
                state.bus.clone(),
                state.wake.clone(),
            );
            tokio::spawn(listen.run(shutdown.clone()));
            tokio::spawn(relay::notify::run(
                state.db.clone(),
                me,
                outgoing,
                queue,
                relay_stop.clone(),
            ))
        });
        let dispatcher = tokio::spawn(delivery::run(
            delivery::Handles {
                db: state.db.clone(),
                bus: state.bus.clone(),
                wake: state.wake.clone(),
                sender: state.sender.clone(),
                config: state.config.clone(),
                keys: state.hook_rules.keys.clone(),
                handed: self.handed,
            },
            shutdown.clone(),
        ));
        let served = http::serve(self.state, listener, shutdown.clone()).await;
        // If serving failed, stop the dispatcher too.
        shutdown.cancel();
        if let Err(e) = dispatcher.await {
            tracing::error!(error = %e, "dispatcher task failed");
        }
        relay_stop.cancel();
        if let Some(notify) = relay
            && let Err(e) = notify.await
        {
            tracing::error!(error = %e, "relay task failed");
        }
        served?;
        Ok(())
    }
}

/// [`start`] then [`App::serve`].
pub async fn serve(config: Config, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    start(config).await?.serve(listener, shutdown).await
}
