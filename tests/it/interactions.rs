//! Interactions: register, sign in, reset password, lockout; their events and golden payloads.

use std::time::Duration;

use serde_json::{Value, json};

use crate::db_test;
use crate::golden::assert_golden;
use crate::receiver::Receiver;
use crate::support::{Backend, TestApp, error_code};

db_test!(
    interaction_events_match_golden_payloads,
    sign_in_rules,
    concurrency_cannot_bypass_the_lockout,
);

const EVENTS: [&str; 6] = [
    "PostRegister",
    "PostSignIn",
    "PostResetPassword",
    "User.Created",
    "User.Data.Updated",
    "Identifier.Lockout",
];
const SIGN_IN: &str = "mutation($i: String!, $p: String!, $a: ID) { signIn(input: { identifier: $i, password: $p, applicationId: $a }) { userId sessionId } }";

pub(crate) async fn interaction_events_match_golden_payloads(backend: Backend) {
    let app = TestApp::delivering(backend, |_| {}).await;
    let receiver = Receiver::spawn().await;
    app.hook_to(&receiver.url, &EVENTS).await;
    let admin = app.token("identity:write", "default");
    let front = app.token("interactions:write", "default");
    let spa = app
        .gql(
            &admin,
            "mutation { createApplication(input: { name: \"Web\", type: SPA, description: \"The web app\" }) { id } }",
            json!({}),
        )
        .await;
    let app_id = spa["data"]["createApplication"]["id"].clone();

    let registered = app
        .gql(
            &front,
            "mutation($a: ID) { register(input: { username: \"mira\", email: \"Mira@Example.org\", password: \"first password\", applicationId: $a }) { userId sessionId } }",
            json!({ "a": app_id }),
        )
        .await;
    assert_eq!(registered["errors"], Value::Null, "{registered}");
    let user_id = registered["data"]["register"]["userId"].clone();
    let signed_in = app
        .gql(
            &front,
            SIGN_IN,
            json!({ "i": "mira", "p": "first password", "a": app_id }),
        )
        .await;
    assert_eq!(signed_in["data"]["signIn"]["userId"], user_id, "{signed_in}");
    let reset = app
        .gql(
            &front,
            "mutation($a: ID) { resetPassword(input: { identifier: \"mira@example.org\", newPassword: \"second password\", applicationId: $a }) { userId } }",
            json!({ "a": app_id }),
        )
        .await;
    assert_eq!(reset["data"]["resetPassword"]["userId"], user_id, "{reset}");
    // Five failures lock the identifier; the fifth and every locked attempt emit Identifier.Lockout.
    for attempt in 1..=6 {
        let response = app
            .gql(
                &front,
                SIGN_IN,
                json!({ "i": "mira", "p": "wrong password", "a": app_id }),
            )
            .await;
        let expected = if attempt <= 5 {
            "UNAUTHENTICATED"
        } else {
            "IDENTIFIER_LOCKED"
        };
        assert_eq!(error_code(&response), Some(expected), "attempt {attempt}: {response}");
    }

    let names = [
        "interaction.user.created",
        "post-register",
        "post-sign-in",
        "interaction.user.data.updated",
        "post-reset-password",
        "identifier.lockout",
        "identifier.lockout",
    ];
    let received = receiver.wait_for(names.len(), Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.count(), names.len());
    let mut bodies: Vec<Value> = received.iter().map(|r| r.json()).collect();
    bodies.sort_by(|a, b| a["eventId"].as_str().cmp(&b["eventId"].as_str()));
    for (name, body) in names.iter().zip(&bodies) {
        assert_golden(name, body);
        let text = body.to_string();
        for secret in ["first password", "second password", "wrong password", "argon2"] {
            assert!(!text.contains(secret), "{secret:?} leaked into {name}");
        }
    }
    assert_eq!(
        bodies[0]["data"]["applicationId"], app_id,
        "the user remembers the application it registered through"
    );
    assert_eq!(bodies[1]["userId"], user_id);
    assert!(bodies[2]["user"]["lastSignInAt"].is_number());
    assert_eq!(
        bodies[1]["sessionId"], bodies[0]["sessionId"],
        "one interaction, one session"
    );
    assert_eq!(bodies[5]["value"], "mira");
    assert_eq!(bodies[5]["type"], "username");
}

