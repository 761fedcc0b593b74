//! Rate limits: a hook's sends spaced evenly on one schedule that every process shares.
//!
//! A rate-limited hook's row holds `rate_next_at`, when its next send may start (epoch
//! microseconds). A dispatcher that has claimed some of the hook's deliveries books a send time
//! for each, at most [`HORIZON`] ahead, moving `rate_next_at` past them in one short
//! transaction (the row locked on PostgreSQL, so two processes never book the same time). A
//! booked delivery waits for its time in memory, holding no dispatcher slot; one that found no
//! time within the horizon goes back to the table, due when its turn could come. Sends are thus
//! never closer than `1 s / rate_limit`, across all processes, and nothing polls.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, TransactionTrait};

use crate::db::{Db, statement};

/// How far ahead a dispatcher may book sends.
pub const HORIZON: Duration = Duration::from_secs(1);

/// The send times booked for some of a hook's deliveries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Booked {
    /// When each booked send may start (epoch ms), soonest first; fewer than asked for when
    /// the horizon ran out.
    pub at: Vec<i64>,
    /// When each delivery that found no time should be claimed again (epoch ms): half a
    /// horizon before its turn could come, one after the other.
    pub later: Vec<i64>,
}

/// Books send times for `wanted` deliveries of `hook_id`, `rate` per second, at `now_us`.
pub async fn book(
    db: &Db,
    tenant: &str,
    hook_id: &str,
    rate: u32,
    wanted: usize,
    now_us: i64,
) -> Result<Booked, DbErr> {
    let backend = db.backend();
    let lock = match backend {
        DbBackend::Postgres => "FOR UPDATE",
        _ => "",
    };
    let txn = db.write.begin().await?;
    let select = format!("SELECT rate_next_at FROM hooks WHERE tenant_id = ? AND id = ? {lock}");
    let next = txn
        .query_one_raw(statement(backend, &select, vec![tenant.into(), hook_id.into()]))
        .await?
        .map(|row| row.try_get::<Option<i64>>("", "rate_next_at"))
        .transpose()?
        .flatten();
    let booked = schedule(next, rate, wanted, now_us);
    if !booked.at.is_empty() {
        let interval = interval_us(rate);
        let start = next.unwrap_or(0).max(now_us);
        let moved = start + booked.at.len() as i64 * interval;
        let update = "UPDATE hooks SET rate_next_at = ? WHERE tenant_id = ? AND id = ?";
        txn.execute_raw(statement(
            backend,
            update,
            vec![moved.into(), tenant.into(), hook_id.into()],
        ))
        .await?;
    }
    txn.commit().await?;
    Ok(booked)
}

/// The send times for `wanted` deliveries when the next send may start at `next` (epoch µs).
fn schedule(next: Option<i64>, rate: u32, wanted: usize, now_us: i64) -> Booked {
    let interval = interval_us(rate);
    let start = next.unwrap_or(0).max(now_us);
    let horizon_us = HORIZON.as_micros() as i64;
    let horizon = now_us + horizon_us;
    let times = (0..wanted as i64).map(|i| start + i * interval);
    let (at, later): (Vec<i64>, Vec<i64>) = times.partition(|t| *t <= horizon);
    Booked {
        at: at.into_iter().map(ms_at_or_after).collect(),
        later: later
            .into_iter()
            .map(|t| ms_at_or_after((t - horizon_us / 2).max(now_us)))
            .collect(),
    }
}

/// Microseconds between two sends, rounded up so the rate is never exceeded.
fn interval_us(rate: u32) -> i64 {
    let rate = i64::from(rate.max(1));
    (1_000_000 + rate - 1) / rate
}

fn ms_at_or_after(us: i64) -> i64 {
    (us + 999).div_euclid(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_are_spaced_and_booked_within_the_horizon() {
        let now = 10_000_000;
        // Idle hook: the first send now, then every 50 ms, up to one second ahead.
        let booked = schedule(None, 20, 30, now);
        assert_eq!(booked.at.len(), 21);
        assert_eq!(booked.at[0], 10_000);
        assert_eq!(booked.at[1], 10_050);
        assert_eq!(booked.later.len(), 9);
        assert_eq!(booked.later[0], 10_550);
        // Another process booked the next half second already.
        let booked = schedule(Some(now + 500_000), 20, 30, now);
        assert_eq!(booked.at.first(), Some(&10_500));
        assert_eq!(booked.at.len(), 11);
        // Booked beyond the horizon: nothing now, the first chance later.
        let booked = schedule(Some(now + 2_000_000), 1, 2, now);
        assert!(booked.at.is_empty());
        assert_eq!(booked.later, vec![11_500, 12_500]);
    }
}
