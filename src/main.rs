//! The `hookd` command: parse settings, set up logging, run a subcommand.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use hookd::auth::{Auth, DEFAULT_TENANT, Scope};
use hookd::config::{Config, JwtKeyConfig, RawSettings};
use hookd::seal::{self, MasterKeys};

/// Webhook service for identity events: GraphQL API, durable signed delivery, live delivery state.
#[derive(Parser)]
#[command(name = "hookd", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Settings of `hookd` without a subcommand, which serves.
    #[command(flatten)]
    settings: RawSettings,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate the database and serve the API (the default)
    Serve(Settings),
    /// Apply pending migrations and exit
    Migrate(Settings),
    /// Print a signed JWT for the configured HS256 secret
    Token(TokenArgs),
    /// Print the GraphQL SDL (the committed schema.graphql)
    Schema,
    /// Re-seal every hook's signing keys under a new master key, in one transaction (stop
    /// every hookd process on the database first)
    RotateMasterKey(RotateArgs),
}

#[derive(Args)]
struct Settings {
    #[command(flatten)]
    settings: RawSettings,
}

#[derive(Args)]
struct RotateArgs {
    /// The new master key (base64 of 32 bytes), required when the current one is given in
    /// HOOKD_SECRET_KEY; without HOOKD_SECRET_KEY a new key file is generated in the data dir
    #[arg(long, env = "HOOKD_NEW_SECRET_KEY", hide_env_values = true)]
    new_key: Option<String>,
    #[command(flatten)]
    settings: RawSettings,
}

#[derive(Args)]
struct TokenArgs {
    /// Space-separated scopes, e.g. "hooks:read hooks:write" or "admin"
    #[arg(long)]
    scope: String,
    /// Tenant the token acts for
    #[arg(long, default_value = DEFAULT_TENANT)]
    tenant: String,
    /// Lifetime, e.g. 1h, 30m, 7d
    #[arg(long, default_value = "1h")]
    ttl: String,
    /// Subject (`sub` claim)
    #[arg(long, default_value = "hookd-cli")]
    sub: String,
    #[command(flatten)]
    settings: RawSettings,
}

/// The settings each subcommand uses, by id; its `--help` shows only these (it still reads the
/// others, so one configuration serves every subcommand).
const USED: [(&str, &[&str]); 3] = [
    ("migrate", STORE),
    ("rotate-master-key", STORE),
    ("token", &["config", "data_dir", "jwt_secret"]),
];

/// What the subcommands that open the database use.
const STORE: &[&str] = &[
    "config",
    "database_url",
    "data_dir",
    "secret_key",
    "sqlite_synchronous",
    "log_format",
];

