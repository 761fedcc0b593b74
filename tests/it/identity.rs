//! Identity data through GraphQL, and the events it emits, compared with golden payloads.

use std::time::Duration;

use serde_json::{Value, json};

use crate::db_test;
use crate::golden::assert_golden;
use crate::receiver::Receiver;
use crate::support::{Backend, TestApp, error_code, first_error};

db_test!(
    user_events_match_golden_payloads,
    user_conflicts_validation_and_not_found,
    users_are_tenant_scoped,
    a_failed_emit_leaves_no_user,
    role_and_scope_events_match_golden_payloads,
    role_conflicts_and_atomic_assignment,
    organization_events_and_membership_deltas,
    every_identity_field_is_tenant_scoped,
    organization_role_scope_calls_always_emit,
    racing_creates_get_conflict_not_internal,
);

const USER_EVENTS: [&str; 4] = [
    "User.Created",
    "User.Data.Updated",
    "User.SuspensionStatus.Updated",
    "User.Deleted",
];
const USER: &str = "id username primaryEmail primaryPhone name avatar customData identities profile lastSignInAt applicationId isSuspended hasPassword createdAt updatedAt";
const PASSWORD: &str = "correct horse battery staple";

pub(crate) async fn user_events_match_golden_payloads(backend: Backend) {
    let app = TestApp::delivering(backend, |_| {}).await;
    let receiver = Receiver::spawn().await;
    app.hook_to(&receiver.url, &USER_EVENTS).await;
    let token = app.token("identity:write identity:read", "default");

    let created = app
        .gql(
            &token,
            &format!("mutation($input: CreateUserInput!) {{ createUser(input: $input) {{ {USER} }} }}"),
            json!({ "input": { "username": "ada", "primaryEmail": "Ada@Example.org", "name": "Ada Lovelace",
                "password": PASSWORD, "customData": { "plan": "pro" } } }),
        )
        .await;
    assert_eq!(created["errors"], Value::Null, "{created}");
    let user = &created["data"]["createUser"];
    assert_eq!(user["primaryEmail"], "ada@example.org", "emails are stored lower-case");
    assert_eq!(user["hasPassword"], true);
    let id = user["id"].as_str().expect("id").to_owned();

    let steps = [
        (
            "mutation($id: ID!) { updateUser(id: $id, input: { name: \"Ada King\", primaryPhone: \"+441234567\" }) { id } }",
            json!({}),
        ),
        (
            "mutation($id: ID!, $d: JSON!) { updateUserCustomData(id: $id, customData: $d) }",
            json!({ "d": { "plan": "team", "seats": 5 } }),
        ),
        (
            "mutation($id: ID!, $p: JSON!) { updateUserProfile(id: $id, profile: $p) }",
            json!({ "p": { "givenName": "Ada", "locale": "en" } }),
        ),
        (
            "mutation($id: ID!, $pw: String!) { updateUserPassword(id: $id, password: $pw) { hasPassword } }",
            json!({ "pw": "another long password" }),
        ),
        (
            "mutation($id: ID!) { setUserSuspended(id: $id, isSuspended: true) { isSuspended } }",
            json!({}),
        ),
        ("mutation($id: ID!) { deleteUser(id: $id) }", json!({})),
    ];
    for (query, mut variables) in steps {
        variables["id"] = Value::from(id.as_str());
        let response = app.gql(&token, query, variables).await;
        assert_eq!(response["errors"], Value::Null, "{query}: {response}");
    }

    let received = receiver.wait_for(7, Duration::from_secs(30)).await;
    for request in &received {
        let text = String::from_utf8_lossy(&request.body);
        assert!(
            !text.contains(PASSWORD) && !text.contains("another long password"),
            "a password leaked: {text}"
        );
        assert!(!text.contains("argon2"), "a password hash leaked: {text}");
        let body = request.json();
        let name = match (
            body["event"].as_str().unwrap_or_default(),
            body["matchedRoute"].as_str().unwrap_or_default(),
        ) {
            ("User.Created", _) => "user.created",
            ("User.Data.Updated", "/users/:userId") => "user.data.updated",
            ("User.Data.Updated", "/users/:userId/custom-data") => "user.data.updated.custom-data",
            ("User.Data.Updated", "/users/:userId/profile") => "user.data.updated.profile",
            ("User.Data.Updated", "/users/:userId/password") => "user.data.updated.password",
            ("User.SuspensionStatus.Updated", _) => "user.suspension-status.updated",
            ("User.Deleted", _) => "user.deleted",
            other => panic!("unexpected event {other:?}"),
        };
        assert_golden(name, &body);
        let params = if name == "user.created" {
            json!({})
        } else {
            json!({ "userId": id })
        };
        assert_eq!(body["params"], params, "{name}");
        assert_eq!(body["ip"], "127.0.0.1");
    }
}

