//! Hostile input: whatever a client sends, it gets a coded error and changes nothing.

use serde_json::json;

use crate::db_test;
use crate::support::{Backend, TestApp, error_code};

db_test!(a_nul_in_any_string_is_refused_the_same_on_both_backends);

async fn a_nul_in_any_string_is_refused_the_same_on_both_backends(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin();
    let nul = "bad\u{0}string";
    // (what, query, variables): each puts a NUL into a different kind of string input.
    let cases = [
        (
            "hook name",
            "mutation($input: CreateHookInput!) { createHook(input: $input) { id } }",
            json!({ "input": { "name": nul, "events": ["User.Created"], "url": "https://example.com/hook" } }),
        ),
        (
            "hook header value",
            "mutation($input: CreateHookInput!) { createHook(input: $input) { id } }",
            json!({ "input": { "name": "h", "events": ["User.Created"], "url": "https://example.com/hook",
                               "headers": [{ "name": "x-key", "value": nul }] } }),
        ),
        (
            "an id",
            "query($id: ID!) { hook(id: $id) { id } }",
            json!({ "id": nul }),
        ),
        (
            "a search",
            "query($s: String) { users(search: $s) { totalCount } }",
            json!({ "s": nul }),
        ),
        (
            "a sign-in identifier",
            "mutation($input: SignInInput!) { signIn(input: $input) { sessionId } }",
            json!({ "input": { "identifier": nul, "password": "whatever-password" } }),
        ),
        (
            "an idempotency key",
            "mutation($input: EmitEventInput!) { emitEvent(input: $input) { id } }",
            json!({ "input": { "type": "User.Created", "data": {}, "idempotencyKey": nul } }),
        ),
        (
            "a JSON payload's string",
            "mutation($input: EmitEventInput!) { emitEvent(input: $input) { id } }",
            json!({ "input": { "type": "User.Created", "data": { "deep": [{ "x": nul }] } } }),
        ),
        (
            "a description",
            "mutation($input: CreateRoleInput!) { createRole(input: $input) { id } }",
            json!({ "input": { "name": "role", "description": nul } }),
        ),
        (
            "a user name, as a literal",
            "mutation { createUser(input: { username: \"a\\u0000b\" }) { id } }",
            json!({}),
        ),
        (
            "a variable's default",
            "query($s: String = \"x\\u0000\") { users(search: $s) { totalCount } }",
            json!({}),
        ),
    ];
    for (what, query, variables) in cases {
        let response = app.gql(&admin, query, variables).await;
        assert_eq!(error_code(&response), Some("BAD_USER_INPUT"), "{what}: {response}");
        let message = response["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains("NUL"), "{what}: {message}");
        assert!(response["data"].is_null(), "{what}: nothing ran: {response}");
    }
    for table in ["hooks", "users", "roles", "events", "sign_in_failures"] {
        assert_eq!(app.count_rows(table).await, 0, "nothing stored in {table}");
    }
}
