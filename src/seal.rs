//! Keys sealed at rest: hooks' signing secrets and Ed25519 private keys are stored encrypted
//! (XChaCha20-Poly1305) under a master key, so a database dump alone reveals no secret.
//!
//! The master key comes from `HOOKD_SECRET_KEY` (base64 of 32 bytes) or from `master-key` in the
//! data dir, created (mode 0600) on first start. A sealed value reads
//! `sealed:v1:<key id>:<base64 of nonce and ciphertext>`; the key id (8 hex digits of the key's
//! SHA-256) says which master key opens it, and the row and column it belongs to are
//! authenticated with it, so a sealed value copied to another row does not open. At start,
//! [`seal_stored`] seals any plaintext left from before sealing existed and checks that every
//! stored value opens. `hookd rotate-master-key` ([`rotate`]) re-seals every value under a new
//! master key in one transaction.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QuerySelect, Set, TransactionTrait};
use sha2::{Digest, Sha256};

use entity::hook;

use crate::db::Db;

const PREFIX: &str = "sealed:v1:";
/// The master key file in the data dir.
pub const KEY_FILE: &str = "master-key";
/// A rotation's new key, written before the rows are re-sealed and renamed to [`KEY_FILE`]
/// after: while it exists, both keys open values.
pub const NEXT_KEY_FILE: &str = "master-key.next";

/// One master key.
#[derive(Clone)]
pub struct MasterKey {
    id: String,
    cipher: XChaCha20Poly1305,
}

impl MasterKey {
    /// A key from its base64 text (32 bytes).
    pub fn parse(text: &str) -> anyhow::Result<MasterKey> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| anyhow::anyhow!("a master key must be base64 of 32 bytes"))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("a master key must be base64 of exactly 32 bytes"))?;
        Ok(MasterKey {
            id: hex::encode(&Sha256::digest(bytes)[..4]),
            cipher: XChaCha20Poly1305::new(&bytes.into()),
        })
    }

    /// A new random key, as base64 text.
    pub fn generate() -> String {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        STANDARD.encode(bytes)
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The master keys this process holds: the one that seals, and any others that still open.
#[derive(Clone)]
pub struct MasterKeys {
    current: MasterKey,
    others: Vec<MasterKey>,
}

impl MasterKeys {
    pub fn new(current: MasterKey, others: Vec<MasterKey>) -> MasterKeys {
        MasterKeys { current, others }
    }

    /// `HOOKD_SECRET_KEY` if set, else the data dir's key file (created on first use), plus the
    /// new key of a rotation that has not finished.
    pub fn load(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<MasterKeys> {
        let next = read_key_file(&data_dir.join(NEXT_KEY_FILE))?;
        let current = match configured {
            Some(text) => MasterKey::parse(text).map_err(|e| anyhow::anyhow!("HOOKD_SECRET_KEY: {e}"))?,
            None => load_or_create_key_file(data_dir)?,
        };
        Ok(MasterKeys::new(current, next.into_iter().collect()))
    }

    /// Every key held, the sealing one first.
    fn all(self) -> Vec<MasterKey> {
        std::iter::once(self.current).chain(self.others).collect()
    }

    /// `plain` sealed for `row` (the row and column it is stored in).
    pub fn seal(&self, plain: &str, row: &str) -> String {
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plain.as_bytes(),
            aad: row.as_bytes(),
        };
        // Encryption with a valid key and nonce cannot fail.
        let sealed = self
            .current
            .cipher
            .encrypt(&XNonce::from(nonce), payload)
            .unwrap_or_default();
        format!(
            "{PREFIX}{}:{}",
            self.current.id,
            STANDARD.encode([&nonce[..], &sealed].concat())
        )
    }

    /// The plaintext of a stored value of `row`. A value stored before sealing existed is its own
    /// plaintext.
    pub fn open(&self, stored: &str, row: &str) -> anyhow::Result<String> {
        let Some(rest) = stored.strip_prefix(PREFIX) else {
            return Ok(stored.to_owned());
        };
        let (id, data) = rest
            .split_once(':')
            .ok_or_else(|| anyhow::anyhow!("{row}: a malformed sealed value"))?;
        let key = std::iter::once(&self.current)
            .chain(&self.others)
            .find(|key| key.id == id)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "{row} is sealed with master key {id}, which this process does not have \
                     (set HOOKD_SECRET_KEY or restore the data dir's {KEY_FILE})"
                )
            })?;
        let data = STANDARD
            .decode(data)
            .map_err(|_| anyhow::anyhow!("{row}: a malformed sealed value"))?;
        anyhow::ensure!(data.len() > 24, "{row}: a malformed sealed value");
        let (nonce, sealed) = data.split_at(24);
        let nonce: [u8; 24] = nonce.try_into()?;
        let payload = Payload {
            msg: sealed,
            aad: row.as_bytes(),
        };
        let plain = key
            .cipher
            .decrypt(&XNonce::from(nonce), payload)
            .map_err(|_| anyhow::anyhow!("{row} does not open with master key {id}: altered or moved"))?;
        String::from_utf8(plain).map_err(|_| anyhow::anyhow!("{row}: not text"))
    }
}

