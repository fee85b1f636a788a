//! The webhook extractor: a handler only ever receives a delivery whose
//! `X-Hub-Signature-256` was checked (constant time) over a body of bounded size.

use axum::extract::{FromRef, FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::Arc;

/// GitHub sends at most 25 MB.
pub const MAX_BODY: usize = 25 * 1024 * 1024;

/// The webhook secret, as router state.
#[derive(Clone)]
pub struct WebhookSecret(pub Arc<String>);

/// How many MiB of bodies whose signature is not yet checked may be held at once, whoever
/// sends them: 16 connections of 25 MB cannot take the server's memory.
pub const BODY_BUDGET_MIB: u32 = 64;
/// The memory budget of unauthenticated bodies, in MiB permits, and how long a delivery
/// waits for room in it before it is answered 503; router state.
#[derive(Clone)]
pub struct BodyBudget {
    permits: Arc<tokio::sync::Semaphore>,
    wait: std::time::Duration,
}

impl BodyBudget {
    pub fn new(wait: std::time::Duration) -> BodyBudget {
        BodyBudget {
            permits: Arc::new(tokio::sync::Semaphore::new(BODY_BUDGET_MIB as usize)),
            wait,
        }
    }
}

/// A delivery with a valid signature.
#[derive(Debug)]
pub struct VerifiedWebhook {
    /// `X-GitHub-Event`.
    pub event: String,
    /// `X-GitHub-Delivery`.
    pub delivery: String,
    pub payload: serde_json::Value,
}

/// Whether `signature` (`sha256=<hex>`) is the HMAC of `body` under `secret`.
pub fn verify(secret: &[u8], body: &[u8], signature: &str) -> bool {
    let Some(hex_sig) = signature.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_sig.trim()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

fn reject(status: StatusCode, message: &str) -> Response {
    (status, message.to_string()).into_response()
}

impl<S> FromRequest<S> for VerifiedWebhook
where
    S: Send + Sync,
    WebhookSecret: FromRef<S>,
    BodyBudget: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let secret = WebhookSecret::from_ref(state);
        let (signature, event, delivery) = {
            let header = |name: &str| {
                req.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            (
                header("x-hub-signature-256"),
                header("x-github-event"),
                header("x-github-delivery"),
            )
        };
        // Nothing is read from a request that cannot be a delivery.
        if signature.is_none() {
            crate::metrics::WEBHOOKS_REJECTED.inc();
            return Err(reject(
                StatusCode::UNAUTHORIZED,
                "missing or invalid X-Hub-Signature-256",
            ));
        }
        let length = req
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if length.is_some_and(|n| n > MAX_BODY as u64) {
            return Err(reject(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body larger than 25 MB",
            ));
        }
        // Room for the body in the budget (a body of unknown length may be the largest).
        let mib = length
            .map_or(MAX_BODY as u64, |n| n.max(1))
            .div_ceil(1024 * 1024) as u32;
        let budget = BodyBudget::from_ref(state);
        let permit = tokio::time::timeout(budget.wait, budget.permits.acquire_many_owned(mib))
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or_else(|| {
                reject(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many deliveries are being received; send it again",
                )
            })?;
        let body = axum::body::to_bytes(req.into_body(), MAX_BODY)
            .await
            .map_err(|_| reject(StatusCode::PAYLOAD_TOO_LARGE, "body larger than 25 MB"))?;
        drop(permit);
        let valid = signature
            .as_deref()
            .is_some_and(|s| verify(secret.0.as_bytes(), &body, s));
        if !valid {
            crate::metrics::WEBHOOKS_REJECTED.inc();
            return Err(reject(
                StatusCode::UNAUTHORIZED,
                "missing or invalid X-Hub-Signature-256",
            ));
        }
        let event =
            event.ok_or_else(|| reject(StatusCode::BAD_REQUEST, "missing X-GitHub-Event"))?;
        let delivery = delivery
            .filter(|d| !d.is_empty())
            .ok_or_else(|| reject(StatusCode::BAD_REQUEST, "missing X-GitHub-Delivery"))?;
        let payload = serde_json::from_slice(&body)
            .map_err(|e| reject(StatusCode::BAD_REQUEST, &format!("body is not JSON: {e}")))?;
        Ok(VerifiedWebhook {
            event,
            delivery,
            payload,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn signatures_are_checked() {
        let body = br#"{"zen":"ok"}"#;
        assert!(verify(b"s3cret", body, &sign("s3cret", body)));
        assert!(!verify(b"s3cret", body, &sign("other", body)));
        assert!(!verify(b"s3cret", b"{}", &sign("s3cret", body)));
        assert!(!verify(b"s3cret", body, "sha1=abcd"));
        assert!(!verify(b"s3cret", body, "sha256=zz"));
    }
}
