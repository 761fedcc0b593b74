//! What happens after an attempt (SPEC §5.2).

use std::time::Duration;

use entity::delivery::Trigger;

/// How far a delay may be randomly moved, so retries of many deliveries do not arrive in step.
pub const JITTER: f64 = 0.2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    Succeeded,
    /// Try again at this time (epoch ms).
    RetryAt(i64),
    Failed,
    /// `410 Gone`: the receiver asked us to stop; fail now and disable the hook.
    FailedAndDisableHook,
}

/// The outcome of an attempt, as far as retrying cares.
#[derive(Clone, Copy, Debug)]
pub struct Attempted {
    /// 2xx, and the response was read without error.
    pub succeeded: bool,
    pub status: Option<u16>,
    pub retry_after: Option<Duration>,
    pub trigger: Trigger,
    /// Scheduled attempts in this round, including this one.
    pub round_attempts: i32,
}

/// Decides the next step. `jitter` is in `[-JITTER, JITTER]`.
pub fn decide(attempt: Attempted, schedule: &[Duration], now_ms: i64, jitter: f64) -> Next {
    if attempt.succeeded {
        return Next::Succeeded;
    }
    if attempt.status == Some(410) {
        return Next::FailedAndDisableHook;
    }
    // A manual redelivery is one attempt, not a new round of retries.
    if attempt.trigger == Trigger::Manual {
        return Next::Failed;
    }
    let Some(base) = usize::try_from(attempt.round_attempts - 1)
        .ok()
        .and_then(|i| schedule.get(i))
    else {
        return Next::Failed;
    };
    let delay = base.mul_f64(1.0 + jitter.clamp(-JITTER, JITTER));
    let delay = match (attempt.status, attempt.retry_after) {
        (Some(429 | 503), Some(asked)) => asked.clamp(delay, delay * 2),
        _ => delay,
    };
    Next::RetryAt(now_ms + delay.as_millis() as i64)
}

/// `Retry-After`: delta-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    (at.with_timezone(&chrono::Utc) - now).to_std().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(status: Option<u16>, round: i32) -> Attempted {
        Attempted {
            succeeded: matches!(status, Some(200..=299)),
            status,
            retry_after: None,
            trigger: Trigger::Scheduled,
            round_attempts: round,
        }
    }

    #[test]
    fn schedule_then_fail() {
        let schedule = [Duration::from_secs(5), Duration::from_secs(300)];
        assert_eq!(decide(attempt(Some(204), 1), &schedule, 0, 0.0), Next::Succeeded);
        assert_eq!(decide(attempt(Some(500), 1), &schedule, 0, 0.0), Next::RetryAt(5_000));
        assert_eq!(decide(attempt(None, 2), &schedule, 0, 0.0), Next::RetryAt(300_000));
        assert_eq!(decide(attempt(Some(500), 3), &schedule, 0, 0.0), Next::Failed);
        assert_eq!(decide(attempt(Some(301), 1), &schedule, 0, 0.2), Next::RetryAt(6_000));
        assert_eq!(
            decide(attempt(Some(410), 1), &schedule, 0, 0.0),
            Next::FailedAndDisableHook
        );
        let manual = Attempted {
            trigger: Trigger::Manual,
            ..attempt(Some(500), 0)
        };
        assert_eq!(decide(manual, &schedule, 0, 0.0), Next::Failed);
    }

    #[test]
    fn retry_after_is_clamped() {
        let schedule = [Duration::from_secs(10)];
        let with = |secs| Attempted {
            retry_after: Some(Duration::from_secs(secs)),
            ..attempt(Some(429), 1)
        };
        assert_eq!(decide(with(15), &schedule, 0, 0.0), Next::RetryAt(15_000));
        assert_eq!(decide(with(1), &schedule, 0, 0.0), Next::RetryAt(10_000));
        assert_eq!(decide(with(3600), &schedule, 0, 0.0), Next::RetryAt(20_000));
        let now = chrono::Utc::now();
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        let date = (now + chrono::Duration::seconds(60)).to_rfc2822();
        assert!(parse_retry_after(&date, now).is_some_and(|d| d.as_secs() >= 58));
    }
}
