//! Database connections. SQLite (embedded default) and PostgreSQL run the same migrations and
//! the same queries.
//!
//! SQLite allows one writer at a time. Rather than let concurrent writers race for the lock
//! and surface `SQLITE_BUSY` (which `busy_timeout` cannot prevent when a deferred transaction
//! upgrades from read to write), all writes go through a pool of exactly one connection: they
//! queue in-process, in order, and never see the lock taken. Reads use a separate pool and, in
//! WAL mode, never block on the writer. On PostgreSQL both handles are the same pool.

use std::path::Path;
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend, DbErr, RuntimeErr};

use crate::error::{AppError, AppResult};

#[derive(Clone, Debug)]
pub struct Db {
    /// For reads outside a transaction.
    pub read: DatabaseConnection,
    /// For every transaction and every write.
    pub write: DatabaseConnection,
}

/// One connection pool's use.
#[derive(Clone, Copy, Debug)]
pub struct PoolUse {
    pub name: &'static str,
    /// Connections open.
    pub size: u32,
    /// Of those, idle.
    pub idle: u32,
    /// The most it opens.
    pub max: u32,
}

/// Tries a write transaction gets when PostgreSQL aborts it to break a deadlock.
const CONFLICT_TRIES: u32 = 3;

/// Runs a write transaction again when PostgreSQL aborted it to break a deadlock or a
/// serialization conflict (SQLSTATE `40P01`, `40001`). Such an abort changed nothing, and it
/// can happen wherever one statement touches many deliveries (cancelling or requeuing a hook's
/// backlog) while the recorder stores outcomes of some of them in another order. `work` must
/// begin and commit its own transaction. SQLite has one writer and never aborts this way.
pub async fn retrying<T, F, Fut>(mut work: F) -> AppResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = AppResult<T>>,
{
    let mut tries = 1;
    loop {
        match work().await {
            Err(AppError::Db(e)) if tries < CONFLICT_TRIES && aborted_by_conflict(&e) => {
                tracing::warn!(error = %e, tries, "transaction aborted by a lock conflict; running it again");
                tries += 1;
            }
            other => return other,
        }
    }
}

fn aborted_by_conflict(e: &DbErr) -> bool {
    let (DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))) = e else {
        return false;
    };
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|code| code == "40P01" || code == "40001")
}

/// How hard a SQLite commit is pushed to disk (`HOOKD_SQLITE_SYNCHRONOUS`). In WAL mode,
/// `Normal` syncs the log at checkpoints, not at each commit: every acknowledged write survives
/// a crash or `kill -9` of hookd, and a power loss or OS crash may take back the last commits
/// (the database stays consistent). `Full` syncs at every commit, so acknowledged writes also
/// survive a power loss, at the price of one fsync per write transaction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SqliteDurability {
    #[default]
    Normal,
    Full,
}

const SQLITE_READERS: u32 = 4;
const POSTGRES_POOL: u32 = 16;

impl Db {
    /// Connects, creating the SQLite file (and its directory) when needed.
    pub async fn connect(url: &str, durability: SqliteDurability) -> anyhow::Result<Db> {
        if url.starts_with("sqlite:") {
            if let Some(path) = sqlite_path(url)
                && (path.exists() || url.contains("mode=rwc"))
            {
                owner_only(path)?;
            }
            let write = connect_sqlite(url, 1, durability).await?;
            let read = connect_sqlite(url, SQLITE_READERS, durability).await?;
            Ok(Db { read, write })
        } else {
            // One direct connection first: the pool retries refused connections until its
            // acquire timeout, and an operator should learn at once that the server is down.
            let probe = tokio::time::timeout(
                Duration::from_secs(10),
                <sea_orm::sqlx::PgConnection as sea_orm::sqlx::Connection>::connect(url),
            )
            .await
            .map_err(|_| anyhow::anyhow!("cannot connect to the database: timed out after 10s"))?
            .map_err(|e| anyhow::anyhow!("cannot connect to the database: {e}"))?;
            sea_orm::sqlx::Connection::close(probe).await.ok();
            let mut options = ConnectOptions::new(url);
            options
                .max_connections(POSTGRES_POOL)
                .min_connections(1)
                .connect_timeout(Duration::from_secs(10))
                .acquire_timeout(Duration::from_secs(30))
                .sqlx_logging(false);
            let pool = Database::connect(options).await.map_err(describe)?;
            Ok(Db {
                read: pool.clone(),
                write: pool,
            })
        }
    }

