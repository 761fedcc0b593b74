//! The HTTP surface around GraphQL: limits, methods, health, GraphiQL (SPEC §1, §8).

use serde_json::{Value, json};

use crate::db_test;
use crate::support::{Backend, TestApp, error_code};

db_test!(limits_and_methods, health_and_graphiql, introspection_can_be_disabled);

async fn limits_and_methods(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.admin();
    let client = app.client();
    let endpoint = format!("{}/graphql", app.base_url);

    // A body over 1 MiB is refused before it is parsed.
    let padding = "x".repeat(1024 * 1024);
    let big = json!({ "query": "{ hooks { totalCount } }", "variables": { "padding": padding } });
    let response = client
        .post(&endpoint)
        .bearer_auth(&token)
        .json(&big)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 413);

    // GET serves queries and refuses mutations with 405.
    let get = client
        .get(&endpoint)
        .bearer_auth(&token)
        .query(&[("query", "{ hooks { totalCount } }")])
        .send()
        .await
        .expect("send");
    assert_eq!(get.status(), 200);
    assert_eq!(
        get.json::<Value>().await.expect("json")["data"]["hooks"]["totalCount"],
        0
    );
    let mutation = client
        .get(&endpoint)
        .bearer_auth(&token)
        .query(&[("query", "mutation { createHook(input: { name: \"g\", events: [\"User.Created\"], url: \"https://example.invalid/\" }) { id } }")])
        .send()
        .await
        .expect("send");
    assert_eq!(mutation.status(), 405);
    assert_eq!(mutation.headers()["allow"], "POST");
    assert!(app.hook_rows().await.is_empty());

    // Depth over 15.
    let deep = format!(
        "{{ __schema {{ types {{ fields {{ type {}name{} }} }} }} }}",
        "{ ofType ".repeat(14),
        " }".repeat(14)
    );
    let response = app.gql(&token, &deep, json!({})).await;
    assert_eq!(error_code(&response), Some("LIMIT_EXCEEDED"), "{response}");

    // Complexity over 2000.
    let wide: String = (0..1001).map(|i| format!("a{i}: eventTypes {{ name }} ")).collect();
    let response = app.gql(&token, &format!("{{ {wide} }}"), json!({})).await;
    assert_eq!(error_code(&response), Some("LIMIT_EXCEEDED"), "{response}");

    // Batches of more than 10 operations.
    let batch: Vec<Value> = (0..11)
        .map(|_| json!({ "query": "{ hooks { totalCount } }" }))
        .collect();
    let response: Value = client
        .post(&endpoint)
        .bearer_auth(&token)
        .json(&batch)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(error_code(&response), Some("LIMIT_EXCEEDED"));
    let small: Vec<Value> = (0..2).map(|_| json!({ "query": "{ hooks { totalCount } }" })).collect();
    let response: Value = client
        .post(&endpoint)
        .bearer_auth(&token)
        .json(&small)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(response[1]["data"]["hooks"]["totalCount"], 0, "{response}");

    // Malformed documents and unknown fields are client errors with a code.
    for query in ["{ hooks { ", "{ nope }", "{ hooks(first: \"x\") { totalCount } }"] {
        let response = app.gql(&token, query, json!({})).await;
        assert_eq!(error_code(&response), Some("BAD_USER_INPUT"), "{query}: {response}");
    }
    let not_json = client
        .post(&endpoint)
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("send");
    assert_eq!(not_json.status(), 400);
}

async fn health_and_graphiql(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.client();
    for (path, body) in [("/healthz", "ok"), ("/readyz", "ready")] {
        let response = client
            .get(format!("{}{path}", app.base_url))
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.text().await.expect("text"), body);
    }
    // GraphiQL comes from the binary: the page names only our own files, every one is served,
    // and the policy keeps the browser from fetching anything elsewhere.
    let page = client
        .get(format!("{}/graphiql?token=abc.def.ghi", app.base_url))
        .send()
        .await
        .expect("send");
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .expect("policy")
        .to_owned();
    assert!(
        policy.contains("default-src 'none'") && policy.contains("script-src 'self';"),
        "{policy}"
    );
    let page = page.text().await.expect("text");
    assert!(!page.contains("abc.def.ghi"), "the token stays out of the HTML");
    let sources: Vec<&str> = page
        .split(['"', '\''])
        .filter(|part| part.ends_with(".js") || part.ends_with(".css"))
        .collect();
    assert_eq!(sources.len(), 6, "{page}");
    for source in sources {
        assert!(source.starts_with("/graphiql/"), "same origin: {source}");
        let response = client
            .get(format!("{}{source}", app.base_url))
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 200, "{source}");
        assert!(response.bytes().await.expect("bytes").len() > 1000, "{source}");
    }
    let missing = client
        .get(format!("{}/graphiql/assets/..%2Fstart.js", app.base_url))
        .send()
        .await
        .expect("send");
    assert_eq!(missing.status(), 404);
}

async fn introspection_can_be_disabled(backend: Backend) {
    let app = TestApp::spawn_with(backend, |raw| raw.introspection = Some("false".into())).await;
    let response = app
        .gql(&app.admin(), "{ __schema { queryType { name } } }", json!({}))
        .await;
    assert_eq!(
        response["data"]["__schema"],
        Value::Null,
        "introspection answers nothing: {response}"
    );
    let ok = app.gql(&app.admin(), "{ hooks { totalCount } }", json!({})).await;
    assert_eq!(ok["data"]["hooks"]["totalCount"], 0);
}