async fn user_conflicts_validation_and_not_found(backend: Backend) {
    let app = TestApp::delivering(backend, |_| {}).await;
    let receiver = Receiver::spawn().await;
    app.hook_to(&receiver.url, &USER_EVENTS).await;
    let token = app.token("identity:write identity:read", "default");
    let create = |input: Value| {
        let app = &app;
        let token = token.clone();
        async move {
            app.gql(
                &token,
                "mutation($input: CreateUserInput!) { createUser(input: $input) { id } }",
                json!({ "input": input }),
            )
            .await
        }
    };
    let first = create(json!({ "username": "grace", "primaryEmail": "grace@example.org" })).await;
    let id = first["data"]["createUser"]["id"].as_str().expect("id").to_owned();
    let other = create(json!({ "username": "other" })).await;
    let other_id = other["data"]["createUser"]["id"].as_str().expect("id").to_owned();
    receiver.wait_for(2, Duration::from_secs(30)).await;
    let users_before = app.count_rows("users").await;
    let events_before = app.count_rows("events").await;

    assert_eq!(
        error_code(&create(json!({ "username": "grace" })).await),
        Some("CONFLICT")
    );
    assert_eq!(
        error_code(&create(json!({ "primaryEmail": "GRACE@example.org" })).await),
        Some("CONFLICT")
    );
    for (input, field) in [
        (json!({ "username": "9lives" }), "username"),
        (json!({ "username": "has space" }), "username"),
        (json!({ "primaryEmail": "not-an-email" }), "primaryEmail"),
        (json!({ "primaryPhone": "12ab" }), "primaryPhone"),
        (json!({ "avatar": "ftp://x" }), "avatar"),
        (json!({ "password": "short" }), "password"),
        (json!({ "customData": [1, 2] }), "customData"),
    ] {
        assert_eq!(
            first_error(&create(input.clone()).await),
            (Some("BAD_USER_INPUT"), Some(field)),
            "{input}"
        );
    }
    let rename = app
        .gql(
            &token,
            "mutation($id: ID!) { updateUser(id: $id, input: { username: \"grace\" }) { id } }",
            json!({ "id": other_id }),
        )
        .await;
    assert_eq!(error_code(&rename), Some("CONFLICT"));
    // Setting the same username on its own user is no conflict.
    let same = app
        .gql(
            &token,
            "mutation($id: ID!) { updateUser(id: $id, input: { username: \"grace\", name: null }) { username name } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        same["data"]["updateUser"],
        json!({ "username": "grace", "name": null }),
        "{same}"
    );
    for query in [
        "mutation { updateUser(id: \"nope\", input: { name: \"x\" }) { id } }",
        "mutation { setUserSuspended(id: \"nope\", isSuspended: true) { id } }",
        "mutation { deleteUser(id: \"nope\") }",
        "mutation { updateUserCustomData(id: \"nope\", customData: {}) }",
    ] {
        assert_eq!(
            error_code(&app.gql(&token, query, json!({})).await),
            Some("NOT_FOUND"),
            "{query}"
        );
    }
    assert_eq!(app.count_rows("users").await, users_before);
    assert_eq!(
        app.count_rows("events").await,
        events_before + 1,
        "only the successful rename emitted"
    );

    let found = app
        .gql(
            &token,
            "{ users(search: \"GRAC\") { totalCount edges { node { username } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        found["data"]["users"],
        json!({ "totalCount": 1, "edges": [{ "node": { "username": "grace" } }] })
    );
}

