//! The committed `schema.graphql` is the code's SDL, and everything in it is documented.

use serde_json::{Value, json};

use crate::support::{Backend, TestApp};

#[test]
fn schema_graphql_matches_the_code() {
    let path = format!("{}/schema.graphql", env!("CARGO_MANIFEST_DIR"));
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let current = hookd::graphql::sdl();
    assert!(
        committed == current,
        "schema.graphql is out of date. Regenerate it with:\n\n    cargo run --quiet -- schema > schema.graphql\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_field_argument_and_value_is_described() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let query = "{ __schema { types { name description
        fields { name description args { name description } }
        inputFields { name description }
        enumValues { name description } } } }";
    let response = app.gql(&app.admin(), query, json!({})).await;
    let types = response["data"]["__schema"]["types"].as_array().expect("types");
    let described = |v: &Value| v["description"].as_str().is_some_and(|d| !d.trim().is_empty());
    let mut missing = Vec::new();
    for t in types {
        let name = t["name"].as_str().unwrap_or_default();
        if name.starts_with("__") || ["String", "Int", "Float", "Boolean", "ID"].contains(&name) {
            continue;
        }
        if !described(t) {
            missing.push(name.to_owned());
        }
        for field in t["fields"].as_array().into_iter().flatten() {
            if !described(field) {
                missing.push(format!("{name}.{}", field["name"]));
            }
            for arg in field["args"].as_array().into_iter().flatten() {
                if !described(arg) {
                    missing.push(format!("{name}.{}({})", field["name"], arg["name"]));
                }
            }
        }
        for field in t["inputFields"]
            .as_array()
            .into_iter()
            .chain(t["enumValues"].as_array())
            .flatten()
        {
            if !described(field) {
                missing.push(format!("{name}.{}", field["name"]));
            }
        }
    }
    assert!(missing.is_empty(), "undocumented: {missing:?}");
}
