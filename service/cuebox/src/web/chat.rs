//! `POST /api/chat`: viewer messages from bots and scripts (one message or a batch), behind the
//! token of `chat.webhook_token_file`. A request without the token is refused before its body is
//! read; a body that is slow to arrive, too large or malformed is refused whole (nothing of it is
//! taken), counted and logged once per kind.

use std::time::{Duration, Instant};

use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{AdminToken, WebState};
use crate::chat::sources::{ChatInput, Offered, SourceHandle};
use crate::messages::ChatMessage;

/// Largest body taken, and most messages in a batch.
const BODY_LIMIT: usize = 256 * 1024;
const BATCH_LIMIT: usize = 200;
/// A caller that takes longer than this to send its body is cut off.
const BODY_TIMEOUT: Duration = Duration::from_secs(5);

/// The webhook's token and its source (`None` when `chat.webhook_token_file` is not set).
pub struct ChatWebhook(pub Option<(AdminToken, SourceHandle)>);

pub async fn receive(State(s): State<WebState>, headers: HeaderMap, body: Body) -> Response {
    let Some((token, source)) = &s.chat.0 else {
        return refuse(StatusCode::NOT_FOUND, "the chat webhook is off: set chat.webhook_token_file".into());
    };
    let received = Instant::now();
    let presented =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    if !presented.is_some_and(|t| token.matches(t.trim())) {
        source.received();
        source.stats.reject("unauthorised", "a request without the webhook's token");
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            axum::Json(json!({"error": "chat webhook token required"})),
        )
            .into_response();
    }
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if let Some(length) = declared.filter(|&length| length > BODY_LIMIT as u64) {
        source.received();
        source.stats.reject("oversized or broken body", format!("a body of {length} bytes"));
        return refuse(StatusCode::PAYLOAD_TOO_LARGE, format!("the body is over {BODY_LIMIT} bytes"));
    }
    let bytes = match tokio::time::timeout(BODY_TIMEOUT, to_bytes(body, BODY_LIMIT)).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(error)) => {
            source.received();
            source.stats.reject("oversized or broken body", &error);
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body could not be read whole (at most {BODY_LIMIT} bytes): {error}"),
            );
        }
        Err(_) => {
            source.received();
            source.stats.reject("slow body", format!("no whole body within {} s", BODY_TIMEOUT.as_secs()));
            return refuse(
                StatusCode::REQUEST_TIMEOUT,
                format!("the body did not arrive within {} s", BODY_TIMEOUT.as_secs()),
            );
        }
    };
    let messages = match parse_batch(&bytes) {
        Ok(messages) => messages,
        Err(errors) => {
            source.received();
            source.stats.reject("malformed", errors.join("; "));
            return (StatusCode::BAD_REQUEST, axum::Json(json!({ "errors": errors }))).into_response();
        }
    };
    let (mut accepted, mut dropped) = (0, 0);
    for message in messages {
        source.received();
        let input = ChatInput {
            platform: message.platform.unwrap_or_else(|| "webhook".into()),
            user: message.user,
            text: message.text,
            ts: message.ts,
            id: message.id,
        };
        match source.offer(input, received) {
            Offered::Taken => accepted += 1,
            Offered::Dropped => dropped += 1,
        }
    }
    axum::Json(json!({ "accepted": accepted, "dropped": dropped })).into_response()
}

fn refuse(status: StatusCode, error: String) -> Response {
    (status, axum::Json(json!({ "error": error }))).into_response()
}

/// One message or a batch, every message checked; every problem, with the message's place.
fn parse_batch(bytes: &[u8]) -> Result<Vec<ChatMessage>, Vec<String>> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| vec![format!("not JSON: {e}")])?;
    let (items, batch) = match value {
        Value::Array(items) if items.len() > BATCH_LIMIT => {
            return Err(vec![format!("a batch of {} messages (at most {BATCH_LIMIT})", items.len())]);
        }
        Value::Array(items) if items.is_empty() => return Err(vec!["an empty batch".into()]),
        Value::Array(items) => (items, true),
        Value::Object(_) => (vec![value], false),
        other => return Err(vec![format!("expected a message object or a list of them, not {other}")]),
    };
    let mut messages = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        let place = if batch { format!("[{index}]: ") } else { String::new() };
        if !item.is_object() {
            errors.push(format!("{place}expected a message object"));
            continue;
        }
        match serde_json::from_value::<ChatMessage>(item) {
            Ok(message) => match message.check() {
                Ok(()) => messages.push(message),
                Err(error) => errors.push(format!("{place}{error}")),
            },
            Err(error) => errors.push(format!("{place}{error}")),
        }
    }
    if errors.is_empty() { Ok(messages) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_message_or_a_batch_is_taken_whole_or_not_at_all() {
        let one =
            parse_batch(br#"{"platform": "tiktok", "user": "a", "text": "is it waterproof", "id": "7", "ts": 5}"#)
                .unwrap();
        assert_eq!((one.len(), one[0].platform.as_deref()), (1, Some("tiktok")));
        let batch = parse_batch(r#"[{"text": "包邮吗"}, {"text": "what sizes", "user": "b"}]"#.as_bytes()).unwrap();
        assert_eq!(batch.len(), 2);
        let errors = parse_batch(br#"[{"text": "ok"}, {"text": ""}, 5, {"text": "x", "colour": 1}]"#).unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            errors[0].starts_with("[1]: ") && errors[1].starts_with("[2]: ") && errors[2].contains("colour"),
            "{errors:?}"
        );
        for bad in [&b"not json"[..], b"[]", b"\"text\"", b"{}"] {
            assert!(parse_batch(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let too_many = format!("[{}]", vec![r#"{"text":"x"}"#; BATCH_LIMIT + 1].join(","));
        assert!(parse_batch(too_many.as_bytes()).unwrap_err()[0].contains("at most"));
    }
}
