//! Hooks gain a payload filter and an optional Ed25519 signing key.

use sea_orm_migration::prelude::*;

/// `filter`: an RFC 9535 JSONPath query on the event envelope, evaluated at emit time (null:
/// every event of the hook's types). `signing_scheme`: `HMAC`, `ED25519` or `HMAC_AND_ED25519`.
/// `ed25519_key`: `whsk_` + base64 of the 32-byte seed, set once a scheme has used Ed25519.
#[derive(DeriveMigrationName)]
pub struct Migration;

const COLUMNS: [(&str, &str); 3] = [
    ("filter", "TEXT"),
    ("signing_scheme", "TEXT NOT NULL DEFAULT 'HMAC'"),
    ("ed25519_key", "TEXT"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (name, definition) in COLUMNS {
            db.execute_unprepared(&format!("ALTER TABLE hooks ADD COLUMN {name} {definition}"))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for (name, _) in COLUMNS.iter().rev() {
            db.execute_unprepared(&format!("ALTER TABLE hooks DROP COLUMN {name}"))
                .await?;
        }
        Ok(())
    }
}
