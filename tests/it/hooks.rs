//! Managing hooks over GraphQL: lifecycle, lists, validation, tenants, rotation.

use serde_json::{Value, json};

use crate::db_test;
use crate::support::{Backend, TestApp, error_code, first_error};

db_test!(
    lifecycle_create_list_update_rotate_delete,
    list_filters_and_pagination,
    tenant_isolation,
    validation_table_changes_nothing,
    hook_limit_per_tenant,
    rotation_grace_and_cap,
    event_types_catalogue,
    total_count_is_counted_however_it_is_asked_for,
);

const HOOK_FIELDS: &str = "id name events url headers { name value } enabled createdAt updatedAt signingKey previousSigningKeys { key expiresAt }";

pub(crate) async fn lifecycle_create_list_update_rotate_delete(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.admin();

    let created = app
        .gql(
            &token,
            &format!("mutation($input: CreateHookInput!) {{ createHook(input: $input) {{ {HOOK_FIELDS} }} }}"),
            json!({ "input": {
                "name": "CRM sync",
                "events": ["User.Created", "User.Deleted", "User.Created"],
                "url": "https://crm.example.com/hooks/logto",
                "headers": [{ "name": "X-Api-Key", "value": "k1" }]
            }}),
        )
        .await;
    assert_eq!(created["errors"], Value::Null, "{created}");
    let hook = &created["data"]["createHook"];
    let id = hook["id"].as_str().expect("id").to_owned();
    assert_eq!(
        hook["events"],
        json!(["User.Created", "User.Deleted"]),
        "duplicates dropped, order kept"
    );
    assert_eq!(hook["enabled"], true);
    assert_eq!(hook["headers"], json!([{ "name": "X-Api-Key", "value": "k1" }]));
    let key = hook["signingKey"].as_str().expect("signing key");
    assert!(key.starts_with("whsec_"), "{key}");
    let raw = base64_decode(&key["whsec_".len()..]);
    assert_eq!(raw.len(), 32, "32 random bytes");
    assert_eq!(hook["previousSigningKeys"], json!([]));

    let fetched = app
        .gql(
            &token,
            "query($id: ID!) { hook(id: $id) { id name url } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(fetched["data"]["hook"]["name"], "CRM sync");

    let updated = app
        .gql(
            &token,
            &format!("mutation($id: ID!, $input: UpdateHookInput!) {{ updateHook(id: $id, input: $input) {{ {HOOK_FIELDS} }} }}"),
            json!({ "id": id, "input": { "enabled": false, "headers": [{ "name": "content-type", "value": "application/json; charset=utf-8" }] } }),
        )
        .await;
    assert_eq!(updated["errors"], Value::Null, "{updated}");
    let updated = &updated["data"]["updateHook"];
    assert_eq!(updated["enabled"], false);
    assert_eq!(updated["name"], "CRM sync", "omitted fields stay");
    assert_eq!(
        updated["headers"],
        json!([{ "name": "content-type", "value": "application/json; charset=utf-8" }]),
        "headers replaced"
    );
    assert_eq!(updated["signingKey"], hook["signingKey"], "update keeps the key");

    let rotated = app
        .gql(
            &token,
            &format!("mutation($id: ID!) {{ rotateHookSigningKey(id: $id) {{ {HOOK_FIELDS} }} }}"),
            json!({ "id": id }),
        )
        .await;
    let rotated = &rotated["data"]["rotateHookSigningKey"];
    assert_ne!(rotated["signingKey"], hook["signingKey"]);
    assert_eq!(rotated["previousSigningKeys"][0]["key"], hook["signingKey"]);

    let deleted = app
        .gql(
            &token,
            "mutation($id: ID!) { deleteHook(id: $id) }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(deleted["data"]["deleteHook"], id.as_str());
    let gone = app
        .gql(&token, "query($id: ID!) { hook(id: $id) { id } }", json!({ "id": id }))
        .await;
    assert_eq!(gone["data"]["hook"], Value::Null);
    assert!(app.hook_rows().await.is_empty());
    let again = app
        .gql(
            &token,
            "mutation($id: ID!) { deleteHook(id: $id) }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(error_code(&again), Some("NOT_FOUND"));
}

pub(crate) async fn list_filters_and_pagination(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.admin();
    let mut ids = Vec::new();
    for (i, events) in [
        json!(["User.Created"]),
        json!(["Role.Created"]),
        json!(["User.Created", "Role.Deleted"]),
        json!(["PostSignIn"]),
        json!(["User.Data.Updated"]),
    ]
    .into_iter()
    .enumerate()
    {
        let response = app
            .gql(
                &token,
                "mutation($input: CreateHookInput!) { createHook(input: $input) { id } }",
                json!({ "input": { "name": format!("h{i}"), "events": events, "url": "https://example.com/", "enabled": i != 1 } }),
            )
            .await;
        ids.push(response["data"]["createHook"]["id"].as_str().expect("id").to_owned());
    }

    let list = |args: &str| {
        format!(
            "{{ hooks({args}) {{ totalCount edges {{ cursor node {{ id name }} }} pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }} }} }}"
        )
    };
    let names = |v: &Value| -> Vec<String> {
        v["data"]["hooks"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| e["node"]["name"].as_str().expect("name").to_owned())
            .collect()
    };

    let by_event = app.gql(&token, &list("event: \"User.Created\""), json!({})).await;
    assert_eq!(names(&by_event), ["h0", "h2"]);
    assert_eq!(by_event["data"]["hooks"]["totalCount"], 2);
    // `User.Data.Updated` must not match `User.Created`-only hooks, nor a LIKE wildcard match.
    let exact = app.gql(&token, &list("event: \"User.%\""), json!({})).await;
    assert_eq!(exact["data"]["hooks"]["totalCount"], 0);
    let disabled = app.gql(&token, &list("enabled: false"), json!({})).await;
    assert_eq!(names(&disabled), ["h1"]);

    let page1 = app.gql(&token, &list("first: 2"), json!({})).await;
    assert_eq!(names(&page1), ["h0", "h1"]);
    let info = &page1["data"]["hooks"]["pageInfo"];
    assert_eq!(info["hasNextPage"], true);
    assert_eq!(info["hasPreviousPage"], false);
    assert_eq!(page1["data"]["hooks"]["totalCount"], 5);
    let after = info["endCursor"].as_str().expect("cursor");
    let page2 = app
        .gql(&token, &list(&format!("first: 2, after: \"{after}\"")), json!({}))
        .await;
    assert_eq!(names(&page2), ["h2", "h3"]);
    let after = page2["data"]["hooks"]["pageInfo"]["endCursor"]
        .as_str()
        .expect("cursor");
    let page3 = app
        .gql(&token, &list(&format!("first: 2, after: \"{after}\"")), json!({}))
        .await;
    assert_eq!(names(&page3), ["h4"]);
    assert_eq!(page3["data"]["hooks"]["pageInfo"]["hasNextPage"], false);

    let too_many = app.gql(&token, &list("first: 101"), json!({})).await;
    assert_eq!(first_error(&too_many), (Some("BAD_USER_INPUT"), Some("first")));
    let bad_cursor = app.gql(&token, &list("after: \"!!\""), json!({})).await;
    assert_eq!(first_error(&bad_cursor), (Some("BAD_USER_INPUT"), Some("after")));
}

async fn tenant_isolation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = app.token("admin", "tenant-a");
    let b = app.token("admin", "tenant-b");
    let hook = app.create_hook(&a, "A's hook", "https://a.example.com/").await;
    let id = hook["id"].as_str().expect("id");
    let before = app.hook_rows().await;

    let seen = app
        .gql(
            &b,
            "query($id: ID!) { hook(id: $id) { id } hooks { totalCount edges { node { id } } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(seen["data"]["hook"], Value::Null);
    assert_eq!(seen["data"]["hooks"]["totalCount"], 0);
    assert_eq!(seen["data"]["hooks"]["edges"], json!([]));
    let filtered = app
        .gql(&b, "{ hooks(event: \"User.Created\") { totalCount } }", json!({}))
        .await;
    assert_eq!(filtered["data"]["hooks"]["totalCount"], 0);

    for mutation in [
        "mutation($id: ID!) { updateHook(id: $id, input: { name: \"stolen\", enabled: false }) { id } }",
        "mutation($id: ID!) { deleteHook(id: $id) }",
        "mutation($id: ID!) { rotateHookSigningKey(id: $id) { id } }",
    ] {
        let response = app.gql(&b, mutation, json!({ "id": id })).await;
        assert_eq!(error_code(&response), Some("NOT_FOUND"), "{mutation}: {response}");
        assert!(
            !response.to_string().contains("tenant-a"),
            "the error must not hint at the owner: {response}"
        );
    }
    assert_eq!(app.hook_rows().await, before, "B changed nothing of A's");

    let own = app.gql(&a, "{ hooks { totalCount } }", json!({})).await;
    assert_eq!(own["data"]["hooks"]["totalCount"], 1);
}

async fn validation_table_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.admin();
    let existing = app.create_hook(&token, "existing", "https://example.com/a").await;
    let id = existing["id"].as_str().expect("id");
    let before = app.hook_rows().await;

    let valid = json!({ "name": "n", "events": ["User.Created"], "url": "https://example.com/" });
    let with = |field: &str, value: Value| {
        let mut input = valid.clone();
        input[field] = value;
        input
    };
    let headers = |n: usize| {
        Value::Array(
            (0..n)
                .map(|i| json!({ "name": format!("x-h{i}"), "value": "v" }))
                .collect(),
        )
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        ("empty events", with("events", json!([])), "events"),
        ("unknown event", with("events", json!(["User.Exploded"])), "events"),
        ("relative URL", with("url", json!("/hooks")), "url"),
        ("ftp URL", with("url", json!("ftp://example.com/")), "url"),
        ("userinfo", with("url", json!("https://user:pw@example.com/")), "url"),
        ("loopback literal", with("url", json!("http://127.0.0.1:8080/")), "url"),
        ("loopback shorthand", with("url", json!("http://127.1/")), "url"),
        (
            "mapped loopback",
            with("url", json!("http://[::ffff:127.0.0.1]/")),
            "url",
        ),
        ("IPv6 loopback", with("url", json!("http://[::1]/")), "url"),
        ("metadata", with("url", json!("http://169.254.169.254/latest")), "url"),
        ("private", with("url", json!("http://10.0.0.1/")), "url"),
        (
            "2049-char URL",
            with("url", json!(format!("https://example.com/{}", "a".repeat(2049 - 20)))),
            "url",
        ),
        (
            "reserved header",
            with("headers", json!([{ "name": "webhook-signature", "value": "x" }])),
            "headers",
        ),
        (
            "reserved header (case)",
            with("headers", json!([{ "name": "Logto-Signature-SHA-256", "value": "x" }])),
            "headers",
        ),
        (
            "host header",
            with("headers", json!([{ "name": "Host", "value": "x" }])),
            "headers",
        ),
        (
            "bad header name",
            with("headers", json!([{ "name": "x y", "value": "x" }])),
            "headers",
        ),
        (
            "bad header value",
            with("headers", json!([{ "name": "x-a", "value": "a\nb" }])),
            "headers",
        ),
        (
            "duplicate header",
            with(
                "headers",
                json!([{ "name": "X-A", "value": "1" }, { "name": "x-a", "value": "2" }]),
            ),
            "headers",
        ),
        ("21 headers", with("headers", headers(21)), "headers"),
        ("empty name", with("name", json!("")), "name"),
        ("blank name", with("name", json!("   ")), "name"),
        ("257-char name", with("name", json!("n".repeat(257))), "name"),
    ];
    assert_eq!(
        with("url", json!(format!("https://example.com/{}", "a".repeat(2049 - 20))))["url"]
            .as_str()
            .map(str::len),
        Some(2049)
    );

    for (label, input, field) in &cases {
        let created = app
            .gql(
                &token,
                "mutation($input: CreateHookInput!) { createHook(input: $input) { id } }",
                json!({ "input": input }),
            )
            .await;
        assert_eq!(
            first_error(&created),
            (Some("BAD_USER_INPUT"), Some(*field)),
            "createHook {label}: {created}"
        );
        // The same field through updateHook (name, events, url, headers are all updatable).
        let mut patch = serde_json::Map::new();
        patch.insert((*field).to_owned(), input[*field].clone());
        let updated = app
            .gql(
                &token,
                "mutation($id: ID!, $input: UpdateHookInput!) { updateHook(id: $id, input: $input) { id } }",
                json!({ "id": id, "input": patch }),
            )
            .await;
        assert_eq!(
            first_error(&updated),
            (Some("BAD_USER_INPUT"), Some(*field)),
            "updateHook {label}: {updated}"
        );
    }
    // Allowed: content-type and user-agent overrides (as in Logto), 20 headers, 256-char name.
    for input in [
        with(
            "headers",
            json!([{ "name": "Content-Type", "value": "application/json" }, { "name": "User-Agent", "value": "me" }]),
        ),
        with("headers", headers(20)),
        with("name", json!("n".repeat(256))),
        with("url", json!(format!("https://example.com/{}", "a".repeat(2048 - 20)))),
    ] {
        let ok = app
            .gql(
                &token,
                "mutation($input: CreateHookInput!) { createHook(input: $input) { id } }",
                json!({ "input": input }),
            )
            .await;
        assert_eq!(ok["errors"], Value::Null, "{ok}");
        let new_id = ok["data"]["createHook"]["id"].as_str().expect("id").to_owned();
        app.gql(
            &token,
            "mutation($id: ID!) { deleteHook(id: $id) }",
            json!({ "id": new_id }),
        )
        .await;
    }
    let rotate = app
        .gql(
            &token,
            "mutation($id: ID!) { rotateHookSigningKey(id: $id, gracePeriodSeconds: -1) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        first_error(&rotate),
        (Some("BAD_USER_INPUT"), Some("gracePeriodSeconds"))
    );

    assert_eq!(app.hook_rows().await, before, "no rejected input changed the database");
}

async fn hook_limit_per_tenant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.admin();
    // 100 hooks in two requests of 50 aliased mutations (well within the complexity limit).
    for batch in 0..2 {
        let fields: String = (0..50)
            .map(|i| format!("h{i}: createHook(input: {{ name: \"hook {batch}-{i}\", events: [\"User.Created\"], url: \"https://example.com/{i}\" }}) {{ id }} "))
            .collect();
        let response = app.gql(&token, &format!("mutation {{ {fields} }}"), json!({})).await;
        assert_eq!(response["errors"], Value::Null, "{response}");
    }
    let before = app.hook_rows().await;
    assert_eq!(before.len(), 100);
    let response = app
        .gql(&token, "mutation { createHook(input: { name: \"101st\", events: [\"User.Created\"], url: \"https://example.com/\" }) { id } }", json!({}))
        .await;
    assert_eq!(error_code(&response), Some("LIMIT_EXCEEDED"), "{response}");
    assert_eq!(app.hook_rows().await, before);
    // The limit is per tenant.
    let other = app.token("admin", "other");
    app.create_hook(&other, "first of other", "https://example.com/").await;
}

async fn rotation_grace_and_cap(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.admin();
    let hook = app.create_hook(&token, "rotating", "https://example.com/").await;
    let id = hook["id"].as_str().expect("id");
    let rotate = |grace: i64| {
        let app = &app;
        let token = token.clone();
        async move {
            let response = app
                .gql(
                    &token,
                    "mutation($id: ID!, $grace: Int!) { rotateHookSigningKey(id: $id, gracePeriodSeconds: $grace) { signingKey previousSigningKeys { key expiresAt } } }",
                    json!({ "id": id, "grace": grace }),
                )
                .await;
            assert_eq!(response["errors"], Value::Null, "{response}");
            response["data"]["rotateHookSigningKey"].clone()
        }
    };

    // A 1-second grace: listed at once, gone once it has passed.
    let first = rotate(1).await;
    assert_eq!(first["previousSigningKeys"][0]["key"], hook["signingKey"]);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let listed = app
        .gql(
            &token,
            "query($id: ID!) { hook(id: $id) { previousSigningKeys { key } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        listed["data"]["hook"]["previousSigningKeys"],
        json!([]),
        "expired key no longer valid"
    );

    // Grace 0: the old key stops at once.
    let current = first["signingKey"].clone();
    let zero = rotate(0).await;
    assert_eq!(zero["previousSigningKeys"], json!([]));
    assert_ne!(zero["signingKey"], current);

    // Twelve rotations keep only the ten newest old keys, newest first.
    let mut retired = vec![zero["signingKey"].clone()];
    let mut last = Value::Null;
    for _ in 0..12 {
        last = rotate(3600).await;
        retired.push(last["signingKey"].clone());
    }
    retired.pop(); // the current key
    let keys: Vec<Value> = last["previousSigningKeys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["key"].clone())
        .collect();
    let expected: Vec<Value> = retired.iter().rev().take(10).cloned().collect();
    assert_eq!(keys, expected);
    let expires: chrono::DateTime<chrono::Utc> = last["previousSigningKeys"][0]["expiresAt"]
        .as_str()
        .expect("expiresAt")
        .parse()
        .expect("RFC 3339");
    let in_an_hour = chrono::Utc::now() + chrono::Duration::seconds(3600);
    assert!((expires - in_an_hour).num_seconds().abs() < 120, "{expires}");
}

async fn event_types_catalogue(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .gql(
            &app.token("hooks:read", "t"),
            "{ eventTypes { name group description } }",
            json!({}),
        )
        .await;
    let types = response["data"]["eventTypes"].as_array().expect("eventTypes");
    assert_eq!(types.len(), 31);
    let names: Vec<&str> = types.iter().map(|t| t["name"].as_str().expect("name")).collect();
    for name in [
        "PostRegister",
        "PostSignIn",
        "PostResetPassword",
        "User.Created",
        "User.Deleted",
        "User.Data.Updated",
        "User.SuspensionStatus.Updated",
        "User.Roles.Updated",
        "Role.Created",
        "Role.Deleted",
        "Role.Data.Updated",
        "Role.Scopes.Updated",
        "Scope.Created",
        "Scope.Deleted",
        "Scope.Data.Updated",
        "Organization.Created",
        "Organization.Deleted",
        "Organization.Data.Updated",
        "Organization.Membership.Updated",
        "OrganizationRole.Created",
        "OrganizationRole.Deleted",
        "OrganizationRole.Data.Updated",
        "OrganizationRole.Scopes.Updated",
        "OrganizationScope.Created",
        "OrganizationScope.Deleted",
        "OrganizationScope.Data.Updated",
        "Identifier.Lockout",
    ] {
        assert!(names.contains(&name), "{name} missing");
    }
    let lockout = types
        .iter()
        .find(|t| t["name"] == "Identifier.Lockout")
        .expect("lockout");
    assert_eq!(lockout["group"], "Security");
    // hookd's own events about its hooks and deliveries.
    let operational = [
        "Hook.Disabled",
        "Hook.Enabled",
        "Delivery.Exhausted",
        "Delivery.Recovered",
    ];
    for name in operational {
        let event = types
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(event["group"], "Operational", "{name}");
    }
    assert_eq!(
        types.iter().filter(|t| t["group"] == "Operational").count(),
        operational.len(),
        "{types:?}"
    );
    assert!(
        types
            .iter()
            .all(|t| !t["description"].as_str().unwrap_or_default().is_empty())
    );
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).expect("base64")
}

pub(crate) async fn total_count_is_counted_however_it_is_asked_for(backend: Backend) {
    // The count is only run when the selection asks for it: by name, by alias, or through a
    // fragment. A page without it still pages.
    let app = TestApp::spawn(backend).await;
    let admin = app.admin();
    for n in 0..3 {
        app.create_hook(&admin, &format!("h{n}"), "https://example.com/hook")
            .await;
    }
    let queries = [
        "{ hooks(first: 1) { totalCount } }",
        "{ hooks(first: 1) { n: totalCount } }",
        "{ hooks(first: 1) { ...Counted } } fragment Counted on HookConnection { totalCount }",
        "{ hooks(first: 1) { ... on HookConnection { totalCount } } }",
    ];
    for query in queries {
        let response = app.gql(&admin, query, json!({})).await;
        assert_eq!(response["errors"], Value::Null, "{query}: {response}");
        let hooks = &response["data"]["hooks"];
        let count = hooks.get("totalCount").or_else(|| hooks.get("n"));
        assert_eq!(count, Some(&json!(3)), "{query}: {response}");
    }
    let page = app
        .gql(
            &admin,
            "{ hooks(first: 2) { edges { node { name } } pageInfo { hasNextPage } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        page["data"]["hooks"]["edges"].as_array().map(Vec::len),
        Some(2),
        "{page}"
    );
    assert_eq!(page["data"]["hooks"]["pageInfo"]["hasNextPage"], true, "{page}");
}
