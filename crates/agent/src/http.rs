//! The agent's side of the HTTP exchange, shared by `run` and `simulate`:
//! one request, its answer sorted into what the agent does next, and the
//! full-jitter backoff between retries.

use std::time::Duration;

use rand::Rng as _;
use serde::{Deserialize, Serialize};

/// A full-jitter backoff: a random wait up to `base * 2^failures`, at most
/// `cap`.
#[must_use]
pub fn backoff(base: Duration, failures: u32, cap: Duration) -> Duration {
    let cap = base
        .saturating_mul(2u32.saturating_pow(failures.min(16)))
        .min(cap);
    let millis = u64::try_from(cap.as_millis()).unwrap_or(u64::MAX).max(1);
    Duration::from_millis(rand::rng().random_range(0..=millis))
}

/// What the server said to a request, in the terms the agent acts on.
pub enum Answer<T> {
    Ok(T),
    /// Refused for good (401, 404, 409, 422): the message says why.
    Refused(u16, String),
    /// Try again later (no answer, 5xx, 429).
    Retry(String),
}

/// POSTs `body` as JSON, with `token` as the bearer credential if given.
pub async fn post<B: Serialize, T: for<'de> Deserialize<'de>>(
    http: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    body: &B,
) -> Answer<T> {
    let mut req = http.post(url).json(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    send(req).await
}

/// Sends a prepared request and sorts its answer.
pub async fn send<T: for<'de> Deserialize<'de>>(req: reqwest::RequestBuilder) -> Answer<T> {
    let res = match req.send().await {
        Ok(res) => res,
        Err(e) => return Answer::Retry(format!("cannot reach the server: {e}")),
    };
    let status = res.status();
    if status.is_success() {
        return match res.json::<T>().await {
            Ok(v) => Answer::Ok(v),
            Err(e) => Answer::Retry(format!("unreadable answer: {e}")),
        };
    }
    let message = res
        .json::<serde_json::Value>()
        .await
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| status.to_string());
    if status.is_server_error() || status.as_u16() == 429 {
        Answer::Retry(format!("{status}: {message}"))
    } else {
        Answer::Refused(status.as_u16(), message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MAX_BACKOFF: Duration = Duration::from_mins(1);

    #[test]
    fn backoff_is_jittered_and_capped() {
        for failures in 0..40 {
            let d = backoff(Duration::from_secs(1), failures, MAX_BACKOFF);
            assert!(d <= MAX_BACKOFF, "{d:?}");
            let d = backoff(Duration::from_millis(500), failures, Duration::from_secs(5));
            assert!(d <= Duration::from_secs(5), "{d:?}");
        }
        assert!(backoff(Duration::from_millis(100), 0, MAX_BACKOFF) <= Duration::from_millis(100));
        let waits: std::collections::BTreeSet<_> = (0..50)
            .map(|_| backoff(Duration::from_secs(1), 5, MAX_BACKOFF))
            .collect();
        assert!(waits.len() > 1, "full jitter varies");
    }
}
