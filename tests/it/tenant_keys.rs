//! Ready to be distributed by tenant (Citus, `docs/scaling.md`): on PostgreSQL every table has
//! `tenant_id`, and every primary key, unique index and foreign key includes it (read from the
//! catalog of a freshly migrated database, so a new table or key that forgets it fails here);
//! and every statement the server runs on those tables names the tenant it works on (read from
//! `pg_stat_statements` after a workload of the other tests, so a new query that forgets it
//! fails here), except the few reads that look for work across tenants, listed below.

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Database, Statement};

use crate::support::{Backend, HARNESS_SQL, fresh_database, postgres_admin_url, recording_databases};

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
    // Back past the key migration (five more came after it).
    Migrator::down(&conn, Some(6)).await.expect("down");
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

/// The statements that read across tenants on purpose, with why: the dispatcher and the
/// pruner look for work wherever it is, and the relay republishes what changed anywhere. Each is
/// a plain `SELECT` (no lock, no write), which Citus runs on every shard; what they find is then
/// claimed, changed or deleted by statements that name the tenant.
/// Matched by a part of the statement's text as `pg_stat_statements` shows it.
const CROSS_TENANT_READS: &[(&str, &str)] = &[
    (
        "SELECT tenant_id FROM (SELECT tenant_id, due_at FROM deliveries WHERE status IN",
        "lifecycle::claim: the tenants with due deliveries",
    ),
    (
        "SELECT MIN(due_at) AS due FROM deliveries WHERE status IN",
        "lifecycle::next_due: when the dispatcher must look again",
    ),
    (
        "SELECT DISTINCT tenant_id FROM (SELECT tenant_id FROM",
        "lifecycle::prune: the tenants with history older than the retention",
    ),
    (
        "SELECT status, COUNT(*) AS n FROM deliveries WHERE status IN",
        "deliveries::backlog: the backlog gauges of /metrics",
    ),
    (
        "SELECT hook_id, SUM(CASE WHEN status",
        "deliveries::busiest_hooks: the hooks with the most queued deliveries, for /metrics",
    ),
    (
        r#"SELECT DISTINCT "hooks"."tenant_id" FROM "hooks""#,
        "seal::seal_stored: the tenants whose hooks' keys are checked and sealed at start",
    ),
    (
        r#"FROM "deliveries" WHERE "deliveries"."updated_at" >= $1 ORDER BY"#,
        "relay/listen.rs: the deliveries changed anywhere during a gap in the relay",
    ),
    (
        r#"FROM "events" WHERE "events"."created_at" >= $1 ORDER BY"#,
        "relay/listen.rs: the events stored anywhere during a gap in the relay",
    ),
];

/// The tests whose statements are checked: together they run every kind of statement the
/// server has (identity and hook mutations, lists and nested loads, emits, claims (ordered and
/// rate-limited ones too), records, retries, redeliveries, replays, disabling (by hand, on 410
/// and for failing), operational events, tests, pruning, subscriptions).
async fn workload() {
    use futures_util::StreamExt;
    use std::pin::Pin;
    type Test = Pin<Box<dyn Future<Output = ()>>>;
    let pg = Backend::Postgres;
    let tests: Vec<Test> = vec![
        Box::pin(crate::identity::user_events_match_golden_payloads(pg)),
        Box::pin(crate::identity::role_and_scope_events_match_golden_payloads(pg)),
        Box::pin(crate::identity::organization_events_and_membership_deltas(pg)),
        Box::pin(crate::identity::every_identity_field_is_tenant_scoped(pg)),
        Box::pin(crate::interactions::interaction_events_match_golden_payloads(pg)),
        Box::pin(crate::interactions::sign_in_rules(pg)),
        Box::pin(crate::hooks::lifecycle_create_list_update_rotate_delete(pg)),
        Box::pin(crate::hooks::list_filters_and_pagination(pg)),
        Box::pin(crate::hooks::total_count_is_counted_however_it_is_asked_for(pg)),
        Box::pin(crate::delivery::retries_until_success_with_a_stable_webhook_id(pg)),
        Box::pin(crate::delivery::gone_disables_the_hook(pg)),
        Box::pin(crate::delivery::disabling_cancels_pending_and_keeps_history(pg)),
        Box::pin(crate::delivery::rotation_signs_with_both_keys_during_grace(pg)),
        Box::pin(crate::events::emit_validation_and_idempotency(pg)),
        Box::pin(crate::events::custom_event_types(pg)),
        Box::pin(crate::events::event_and_delivery_queries(pg)),
        Box::pin(crate::events::redeliver_makes_one_manual_attempt(pg)),
        Box::pin(crate::events::replay_requeues_failed_deliveries(pg)),
        Box::pin(crate::events::test_hook_sends_logto_test_payloads(pg)),
        Box::pin(crate::events::history_older_than_retention_is_pruned(pg)),
        Box::pin(crate::subscriptions::updates_arrive_in_order_for_one_delivery(pg)),
        Box::pin(crate::subscriptions::legacy_protocol_and_event_emitted(pg)),
        Box::pin(crate::policy::an_ordered_hook_receives_in_order_through_retries(pg)),
        Box::pin(crate::policy::a_rate_limited_hook_is_paced(pg)),
        Box::pin(crate::policy::a_failing_hook_is_disabled_and_says_so(pg)),
        Box::pin(crate::policy::operational_events_for_gone_exhausted_and_recovered(pg)),
    ];
    futures_util::stream::iter(tests)
        .buffer_unordered(4)
        .collect::<Vec<()>>()
        .await;
}

