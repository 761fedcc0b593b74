//! Signing keys sealed at rest: what the database holds reveals no secret, plaintext rows from
//! before are sealed on start, `hookd rotate-master-key` re-seals everything, and a wrong master
//! key is a clear refusal, not a silent failure to sign.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sea_orm::ConnectionTrait;
use serde_json::json;
use sha2::Sha256;

use crate::db_test;
use crate::receiver::Receiver;
use crate::support::{Backend, HARNESS_SQL, TestApp};

db_test!(keys_are_sealed_at_rest_and_survive_a_master_key_rotation);

fn logto_signature(key: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_bytes()).expect("key");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Every stored key column of every hook, as the database holds them.
async fn stored(app: &TestApp) -> Vec<String> {
    app.hook_rows()
        .await
        .into_iter()
        .flat_map(|h| [Some(h.signing_key), h.ed25519_key, Some(h.previous_keys)])
        .flatten()
        .collect()
}

async fn signing_key(app: &TestApp, id: &str) -> String {
    let response = app
        .gql(
            &app.admin(),
            "query($id: ID!) { hook(id: $id) { signingKey } }",
            json!({ "id": id }),
        )
        .await;
    response["data"]["hook"]["signingKey"]
        .as_str()
        .expect("signing key")
        .to_owned()
}

async fn delivers_signed_by(app: &TestApp, receiver: &Receiver, n: usize, key: &str) {
    app.emit("User.Created", json!({ "n": n })).await;
    let request = &receiver.wait_for(n, Duration::from_secs(30)).await[n - 1];
    assert_eq!(
        request.header("logto-signature-sha-256"),
        logto_signature(key, &request.body)
    );
}

pub(crate) async fn keys_are_sealed_at_rest_and_survive_a_master_key_rotation(backend: Backend) {
    let app = TestApp::delivering(backend, |_| {}).await;
    let receiver = Receiver::spawn().await;
    let created = app
        .gql(
            &app.admin(),
            "mutation($input: CreateHookInput!) { createHook(input: $input) { id signingKey } }",
            json!({ "input": { "name": "sealed", "events": ["User.Created"], "url": receiver.url,
                "signingScheme": "HMAC_AND_ED25519" } }),
        )
        .await;
    let id = created["data"]["createHook"]["id"].as_str().expect("id").to_owned();
    let rotated = app
        .gql(
            &app.admin(),
            "mutation($id: ID!) { rotateHookSigningKey(id: $id, gracePeriodSeconds: 3600) { signingKey } }",
            json!({ "id": id }),
        )
        .await;
    let key = rotated["data"]["rotateHookSigningKey"]["signingKey"]
        .as_str()
        .expect("key")
        .to_owned();

    // What a dump shows: sealed values only, no secret, old or new.
    let columns = stored(&app).await;
    assert_eq!(columns.len(), 3, "signing key, Ed25519 key, previous keys");
    for value in &columns {
        assert!(value.starts_with("sealed:v1:"), "{value}");
        assert!(!value.contains("whsec_") && !value.contains("whsk_"), "{value}");
    }
    delivers_signed_by(&app, &receiver, 1, &key).await;

    // A hook stored in plaintext (as before sealing existed) is sealed at the next start, and
    // keeps its key.
    let plain = "whsec_TG9uZ1N0cmluZ0xvbmdTdHJpbmdMb25nU3RyaW5nISE=";
    let now = chrono::Utc::now().timestamp_millis();
    app.state
        .db
        .write
        .execute_unprepared(&format!(
            "{HARNESS_SQL}INSERT INTO hooks (id, tenant_id, name, url, events, headers, enabled, signing_key, previous_keys, signing_scheme, created_at, updated_at) \
             VALUES ('legacy', 'default', 'legacy', '{}', '[\"User.Created\"]', '[]', false, '{plain}', '[]', 'HMAC', {now}, {now})",
            receiver.url
        ))
        .await
        .expect("a plaintext hook");
    let app = app
        .restart(|raw| raw.allowed_targets = Some("127.0.0.0/8".into()))
        .await;
    let columns = stored(&app).await;
    assert!(columns.iter().all(|v| v.starts_with("sealed:v1:")), "{columns:?}");
    assert_eq!(signing_key(&app, "legacy").await, plain, "sealing kept the key");

    // Rotation of the master key, with the server stopped: every value changes, the key file is
    // replaced, and the hooks' keys are what they were.
    let stopped = app.stop().await;
    let key_file = stopped.dir.path().join("master-key");
    let before = std::fs::read_to_string(&key_file).expect("the generated master key");
    let out = stopped.hookd(&["rotate-master-key"], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("2 hooks' keys re-sealed"),
        "{out:?}"
    );
    let after = std::fs::read_to_string(&key_file).expect("the new master key");
    assert_ne!(before, after);
    assert!(!stopped.dir.path().join("master-key.next").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).expect("metadata").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key file is the owner's only");
    }

    // A wrong master key is refused with a clear error, and changes nothing.
    let wrong = hookd::seal::MasterKey::generate();
    let out = stopped.hookd(&["migrate"], &[("HOOKD_SECRET_KEY", &wrong)]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is sealed with master key") && stderr.contains("HOOKD_SECRET_KEY"),
        "{stderr}"
    );

    let app = stopped
        .start(|raw| raw.allowed_targets = Some("127.0.0.0/8".into()))
        .await;
    let resealed = stored(&app).await;
    assert!(resealed.iter().all(|v| v.starts_with("sealed:v1:")));
    assert!(
        resealed.iter().all(|v| !columns.contains(v)),
        "every value was re-sealed"
    );
    assert_eq!(signing_key(&app, &id).await, key);
    assert_eq!(signing_key(&app, "legacy").await, plain);
    delivers_signed_by(&app, &receiver, 2, &key).await;
}
