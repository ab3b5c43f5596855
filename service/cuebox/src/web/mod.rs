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
use std::time::Duration;

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

use crate::broker::Role;
use crate::chat::sources::ChatSources;
use crate::metrics::Metrics;
use crate::worker::{WorkerState, Workers};

const PROMPTER: &str = include_str!("../../web/prompter.html");
const OVERLAY: &str = include_str!("../../web/overlay.html");
const LIVE_JS: &str = include_str!("../../web/live.js");
const MQTT_JS: &str = include_str!("../../web/vendor/mqtt.min.js");
/// The vision loop counts as stalled after this long without progress.
const STALL_MS: u64 = 5000;
/// How long the MQTT link may be down before `/healthz` answers 503: a broker restart or a
/// short network outage is ridden out (prompts wait in the outbox), a lasting one is reported.
const MQTT_GRACE: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct WebState {
    /// What the pages need to connect: broker URL, topic prefix, device, locale, and how they log in.
    pub pages: Arc<PageConfig>,
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
        .route("/config.json", get(page_config))
        .route("/api/products", get(products))
        .route("/healthz", get(healthz))
        .route("/metrics", get(prometheus))
        .route("/api/chat", axum::routing::post(chat::receive))
        .merge(admin::router())
        .with_state(state)
}

/// The pages' configuration: what every page gets, and how a page logs in.
pub struct PageConfig {
    pub base: PageBase,
    pub login: PageLogin,
}

#[derive(serde::Serialize)]
pub struct PageBase {
    pub device: String,
    pub prefix: String,
    pub locale: String,
    pub ws_url: Option<String>,
    pub ws_port: Option<u16>,
}

/// `/config.json`.
#[derive(serde::Serialize)]
struct PageReply<'a> {
    #[serde(flatten)]
    base: &'a PageBase,
    username: Option<String>,
    password: Option<String>,
    can_send: bool,
    signed_in: bool,
}

/// How a page logs in to the broker. No lasting password is ever handed to a page that is not
/// signed in, and where logins are required such a page only reads.
pub enum PageLogin {
    /// The embedded broker without logins (loopback, or opened to the LAN on purpose): pages send.
    Open,
    /// The embedded broker with logins: a page gets a short-lived login, read-only unless it is
    /// signed in, then an operator's.
    Minted(crate::broker::PageLogins),
    /// An external broker with `web.mqtt_username`: a signed-in page gets that login.
    Fixed { username: String, password: Option<String> },
    /// An external broker and no page login: pages connect without one and the broker decides.
    Anonymous,
}

/// `GET /config.json`: the base, `username`/`password` for a signed-in page (or an open broker's
/// none), `can_send` (whether the host's controls will be taken) and `signed_in`.
async fn page_config(State(s): State<WebState>, headers: axum::http::HeaderMap) -> Response {
    let signed_in = admin::authorized(&s, &headers);
    let (login, can_send) = match &s.pages.login {
        PageLogin::Open | PageLogin::Anonymous => (None, true),
        PageLogin::Minted(logins) => {
            let role = if signed_in { Role::Operator } else { Role::Reader };
            match logins.mint(role, session::SESSION_LIFETIME) {
                Ok((username, password)) => (Some((username, Some(password))), signed_in),
                Err(error) => {
                    tracing::error!(%error, "no page login");
                    return (StatusCode::INTERNAL_SERVER_ERROR, "no page login\n").into_response();
                }
            }
        }
        PageLogin::Fixed { username, password } if signed_in => (Some((username.clone(), password.clone())), true),
        PageLogin::Fixed { .. } => (None, false),
    };
    let (username, password) = login.unzip();
    let reply = PageReply { base: &s.pages.base, username, password: password.flatten(), can_send, signed_in };
    ([(header::CACHE_CONTROL, "no-store")], axum::Json(reply)).into_response()
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
    let health = Health {
        camera: s.capture.state(),
        vision_silence_ms: s.metrics.vision_silence_ms(),
        mqtt_disconnected_for: s.metrics.mqtt_disconnected_for(),
        workers: s.metrics.workers.all().iter().map(|w| (w.name().to_owned(), w.state(), w.restarts())).collect(),
    };
    let (healthy, body) = health.report();
    let status = if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, body).into_response()
}

/// What `/healthz` looks at.
struct Health {
    camera: CameraState,
    vision_silence_ms: u64,
    mqtt_disconnected_for: Option<Duration>,
    /// Each worker's name, state and restarts.
    workers: Vec<(String, WorkerState, u64)>,
}

