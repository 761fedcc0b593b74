//! Webhook signatures: Logto's `logto-signature-sha-256` and Standard Webhooks'
//! `webhook-signature` (symmetric `v1,` and asymmetric `v1a,`), and the Ed25519 keys.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer, SigningKey};
use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use sha2::Sha256;

/// Prefix of an HMAC secret (Standard Webhooks).
pub const HMAC_PREFIX: &str = "whsec_";
/// Prefix of an Ed25519 private key (Standard Webhooks), base64 of the 32-byte seed.
pub const ED25519_PRIVATE_PREFIX: &str = "whsk_";
/// Prefix of an Ed25519 public key, base64 of its 32 bytes.
pub const ED25519_PUBLIC_PREFIX: &str = "whpk_";

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

/// Standard Webhooks: one space-separated entry per key, each over `"{id}.{timestamp}.{body}"`:
/// `v1,<base64 HMAC-SHA256>` keyed by the base64-decoded part of a `whsec_` key, and
/// `v1a,<base64 Ed25519 signature>` by a `whsk_` key. A key that does not decode signs nothing.
pub fn standard_signature(keys: &[&str], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let prefix = format!("{msg_id}.{timestamp}.");
    keys.iter()
        .filter_map(|key| {
            if let Some(seed) = key.strip_prefix(ED25519_PRIVATE_PREFIX) {
                let key = ed25519_signing_key(seed)?;
                let signed = [prefix.as_bytes(), body].concat();
                Some(format!("v1a,{}", STANDARD.encode(key.sign(&signed).to_bytes())))
            } else {
                let secret = STANDARD.decode(key.strip_prefix(HMAC_PREFIX).unwrap_or(key)).ok()?;
                Some(format!(
                    "v1,{}",
                    STANDARD.encode(hmac(&secret, &[prefix.as_bytes(), body]))
                ))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn ed25519_signing_key(seed_base64: &str) -> Option<SigningKey> {
    let seed: [u8; 32] = STANDARD.decode(seed_base64).ok()?.try_into().ok()?;
    Some(SigningKey::from_bytes(&seed))
}

/// A new Ed25519 private key, `whsk_` + base64 of 32 random bytes.
pub fn new_ed25519_key() -> String {
    let mut seed = [0u8; 32];
    rand::rng().fill_bytes(&mut seed);
    format!("{ED25519_PRIVATE_PREFIX}{}", STANDARD.encode(seed))
}

/// The public half of a `whsk_` key, `whpk_` + base64 of its 32 bytes.
pub fn ed25519_public_key(private: &str) -> Option<String> {
    let key = ed25519_signing_key(private.strip_prefix(ED25519_PRIVATE_PREFIX)?)?;
    Some(format!(
        "{ED25519_PUBLIC_PREFIX}{}",
        STANDARD.encode(key.verifying_key().to_bytes())
    ))
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
    fn ed25519_rfc_8032_known_answer() {
        // RFC 8032 section 7.1, test 1: this seed signs the empty message with this signature.
        let seed = hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60").expect("hex");
        let key = format!("whsk_{}", STANDARD.encode(&seed));
        let public = ed25519_public_key(&key).expect("public key");
        let public = STANDARD
            .decode(public.strip_prefix("whpk_").expect("prefix"))
            .expect("base64");
        assert_eq!(
            hex::encode(public),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        let signed = ed25519_signing_key(&STANDARD.encode(&seed)).expect("key").sign(b"");
        assert_eq!(
            hex::encode(signed.to_bytes()),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
        // In a Standard Webhooks header, beside an HMAC key.
        let header = standard_signature(&["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", &key], "m", 1, b"{}");
        let entries: Vec<&str> = header.split(' ').collect();
        assert!(
            entries[0].starts_with("v1,") && entries[1].starts_with("v1a,"),
            "{header}"
        );
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