/// A hook's keys, opened.
#[derive(Clone, Debug)]
pub struct HookKeys {
    pub signing_key: String,
    pub ed25519_key: Option<String>,
    /// The JSON of `previous_keys`.
    pub previous_keys: String,
}

fn row(hook: &hook::Model, column: &str) -> String {
    hook_row(&hook.tenant_id, &hook.id, column)
}

fn hook_row(tenant: &str, id: &str, column: &str) -> String {
    format!("hooks/{tenant}/{id}/{column}")
}

impl MasterKeys {
    /// The keys of `hook`, opened.
    pub fn open_hook(&self, hook: &hook::Model) -> anyhow::Result<HookKeys> {
        Ok(HookKeys {
            signing_key: self.open(&hook.signing_key, &row(hook, "signing_key"))?,
            ed25519_key: hook
                .ed25519_key
                .as_deref()
                .map(|key| self.open(key, &row(hook, "ed25519_key")))
                .transpose()?,
            previous_keys: self.open(&hook.previous_keys, &row(hook, "previous_keys"))?,
        })
    }

    /// `plain` sealed for `column` of hook `id` of `tenant`.
    pub fn seal_column(&self, tenant: &str, id: &str, column: &str, plain: &str) -> String {
        self.seal(plain, &hook_row(tenant, id, column))
    }

    /// `keys` sealed for `hook`'s row.
    pub fn seal_hook(&self, hook: &hook::Model, keys: &HookKeys) -> (String, Option<String>, String) {
        (
            self.seal(&keys.signing_key, &row(hook, "signing_key")),
            keys.ed25519_key
                .as_deref()
                .map(|key| self.seal(key, &row(hook, "ed25519_key"))),
            self.seal(&keys.previous_keys, &row(hook, "previous_keys")),
        )
    }

    /// `hook` with its keys opened, for the code that signs and the fields that show them.
    pub fn opened(&self, hook: &hook::Model) -> anyhow::Result<hook::Model> {
        let keys = self.open_hook(hook)?;
        Ok(hook::Model {
            signing_key: keys.signing_key,
            ed25519_key: keys.ed25519_key,
            previous_keys: keys.previous_keys,
            ..hook.clone()
        })
    }

    fn sealed_by_current(&self, stored: &str) -> bool {
        stored
            .strip_prefix(PREFIX)
            .is_some_and(|rest| rest.starts_with(&format!("{}:", self.current.id)))
    }
}

/// Re-seals under `keys`' current master key every hook whose values are plaintext or sealed by
/// another key, one tenant at a time, all in one transaction; fails (changing nothing) if any
/// value does not open. Returns how many hooks were re-sealed.
pub async fn seal_stored(db: &Db, keys: &MasterKeys) -> anyhow::Result<u64> {
    let txn = db.write.begin().await?;
    let tenants: Vec<String> = hook::Entity::find()
        .select_only()
        .column(hook::Column::TenantId)
        .distinct()
        .into_tuple()
        .all(&txn)
        .await?;
    let mut resealed = 0;
    for tenant in tenants {
        let hooks = hook::Entity::find()
            .filter(hook::Column::TenantId.eq(tenant.as_str()))
            .all(&txn)
            .await?;
        for hook in hooks {
            let current = [
                Some(&hook.signing_key),
                hook.ed25519_key.as_ref(),
                Some(&hook.previous_keys),
            ]
            .into_iter()
            .flatten()
            .all(|value| keys.sealed_by_current(value));
            let opened = keys.open_hook(&hook)?;
            if current {
                continue;
            }
            let (signing_key, ed25519_key, previous_keys) = keys.seal_hook(&hook, &opened);
            let mut model: hook::ActiveModel = hook.into();
            model.signing_key = Set(signing_key);
            model.ed25519_key = Set(ed25519_key);
            model.previous_keys = Set(previous_keys);
            model.update(&txn).await?;
            resealed += 1;
        }
    }
    txn.commit().await?;
    Ok(resealed)
}

