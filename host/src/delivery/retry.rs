//! Decides what an attempt's result means: delivered, try again later (and
//! when), dead-letter it, or stop the endpoint (410 Gone).

use std::time::{Duration, SystemTime};

use super::client::{Response, SendError};
use crate::model::RetryPolicy;

#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Delivered,
    /// Try again after this delay; the string is why.
    Retry(Duration, String),
    Dead(String),
    /// The receiver said 410 Gone: disable the endpoint.
    Gone,
}

/// `attempt` is the number of the attempt just made within the current
/// schedule (1 for the first).
pub fn judge(
    result: &Result<Response, SendError>,
    policy: &RetryPolicy,
    attempt: u32,
    now: SystemTime,
) -> Verdict {
    let (why, retry_after) = match result {
        Ok(r)
            if (200..300).contains(&r.status) || policy.delivered_statuses.contains(&r.status) =>
        {
            return Verdict::Delivered;
        }
        Ok(r) if r.status == 410 => return Verdict::Gone,
        Ok(r) if retryable(r.status) => (
            describe(r),
            r.retry_after
                .as_deref()
                .and_then(|v| parse_retry_after(v, now))
                .map(|d| d.min(policy.max_retry_after)),
        ),
        Ok(r) => {
            return Verdict::Dead(format!(
                "{} (not retried: the request itself was refused)",
                describe(r)
            ));
        }
        Err(e @ SendError::Blocked(_)) => return Verdict::Dead(e.to_string()),
        Err(e) => (e.to_string(), None),
    };
    let index = attempt.saturating_sub(1) as usize;
    match policy.schedule.get(index) {
        Some(delay) => Verdict::Retry(
            retry_after.unwrap_or_else(|| jittered(*delay, policy.jitter)),
            why,
        ),
        None => Verdict::Dead(format!("gave up after {attempt} attempts; last: {why}")),
    }
}

/// 3xx (redirects are not followed), 408, 429 and 5xx may succeed later.
fn retryable(status: u16) -> bool {
    matches!(status, 300..=399 | 408 | 429 | 500..=599)
}

fn describe(r: &Response) -> String {
    let excerpt: String = r.excerpt.chars().take(200).collect();
    let excerpt = excerpt.split_whitespace().collect::<Vec<_>>().join(" ");
    if excerpt.is_empty() {
        format!("HTTP {}", r.status)
    } else {
        format!("HTTP {}: {excerpt}", r.status)
    }
}

/// `Retry-After` as delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

fn jittered(delay: Duration, jitter: f64) -> Duration {
    if jitter <= 0.0 || delay.is_zero() {
        return delay;
    }
    let factor = 1.0 + jitter * (fastrand::f64() * 2.0 - 1.0);
    delay.mul_f64(factor.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, retry_after: Option<&str>) -> Result<Response, SendError> {
        Ok(Response {
            status,
            retry_after: retry_after.map(str::to_string),
            headers: Vec::new(),
            excerpt: "{\"error\": \"nope\"}".into(),
            duration: Duration::from_millis(3),
        })
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            schedule: vec![Duration::from_secs(5), Duration::from_secs(300)],
            delivered_statuses: vec![409],
            jitter: 0.0,
            max_retry_after: Duration::from_secs(3600),
        }
    }

    const NOW: SystemTime = SystemTime::UNIX_EPOCH;

    #[test]
    fn success_and_configured_statuses_are_delivered() {
        assert_eq!(
            judge(&response(200, None), &policy(), 1, NOW),
            Verdict::Delivered
        );
        assert_eq!(
            judge(&response(204, None), &policy(), 1, NOW),
            Verdict::Delivered
        );
        assert_eq!(
            judge(&response(409, None), &policy(), 1, NOW),
            Verdict::Delivered
        );
    }

    #[test]
    fn server_errors_follow_the_schedule_then_give_up() {
        let p = policy();
        assert!(
            matches!(judge(&response(500, None), &p, 1, NOW), Verdict::Retry(d, _) if d == Duration::from_secs(5))
        );
        assert!(
            matches!(judge(&response(503, None), &p, 2, NOW), Verdict::Retry(d, _) if d == Duration::from_secs(300))
        );
        match judge(&response(502, None), &p, 3, NOW) {
            Verdict::Dead(why) => assert!(
                why.starts_with("gave up after 3 attempts; last: HTTP 502"),
                "{why}"
            ),
            other => panic!("{other:?}"),
        }
        let timeout = Err(SendError::Timeout(Duration::from_secs(15)));
        assert!(matches!(judge(&timeout, &p, 1, NOW), Verdict::Retry(..)));
        let redirect = response(301, None);
        assert!(matches!(judge(&redirect, &p, 1, NOW), Verdict::Retry(..)));
    }

    #[test]
    fn client_errors_are_dead_at_once_and_gone_disables() {
        match judge(&response(400, None), &policy(), 1, NOW) {
            Verdict::Dead(why) => assert!(why.contains("HTTP 400: {\"error\": \"nope\"}"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            judge(&response(410, None), &policy(), 1, NOW),
            Verdict::Gone
        );
        let blocked = Err(SendError::Blocked("10.0.0.1".into()));
        assert!(matches!(
            judge(&blocked, &policy(), 1, NOW),
            Verdict::Dead(_)
        ));
    }

    #[test]
    fn retry_after_is_honoured_and_bounded() {
        let p = policy();
        assert!(
            matches!(judge(&response(429, Some("2")), &p, 1, NOW), Verdict::Retry(d, _) if d == Duration::from_secs(2))
        );
        let date = httpdate::fmt_http_date(NOW + Duration::from_secs(120));
        assert!(
            matches!(judge(&response(503, Some(&date)), &p, 1, NOW), Verdict::Retry(d, _) if d == Duration::from_secs(120))
        );
        assert!(
            matches!(judge(&response(429, Some("999999")), &p, 1, NOW), Verdict::Retry(d, _) if d == Duration::from_secs(3600))
        );
        assert!(
            matches!(judge(&response(429, Some("soon")), &p, 1, NOW), Verdict::Retry(d, _) if d == Duration::from_secs(5))
        );
    }

    #[test]
    fn jitter_stays_within_bounds() {
        for _ in 0..1000 {
            let d = jittered(Duration::from_secs(100), 0.2);
            assert!(
                d >= Duration::from_secs(80) && d <= Duration::from_secs(120),
                "{d:?}"
            );
        }
    }
}
