//! Authentication and authorization through the public surface (SPEC §2).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::db_test;
use crate::support::{Backend, TEST_SECRET, TestApp, error_code};

db_test!(
    bad_tokens_are_unauthenticated,
    every_root_field_checks_its_scope,
    public_key_pins_rs256,
    jwks_keys_and_refetch_limit,
);

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "hookd-api";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).expect("fixture")
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn sign(algorithm: Algorithm, key: &EncodingKey, claims: Value, kid: Option<&str>) -> String {
    let mut header = Header::new(algorithm);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, &claims, key).expect("encode")
}

fn hs256(secret: &[u8], claims: Value) -> String {
    sign(Algorithm::HS256, &EncodingKey::from_secret(secret), claims, None)
}

fn claims(overrides: Value) -> Value {
    let mut claims = json!({
        "sub": "tester", "scope": "admin", "tenant": "default",
        "iss": ISSUER, "aud": AUDIENCE, "iat": now(), "exp": now() + 600,
    });
    for (k, v) in overrides.as_object().expect("object") {
        if v.is_null() {
            claims.as_object_mut().expect("object").remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    claims
}

const PROBE: &str = "{ hooks { totalCount } }";

async fn bad_tokens_are_unauthenticated(backend: Backend) {
    let app = TestApp::spawn_with(backend, |raw| {
        raw.jwt_issuer = Some(ISSUER.into());
        raw.jwt_audience = Some(AUDIENCE.into());
    })
    .await;
    let secret = TEST_SECRET.as_bytes();
    let valid = hs256(secret, claims(json!({})));
    let ok = app.gql(&valid, PROBE, json!({})).await;
    assert_eq!(ok["data"]["hooks"]["totalCount"], 0, "{ok}");
    // Inside the 30 s leeway is still valid.
    let just_expired = hs256(secret, claims(json!({ "exp": now() - 10 })));
    assert_eq!(app.gql(&just_expired, PROBE, json!({})).await["errors"], Value::Null);

    let alg_none = {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(claims(json!({})).to_string());
        format!("{header}.{payload}.")
    };
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        (
            "not a bearer header",
            Some(format!("Basic {}", URL_SAFE_NO_PAD.encode("a:b"))),
        ),
        ("malformed token", Some("Bearer not.a.jwt".into())),
        (
            "bad signature",
            Some(format!(
                "Bearer {}",
                hs256(b"another-secret-another-secret-0123456789", claims(json!({})))
            )),
        ),
        ("alg none", Some(format!("Bearer {alg_none}"))),
        (
            "expired",
            Some(format!(
                "Bearer {}",
                hs256(secret, claims(json!({ "exp": now() - 120 })))
            )),
        ),
        (
            "not yet valid",
            Some(format!(
                "Bearer {}",
                hs256(secret, claims(json!({ "nbf": now() + 120 })))
            )),
        ),
        (
            "no exp",
            Some(format!("Bearer {}", hs256(secret, claims(json!({ "exp": null }))))),
        ),
        (
            "wrong iss",
            Some(format!(
                "Bearer {}",
                hs256(secret, claims(json!({ "iss": "https://evil.test" })))
            )),
        ),
        (
            "no iss",
            Some(format!("Bearer {}", hs256(secret, claims(json!({ "iss": null }))))),
        ),
        (
            "wrong aud",
            Some(format!(
                "Bearer {}",
                hs256(secret, claims(json!({ "aud": "other-api" })))
            )),
        ),
        (
            "tenant not a string",
            Some(format!("Bearer {}", hs256(secret, claims(json!({ "tenant": 7 }))))),
        ),
    ];
    for (label, authorization) in cases {
        for query in [
            PROBE,
            "mutation { createHook(input: { name: \"x\", events: [\"User.Created\"], url: \"https://example.invalid/\" }) { id } }",
        ] {
            let response = app.gql_raw(authorization.as_deref(), query, json!({})).await;
            assert_eq!(error_code(&response), Some("UNAUTHENTICATED"), "{label}: {response}");
            assert_eq!(response["data"], Value::Null, "{label}");
        }
    }
    assert!(app.hook_rows().await.is_empty(), "no rejected request created anything");

    // The HTTP status says so too, for clients that look at it.
    let status = app
        .client()
        .post(format!("{}/graphql", app.base_url))
        .json(&json!({ "query": PROBE }))
        .send()
        .await
        .expect("request")
        .status();
    assert_eq!(status, 401);
}

async fn every_root_field_checks_its_scope(backend: Backend) {
    let app = TestApp::delivering(backend, |_| {}).await;
    let receiver = crate::receiver::Receiver::spawn().await;
    let hook = app.hook_to(&receiver.url, &["User.Created"]).await;
    let id = hook["id"].as_str().expect("id").to_owned();
    let event_id = app.emit("User.Created", json!({})).await;
    let delivery = app.wait_for_status(&event_id, "SUCCEEDED").await;
    // Created after the emit, so nothing is ever delivered to its (unreachable) URL.
    let victim = app
        .create_hook(&app.admin(), "to delete", "https://example.invalid/")
        .await;
    let victim_id = victim["id"].as_str().expect("id").to_owned();
    let delivery_id = delivery["id"].as_str().expect("id").to_owned();
    let url = &receiver.url;

    // (root field, operation, the scope it needs, the scopes that suffice together)
    let operations: Vec<(&str, String, &str, &str)> = vec![
        ("hook", format!("{{ hook(id: \"{id}\") {{ id }} }}"), "hooks:read", "hooks:read"),
        ("hooks", "{ hooks { totalCount } }".into(), "hooks:read", "hooks:read"),
        ("eventTypes", "{ eventTypes { name } }".into(), "hooks:read", "hooks:read"),
        ("Hook.signingKey", format!("{{ hook(id: \"{id}\") {{ signingKey }} }}"), "hooks:write", "hooks:read hooks:write"),
        ("Hook.previousSigningKeys", format!("{{ hook(id: \"{id}\") {{ previousSigningKeys {{ key }} }} }}"), "hooks:write", "hooks:read hooks:write"),
        ("createHook", "mutation { createHook(input: { name: \"s\", events: [\"User.Created\"], url: \"https://example.invalid/\" }) { id } }".into(), "hooks:write", "hooks:write"),
        ("updateHook", format!("mutation {{ updateHook(id: \"{id}\", input: {{ name: \"renamed\" }}) {{ id }} }}"), "hooks:write", "hooks:write"),
        ("rotateHookSigningKey", format!("mutation {{ rotateHookSigningKey(id: \"{id}\") {{ id }} }}"), "hooks:write", "hooks:write"),
        ("deleteHook", format!("mutation {{ deleteHook(id: \"{victim_id}\") }}"), "hooks:write", "hooks:write"),
        ("testHook", format!("mutation {{ testHook(id: \"{id}\", events: [\"User.Created\"], url: \"{url}\") {{ ok }} }}"), "hooks:write", "hooks:write"),
        ("event", format!("{{ event(id: \"{event_id}\") {{ id }} }}"), "deliveries:read", "deliveries:read"),
        ("events", "{ events { totalCount } }".into(), "deliveries:read", "deliveries:read"),
        ("delivery", format!("{{ delivery(id: \"{delivery_id}\") {{ id }} }}"), "deliveries:read", "deliveries:read"),
        ("deliveries", "{ deliveries { totalCount } }".into(), "deliveries:read", "deliveries:read"),
        ("Hook.deliveries", format!("{{ hook(id: \"{id}\") {{ deliveries {{ totalCount }} }} }}"), "deliveries:read", "hooks:read deliveries:read"),
        ("Hook.executionStats", format!("{{ hook(id: \"{id}\") {{ executionStats {{ requestCount }} }} }}"), "deliveries:read", "hooks:read deliveries:read"),
        ("Hook.executionHistory", format!("{{ hook(id: \"{id}\") {{ executionHistory {{ requestCount }} }} }}"), "deliveries:read", "hooks:read deliveries:read"),
        ("Delivery.requestBody", format!("{{ delivery(id: \"{delivery_id}\") {{ requestBody attempts {{ requestHeaders {{ name }} responseHeaders {{ value }} }} }} }}"), "deliveries:read", "deliveries:read"),
        ("emitEvent", "mutation { emitEvent(input: { type: \"Role.Created\", data: {} }) { id } }".into(), "events:write", "events:write"),
        ("defineEventType", "mutation { defineEventType(input: { name: \"Invoice.Paid\" }) { name } }".into(), "events:write", "events:write"),
        ("redeliver", format!("mutation {{ redeliver(deliveryId: \"{delivery_id}\") {{ id }} }}"), "deliveries:write", "deliveries:write"),
        ("replayDeliveries", format!("mutation {{ replayDeliveries(hookId: \"{id}\", since: \"2020-01-01T00:00:00Z\") }}"), "deliveries:write", "deliveries:write"),
    ];
    for (label, query, needed, sufficient) in &operations {
        let unauthenticated = app.gql_raw(None, query, json!({})).await;
        assert_eq!(
            error_code(&unauthenticated),
            Some("UNAUTHENTICATED"),
            "{label} without token"
        );

        // Every scope but the needed one (and admin).
        let lacking: Vec<&str> = hookd::auth::Scope::ALL
            .iter()
            .map(|s| s.as_str())
            .filter(|s| *s != "admin" && s != needed)
            .collect();
        let forbidden = app
            .gql(&app.token(&lacking.join(" "), "default"), query, json!({}))
            .await;
        assert_eq!(
            error_code(&forbidden),
            Some("FORBIDDEN"),
            "{label} without {needed}: {forbidden}"
        );

        let allowed = app.gql(&app.token(sufficient, "default"), query, json!({})).await;
        assert_eq!(allowed["errors"], Value::Null, "{label} with {sufficient}: {allowed}");
    }
    let rows = app.hook_rows().await;
    assert!(rows.iter().all(|r| r.id != victim_id), "deleted only with the scope");
    assert!(rows.iter().any(|r| r.name == "renamed"));
}

async fn public_key_pins_rs256(backend: Backend) {
    let public_pem = fixture("rsa-public.pem");
    let path = format!("{}/tests/fixtures/rsa-public.pem", env!("CARGO_MANIFEST_DIR"));
    let app = TestApp::spawn_with(backend, |raw| {
        raw.jwt_secret = None;
        raw.jwt_public_key = Some(path);
    })
    .await;
    let rsa = EncodingKey::from_rsa_pem(&fixture("rsa-private.pem")).expect("rsa key");
    let good = sign(
        Algorithm::RS256,
        &rsa,
        claims(json!({ "iss": null, "aud": null })),
        None,
    );
    assert_eq!(app.gql(&good, PROBE, json!({})).await["data"]["hooks"]["totalCount"], 0);

    let ec = EncodingKey::from_ec_pem(&fixture("ec-private.pem")).expect("ec key");
    for (label, token) in [
        // The classic confusion attack: HS256 keyed with the public key's PEM text.
        ("HS256 keyed by the public key", hs256(&public_pem, claims(json!({})))),
        ("HS256 with a secret", hs256(TEST_SECRET.as_bytes(), claims(json!({})))),
        ("ES256", sign(Algorithm::ES256, &ec, claims(json!({})), None)),
        (
            "RS384 with the right key",
            sign(Algorithm::RS384, &rsa, claims(json!({})), None),
        ),
    ] {
        let response = app.gql(&token, PROBE, json!({})).await;
        assert_eq!(error_code(&response), Some("UNAUTHENTICATED"), "{label}: {response}");
    }
}

async fn jwks_keys_and_refetch_limit(backend: Backend) {
    // A JWKS endpoint holding one P-256 key, counting fetches.
    let fetches = Arc::new(AtomicUsize::new(0));
    let jwks = {
        let der = pem_body(&fixture("ec-public.pem"));
        let point = &der[der.len() - 64..];
        json!({ "keys": [{
            "kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig", "alg": "ES256",
            "x": URL_SAFE_NO_PAD.encode(&point[..32]), "y": URL_SAFE_NO_PAD.encode(&point[32..]),
        }]})
    };
    let counter = fetches.clone();
    let router = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let counter = counter.clone();
            let jwks = jwks.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                axum::Json(jwks)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let jwks_url = format!("http://{}/jwks", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router).await });

    let app = TestApp::spawn_with(backend, |raw| {
        raw.jwt_secret = None;
        raw.jwks_url = Some(jwks_url);
        raw.tenant_claim = Some("org_id".into());
    })
    .await;
    let ec = EncodingKey::from_ec_pem(&fixture("ec-private.pem")).expect("ec key");
    let token = |kid: &str, org: &str| {
        sign(
            Algorithm::ES256,
            &ec,
            claims(json!({ "iss": null, "aud": null, "tenant": null, "org_id": org })),
            Some(kid),
        )
    };

    assert_eq!(fetches.load(Ordering::SeqCst), 0, "keys are fetched lazily");
    let acme = token("k1", "acme");
    app.create_hook(&acme, "acme's", "https://example.invalid/").await;
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    // The tenant comes from the configured claim.
    let other = app.gql(&token("k1", "globex"), PROBE, json!({})).await;
    assert_eq!(other["data"]["hooks"]["totalCount"], 0);
    let own = app.gql(&acme, PROBE, json!({})).await;
    // `viewer` says which tenant the configured claim named, and what the token may do.
    let viewer = app.gql(&acme, "{ viewer { tenant scopes } }", json!({})).await;
    assert_eq!(viewer["data"]["viewer"]["tenant"], "acme", "{viewer}");
    assert!(
        viewer["data"]["viewer"]["scopes"]
            .as_array()
            .is_some_and(|s| !s.is_empty()),
        "{viewer}"
    );
    assert_eq!(own["data"]["hooks"]["totalCount"], 1);

    // Unknown kids are rejected, and within 60 s they do not trigger another fetch.
    for i in 0..5 {
        let response = app.gql(&token(&format!("unknown-{i}"), "acme"), PROBE, json!({})).await;
        assert_eq!(error_code(&response), Some("UNAUTHENTICATED"));
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "at most one fetch per 60 s");
    // HS256 is not accepted when a JWKS is configured.
    let hs = hs256(TEST_SECRET.as_bytes(), claims(json!({ "iss": null, "aud": null })));
    assert_eq!(
        error_code(&app.gql(&hs, PROBE, json!({})).await),
        Some("UNAUTHENTICATED")
    );
}

fn pem_body(pem: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(pem.to_vec()).expect("utf8");
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(body).expect("base64")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_says_what_the_token_may_do() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let query = "{ viewer { tenant scopes subject expiresAt } }";
    let narrow = app.gql(&app.token("hooks:read", "acme"), query, json!({})).await;
    assert_eq!(narrow["data"]["viewer"]["tenant"], "acme", "{narrow}");
    assert_eq!(narrow["data"]["viewer"]["scopes"], json!(["hooks:read"]));
    let admin = app.gql(&app.admin(), query, json!({})).await;
    let scopes = admin["data"]["viewer"]["scopes"].as_array().expect("scopes");
    assert!(
        scopes.contains(&json!("deliveries:read")) && scopes.contains(&json!("admin")),
        "{admin}"
    );
    let expires = admin["data"]["viewer"]["expiresAt"].as_str().expect("expiresAt");
    let expires = chrono::DateTime::parse_from_rfc3339(expires).expect("RFC 3339");
    assert!(expires > chrono::Utc::now(), "{admin}");
    // Without a token there is no viewer.
    let anonymous = app.gql_raw(None, query, json!({})).await;
    assert_eq!(error_code(&anonymous), Some("UNAUTHENTICATED"));
}
