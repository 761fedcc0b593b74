//! The hot queries use the indexes meant for them, on SQLite (`EXPLAIN QUERY PLAN`) and on
//! PostgreSQL (`EXPLAIN`, with sequential scans priced out so the index the planner would take
//! on a large table shows on an empty one). Each statement is built by the same function the
//! server runs, so a change that turns one into a scan as history grows fails here.

use hookd::domain::page::{Order, PageRequest, page_query};
use hookd::domain::webhooks::{deliveries, lifecycle};
use sea_orm::{ConnectionTrait, DbBackend, QueryTrait, Statement, TransactionTrait};

use crate::support::{Backend, TestApp};

crate::db_test!(hot_queries_use_their_indexes);

async fn hot_queries_use_their_indexes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let db = app.state.db.backend();
    let tenant = "t1";
    let page = PageRequest::new(Some(25), None).expect("page");
    let after = PageRequest {
        first: 25,
        after: Some("0190".to_owned()),
        count: true,
    };
    let filter = |hook: Option<&str>, event: Option<&str>| deliveries::DeliveryFilter {
        hook_id: hook.map(str::to_owned),
        event_id: event.map(str::to_owned),
        ..Default::default()
    };
    let newest =
        |query, page: &PageRequest| page_query(query, entity::delivery::Column::Id, page, Order::NewestFirst).build(db);
    let events = vec!["e1".to_owned(), "e2".to_owned()];
    let cases: Vec<(&str, Statement, &str)> = vec![
        (
            "Event.deliveries and emitEvent { deliveries }",
            deliveries::of_events_query(tenant, &events).build(db),
            "deliveries_tenant_id_event_id_id",
        ),
        (
            "Hook.deliveries / deliveries(filter: { hookId })",
            newest(deliveries::list_query(tenant, &filter(Some("h1"), None)), &after),
            "deliveries_tenant_id_hook_id_id",
        ),
        (
            "deliveries(filter: { eventId })",
            newest(deliveries::list_query(tenant, &filter(None, Some("e1"))), &page),
            "deliveries_tenant_id_event_id_id",
        ),
        (
            "deliveries of the whole tenant",
            newest(deliveries::list_query(tenant, &filter(None, None)), &after),
            "deliveries_tenant_id_id",
        ),
        (
            "events",
            page_query(
                hookd::domain::tenant::scoped::<entity::event::Entity>(tenant),
                entity::event::Column::Id,
                &after,
                Order::NewestFirst,
            )
            .build(db),
            "events_tenant_id_id",
        ),
        (
            "the dispatcher's claim",
            lifecycle::claim_statement(db, tenant, 1_000, 2_000, 64, 8, &[("h1", 0), ("h2", 3)]),
            "deliveries_due_by_tenant",
        ),
        (
            "the tenants with due deliveries",
            lifecycle::due_tenants_statement(db, 1_000, &["h1"], 64),
            "deliveries_due",
        ),
        (
            "an ordered hook's next turn",
            lifecycle::turn_statement(db, tenant, "h1", 1_000),
            "deliveries_queued_by_hook",
        ),
        (
            "the dispatcher's next wake-up",
            lifecycle::next_due_statement(db, &["h1"]),
            "deliveries_due",
        ),
    ];
    let mut wrong = Vec::new();
    for (what, statement, index) in cases {
        let plan = explain(&app, statement).await;
        if !plan.contains(index) {
            wrong.push(format!("{what}: expected {index}, planned:\n{plan}"));
        }
    }
    assert!(wrong.is_empty(), "{backend:?}:\n{}", wrong.join("\n\n"));
    // The plan of the claim is not a scan of the whole table on SQLite either.
    let claim = explain(&app, lifecycle::claim_statement(db, tenant, 1_000, 2_000, 64, 8, &[])).await;
    assert!(!claim.contains("SCAN deliveries\n"), "{claim}");
    // Nor is the turn, however long an ordered hook's history and backlog.
    let turn = explain(&app, lifecycle::turn_statement(db, tenant, "h1", 1_000)).await;
    assert!(!turn.contains("SCAN deliveries\n"), "{turn}");
    if backend == Backend::Postgres {
        assert!(!turn.contains("Seq Scan"), "{turn}");
    }
}

/// The plan of `statement`, one line per step.
async fn explain(app: &TestApp, statement: Statement) -> String {
    let db = &app.state.db.write;
    let backend = db.get_database_backend();
    let prefix = match backend {
        DbBackend::Postgres => "EXPLAIN ",
        _ => "EXPLAIN QUERY PLAN ",
    };
    let explained = Statement {
        sql: format!("{prefix}{}", statement.sql),
        ..statement
    };
    let txn = db.begin().await.expect("begin");
    if backend == DbBackend::Postgres {
        txn.execute_unprepared("SET LOCAL enable_seqscan = off")
            .await
            .expect("set");
    }
    let rows = txn.query_all_raw(explained).await.expect("explain");
    txn.rollback().await.expect("rollback");
    let column = match backend {
        DbBackend::Postgres => "QUERY PLAN",
        _ => "detail",
    };
    rows.iter()
        .map(|row| row.try_get::<String>("", column).expect("plan line"))
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}
