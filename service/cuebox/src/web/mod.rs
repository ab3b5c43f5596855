//! The web server (CONTRACT §8). The pages are static and take their live state from MQTT over
//! WebSocket like any other client; the server adds health, metrics, the public product list
//! and, behind the admin token, the admin API (`admin`).

mod admin;
mod chat;
mod server;
mod session;

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cuebox_capture::{CameraState, CaptureStats, FrameSlot};
use cuebox_catalog::Store;
use serde_json::json;
use tokio_util::sync::CancellationToken;

pub use admin::{AdminState, AdminToken};
pub use chat::ChatWebhook;
pub use session::Sessions;

use crate::chat::sources::ChatSources;
use crate::metrics::Metrics;

const PROMPTER: &str = include_str!("../../web/prompter.html");
const OVERLAY: &str = include_str!("../../web/overlay.html");
const LIVE_JS: &str = include_str!("../../web/live.js");
const MQTT_JS: &str = include_str!("../../web/vendor/mqtt.min.js");
/// The vision loop counts as stalled after this long without progress.
const STALL_MS: u64 = 5000;

#[derive(Clone)]
pub struct WebState {
    /// What the pages need to connect: broker URL, topic prefix, device, locale, login.
    pub page_config: Arc<serde_json::Value>,
    pub metrics: Arc<Metrics>,
    pub capture: Arc<CaptureStats>,
    pub slot: Arc<FrameSlot>,
    pub store: Arc<Store>,
    pub admin: Arc<AdminState>,
    pub chat: Arc<ChatWebhook>,
    pub chat_sources: Arc<ChatSources>,
}

pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/", get(|| async { page(PROMPTER) }))
        .route("/overlay", get(|| async { page(OVERLAY) }))
        .route("/assets/live.js", get(|| async { script(LIVE_JS) }))
        .route("/assets/mqtt.min.js", get(|| async { script(MQTT_JS) }))
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/config.json", get(|State(s): State<WebState>| async move { axum::Json((*s.page_config).clone()) }))
        .route("/api/products", get(products))
        .route("/healthz", get(healthz))
        .route("/metrics", get(prometheus))
        .route("/api/chat", axum::routing::post(chat::receive))
        .merge(admin::router())
        .with_state(state)
}

/// The largest request body of a route that sets no limit of its own.
const BODY_LIMIT: usize = 64 * 1024;

pub async fn serve(listener: tokio::net::TcpListener, state: WebState, cancel: CancellationToken) {
    server::serve_bounded(listener, router(state).layer(DefaultBodyLimit::max(BODY_LIMIT)), cancel).await;
}

fn page(html: &'static str) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], html).into_response()
}

fn script(js: &'static str) -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], js)
        .into_response()
}

