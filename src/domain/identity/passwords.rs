//! Argon2id, bounded: where a password is hashed or checked.
//!
//! One Argon2id run takes tens of milliseconds of CPU and ~19 MiB of memory, so it must never
//! run unbounded: every hash and verification runs on one of a fixed set of threads (one per
//! core) and at most [`QUEUE`] wait for one; past that the caller gets `BUSY` at once.
//!
//! A check against no hash (unknown identifier, user without a password) runs the same Argon2
//! work, so it costs what a real one costs and timing does not tell which accounts exist.
//! Passwords and hashes never leave this module and its two callers (`users.rs`,
//! `interactions.rs`): not in a payload, a log line or an error.

use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{LazyLock, Mutex};

use std::cell::RefCell;

use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::oneshot;

use crate::error::{AppError, AppResult};

/// Password work allowed to wait for a free Argon2 thread; past this, callers get `BUSY`.
pub const QUEUE: usize = 32;

type Job = Box<dyn FnOnce() + Send>;

/// The Argon2 threads, one per core, fed from a queue of `QUEUE`. Dedicated threads (rather
/// than tokio's blocking pool, which grows a thread per waiting job) keep the memory bounded:
/// each thread reuses its own ~19 MiB of Argon2 working memory.
static POOL: LazyLock<Option<SyncSender<Job>>> = LazyLock::new(|| {
    let (jobs, queue) = mpsc::sync_channel::<Job>(QUEUE);
    let queue = std::sync::Arc::new(Mutex::new(queue));
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    for n in 0..threads {
        let queue = queue.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("hookd-argon2-{n}"))
            .spawn(move || {
                loop {
                    let job = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start an Argon2 thread");
            return None;
        }
    }
    Some(jobs)
});

/// Runs `work` on an Argon2 thread, or answers `BUSY` at once when `QUEUE` jobs wait already.
async fn run<T: Send + 'static>(work: impl FnOnce() -> AppResult<T> + Send + 'static) -> AppResult<T> {
    let pool = POOL
        .as_ref()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("no Argon2 threads")))?;
    let (reply, answer) = oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = reply.send(work());
    });
    match pool.try_send(job) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => {
            return Err(AppError::Busy(
                "too many password checks at once; try again in a moment".to_owned(),
            ));
        }
        Err(TrySendError::Disconnected(_)) => {
            return Err(AppError::Internal(anyhow::anyhow!("the Argon2 threads stopped")));
        }
    }
    answer
        .await
        .map_err(|_| AppError::Internal(anyhow::anyhow!("an Argon2 job was dropped")))?
}

/// 8 to 256 characters: checked before any work is queued.
pub fn validate(password: &str) -> AppResult<()> {
    let chars = password.chars().count();
    if !(8..=256).contains(&chars) {
        return Err(AppError::bad_input("password", "password must be 8 to 256 characters"));
    }
    Ok(())
}

/// Argon2id with a random salt.
pub async fn hash(password: String) -> AppResult<String> {
    validate(&password)?;
    run(move || hash_now(&password)).await
}

/// Checks `password` against `hash`. Without a hash it answers false after the same Argon2
/// work (hashing the password with the same parameters), so it takes as long.
pub async fn verify(password: String, hash: Option<String>) -> AppResult<bool> {
    run(move || match hash {
        Some(hash) => verify_now(&password, &hash),
        None => hash_now(&password).map(|_| false),
    })
    .await
}

thread_local! {
    /// This thread's Argon2 working memory, reused by every run on it. Allocating ~19 MiB per
    /// run instead lets the allocator keep freed copies in each of its arenas: hundreds of MiB
    /// after a burst of sign-ins.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

fn internal(what: &str, e: impl std::fmt::Display) -> AppError {
    AppError::Internal(anyhow::anyhow!("{what}: {e}"))
}

/// Argon2 of `password` with `salt` (base64, as in the PHC string), in this thread's memory.
fn compute(argon: &Argon2<'_>, password: &str, salt: Salt<'_>) -> AppResult<Output> {
    let mut salt_bytes = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_bytes).map_err(|e| internal("salt", e))?;
    let output_len = argon.params().output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        let blocks = argon.params().block_count();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        Output::init_with(output_len, |out| {
            argon
                .hash_password_into_with_memory(password.as_bytes(), salt, out, &mut memory[..blocks])
                .map_err(argon2::password_hash::Error::from)
        })
        .map_err(|e| internal("hashing failed", e))
    })
}

/// Argon2id with the default parameters and a random salt, as a PHC string.
fn hash_now(password: &str) -> AppResult<String> {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    let salt = SaltString::encode_b64(&bytes).map_err(|e| internal("salt", e))?;
    let argon = Argon2::default();
    let output = compute(&argon, password, salt.as_salt())?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon.params()).map_err(|e| internal("parameters", e))?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(hash.to_string())
}

/// Recomputes a stored PHC hash's Argon2 with its own parameters and compares in constant time.
fn verify_now(password: &str, stored: &str) -> AppResult<bool> {
    let parsed = PasswordHash::new(stored).map_err(|e| internal("bad stored hash", e))?;
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Ok(false);
    };
    let algorithm = Algorithm::try_from(parsed.algorithm).map_err(|e| internal("bad stored hash", e))?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(|e| internal("bad stored hash", e))?
        .unwrap_or_default();
    let params = Params::try_from(&parsed).map_err(|e| internal("bad stored hash", e))?;
    let argon = Argon2::new(algorithm, version, params);
    Ok(compute(&argon, password, salt)? == expected)
}
