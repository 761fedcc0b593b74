//! The `hookd` command: parse settings, set up logging, run a subcommand.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use hookd::auth::{Auth, DEFAULT_TENANT, Scope};
use hookd::config::{Config, LogFormat, RawSettings};
use hookd::seal::{self, MasterKeys};

/// Webhook service for identity events: GraphQL API, durable signed delivery, live delivery state.
#[derive(Parser)]
#[command(name = "hookd", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    settings: RawSettings,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate the database and serve the API (the default)
    Serve,
    /// Apply pending migrations and exit
    Migrate,
    /// Print a signed JWT for the configured HS256 secret
    Token(TokenArgs),
    /// Print the GraphQL SDL (the committed schema.graphql)
    Schema,
    /// Re-seal every hook's signing keys under a new master key, in one transaction (stop
    /// every hookd process on the database first)
    RotateMasterKey(RotateArgs),
}

#[derive(Args)]
struct RotateArgs {
    /// The new master key (base64 of 32 bytes), required when the current one is given in
    /// HOOKD_SECRET_KEY; without HOOKD_SECRET_KEY a new key file is generated in the data dir
    #[arg(long, env = "HOOKD_NEW_SECRET_KEY", hide_env_values = true)]
    new_key: Option<String>,
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Schema = command {
        print!("{}", hookd::graphql::sdl());
        return ExitCode::SUCCESS;
    }
    let config = match Config::from_raw(cli.settings) {
        Ok(config) => config,
        Err(e) => return fail(e),
    };
    init_tracing(config.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    let result = runtime.block_on(async move {
        match command {
            Command::Serve => serve(config).await,
            Command::Migrate => migrate(config).await,
            Command::Token(args) => token(config, args),
            Command::RotateMasterKey(args) => rotate_master_key(config, args).await,
            Command::Schema => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(format!("{e:#}")),
    }
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("hookd: {message}");
    ExitCode::FAILURE
}

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
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
    let auth: &Auth = &app.state().auth;
    if auth.can_mint() {
        let token = auth.mint(
            &[Scope::Admin],
            DEFAULT_TENANT,
            Duration::from_secs(86_400),
            "hookd-admin",
        )?;
        println!("  Admin token (tenant \"{DEFAULT_TENANT}\", valid 24 h):");
        println!("{token}");
    }
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    app.serve(listener, shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    let db = hookd::db::Db::connect(&config.database_url, config.sqlite_synchronous).await?;
    db.migrate().await?;
    // Signing keys stored in plaintext by an older version are sealed as part of migrating.
    let keys = MasterKeys::load(config.secret_key.as_deref(), &config.data_dir)?;
    let sealed = seal::seal_stored(&db, &keys).await?;
    println!("migrations applied");
    if sealed > 0 {
        println!("{sealed} hooks' signing keys sealed");
    }
    Ok(())
}

async fn rotate_master_key(config: Config, args: RotateArgs) -> anyhow::Result<()> {
    let db = hookd::db::Db::connect(&config.database_url, config.sqlite_synchronous).await?;
    db.migrate().await?;
    let (id, resealed) = seal::rotate(
        &db,
        config.secret_key.as_deref(),
        args.new_key.as_deref(),
        &config.data_dir,
    )
    .await?;
    println!("{resealed} hooks' keys re-sealed under master key {id}");
    if config.secret_key.is_some() {
        println!("now set HOOKD_SECRET_KEY to the new key (the old one no longer opens anything)");
    }
    Ok(())
}

fn token(config: Config, args: TokenArgs) -> anyhow::Result<()> {
    let scopes = args
        .scope
        .split_ascii_whitespace()
        .map(|s| Scope::parse(s).ok_or_else(|| anyhow::anyhow!("unknown scope {s:?}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    anyhow::ensure!(!scopes.is_empty(), "--scope must name at least one scope");
    let ttl = hookd::config::parse_duration("--ttl", &args.ttl).map_err(|e| anyhow::anyhow!("{}", e.message))?;
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