/// The products for the tablet's pin menu: sku, name per locale, display price.
async fn products(State(s): State<WebState>) -> Response {
    let store = s.store.clone();
    match tokio::task::spawn_blocking(move || store.products()).await {
        Ok(Ok(products)) => {
            let list: Vec<_> = products
                .iter()
                .map(|p| json!({ "sku": p.sku, "name": p.name.0, "price": p.price.as_ref().map(|pr| crate::messages::display_price(&pr.amount, &pr.currency)) }))
                .collect();
            axum::Json(list).into_response()
        }
        Ok(Err(error)) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

async fn healthz(State(s): State<WebState>) -> Response {
    let camera = s.capture.state();
    let silence = s.metrics.vision_silence_ms();
    if camera != CameraState::Streaming {
        let detail = match &camera {
            CameraState::Retrying { error } => format!("camera retrying: {error}\n"),
            other => format!("camera {}\n", other.as_str()),
        };
        return (StatusCode::SERVICE_UNAVAILABLE, detail).into_response();
    }
    if silence > STALL_MS {
        return (StatusCode::SERVICE_UNAVAILABLE, format!("vision stalled for {silence} ms\n")).into_response();
    }
    (StatusCode::OK, "ok\n").into_response()
}

async fn prometheus(State(s): State<WebState>) -> Response {
    let m = &s.metrics;
    let mut out = String::new();
    let mut line = |name: &str, kind: &str, help: &str, value: f64| {
        let _ = writeln!(out, "# HELP cuebox_{name} {help}\n# TYPE cuebox_{name} {kind}\ncuebox_{name} {value}");
    };
    line("frames_in_total", "counter", "Frames delivered by the camera.", s.capture.frames_in() as f64);
    line("frames_processed_total", "counter", "Frames recognized.", m.frames_processed.load(Ordering::Relaxed) as f64);
    line("text_reads_total", "counter", "Reads of printed text.", m.text_reads.load(Ordering::Relaxed) as f64);
    line(
        "suggestions_kept_total",
        "counter",
        "Frames the host corrected, kept as suggested references.",
        m.suggestions_kept.load(Ordering::Relaxed) as f64,
    );
    line(
        "suggestions_dropped_total",
        "counter",
        "Corrected frames not kept: the queue was full.",
        m.suggestions_dropped.load(Ordering::Relaxed) as f64,
    );
    line(
        "frames_still_total",
        "counter",
        "Frames not recognized again because the scene had not changed.",
        m.frames_still.load(Ordering::Relaxed) as f64,
    );
    line("frames_dropped_total", "counter", "Frames replaced before vision took them.", s.slot.dropped() as f64);
    line(
        "frames_unreadable_total",
        "counter",
        "Frames the camera sent that could not be read (e.g. corrupt MJPEG).",
        s.capture.frames_skipped() as f64,
    );
    line(
        "camera_last_outage_ms",
        "gauge",
        "How long the camera was away the last time it failed.",
        s.capture.last_outage().map_or(0.0, |d| d.as_secs_f64() * 1e3),
    );
    line("camera_restarts_total", "counter", "Camera pipeline rebuilds after a failure.", s.capture.restarts() as f64);
    line(
        "camera_streaming",
        "gauge",
        "1 while the camera delivers frames.",
        f64::from(u8::from(s.capture.state() == CameraState::Streaming)),
    );
    line(
        "inference_ms_p50",
        "gauge",
        "Median embedding inference time (recent window).",
        m.inference_ms.quantile(0.5).unwrap_or(0.0),
    );
    line(
        "inference_ms_p99",
        "gauge",
        "99th percentile embedding inference time (recent window).",
        m.inference_ms.quantile(0.99).unwrap_or(0.0),
    );
    line(
        "text_read_ms_p50",
        "gauge",
        "Median time of one read of printed text (recent window).",
        m.text_ms.quantile(0.5).unwrap_or(0.0),
    );
    line(
        "glass_to_mqtt_ms_p50",
        "gauge",
        "Median time from a frame's capture to its product message reaching the MQTT outbox (recent window).",
        m.glass_to_mqtt_ms.quantile(0.5).unwrap_or(0.0),
    );
    line(
        "glass_to_mqtt_ms_p99",
        "gauge",
        "99th percentile of the same.",
        m.glass_to_mqtt_ms.quantile(0.99).unwrap_or(0.0),
    );
    line(
        "engine_events_dropped_total",
        "counter",
        "Product changes the engine could not take (queue full).",
        m.events_dropped.load(Ordering::Relaxed) as f64,
    );
    line(
        "mqtt_connected",
        "gauge",
        "1 while connected to the broker.",
        f64::from(u8::from(m.mqtt_connected.load(Ordering::Relaxed))),
    );
    line(
        "outbox_depth",
        "gauge",
        "Prompts waiting in the persistent outbox for the broker.",
        m.outbox_depth.load(Ordering::Relaxed) as f64,
    );
    line(
        "outbox_delivered_total",
        "counter",
        "Prompts the broker acknowledged.",
        m.outbox_delivered.load(Ordering::Relaxed) as f64,
    );
    line(
        "outbox_expired_total",
        "counter",
        "Prompts dropped undelivered after their time to live.",
        m.outbox_expired.load(Ordering::Relaxed) as f64,
    );
    line(
        "outbox_store_errors_total",
        "counter",
        "Writes and reads of the outbox's store that failed (a full disk, an I/O error).",
        m.outbox_store_errors.load(Ordering::Relaxed) as f64,
    );
    line(
        "outbox_dropped_total",
        "counter",
        "Messages dropped because the outbox was full.",
        m.outbox_dropped.load(Ordering::Relaxed) as f64,
    );
    line(
        "inputs_rejected_total",
        "counter",
        "MQTT inputs dropped as malformed, oversized or unknown.",
        m.inputs_rejected.load(Ordering::Relaxed) as f64,
    );
    line(
        "store_set_aside",
        "gauge",
        "1 when the store was damaged at start, moved aside, and the daemon runs on an empty one.",
        if m.store_set_aside.load(Ordering::Relaxed) { 1.0 } else { 0.0 },
    );
    line(
        "inputs_retained_ignored_total",
        "counter",
        "Retained MQTT messages on input topics, ignored.",
        m.inputs_retained_ignored.load(Ordering::Relaxed) as f64,
    );
    line(
        "commands_over_rate_total",
        "counter",
        "cmd/* messages dropped over the command rate.",
        m.commands_over_rate.load(Ordering::Relaxed) as f64,
    );
    line(
        "chat_questions_total",
        "counter",
        "Viewer questions taken for answering.",
        m.chat_questions.load(Ordering::Relaxed) as f64,
    );
    line(
        "chat_dropped_total",
        "counter",
        "Viewer questions dropped by the rate limit or a full queue.",
        m.chat_dropped.load(Ordering::Relaxed) as f64,
    );
    line(
        "chat_unanswered_total",
        "counter",
        "Viewer questions the FAQ had no answer for.",
        m.chat_unanswered.load(Ordering::Relaxed) as f64,
    );
    line(
        "chat_masked_total",
        "counter",
        "Viewer messages shown masked (a phone number, a link or a banned word).",
        m.chat_masked.load(Ordering::Relaxed) as f64,
    );
    line(
        "chat_answers_held_total",
        "counter",
        "Answers not sent to chat because they contain an advertising-law term (the host gets an alert).",
        m.chat_answers_held.load(Ordering::Relaxed) as f64,
    );
    line(
        "chat_to_mqtt_ms_p50",
        "gauge",
        "Median time from a viewer message's receipt to its answer reaching the MQTT outbox (recent window).",
        m.chat_to_mqtt_ms.quantile(0.5).unwrap_or(0.0),
    );
    line(
        "chat_to_mqtt_ms_p99",
        "gauge",
        "99th percentile of the same.",
        m.chat_to_mqtt_ms.quantile(0.99).unwrap_or(0.0),
    );
    line(
        "faq_ready",
        "gauge",
        "1 once the FAQ index is built with every retrieval configured (the text model loaded or given up on).",
        f64::from(u8::from(m.faq_ready.load(Ordering::Relaxed))),
    );
    line("uptime_seconds", "gauge", "Seconds since the daemon started.", m.started.elapsed().as_secs_f64());
    out += &crate::chat::sources::render_metrics(&s.chat_sources);
    out += &m.inference_histogram.render("cuebox_inference_seconds", "Embedding inference time per recognized frame.");
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}
