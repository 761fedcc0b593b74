//! Ready to be distributed by tenant (Citus, `docs/scaling.md`): on PostgreSQL every table has
//! `tenant_id`, and every primary key, unique index and foreign key includes it. Read from the
//! catalog of a freshly migrated database, so a new table or key that forgets it fails here.

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Database, Statement};

use crate::support::{Backend, fresh_database, postgres_admin_url};

/// Keys (primary, unique, foreign) and unique indexes without `tenant_id`, as
/// `table: definition`.
const KEYS_WITHOUT_TENANT: &str = "
    SELECT c.relname || ': ' || pg_get_constraintdef(x.oid) AS problem
    FROM pg_constraint x
    JOIN pg_class c ON c.oid = x.conrelid
    WHERE c.relnamespace = current_schema()::regnamespace AND c.relname <> 'seaql_migrations'
      AND x.contype IN ('p', 'u', 'f')
      AND NOT EXISTS (SELECT 1 FROM unnest(x.conkey) k
                      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k
                      WHERE a.attname = 'tenant_id')
      -- and the referenced side of a foreign key too
      OR (x.contype = 'f' AND c.relnamespace = current_schema()::regnamespace
          AND NOT EXISTS (SELECT 1 FROM unnest(x.confkey) k
                          JOIN pg_attribute a ON a.attrelid = x.confrelid AND a.attnum = k
                          WHERE a.attname = 'tenant_id'))
    UNION ALL
    SELECT t.relname || ': ' || pg_get_indexdef(i.indexrelid)
    FROM pg_index i
    JOIN pg_class t ON t.oid = i.indrelid
    WHERE t.relnamespace = current_schema()::regnamespace AND t.relname <> 'seaql_migrations'
      AND i.indisunique
      AND NOT EXISTS (SELECT 1 FROM unnest(i.indkey) k
                      JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k
                      WHERE a.attname = 'tenant_id')
    UNION ALL
    SELECT table_name || ': no tenant_id column'
    FROM information_schema.tables
    WHERE table_schema = current_schema() AND table_name <> 'seaql_migrations'
      AND table_name NOT IN (SELECT table_name FROM information_schema.columns
                             WHERE table_schema = current_schema() AND column_name = 'tenant_id')
    ORDER BY 1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_includes_the_tenant() {
    if postgres_admin_url().is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let url = fresh_database(Backend::Postgres, &dir).await;
    let db = hookd::db::Db::connect(&url, hookd::db::SqliteDurability::Normal)
        .await
        .expect("connect");
    db.migrate().await.expect("migrate");
    let conn = Database::connect(&url).await.expect("connect");
    let backend = conn.get_database_backend();
    let keys: i64 = conn
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT count(*) AS n FROM pg_constraint WHERE connamespace = current_schema()::regnamespace AND contype IN ('p', 'f')",
        ))
        .await
        .expect("count")
        .expect("row")
        .try_get("", "n")
        .expect("n");
    assert!(keys >= 30, "the catalog query sees the schema: {keys} keys");
    let problems: Vec<String> = conn
        .query_all_raw(Statement::from_string(backend, KEYS_WITHOUT_TENANT))
        .await
        .expect("catalog")
        .iter()
        .map(|row| row.try_get("", "problem").expect("problem"))
        .collect();
    assert!(problems.is_empty(), "keys without tenant_id:\n{}", problems.join("\n"));

    // The migration goes back and forth: down leaves the keys without the tenant, up puts it back.
    let problems = async || -> Vec<String> {
        conn.query_all_raw(Statement::from_string(backend, KEYS_WITHOUT_TENANT))
            .await
            .expect("catalog")
            .iter()
            .map(|row| row.try_get("", "problem").expect("problem"))
            .collect()
    };
    Migrator::down(&conn, Some(1)).await.expect("down");
    assert!(problems().await.len() >= 30, "down put the old keys back");
    Migrator::up(&conn, None).await.expect("up again");
    assert!(problems().await.is_empty());

    // A row cannot point at another tenant's row: the foreign keys say so, not only the code.
    conn.execute_unprepared(
        "INSERT INTO resources (id, tenant_id, name, indicator, created_at) VALUES ('r1', 'acme', 'r', 'https://r', 0)",
    )
    .await
    .expect("a resource");
    let refused = conn
        .execute_unprepared(
            "INSERT INTO scopes (id, tenant_id, resource_id, name, description, created_at) \
             VALUES ('s1', 'globex', 'r1', 'read', '', 0)",
        )
        .await;
    assert!(
        refused.is_err(),
        "a scope of tenant globex under a resource of tenant acme was stored"
    );
}