async fn users_are_tenant_scoped(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = app.token("identity:write identity:read", "a");
    let b = app.token("identity:write identity:read", "b");
    let created = app
        .gql(
            &a,
            "mutation { createUser(input: { username: \"shared\" }) { id } }",
            json!({}),
        )
        .await;
    let id = created["data"]["createUser"]["id"].as_str().expect("id").to_owned();
    // The same username is free in another tenant.
    let theirs = app
        .gql(
            &b,
            "mutation { createUser(input: { username: \"shared\" }) { id } }",
            json!({}),
        )
        .await;
    assert!(theirs["data"]["createUser"]["id"].is_string(), "{theirs}");
    let seen = app
        .gql(
            &b,
            "query($id: ID!) { user(id: $id) { id } users { totalCount } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(seen["data"], json!({ "user": null, "users": { "totalCount": 1 } }));
    for query in [
        "mutation($id: ID!) { updateUser(id: $id, input: { name: \"x\" }) { id } }",
        "mutation($id: ID!) { updateUserCustomData(id: $id, customData: {}) }",
        "mutation($id: ID!) { updateUserProfile(id: $id, profile: {}) }",
        "mutation($id: ID!) { updateUserPassword(id: $id, password: \"long enough\") { id } }",
        "mutation($id: ID!) { setUserSuspended(id: $id, isSuspended: true) { id } }",
        "mutation($id: ID!) { deleteUser(id: $id) }",
    ] {
        assert_eq!(
            error_code(&app.gql(&b, query, json!({ "id": id })).await),
            Some("NOT_FOUND"),
            "{query}"
        );
    }
    let still = app
        .gql(
            &a,
            "query($id: ID!) { user(id: $id) { username isSuspended hasPassword } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        still["data"]["user"],
        json!({ "username": "shared", "isSuspended": false, "hasPassword": false })
    );
    // Scopes: reading needs identity:read, writing identity:write.
    let reader = app.token("identity:read", "a");
    assert_eq!(
        error_code(
            &app.gql(&reader, "mutation { createUser(input: {}) { id } }", json!({}))
                .await
        ),
        Some("FORBIDDEN")
    );
    let writer = app.token("identity:write", "a");
    assert_eq!(
        error_code(&app.gql(&writer, "{ users { totalCount } }", json!({})).await),
        Some("FORBIDDEN")
    );
}

async fn a_failed_emit_leaves_no_user(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // A corrupt hook row (empty id) subscribed to User.Created makes the outbox insert fail.
    app.insert_corrupt_hook().await;
    let response = app
        .gql(
            &app.admin(),
            "mutation { createUser(input: { username: \"lost\", password: \"long enough\" }) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&response), Some("INTERNAL"), "{response}");
    assert_eq!(
        app.count_rows("users").await,
        0,
        "the user insert was rolled back with the event"
    );
    assert_eq!(app.count_rows("events").await, 0);
}

const ROLE_EVENTS: [&str; 8] = [
    "Role.Created",
    "Role.Deleted",
    "Role.Data.Updated",
    "Role.Scopes.Updated",
    "Scope.Created",
    "Scope.Deleted",
    "Scope.Data.Updated",
    "User.Roles.Updated",
];

pub(crate) async fn role_and_scope_events_match_golden_payloads(backend: Backend) {
    let app = TestApp::delivering(backend, |_| {}).await;
    let receiver = Receiver::spawn().await;
    app.hook_to(&receiver.url, &ROLE_EVENTS).await;
    let token = app.token("identity:write identity:read", "default");
    let gql = |query: &'static str, variables: Value| {
        let app = &app;
        let token = token.clone();
        async move {
            let response = app.gql(&token, query, variables).await;
            assert_eq!(response["errors"], Value::Null, "{query}: {response}");
            response["data"].clone()
        }
    };

    let resource = gql("mutation { createResource(input: { name: \"Billing API\", indicator: \"https://billing.example.invalid\" }) { id } }", json!({})).await;
    let resource_id = resource["createResource"]["id"].clone();
    let scope = gql(
        "mutation($r: ID!) { createScope(resourceId: $r, input: { name: \"read:invoices\", description: \"Read invoices\" }) { id resourceId name } }",
        json!({ "r": resource_id }),
    )
    .await;
    let scope_id = scope["createScope"]["id"].clone();
    let write = gql(
        "mutation($r: ID!) { createScope(resourceId: $r, input: { name: \"write:invoices\" }) { id } }",
        json!({ "r": resource_id }),
    )
    .await;
    let write_id = write["createScope"]["id"].clone();
    gql(
        "mutation($id: ID!) { updateScope(id: $id, input: { description: \"Read all invoices\" }) { id } }",
        json!({ "id": scope_id }),
    )
    .await;

    let role = gql(
        "mutation($s: [ID!]) { createRole(input: { name: \"billing-admin\", description: \"Manages billing\", scopeIds: $s }) { id type isDefault scopes { name } } }",
        json!({ "s": [scope_id] }),
    )
    .await;
    assert_eq!(role["createRole"]["type"], "USER");
    assert_eq!(role["createRole"]["scopes"], json!([{ "name": "read:invoices" }]));
    let role_id = role["createRole"]["id"].clone();
    gql(
        "mutation($id: ID!) { updateRole(id: $id, input: { isDefault: true }) { id } }",
        json!({ "id": role_id }),
    )
    .await;
    let all = gql(
        "mutation($id: ID!, $s: [ID!]!) { addRoleScopes(id: $id, scopeIds: $s) { name } }",
        json!({ "id": role_id, "s": [write_id] }),
    )
    .await;
    assert_eq!(
        all["addRoleScopes"],
        json!([{ "name": "read:invoices" }, { "name": "write:invoices" }])
    );
    let left = gql(
        "mutation($id: ID!, $s: ID!) { removeRoleScope(id: $id, scopeId: $s) { name } }",
        json!({ "id": role_id, "s": write_id }),
    )
    .await;
    assert_eq!(left["removeRoleScope"], json!([{ "name": "read:invoices" }]));

    let user = gql(
        "mutation { createUser(input: { username: \"linus\" }) { id } }",
        json!({}),
    )
    .await;
    let user_id = user["createUser"]["id"].clone();
    let assigned = gql(
        "mutation($u: ID!, $r: [ID!]!) { assignUserRoles(userId: $u, roleIds: $r) { roles { name } } }",
        json!({ "u": user_id, "r": [role_id] }),
    )
    .await;
    assert_eq!(
        assigned["assignUserRoles"]["roles"],
        json!([{ "name": "billing-admin" }])
    );
    // Assigning it again changes nothing and emits nothing.
    gql(
        "mutation($u: ID!, $r: [ID!]!) { assignUserRoles(userId: $u, roleIds: $r) { id } }",
        json!({ "u": user_id, "r": [role_id] }),
    )
    .await;
    gql(
        "mutation($u: ID!, $r: ID!) { removeUserRole(userId: $u, roleId: $r) { id } }",
        json!({ "u": user_id, "r": role_id }),
    )
    .await;
    gql("mutation($id: ID!) { deleteRole(id: $id) }", json!({ "id": role_id })).await;
    gql("mutation($id: ID!) { deleteScope(id: $id) }", json!({ "id": write_id })).await;

    // Scope.Created ×2, Scope.Data.Updated, Role.Scopes.Updated + Role.Created, Role.Data.Updated,
    // Role.Scopes.Updated ×2, User.Roles.Updated ×2, Role.Deleted, Scope.Deleted.
    let received = receiver.wait_for(12, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.count(), 12, "the repeated assignment emitted nothing");
    let mut bodies: Vec<Value> = received.iter().map(|r| r.json()).collect();
    // Event ids are time-ordered: sort to the order the mutations emitted them.
    bodies.sort_by(|a, b| a["eventId"].as_str().cmp(&b["eventId"].as_str()));
    let names = [
        "scope.created",
        "",
        "scope.data.updated",
        "role.scopes.updated.create",
        "role.created",
        "role.data.updated",
        "role.scopes.updated.add",
        "role.scopes.updated.remove",
        "user.roles.updated.assign",
        "user.roles.updated.remove",
        "role.deleted",
        "scope.deleted",
    ];
    for (name, body) in names.iter().zip(&bodies) {
        if !name.is_empty() {
            assert_golden(name, body);
        }
    }
    assert_eq!(
        bodies[3]["roleId"], role_id,
        "Role.Scopes.Updated on create names the role"
    );
    assert_eq!(bodies[8]["addedRoleIds"], json!([role_id]));
    assert_eq!(bodies[9]["removedRoleIds"], json!([role_id]));
}

async fn role_conflicts_and_atomic_assignment(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.token("identity:write identity:read", "default");
    let first = app
        .gql(
            &token,
            "mutation { createRole(input: { name: \"ops\" }) { id } }",
            json!({}),
        )
        .await;
    let role_id = first["data"]["createRole"]["id"].clone();
    assert_eq!(
        error_code(
            &app.gql(
                &token,
                "mutation { createRole(input: { name: \"ops\" }) { id } }",
                json!({})
            )
            .await
        ),
        Some("CONFLICT")
    );
    let resource = app
        .gql(
            &token,
            "mutation { createResource(input: { name: \"A\", indicator: \"https://a.invalid\" }) { id } }",
            json!({}),
        )
        .await;
    let resource_id = resource["data"]["createResource"]["id"].clone();
    let again = app
        .gql(
            &token,
            "mutation { createResource(input: { name: \"B\", indicator: \"https://a.invalid\" }) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&again), Some("CONFLICT"));
    let scope = "mutation($r: ID!) { createScope(resourceId: $r, input: { name: \"read:a\" }) { id } }";
    assert!(app.gql(&token, scope, json!({ "r": resource_id })).await["errors"].is_null());
    assert_eq!(
        error_code(&app.gql(&token, scope, json!({ "r": resource_id })).await),
        Some("CONFLICT")
    );
    assert_eq!(
        error_code(&app.gql(&token, scope, json!({ "r": "nope" })).await),
        Some("NOT_FOUND")
    );
    let with_bad_scope = app
        .gql(
            &token,
            "mutation { createRole(input: { name: \"x\", scopeIds: [\"nope\"] }) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&with_bad_scope), Some("NOT_FOUND"));

    // One unknown role id: nothing is assigned and nothing is emitted.
    let user = app
        .gql(
            &token,
            "mutation { createUser(input: { username: \"u\" }) { id } }",
            json!({}),
        )
        .await;
    let user_id = user["data"]["createUser"]["id"].clone();
    let roles_before = app.count_rows("roles").await;
    let events_before = app.count_rows("events").await;
    let response = app
        .gql(
            &token,
            "mutation($u: ID!, $r: [ID!]!) { assignUserRoles(userId: $u, roleIds: $r) { id } }",
            json!({ "u": user_id, "r": [role_id, "unknown"] }),
        )
        .await;
    assert_eq!(error_code(&response), Some("NOT_FOUND"));
    assert_eq!(app.count_rows("users_roles").await, 0);
    assert_eq!(app.count_rows("events").await, events_before);
    assert_eq!(
        app.count_rows("roles").await,
        roles_before,
        "the failed createRole stored no role"
    );
    let missing = app
        .gql(
            &token,
            "mutation($u: ID!, $r: ID!) { removeUserRole(userId: $u, roleId: $r) { id } }",
            json!({ "u": user_id, "r": role_id }),
        )
        .await;
    assert_eq!(error_code(&missing), Some("NOT_FOUND"));
    // Another tenant sees none of it.
    let other = app.token("identity:write identity:read", "other");
    let seen = app
        .gql(
            &other,
            "query($id: ID!) { role(id: $id) { id } roles { totalCount } resources { totalCount } }",
            json!({ "id": role_id }),
        )
        .await;
    assert_eq!(
        seen["data"],
        json!({ "role": null, "roles": { "totalCount": 0 }, "resources": { "totalCount": 0 } })
    );
    for query in [
        "mutation($id: ID!) { updateRole(id: $id, input: { name: \"x\" }) { id } }",
        "mutation($id: ID!) { deleteRole(id: $id) }",
        "mutation($id: ID!) { addRoleScopes(id: $id, scopeIds: [\"s\"]) { id } }",
    ] {
        assert_eq!(
            error_code(&app.gql(&other, query, json!({ "id": role_id })).await),
            Some("NOT_FOUND"),
            "{query}"
        );
    }
}

const ORGANIZATION_EVENTS: [&str; 11] = [
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
];

pub(crate) async fn organization_events_and_membership_deltas(backend: Backend) {
    let app = TestApp::delivering(backend, |_| {}).await;
    let receiver = Receiver::spawn().await;
    app.hook_to(&receiver.url, &ORGANIZATION_EVENTS).await;
    let token = app.token("identity:write identity:read", "default");
    let gql = |query: &'static str, variables: Value| {
        let app = &app;
        let token = token.clone();
        async move {
            let response = app.gql(&token, query, variables).await;
            assert_eq!(response["errors"], Value::Null, "{query}: {response}");
            response["data"].clone()
        }
    };
    let mut users = Vec::new();
    for name in ["u1", "u2", "u3"] {
        let created = gql(
            "mutation($n: String!) { createUser(input: { username: $n }) { id } }",
            json!({ "n": name }),
        )
        .await;
        users.push(created["createUser"]["id"].clone());
    }
    let mut apps = Vec::new();
    for name in ["Web", "Worker"] {
        let created = gql(
            "mutation($n: String!) { createApplication(input: { name: $n, type: SPA }) { id type } }",
            json!({ "n": name }),
        )
        .await;
        assert_eq!(created["createApplication"]["type"], "SPA");
        apps.push(created["createApplication"]["id"].clone());
    }

    let org = gql("mutation { createOrganization(input: { name: \"Acme\", description: \"Rockets\", customData: { tier: 1 } }) { id } }", json!({})).await;
    let org_id = org["createOrganization"]["id"].clone();
    gql("mutation($id: ID!) { updateOrganization(id: $id, input: { description: null, customData: { tier: 2 } }) { id } }", json!({ "id": org_id })).await;
    let members =
        "mutation($id: ID!, $u: [ID!]!) { addOrganizationMembers(id: $id, userIds: $u) { members { username } } }";
    let added = gql(members, json!({ "id": org_id, "u": [users[0], users[1]] })).await;
    assert_eq!(
        added["addOrganizationMembers"]["members"].as_array().map(Vec::len),
        Some(2)
    );
    // u1 again and u3: only u3 is new.
    gql(members, json!({ "id": org_id, "u": [users[0], users[2]] })).await;
    // Adding only existing members changes nothing and emits nothing.
    gql(members, json!({ "id": org_id, "u": [users[0]] })).await;
    // Replace {u1,u2,u3} with {u2, …}: removes u1 and u3, adds nothing.
    let replaced = gql(
        "mutation($id: ID!, $u: [ID!]!) { replaceOrganizationMembers(id: $id, userIds: $u) { members { username } } }",
        json!({ "id": org_id, "u": [users[1]] }),
    )
    .await;
    assert_eq!(
        replaced["replaceOrganizationMembers"]["members"],
        json!([{ "username": "u2" }])
    );
    gql(
        "mutation($id: ID!, $u: ID!) { removeOrganizationMember(id: $id, userId: $u) { id } }",
        json!({ "id": org_id, "u": users[1] }),
    )
    .await;
    gql(
        "mutation($id: ID!, $a: [ID!]!) { addOrganizationApplications(id: $id, applicationIds: $a) { id } }",
        json!({ "id": org_id, "a": [apps[0]] }),
    )
    .await;
    gql("mutation($id: ID!, $a: [ID!]!) { replaceOrganizationApplications(id: $id, applicationIds: $a) { applications { name } } }", json!({ "id": org_id, "a": [apps[1]] })).await;
    gql(
        "mutation($id: ID!, $a: ID!) { removeOrganizationApplication(id: $id, applicationId: $a) { id } }",
        json!({ "id": org_id, "a": apps[1] }),
    )
    .await;

    let scope = gql(
        "mutation { createOrganizationScope(input: { name: \"read:members\", description: \"See members\" }) { id } }",
        json!({}),
    )
    .await;
    let scope_id = scope["createOrganizationScope"]["id"].clone();
    let other_scope = gql(
        "mutation { createOrganizationScope(input: { name: \"invite:members\" }) { id } }",
        json!({}),
    )
    .await;
    let other_scope_id = other_scope["createOrganizationScope"]["id"].clone();
    gql(
        "mutation($id: ID!) { updateOrganizationScope(id: $id, input: { description: \"See all members\" }) { id } }",
        json!({ "id": scope_id }),
    )
    .await;
    let role = gql(
        "mutation($s: [ID!]) { createOrganizationRole(input: { name: \"viewer\", organizationScopeIds: $s }) { id type scopes { name } } }",
        json!({ "s": [scope_id] }),
    )
    .await;
    assert_eq!(
        role["createOrganizationRole"]["scopes"],
        json!([{ "name": "read:members" }])
    );
    let role_id = role["createOrganizationRole"]["id"].clone();
    gql(
        "mutation($id: ID!) { updateOrganizationRole(id: $id, input: { description: \"Read only\" }) { id } }",
        json!({ "id": role_id }),
    )
    .await;
    gql(
        "mutation($id: ID!, $s: [ID!]!) { addOrganizationRoleScopes(id: $id, organizationScopeIds: $s) { id } }",
        json!({ "id": role_id, "s": [other_scope_id] }),
    )
    .await;
    gql("mutation($id: ID!, $s: [ID!]!) { replaceOrganizationRoleScopes(id: $id, organizationScopeIds: $s) { scopes { name } } }", json!({ "id": role_id, "s": [other_scope_id] })).await;
    gql(
        "mutation($id: ID!, $s: ID!) { removeOrganizationRoleScope(id: $id, organizationScopeId: $s) { id } }",
        json!({ "id": role_id, "s": other_scope_id }),
    )
    .await;
    gql(
        "mutation($id: ID!) { deleteOrganizationRole(id: $id) }",
        json!({ "id": role_id }),
    )
    .await;
    gql(
        "mutation($id: ID!) { deleteOrganizationScope(id: $id) }",
        json!({ "id": scope_id }),
    )
    .await;
    gql(
        "mutation($id: ID!) { deleteOrganization(id: $id) }",
        json!({ "id": org_id }),
    )
    .await;

    let names = [
        "organization.created",
        "organization.data.updated",
        "organization.membership.updated.add",
        "organization.membership.updated.add-existing",
        "organization.membership.updated.replace",
        "organization.membership.updated.remove",
        "organization.membership.updated.add-applications",
        "organization.membership.updated.replace-applications",
        "organization.membership.updated.remove-application",
        "organization-scope.created",
        "",
        "organization-scope.data.updated",
        "organization-role.scopes.updated.create",
        "organization-role.created",
        "organization-role.data.updated",
        "organization-role.scopes.updated.add",
        "organization-role.scopes.updated.replace",
        "organization-role.scopes.updated.remove",
        "organization-role.deleted",
        "organization-scope.deleted",
        "organization.deleted",
    ];
    let received = receiver.wait_for(names.len(), Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        receiver.count(),
        names.len(),
        "no-op membership changes emitted nothing"
    );
    let mut bodies: Vec<Value> = received.iter().map(|r| r.json()).collect();
    bodies.sort_by(|a, b| a["eventId"].as_str().cmp(&b["eventId"].as_str()));
    for (name, body) in names.iter().zip(&bodies) {
        if !name.is_empty() {
            assert_golden(name, body);
        }
    }
    // The deltas, by id.
    assert_eq!(bodies[2]["addedUserIds"], json!([users[0], users[1]]));
    assert_eq!(bodies[3]["addedUserIds"], json!([users[2]]));
    assert_eq!(bodies[4]["removedUserIds"], json!([users[0], users[2]]));
    assert!(bodies[4].get("addedUserIds").is_none(), "empty lists are omitted");
    assert_eq!(bodies[5]["removedUserIds"], json!([users[1]]));
    assert_eq!(bodies[7]["addedApplicationIds"], json!([apps[1]]));
    assert_eq!(bodies[7]["removedApplicationIds"], json!([apps[0]]));
    assert_eq!(bodies[12]["organizationRoleId"], role_id);

    // Unknown members change nothing.
    let org = gql(
        "mutation { createOrganization(input: { name: \"Empty\" }) { id } }",
        json!({}),
    )
    .await;
    let bad = app
        .gql(
            &token,
            "mutation($id: ID!, $u: [ID!]!) { addOrganizationMembers(id: $id, userIds: $u) { id } }",
            json!({ "id": org["createOrganization"]["id"], "u": [users[0], "ghost"] }),
        )
        .await;
    assert_eq!(error_code(&bad), Some("NOT_FOUND"));
    assert_eq!(app.count_rows("organization_users").await, 0);
    let conflict = app
        .gql(
            &token,
            "mutation { createOrganizationScope(input: { name: \"invite:members\" }) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&conflict), Some("CONFLICT"));
    gql(
        "mutation { createOrganizationRole(input: { name: \"admin\" }) { id } }",
        json!({}),
    )
    .await;
    let taken = app
        .gql(
            &token,
            "mutation { createOrganizationRole(input: { name: \"admin\" }) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&taken), Some("CONFLICT"));
}

pub(crate) async fn every_identity_field_is_tenant_scoped(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let a = app.token("identity:write identity:read interactions:write", "a");
    let b = app.token("identity:write identity:read interactions:write", "b");
    let data = |response: Value| {
        assert_eq!(response["errors"], Value::Null, "{response}");
        response["data"].clone()
    };
    let user = data(
        app.gql(
            &a,
            "mutation { createUser(input: { username: \"alice\", password: \"alice's secret\" }) { id } }",
            json!({}),
        )
        .await,
    )["createUser"]["id"]
        .clone();
    let role = data(
        app.gql(&a, "mutation { createRole(input: { name: \"r\" }) { id } }", json!({}))
            .await,
    )["createRole"]["id"]
        .clone();
    let resource = data(
        app.gql(
            &a,
            "mutation { createResource(input: { name: \"api\", indicator: \"https://api.invalid\" }) { id } }",
            json!({}),
        )
        .await,
    )["createResource"]["id"]
        .clone();
    let scope = data(
        app.gql(
            &a,
            "mutation($r: ID!) { createScope(resourceId: $r, input: { name: \"read:x\" }) { id } }",
            json!({ "r": resource }),
        )
        .await,
    )["createScope"]["id"]
        .clone();
    let org = data(
        app.gql(
            &a,
            "mutation { createOrganization(input: { name: \"o\" }) { id } }",
            json!({}),
        )
        .await,
    )["createOrganization"]["id"]
        .clone();
    let org_role = data(
        app.gql(
            &a,
            "mutation { createOrganizationRole(input: { name: \"or\" }) { id } }",
            json!({}),
        )
        .await,
    )["createOrganizationRole"]["id"]
        .clone();
    let org_scope = data(
        app.gql(
            &a,
            "mutation { createOrganizationScope(input: { name: \"os\" }) { id } }",
            json!({}),
        )
        .await,
    )["createOrganizationScope"]["id"]
        .clone();
    let application = data(
        app.gql(
            &a,
            "mutation { createApplication(input: { name: \"w\", type: SPA }) { id } }",
            json!({}),
        )
        .await,
    )["createApplication"]["id"]
        .clone();
    data(
        app.gql(
            &a,
            "mutation($u: ID!, $r: ID!) { assignUserRoles(userId: $u, roleIds: [$r]) { id } }",
            json!({ "u": user, "r": role }),
        )
        .await,
    );
    data(
        app.gql(
            &a,
            "mutation($o: ID!, $u: ID!) { addOrganizationMembers(id: $o, userIds: [$u]) { id } }",
            json!({ "o": org, "u": user }),
        )
        .await,
    );
    let vars = json!({ "user": user, "role": role, "resource": resource, "scope": scope, "org": org, "orgRole": org_role, "orgScope": org_scope, "app": application });
    let events_before = app.count_rows("events").await;

    // Every query: nothing of tenant A.
    let seen = app
        .gql(
            &b,
            "query($user: ID!, $role: ID!, $org: ID!, $app: ID!) { user(id: $user) { id } role(id: $role) { id } organization(id: $org) { id } application(id: $app) { id }
             users { totalCount } roles { totalCount } resources { totalCount } organizations { totalCount } organizationRoles { totalCount } organizationScopes { totalCount } applications { totalCount } }",
            vars.clone(),
        )
        .await;
    let zero = json!({ "totalCount": 0 });
    assert_eq!(
        seen["data"],
        json!({ "user": null, "role": null, "organization": null, "application": null, "users": zero, "roles": zero, "resources": zero,
                "organizations": zero, "organizationRoles": zero, "organizationScopes": zero, "applications": zero }),
        "{seen}"
    );
    // Every mutation on A's ids: NOT_FOUND, nothing changed, nothing emitted.
    let mutations = [
        "mutation($user: ID!) { updateUser(id: $user, input: { name: \"x\" }) { id } }",
        "mutation($user: ID!) { updateUserCustomData(id: $user, customData: {}) }",
        "mutation($user: ID!) { updateUserProfile(id: $user, profile: {}) }",
        "mutation($user: ID!) { updateUserPassword(id: $user, password: \"long enough\") { id } }",
        "mutation($user: ID!) { setUserSuspended(id: $user, isSuspended: true) { id } }",
        "mutation($user: ID!) { deleteUser(id: $user) }",
        "mutation($user: ID!, $role: ID!) { assignUserRoles(userId: $user, roleIds: [$role]) { id } }",
        "mutation($user: ID!, $role: ID!) { removeUserRole(userId: $user, roleId: $role) { id } }",
        "mutation($role: ID!) { updateRole(id: $role, input: { name: \"x\" }) { id } }",
        "mutation($role: ID!) { deleteRole(id: $role) }",
        "mutation($role: ID!, $scope: ID!) { addRoleScopes(id: $role, scopeIds: [$scope]) { id } }",
        "mutation($role: ID!, $scope: ID!) { removeRoleScope(id: $role, scopeId: $scope) { id } }",
        "mutation($resource: ID!) { createScope(resourceId: $resource, input: { name: \"y\" }) { id } }",
        "mutation($scope: ID!) { updateScope(id: $scope, input: { name: \"y\" }) { id } }",
        "mutation($scope: ID!) { deleteScope(id: $scope) }",
        "mutation($org: ID!) { updateOrganization(id: $org, input: { name: \"x\" }) { id } }",
        "mutation($org: ID!) { deleteOrganization(id: $org) }",
        "mutation($org: ID!, $user: ID!) { addOrganizationMembers(id: $org, userIds: [$user]) { id } }",
        "mutation($org: ID!, $user: ID!) { replaceOrganizationMembers(id: $org, userIds: [$user]) { id } }",
        "mutation($org: ID!, $user: ID!) { removeOrganizationMember(id: $org, userId: $user) { id } }",
        "mutation($org: ID!, $app: ID!) { addOrganizationApplications(id: $org, applicationIds: [$app]) { id } }",
        "mutation($org: ID!, $app: ID!) { replaceOrganizationApplications(id: $org, applicationIds: [$app]) { id } }",
        "mutation($org: ID!, $app: ID!) { removeOrganizationApplication(id: $org, applicationId: $app) { id } }",
        "mutation($orgRole: ID!) { updateOrganizationRole(id: $orgRole, input: { name: \"x\" }) { id } }",
        "mutation($orgRole: ID!) { deleteOrganizationRole(id: $orgRole) }",
        "mutation($orgRole: ID!, $orgScope: ID!) { addOrganizationRoleScopes(id: $orgRole, organizationScopeIds: [$orgScope]) { id } }",
        "mutation($orgRole: ID!, $orgScope: ID!) { replaceOrganizationRoleScopes(id: $orgRole, organizationScopeIds: [$orgScope]) { id } }",
        "mutation($orgRole: ID!, $orgScope: ID!) { removeOrganizationRoleScope(id: $orgRole, organizationScopeId: $orgScope) { id } }",
        "mutation($orgScope: ID!) { updateOrganizationScope(id: $orgScope, input: { name: \"x\" }) { id } }",
        "mutation($orgScope: ID!) { deleteOrganizationScope(id: $orgScope) }",
    ];
    for query in mutations {
        let response = app.gql(&b, query, vars.clone()).await;
        assert_eq!(error_code(&response), Some("NOT_FOUND"), "{query}: {response}");
    }
    // Interactions of tenant B do not find tenant A's user.
    let sign_in = app
        .gql(
            &b,
            "mutation { signIn(input: { identifier: \"alice\", password: \"alice's secret\" }) { userId } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&sign_in), Some("UNAUTHENTICATED"));
    // B's lists stay empty and A's data is whole.
    assert_eq!(
        app.count_rows("events").await,
        events_before,
        "no rejected mutation emitted anything"
    );
    let mine = app
        .gql(&a, "query($user: ID!, $org: ID!) { user(id: $user) { name roles { id } } organization(id: $org) { members { id } } }", json!({ "user": user, "org": org }))
        .await;
    assert_eq!(
        mine["data"],
        json!({ "user": { "name": null, "roles": [{ "id": role }] }, "organization": { "members": [{ "id": user }] } })
    );
}

async fn organization_role_scope_calls_always_emit(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin();
    let gql = |query: &'static str, variables: Value| {
        let app = &app;
        let admin = admin.clone();
        async move {
            let response = app.gql(&admin, query, variables).await;
            assert_eq!(response["errors"], Value::Null, "{response}");
            response["data"].clone()
        }
    };
    let count = || async {
        gql(
            "{ events(type: \"OrganizationRole.Scopes.Updated\") { totalCount } }",
            json!({}),
        )
        .await["events"]["totalCount"]
            .as_i64()
            .expect("count")
    };
    let scope = gql(
        "mutation { createOrganizationScope(input: { name: \"read:docs\" }) { id } }",
        json!({}),
    )
    .await["createOrganizationScope"]["id"]
        .clone();
    let role = gql(
        "mutation($s: [ID!]) { createOrganizationRole(input: { name: \"reader\", organizationScopeIds: $s }) { id } }",
        json!({ "s": [scope] }),
    )
    .await["createOrganizationRole"]["id"]
        .clone();
    assert_eq!(count().await, 1, "creating with permissions emits once");
    // Granting a permission the role has, and replacing with the same set: Logto's routes emit
    // on every successful call.
    gql(
        "mutation($id: ID!, $s: [ID!]!) { addOrganizationRoleScopes(id: $id, organizationScopeIds: $s) { id } }",
        json!({ "id": role, "s": [scope] }),
    )
    .await;
    assert_eq!(count().await, 2);
    gql(
        "mutation($id: ID!, $s: [ID!]!) { replaceOrganizationRoleScopes(id: $id, organizationScopeIds: $s) { id } }",
        json!({ "id": role, "s": [scope] }),
    )
    .await;
    assert_eq!(count().await, 3);
}

async fn racing_creates_get_conflict_not_internal(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.token("identity:write", "default");
    // Twenty at once with one username (no password, so nothing waits for Argon2): the unique
    // index decides, and every loser gets CONFLICT.
    let creates = (0..20).map(|i| {
        let app = &app;
        let admin = admin.clone();
        async move {
            app.gql(
                &admin,
                "mutation($e: String!) { createUser(input: { username: \"racer\", primaryEmail: $e }) { id } }",
                json!({ "e": format!("racer{i}@example.org") }),
            )
            .await
        }
    });
    let answers = futures_util::future::join_all(creates).await;
    let created = answers
        .iter()
        .filter(|a| a["data"]["createUser"]["id"].is_string())
        .count();
    let conflicts = answers.iter().filter(|a| error_code(a) == Some("CONFLICT")).count();
    assert_eq!((created, conflicts), (1, 19), "{answers:?}");
    assert_eq!(app.count_rows("users").await, 1);
}