impl Health {
    /// Whether all is well, and the body: `ok` or the first problem, then one line per part.
    fn report(&self) -> (bool, String) {
        let mut parts = Vec::new();
        let camera = match &self.camera {
            CameraState::Retrying { error } => format!("camera retrying: {error}"),
            other => format!("camera {}", other.as_str()),
        };
        parts.push((self.camera == CameraState::Streaming, camera));
        let silence = self.vision_silence_ms;
        if silence > STALL_MS {
            parts.push((false, format!("vision stalled for {silence} ms")));
        } else {
            parts.push((true, format!("vision progressing ({silence} ms ago)")));
        }
        parts.push(match self.mqtt_disconnected_for {
            None => (true, "mqtt connected".to_owned()),
            Some(down) => (down <= MQTT_GRACE, format!("mqtt disconnected for {} s", down.as_secs())),
        });
        for (name, state, restarts) in &self.workers {
            parts.push((
                *state != WorkerState::Restarting,
                format!("worker {name} {} ({restarts} restarts)", state.as_str()),
            ));
        }
        let first_problem = parts.iter().find(|(fine, _)| !fine).map(|(_, line)| line.as_str());
        let mut body = format!("{}\n", first_problem.unwrap_or("ok"));
        for (_, line) in &parts {
            body += line;
            body.push('\n');
        }
        (first_problem.is_none(), body)
    }
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
        "broker_clients_refused_total",
        "counter",
        "Clients the embedded broker turned away (wrong login, forbidden will or publish, bad packet).",
        m.broker_clients_refused.load(Ordering::Relaxed) as f64,
    );
    line(
        "broker_publishes_denied_total",
        "counter",
        "Clients of the embedded broker cut off after logging in (a publish, retain or subscription refused, a bad packet).",
        m.broker_publishes_denied.load(Ordering::Relaxed) as f64,
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
    out += &render_workers(&m.workers);
    out += &m.inference_histogram.render("cuebox_inference_seconds", "Embedding inference time per recognized frame.");
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

/// Per supervised worker: its restarts and whether it is waiting to be started again.
fn render_workers(workers: &Workers) -> String {
    let workers = workers.all();
    let mut out = String::from(
        "# HELP cuebox_worker_restarts_total Times a worker thread panicked or failed and was started again.\n\
         # TYPE cuebox_worker_restarts_total counter\n",
    );
    for w in &workers {
        let _ = writeln!(out, "cuebox_worker_restarts_total{{worker=\"{}\"}} {}", w.name(), w.restarts());
    }
    out += "# HELP cuebox_worker_restarting 1 while a worker waits to be started again after a failure.\n\
            # TYPE cuebox_worker_restarting gauge\n";
    for w in &workers {
        let restarting = u8::from(w.state() == WorkerState::Restarting);
        let _ = writeln!(out, "cuebox_worker_restarting{{worker=\"{}\"}} {restarting}", w.name());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> Health {
        Health {
            camera: CameraState::Streaming,
            vision_silence_ms: 40,
            mqtt_disconnected_for: None,
            workers: vec![("vision".into(), WorkerState::Running, 0), ("panel".into(), WorkerState::Ended, 0)],
        }
    }

    #[test]
    fn healthz_says_ok_then_one_line_per_part() {
        let (fine, body) = healthy().report();
        assert!(fine);
        assert_eq!(
            body,
            "ok\ncamera streaming\nvision progressing (40 ms ago)\nmqtt connected\n\
             worker vision running (0 restarts)\nworker panel ended (0 restarts)\n"
        );
    }

    #[test]
    fn mqtt_down_is_reported_at_once_and_unhealthy_after_the_grace() {
        let brief = Health { mqtt_disconnected_for: Some(Duration::from_secs(3)), ..healthy() };
        let (fine, body) = brief.report();
        assert!(fine, "{body}");
        assert!(body.starts_with("ok\n") && body.contains("\nmqtt disconnected for 3 s\n"), "{body}");
        let lasting = Health { mqtt_disconnected_for: Some(MQTT_GRACE + Duration::from_secs(1)), ..healthy() };
        let (fine, body) = lasting.report();
        assert!(!fine);
        assert!(body.starts_with("mqtt disconnected for 31 s\n"), "{body}");
    }

    #[test]
    fn a_restarting_worker_is_unhealthy_and_the_camera_comes_first() {
        let mut health = healthy();
        health.workers[0] = ("barcodes".into(), WorkerState::Restarting, 7);
        let (fine, body) = health.report();
        assert!(!fine);
        assert!(body.starts_with("worker barcodes restarting (7 restarts)\n"), "{body}");
        health.camera = CameraState::Retrying { error: "no device".into() };
        let (_, body) = health.report();
        assert!(body.starts_with("camera retrying: no device\n"), "{body}");
    }
}
