//! Golden payloads: a received body with its volatile values (ids, times) replaced by
//! placeholders, compared as text with `tests/golden/<name>.json`, so key order is checked too.
//! `HOOKD_BLESS=1 cargo test` rewrites the files; review the diff before committing.

use serde_json::{Map, Value};

fn is_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Replaces every 32-hex-digit id inside a string with `<id>`.
fn mask_ids(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < bytes.len() {
        if i + 32 <= bytes.len()
            && is_id(&s[i..i + 32])
            && (i + 32 == bytes.len() || !bytes[i + 32].is_ascii_hexdigit())
        {
            out.push_str("<id>");
            i += 32;
        } else {
            out.push(bytes[i] as char);
            i += 1;
        }
    }
    out
}

fn normalize(key: Option<&str>, value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = normalize(Some(&k), v);
                    (mask_ids(&k), v)
                })
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| normalize(key, v)).collect()),
        Value::Number(n) if matches!(key, Some("createdAt" | "updatedAt" | "lastSignInAt")) => {
            assert!(
                n.as_i64().is_some_and(|ms| ms > 1_600_000_000_000),
                "{key:?} must be epoch ms: {n}"
            );
            Value::from("<epoch-ms>")
        }
        Value::String(s) if key == Some("createdAt") => {
            assert!(
                chrono::DateTime::parse_from_rfc3339(&s).is_ok() && s.ends_with('Z') && s.len() == 24,
                "ISO with ms: {s}"
            );
            Value::from("<iso-time>")
        }
        Value::String(s) => Value::from(mask_ids(&s)),
        other => other,
    }
}

/// Compares `body` with the golden file `name`, or writes it under `HOOKD_BLESS=1`.
pub fn assert_golden(name: &str, body: &Value) {
    let path = format!("{}/tests/golden/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let actual = serde_json::to_string_pretty(&normalize(None, body.clone())).expect("json") + "\n";
    if std::env::var("HOOKD_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == actual,
        "payload differs from {path} (HOOKD_BLESS=1 rewrites it):\n--- expected\n{expected}\n--- actual\n{actual}"
    );
}