pub(crate) async fn sign_in_rules(backend: Backend) {
    let app = TestApp::spawn_with(backend, |raw| raw.lockout_window = Some("5s".into())).await;
    let front = app.token("interactions:write", "default");
    let register = |username: &str, password: &str| {
        let app = &app;
        let front = front.clone();
        let query = format!(
            "mutation {{ register(input: {{ username: \"{username}\", password: \"{password}\" }}) {{ userId }} }}"
        );
        async move { app.gql(&front, &query, json!({})).await }
    };
    let user = register("sam", "sam's password").await;
    assert!(user["data"]["register"]["userId"].is_string(), "{user}");
    assert_eq!(error_code(&register("sam", "another one!").await), Some("CONFLICT"));
    assert_eq!(
        error_code(
            &app.gql(
                &front,
                "mutation { register(input: { password: \"long enough\" }) { userId } }",
                json!({})
            )
            .await
        ),
        Some("BAD_USER_INPUT")
    );

    // Wrong password and unknown user look the same.
    let wrong = app.gql(&front, SIGN_IN, json!({ "i": "sam", "p": "nope nope" })).await;
    let unknown = app
        .gql(&front, SIGN_IN, json!({ "i": "nobody", "p": "nope nope" }))
        .await;
    assert_eq!(error_code(&wrong), Some("UNAUTHENTICATED"));
    assert_eq!(wrong["errors"][0]["message"], unknown["errors"][0]["message"]);
    assert_eq!(error_code(&unknown), Some("UNAUTHENTICATED"));

    // Locked after five failures, even with the right password; free again after the window.
    for _ in 0..4 {
        app.gql(&front, SIGN_IN, json!({ "i": "sam", "p": "nope nope" })).await;
    }
    let locked = app
        .gql(&front, SIGN_IN, json!({ "i": "sam", "p": "sam's password" }))
        .await;
    assert_eq!(error_code(&locked), Some("IDENTIFIER_LOCKED"), "{locked}");
    tokio::time::sleep(Duration::from_millis(5500)).await;
    let ok = app
        .gql(&front, SIGN_IN, json!({ "i": "sam", "p": "sam's password" }))
        .await;
    assert!(ok["data"]["signIn"]["sessionId"].is_string(), "{ok}");

    // Reset, then only the new password works.
    let reset = app
        .gql(
            &front,
            "mutation { resetPassword(input: { identifier: \"sam\", newPassword: \"brand new secret\" }) { userId } }",
            json!({}),
        )
        .await;
    assert!(reset["data"]["resetPassword"]["userId"].is_string(), "{reset}");
    assert_eq!(
        error_code(
            &app.gql(&front, SIGN_IN, json!({ "i": "sam", "p": "sam's password" }))
                .await
        ),
        Some("UNAUTHENTICATED")
    );
    assert!(
        app.gql(&front, SIGN_IN, json!({ "i": "sam", "p": "brand new secret" }))
            .await["data"]["signIn"]
            .is_object()
    );
    let unknown_reset = app
        .gql(&front, "mutation { resetPassword(input: { identifier: \"ghost\", newPassword: \"brand new secret\" }) { userId } }", json!({}))
        .await;
    assert_eq!(error_code(&unknown_reset), Some("UNAUTHENTICATED"));

    // A suspended user cannot sign in.
    let admin = app.token("identity:write", "default");
    let id = user["data"]["register"]["userId"].clone();
    app.gql(
        &admin,
        "mutation($id: ID!) { setUserSuspended(id: $id, isSuspended: true) { id } }",
        json!({ "id": id }),
    )
    .await;
    let suspended = app
        .gql(&front, SIGN_IN, json!({ "i": "sam", "p": "brand new secret" }))
        .await;
    assert_eq!(error_code(&suspended), Some("FORBIDDEN"));
    // Unknown application ids are refused.
    let bad_app = app
        .gql(&front, SIGN_IN, json!({ "i": "sam", "p": "x", "a": "nope" }))
        .await;
    assert_eq!(error_code(&bad_app), Some("BAD_USER_INPUT"));
    // Interactions need their scope.
    assert_eq!(
        error_code(&app.gql(&admin, SIGN_IN, json!({ "i": "sam", "p": "x" })).await),
        Some("FORBIDDEN")
    );
}

async fn concurrency_cannot_bypass_the_lockout(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let front = app.token("interactions:write", "default");
    let registered = app
        .gql(
            &front,
            "mutation { register(input: { username: \"noor\", password: \"the right password\" }) { userId } }",
            json!({}),
        )
        .await;
    assert_eq!(registered["errors"], Value::Null, "{registered}");
    // 39 wrong passwords and the right one, all at once.
    let attempts = (0..40).map(|i| {
        let password = if i == 20 {
            "the right password".to_owned()
        } else {
            format!("wrong password {i}")
        };
        let front = front.clone();
        let app = &app;
        async move { app.gql(&front, SIGN_IN, json!({ "i": "noor", "p": password })).await }
    });
    let answers = futures_util::future::join_all(attempts).await;
    let code = |a: &Value| error_code(a).map(str::to_owned);
    let wrong = answers
        .iter()
        .filter(|a| code(a).as_deref() == Some("UNAUTHENTICATED"))
        .count();
    let locked = answers
        .iter()
        .filter(|a| code(a).as_deref() == Some("IDENTIFIER_LOCKED"))
        .count();
    let busy = answers.iter().filter(|a| code(a).as_deref() == Some("BUSY")).count();
    let signed_in = answers
        .iter()
        .filter(|a| a["data"]["signIn"]["userId"].is_string())
        .count();
    eprintln!("{backend:?}: {wrong} wrong, {signed_in} signed in, {locked} locked, {busy} busy");
    assert_eq!(
        wrong + locked + busy + signed_in,
        40,
        "every attempt got an answer: {answers:?}"
    );
    // At most 5 passwords failed to verify in the window; the right one, if it got a check, is
    // no failure (and does not clear the others).
    assert!(wrong <= 5, "{wrong} wrong passwords were checked");
    assert!(wrong + signed_in <= 6, "{} passwords were checked", wrong + signed_in);
    if signed_in == 0 {
        assert!(locked >= 35 - busy, "the rest were refused without a check");
    }
}
