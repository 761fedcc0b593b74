//! Webhook signatures: Logto's `logto-signature-sha-256` and Standard Webhooks'
//! `webhook-signature`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// Logto's scheme: lowercase hex HMAC-SHA256 of the exact body, keyed by the UTF-8 bytes of the
/// whole signing key string (`whsec_…` included).
pub fn logto_signature(signing_key: &str, body: &[u8]) -> String {
    hex::encode(hmac(signing_key.as_bytes(), &[body]))
}

/// Standard Webhooks: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` keyed by the
/// base64-decoded part of each `whsec_` key, space-separated, one entry per active key.
pub fn standard_signature(keys: &[&str], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let prefix = format!("{msg_id}.{timestamp}.");
    keys.iter()
        .filter_map(|key| STANDARD.decode(key.strip_prefix("whsec_").unwrap_or(key)).ok())
        .map(|secret| format!("v1,{}", STANDARD.encode(hmac(&secret, &[prefix.as_bytes(), body]))))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_known_answer() {
        let signature = standard_signature(
            &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn logto_known_answer() {
        let body = r#"{"event":"Role.Deleted","createdAt":"2026-11-26T19:47:15.295Z","userAgent":"logto-anchor-driver/1.0","ip":"127.0.0.1","path":"/roles/ywtn6f04y1c7md4ti56gg","method":"DELETE","status":204,"params":{"0":"/ywtn6f04y1c7md4ti56gg","id":"ywtn6f04y1c7md4ti56gg"},"matchedRoute":"/roles/:id","hookId":"8908f861f2swuzvckiha2"}"#;
        assert_eq!(
            logto_signature("bpuNFBxbrsO4dPemzAyBjDt69jfciUOa", body.as_bytes()),
            "81d2be5577e6f9081b0aaec9c5aa9a7a717da405adacb2f7c683594b85ca4f40"
        );
    }
}
