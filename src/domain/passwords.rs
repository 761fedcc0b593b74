//! Argon2id, bounded: where a password is hashed or checked.
//!
//! One Argon2id run takes tens of milliseconds of CPU and ~19 MiB of memory, so it must never
//! run unbounded: every hash and verification first takes a [`Permit`] from one gate, which lets
//! about as many run at once as there are cores and lets at most [`QUEUE`] wait; past that the
//! caller gets `BUSY` at once, before anything is stored or hashed. The work runs on a blocking
//! thread while the permit is held.
//!
//! A check against no hash (unknown identifier, user without a password) runs the same Argon2
//! work, so it costs what a real one costs and timing does not tell which accounts exist. Passwords and hashes never leave this module and its two callers (`users.rs`,
//! `interactions.rs`): not in a payload, a log line or an error.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{AppError, AppResult};

/// Password work allowed to wait for a free core; past this, callers get `BUSY`.
pub const QUEUE: usize = 32;

struct Gate {
    running: std::sync::Arc<Semaphore>,
    waiting: AtomicUsize,
}

static GATE: LazyLock<Gate> = LazyLock::new(|| Gate {
    running: std::sync::Arc::new(Semaphore::new(
        std::thread::available_parallelism().map_or(2, usize::from),
    )),
    waiting: AtomicUsize::new(0),
});

/// Leave to run one Argon2id job.
pub struct Permit(OwnedSemaphorePermit);

/// Waits for a free core, or answers `BUSY` when `QUEUE` jobs wait already.
pub async fn admit() -> AppResult<Permit> {
    let gate = &*GATE;
    if gate.waiting.fetch_add(1, Ordering::AcqRel) >= QUEUE {
        gate.waiting.fetch_sub(1, Ordering::AcqRel);
        return Err(AppError::Busy(
            "too many password checks at once; try again in a moment".to_owned(),
        ));
    }
    let permit = gate.running.clone().acquire_owned().await;
    gate.waiting.fetch_sub(1, Ordering::AcqRel);
    permit
        .map(Permit)
        .map_err(|_| AppError::Internal(anyhow::anyhow!("password gate closed")))
}

/// 8 to 256 characters: checked before any work is admitted.
pub fn validate(password: &str) -> AppResult<()> {
    let chars = password.chars().count();
    if !(8..=256).contains(&chars) {
        return Err(AppError::bad_input("password", "password must be 8 to 256 characters"));
    }
    Ok(())
}

impl Permit {
    /// Argon2id with a random salt.
    pub async fn hash(self, password: String) -> AppResult<String> {
        validate(&password)?;
        self.run(move || hash_now(&password)).await
    }

    /// Checks `password` against `hash`. Without a hash it answers false after the same
    /// Argon2 work (hashing the password with the same parameters), so it takes as long.
    pub async fn verify(self, password: String, hash: Option<String>) -> AppResult<bool> {
        self.run(move || {
            let Some(hash) = hash else {
                hash_now(&password)?;
                return Ok(false);
            };
            let parsed =
                PasswordHash::new(&hash).map_err(|e| AppError::Internal(anyhow::anyhow!("bad stored hash: {e}")))?;
            Ok(Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
        })
        .await
    }
}

impl Permit {
    /// Runs `work` on a blocking thread, holding the permit until the work ends, also when the
    /// caller stops waiting for it.
    async fn run<T: Send + 'static>(self, work: impl FnOnce() -> AppResult<T> + Send + 'static) -> AppResult<T> {
        let permit = self.0;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|e| AppError::Internal(e.into()))?
    }
}

fn hash_now(password: &str) -> AppResult<String> {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    let salt = SaltString::encode_b64(&bytes).map_err(|e| AppError::Internal(anyhow::anyhow!("salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| AppError::Internal(anyhow::anyhow!("hashing failed: {e}")))
}