/// `hookd rotate-master-key`: a new master key for every sealed value. With the key file: the
/// new key is written to [`NEXT_KEY_FILE`] first (or an unfinished rotation's is reused), every
/// row is re-sealed under it in one transaction, then it replaces [`KEY_FILE`]; a crash at any
/// step leaves every row openable. With `HOOKD_SECRET_KEY`: `new_key` (`HOOKD_NEW_SECRET_KEY`)
/// is required, and the operator sets `HOOKD_SECRET_KEY` to it afterwards. Returns the new key's
/// id and the number of hooks re-sealed. Run it with every hookd process stopped.
pub async fn rotate(
    db: &Db,
    configured: Option<&str>,
    new_key: Option<&str>,
    data_dir: &Path,
) -> anyhow::Result<(String, u64)> {
    let old = MasterKeys::load(configured, data_dir)?;
    match configured {
        Some(_) => {
            let text = new_key.ok_or_else(|| {
                anyhow::anyhow!("HOOKD_SECRET_KEY is set: give the new master key in HOOKD_NEW_SECRET_KEY")
            })?;
            let new = MasterKey::parse(text).map_err(|e| anyhow::anyhow!("HOOKD_NEW_SECRET_KEY: {e}"))?;
            let keys = MasterKeys::new(new.clone(), old.all());
            let resealed = seal_stored(db, &keys).await?;
            Ok((new.id, resealed))
        }
        None => {
            anyhow::ensure!(
                new_key.is_none(),
                "HOOKD_NEW_SECRET_KEY is only for a master key given in HOOKD_SECRET_KEY"
            );
            let next_path = data_dir.join(NEXT_KEY_FILE);
            let new = match read_key_file(&next_path)? {
                Some(unfinished) => unfinished,
                None => {
                    let text = MasterKey::generate();
                    write_key_file(&next_path, &text)?;
                    MasterKey::parse(&text)?
                }
            };
            let keys = MasterKeys::new(new.clone(), old.all());
            let resealed = seal_stored(db, &keys).await?;
            std::fs::rename(&next_path, data_dir.join(KEY_FILE))
                .map_err(|e| anyhow::anyhow!("cannot replace {}: {e}", data_dir.join(KEY_FILE).display()))?;
            Ok((new.id, resealed))
        }
    }
}

fn read_key_file(path: &PathBuf) -> anyhow::Result<Option<MasterKey>> {
    match std::fs::read_to_string(path) {
        Ok(text) => MasterKey::parse(&text)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
    }
}

fn load_or_create_key_file(data_dir: &Path) -> anyhow::Result<MasterKey> {
    let path = data_dir.join(KEY_FILE);
    if let Some(key) = read_key_file(&path)? {
        return Ok(key);
    }
    std::fs::create_dir_all(data_dir)
        .map_err(|e| anyhow::anyhow!("cannot create data dir {}: {e}", data_dir.display()))?;
    match write_key_file(&path, &MasterKey::generate()) {
        Ok(()) => {}
        // Another process created it between our read and our create: use theirs.
        Err(_) if path.exists() => {}
        Err(e) => return Err(e),
    }
    read_key_file(&path)?.ok_or_else(|| anyhow::anyhow!("{} vanished", path.display()))
}

/// Writes a new owner-only key file, synced; refuses to replace one.
fn write_key_file(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> MasterKeys {
        MasterKeys::new(MasterKey::parse(&MasterKey::generate()).expect("key"), Vec::new())
    }

    #[test]
    fn sealed_values_open_only_for_their_row_and_key() {
        let keys = keys();
        let sealed = keys.seal("whsec_secret", "hooks/t/h1/signing_key");
        assert!(
            sealed.starts_with("sealed:v1:") && !sealed.contains("whsec_"),
            "{sealed}"
        );
        assert_eq!(
            keys.open(&sealed, "hooks/t/h1/signing_key").expect("opens"),
            "whsec_secret"
        );
        assert!(
            keys.open(&sealed, "hooks/t/h2/signing_key").is_err(),
            "moved to another row"
        );
        assert!(
            self::keys().open(&sealed, "hooks/t/h1/signing_key").is_err(),
            "another master key"
        );
        assert_eq!(keys.open("whsec_plain", "r").expect("legacy"), "whsec_plain");
        assert!(MasterKey::parse("c2hvcnQ=").is_err());
    }
}