/// The tables `sql` reads or writes (after FROM, JOIN, UPDATE, INTO), lower case, unquoted.
fn tables(sql: &str) -> Vec<String> {
    let words: Vec<String> = sql
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',')
        .map(|word| word.trim_matches('"').to_ascii_lowercase())
        .collect();
    (1..words.len())
        .filter(|&i| match words[i - 1].as_str() {
            "from" | "join" | "into" => true,
            // not the lock of `FOR UPDATE`
            "update" => i < 2 || words[i - 2] != "for",
            _ => false,
        })
        .map(|i| words[i].clone())
        .collect()
}

/// How many times `sql` restricts `tenant_id` (`tenant_id = …`, `tenant_id IN (…)`), or, for an
/// INSERT, whether it writes the column.
fn tenant_filters(sql: &str) -> usize {
    let flat = sql
        .replace('"', "")
        .to_ascii_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let filters = flat.matches("tenant_id = ").count() + flat.matches("tenant_id in (").count();
    if flat.starts_with("insert into")
        && flat
            .split(" values")
            .next()
            .is_some_and(|head| head.contains("tenant_id"))
    {
        filters + 1
    } else {
        filters
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_statement_names_its_tenant() {
    let Some(admin) = postgres_admin_url() else { return };
    let conn = Database::connect(&admin).await.expect("connect");
    let backend = conn.get_database_backend();
    let loaded = conn
        .execute_unprepared("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .await
        .and(
            conn.query_one_raw(Statement::from_string(
                backend,
                "SELECT 1 FROM pg_stat_statements LIMIT 1",
            ))
            .await
            .map(drop),
        );
    if let Err(e) = loaded {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "CI=true but pg_stat_statements is not loaded (start PostgreSQL with -c shared_preload_libraries=pg_stat_statements): {e}"
        );
        eprintln!("skipped: pg_stat_statements is not loaded: {e}");
        return;
    }
    let databases = recording_databases(workload()).await;
    assert!(
        databases.len() >= 20,
        "the workload's databases were recorded: {databases:?}"
    );

    let tenant_tables = [
        "hooks",
        "events",
        "deliveries",
        "delivery_attempts",
        "event_types",
        "idempotency_keys",
    ];
    let names = databases
        .iter()
        .map(|name| format!("'{name}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let statements: Vec<String> = conn
        .query_all_raw(Statement::from_string(
            backend,
            format!(
                "SELECT DISTINCT s.query FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid \
                 WHERE d.datname IN ({names}) ORDER BY 1"
            ),
        ))
        .await
        .expect("pg_stat_statements")
        .iter()
        .map(|row| row.try_get("", "query").expect("query"))
        .collect();
    let _ = tenant_tables;
    let mut checked = 0;
    let mut problems = Vec::new();
    for sql in &statements {
        let head = sql.trim_start().to_ascii_uppercase();
        // PostgreSQL's own checks (a new foreign key's validation) qualify every operator.
        if sql.starts_with(HARNESS_SQL.trim_end())
            || sql.contains("OPERATOR(pg_catalog.")
            || !["SELECT", "INSERT", "UPDATE", "DELETE", "WITH"]
                .iter()
                .any(|verb| head.starts_with(verb))
        {
            continue;
        }
        let tables: Vec<String> = tables(sql)
            .into_iter()
            .filter(|table| {
                !table.is_empty()
                    && !table.starts_with("pg_")
                    && !table.starts_with("information_schema")
                    && table != "seaql_migrations"
            })
            .collect();
        if tables.is_empty() {
            continue;
        }
        checked += 1;
        if tenant_filters(sql) >= tables.len() {
            continue;
        }
        if CROSS_TENANT_READS.iter().any(|(part, _)| sql.contains(part)) {
            assert!(
                head.starts_with("SELECT") && !head.contains("FOR UPDATE"),
                "a cross-tenant read locks or writes: {sql}"
            );
            continue;
        }
        problems.push(sql.clone());
    }
    assert!(
        checked >= 50,
        "the workload ran the server's statements: {checked} checked"
    );
    assert!(
        problems.is_empty(),
        "{} statements without their tenant:\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}