/// The command line, with each subcommand's help limited to the settings it uses.
fn parse() -> Cli {
    let mut command = Cli::command();
    let ids: Vec<String> = RawSettings::augment_args(clap::Command::new("settings"))
        .get_arguments()
        .map(|arg| arg.get_id().to_string())
        .collect();
    for (name, used) in USED {
        command = command.mut_subcommand(name, |mut sub| {
            for id in ids.iter().filter(|id| !used.contains(&id.as_str())) {
                sub = sub.mut_arg(id, |arg| arg.hide(true));
            }
            sub
        });
    }
    let matches = command.get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// What to run, once the settings are taken out of the command line.
enum Run {
    Serve,
    Migrate,
    Token(Mint),
    RotateMasterKey(Option<String>),
}

/// What `hookd token` mints.
struct Mint {
    scope: String,
    tenant: String,
    ttl: String,
    sub: String,
}

fn main() -> ExitCode {
    let cli = parse();
    let (run, raw) = match cli.command {
        None => (Run::Serve, cli.settings),
        Some(Command::Schema) => {
            print!("{}", hookd::graphql::sdl());
            return ExitCode::SUCCESS;
        }
        Some(Command::Serve(s)) => (Run::Serve, s.settings),
        Some(Command::Migrate(s)) => (Run::Migrate, s.settings),
        Some(Command::Token(TokenArgs {
            scope,
            tenant,
            ttl,
            sub,
            settings,
        })) => (
            Run::Token(Mint {
                scope,
                tenant,
                ttl,
                sub,
            }),
            settings,
        ),
        Some(Command::RotateMasterKey(args)) => (Run::RotateMasterKey(args.new_key), args.settings),
    };
    let config = match Config::from_raw(raw) {
        Ok(config) => config,
        Err(e) => return fail(e),
    };
    let telemetry = match hookd::telemetry::init(config.log_format, config.otlp.as_ref()) {
        Ok(telemetry) => telemetry,
        Err(e) => return fail(e),
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    let result = runtime.block_on(async move {
        match run {
            Run::Serve => serve(config).await,
            Run::Migrate => migrate(config).await,
            Run::Token(mint) => token(config, mint),
            Run::RotateMasterKey(new_key) => rotate_master_key(config, new_key).await,
        }
    });
    drop(runtime);
    telemetry.shutdown();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(format!("{e:#}")),
    }
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("hookd: {message}");
    ExitCode::FAILURE
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let listen = config.listen;
    let app = hookd::start(config).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("invalid HOOKD_LISTEN (--listen): cannot listen on {listen}: {e}"))?;
    let base = format!("http://{}", listener.local_addr()?);
    println!("hookd {} listening on {base}", env!("CARGO_PKG_VERSION"));
    println!("  GraphQL:  {base}/graphql");
    println!("  GraphiQL: {base}/graphiql");
    println!("  Dashboard: {base}/");
    let shutdown = CancellationToken::new();
    let mut metrics = None;
    let metrics_url = match app.state().config.metrics_listen {
        Some(address) => {
            let listener = tokio::net::TcpListener::bind(address).await.map_err(|e| {
                anyhow::anyhow!("invalid HOOKD_METRICS_LISTEN (--metrics-listen): cannot listen on {address}: {e}")
            })?;
            let url = format!("http://{}/metrics", listener.local_addr()?);
            metrics = Some(tokio::spawn(hookd::http::serve_metrics(
                app.state().clone(),
                listener,
                shutdown.clone(),
            )));
            url
        }
        None => format!("{base}/metrics"),
    };
    println!("  Metrics: {metrics_url}");
    // The admin token goes to the terminal once, on the very first start (when the secret is
    // created), and never into the logs; later starts say how to mint one.
    let auth: &Auth = &app.state().auth;
    if auth.can_mint() && auth.created_secret() {
        let token = auth.mint(
            &[Scope::Admin],
            DEFAULT_TENANT,
            Duration::from_secs(86_400),
            "hookd-admin",
        )?;
        println!("  Admin token (tenant \"{DEFAULT_TENANT}\", valid 24 h; shown on this first start only):");
        println!("{token}");
    } else if auth.can_mint() {
        println!("  Admin token: run `hookd token --scope admin` (one is shown on the first start only)");
    }
    tracing::info!(address = %base, metrics = %metrics_url, "ready");
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    app.serve(listener, shutdown).await?;
    if let Some(metrics) = metrics {
        metrics.await??;
    }
    tracing::info!("stopped");
    Ok(())
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    let db = hookd::open_database(&config).await?;
    // Signing keys stored in plaintext by an older version are sealed as part of migrating.
    let keys = MasterKeys::load(config.secret_key.as_deref(), &config.data_dir)?;
    let sealed = seal::seal_stored(&db, &keys).await?;
    println!("migrations applied");
    if sealed > 0 {
        println!("{sealed} hooks' signing keys sealed");
    }
    Ok(())
}

async fn rotate_master_key(config: Config, new_key: Option<String>) -> anyhow::Result<()> {
    let db = hookd::open_database(&config).await?;
    let (id, resealed) = seal::rotate(&db, config.secret_key.as_deref(), new_key.as_deref(), &config.data_dir).await?;
    println!("{resealed} hooks' keys re-sealed under master key {id}");
    if config.secret_key.is_some() {
        println!("now set HOOKD_SECRET_KEY to the new key (the old one no longer opens anything)");
    }
    Ok(())
}

fn token(config: Config, args: Mint) -> anyhow::Result<()> {
    let scopes = args
        .scope
        .split_ascii_whitespace()
        .map(|s| Scope::parse(s).ok_or_else(|| anyhow::anyhow!("unknown scope {s:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    anyhow::ensure!(!scopes.is_empty(), "--scope must name at least one scope");
    let ttl = hookd::config::parse_duration("--ttl", &args.ttl).map_err(|e| anyhow::anyhow!("--ttl: {}", e.message))?;
    anyhow::ensure!(
        !ttl.is_zero(),
        "--ttl must be more than 0: a token with no lifetime is expired at once"
    );
    // A generated secret belongs to the server that generated it: generating one here would
    // print a token that server rejects.
    if matches!(config.jwt, JwtKeyConfig::Hs256(None)) {
        let path = hookd::auth::secret_path(&config.data_dir);
        anyhow::ensure!(
            path.exists(),
            "no JWT secret at {}: `hookd token` signs with the secret `hookd serve` generated in its data \
             directory; run it with the server's --data-dir (or HOOKD_DATA_DIR), or start hookd there first",
            path.display()
        );
    }
    let auth = Auth::from_config(&config)?;
    println!("{}", auth.mint(&scopes, &args.tenant, ttl, &args.sub)?);
    Ok(())
}

/// Cancels `shutdown` on ctrl-c or SIGTERM.
async fn cancel_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down");
    shutdown.cancel();
}