    /// Each connection pool's use, for `/metrics`: on SQLite the writer's and the readers'; on
    /// PostgreSQL the one pool both handles share.
    pub fn pools(&self) -> Vec<PoolUse> {
        fn of<DB: sea_orm::sqlx::Database>(name: &'static str, pool: &sea_orm::sqlx::Pool<DB>) -> PoolUse {
            PoolUse {
                name,
                size: pool.size(),
                idle: pool.num_idle().min(pool.size() as usize) as u32,
                max: pool.options().get_max_connections(),
            }
        }
        match self.backend() {
            DbBackend::Postgres => vec![of("shared", self.write.get_postgres_connection_pool())],
            DbBackend::Sqlite => vec![
                of("write", self.write.get_sqlite_connection_pool()),
                of("read", self.read.get_sqlite_connection_pool()),
            ],
            _ => Vec::new(),
        }
    }

    pub fn backend(&self) -> DbBackend {
        self.write.get_database_backend()
    }

    pub async fn migrate(&self) -> Result<(), DbErr> {
        Migrator::up(&self.write, None).await
    }

    /// Reachable and fully migrated.
    pub async fn ready(&self) -> bool {
        matches!(Migrator::get_pending_migrations(&self.read).await, Ok(pending) if pending.is_empty())
    }
}

async fn connect_sqlite(
    url: &str,
    connections: u32,
    durability: SqliteDurability,
) -> anyhow::Result<DatabaseConnection> {
    let synchronous = match durability {
        SqliteDurability::Normal => SqliteSynchronous::Normal,
        SqliteDurability::Full => SqliteSynchronous::Full,
    };
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(connections)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(move |opts| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(synchronous)
                .foreign_keys(true)
                // Readers can still meet a lock briefly during checkpoints: wait, don't fail.
                .busy_timeout(Duration::from_secs(10))
                .create_if_missing(true)
        });
    Database::connect(options).await.map_err(describe)
}

/// The SQLite file holds signing keys and password hashes: its directory is created owner-only
/// (0700) and the file is created, or tightened, to 0600 before SQLite opens it (SQLite gives
/// its -wal and -shm files the main file's mode).
fn owner_only(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
        && !dir.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| anyhow::anyhow!("cannot make {} owner-only: {e}", path.display()))?;
    Ok(())
}

/// The file path of a `sqlite://path?query` URL, `None` for in-memory databases.
fn sqlite_path(url: &str) -> Option<&Path> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| Path::new(path))
}

/// Connection errors name what failed without echoing the URL (it may hold a password).
fn describe(e: DbErr) -> anyhow::Error {
    let text = match &e {
        DbErr::Conn(err) => err.to_string(),
        other => other.to_string(),
    };
    anyhow::anyhow!("cannot connect to the database: {text}")
}

/// `?, ?, …` for an IN list of `n` values in raw SQL.
pub fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// Raw SQL is written with `?` placeholders; PostgreSQL wants them numbered `$1, $2, …`.
pub fn numbered(backend: DbBackend, sql: &str) -> String {
    if backend != DbBackend::Postgres {
        return sql.to_owned();
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

/// A statement from SQL written with `?` placeholders, numbered for `backend`.
pub fn statement(backend: DbBackend, sql: &str, values: Vec<sea_orm::Value>) -> sea_orm::Statement {
    sea_orm::Statement::from_sql_and_values(backend, numbered(backend, sql), values)
}
