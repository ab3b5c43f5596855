//! The admin side, behind the token of `web.admin_token_file`: the admin page, camera
//! snapshots, enrollment from live snapshots, catalog upload, live status.

use std::path::{Path, PathBuf};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use std::sync::Arc;

use cuebox_vision::RgbView;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::WebState;
use crate::commands::{BadInput, Model, import_file_named};
use crate::engine::EngineInput;
use crate::recognition::{Recognizer, SharedPreview, references};

mod studio;

const ADMIN: &str = include_str!("../../web/admin.html");
const LOGIN: &str = include_str!("../../web/login.html");
const COOKIE: &str = "cuebox_admin";
const UPLOAD_LIMIT: usize = 64 * 1024 * 1024;

/// The admin token, kept as its sha256 and compared in constant time.
pub struct AdminToken([u8; 32]);

impl AdminToken {
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let token = crate::mqtt::read_secret(path)?;
        if token.len() < 12 {
            anyhow::bail!("web.admin_token_file {}: the token must be at least 12 characters", path.display());
        }
        Ok(Self::new(&token))
    }

    pub fn new(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    pub(super) fn matches(&self, candidate: &str) -> bool {
        let candidate: [u8; 32] = Sha256::digest(candidate.as_bytes()).into();
        candidate.iter().zip(self.0.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

/// What the admin API works with.
pub struct AdminState {
    /// `None`: no token configured, so the admin side refuses everyone.
    pub token: Option<AdminToken>,
    pub recognizer: Arc<Recognizer>,
    pub preview: SharedPreview,
    pub engine: mpsc::Sender<EngineInput>,
    pub uploads: PathBuf,
    /// One import or enrollment at a time.
    pub changing: tokio::sync::Mutex<()>,
}

pub fn router() -> Router<WebState> {
    Router::new()
        .route("/admin", get(admin_page))
        .route("/api/status", get(status))
        .route("/api/snapshot", get(snapshot))
        .route("/api/products/:sku", get(product))
        .route("/api/products/:sku/references/:index", get(thumbnail))
        .route("/api/products/:sku/snapshots", post(enroll_snapshot))
        .route("/api/catalog", post(import).layer(DefaultBodyLimit::max(UPLOAD_LIMIT)))
        .merge(studio::router())
}

fn presented(headers: &HeaderMap) -> Option<String> {
    if let Some(bearer) =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(bearer.trim().to_owned());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(&format!("{COOKIE}=")).map(str::to_owned))
}

fn authorized(s: &WebState, headers: &HeaderMap) -> bool {
    match (&s.admin.token, presented(headers)) {
        (Some(token), Some(candidate)) => token.matches(&candidate),
        _ => false,
    }
}

/// Proof that the request carries the admin token; extracted before any body is read, so an
/// unauthorized request is refused with 401 whatever it contains.
struct Admin;

#[axum::async_trait]
impl axum::extract::FromRequestParts<WebState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &WebState) -> Result<Self, Response> {
        if authorized(state, &parts.headers) { Ok(Admin) } else { Err(unauthorized()) }
    }
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        axum::Json(json!({ "error": "admin token required" })),
    )
        .into_response()
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// `/admin?token=...` signs in (an HttpOnly cookie) and redirects to `/admin`.
async fn admin_page(State(s): State<WebState>, headers: HeaderMap, Query(q): Query<TokenQuery>) -> Response {
    if let (Some(token), Some(candidate)) = (&s.admin.token, &q.token)
        && token.matches(candidate)
    {
        let cookie = format!("{COOKIE}={candidate}; HttpOnly; SameSite=Strict; Path=/");
        return ([(header::SET_COOKIE, cookie)], Redirect::to("/admin")).into_response();
    }
    if authorized(&s, &headers) {
        return super::page(ADMIN);
    }
    let body = if s.admin.token.is_none() {
        LOGIN.replace("{{hint}}", "web.admin_token_file is not set on this box.")
    } else {
        LOGIN.replace("{{hint}}", "")
    };
    (StatusCode::UNAUTHORIZED, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

async fn status(_: Admin, State(s): State<WebState>) -> Response {
    let m = &s.metrics;
    let (fps_in, fps_processed) = m.rates();
    let camera = s.capture.state();
    let camera_error = match &camera {
        cuebox_capture::CameraState::Retrying { error } => Some(error.clone()),
        _ => None,
    };
    let view = s.admin.preview.latest().map(|p| json!({ "sku": p.decision.sku, "score": p.decision.score, "candidates": p.decision.candidates.iter().take(3).map(|c| json!({"sku": c.sku, "score": c.score})).collect::<Vec<_>>() }));
    axum::Json(json!({
        "camera": camera.as_str(),
        "camera_error": camera_error,
        "camera_restarts": s.capture.restarts(),
        "fps_in": fps_in,
        "fps_processed": fps_processed,
        "frames_dropped": s.slot.dropped(),
        "inference_ms_p50": m.inference_ms.quantile(0.5),
        "inference_ms_p99": m.inference_ms.quantile(0.99),
        "mqtt_connected": m.mqtt_connected.load(std::sync::atomic::Ordering::Relaxed),
        "outbox_depth": m.outbox_depth.load(std::sync::atomic::Ordering::Relaxed),
        "uptime_s": m.started.elapsed().as_secs(),
        "view": view,
        "chat": s.chat_sources.snapshot(),
    }))
    .into_response()
}

/// The latest frame the camera delivered (as recognition saw it), as a JPEG.
async fn snapshot(_: Admin, State(s): State<WebState>) -> Response {
    let Some(preview) = s.admin.preview.latest() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "no frame yet").into_response();
    };
    let encoded = tokio::task::spawn_blocking(move || {
        let frame = &preview.frame;
        let view = RgbView::new(frame.width, frame.height, &frame.rgb)?;
        view.jpeg(view.full(), 1280, 80)
    })
    .await;
    match encoded {
        Ok(Ok(jpeg)) => {
            ([(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, "no-store")], jpeg).into_response()
        }
        Ok(Err(error)) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> anyhow::Result<T> + Send + 'static) -> Result<T, Response> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(error)) => Err(match error.downcast_ref::<BadInput>() {
            Some(bad) => (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(json!({ "errors": bad.0 }))).into_response(),
            None => (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({ "errors": [format!("{error:#}")] })))
                .into_response(),
        }),
        Err(error) => Err((StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response()),
    }
}

/// A product with its reference photos.
async fn product(_: Admin, State(s): State<WebState>, UrlPath(sku): UrlPath<String>) -> Response {
    let store = s.store.clone();
    let found = blocking(move || {
        let Some(product) = store.product(&sku)? else { return Ok(None) };
        let references: Vec<_> = store
            .references()?
            .into_iter()
            .filter(|r| r.sku == sku)
            .enumerate()
            .map(|(index, r)| json!({ "index": index, "origin": r.origin, "thumbnail": !r.thumbnail.is_empty() }))
            .collect();
        Ok(Some(json!({ "product": product, "references": references })))
    })
    .await;
    match found {
        Ok(Some(body)) => axum::Json(body).into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, axum::Json(json!({ "error": "no such product" }))).into_response(),
        Err(response) => response,
    }
}

async fn thumbnail(_: Admin, State(s): State<WebState>, UrlPath((sku, index)): UrlPath<(String, usize)>) -> Response {
    let store = s.store.clone();
    match blocking(move || Ok(store.references()?.into_iter().filter(|r| r.sku == sku).nth(index).map(|r| r.thumbnail)))
        .await
    {
        Ok(Some(jpeg)) if !jpeg.is_empty() => ([(header::CONTENT_TYPE, "image/jpeg")], jpeg).into_response(),
        Ok(_) => StatusCode::NOT_FOUND.into_response(),
        Err(response) => response,
    }
}

#[derive(Deserialize)]
struct EnrollQuery {
    #[serde(default)]
    replace: bool,
}

/// Enrolls what the camera sees now (the same region recognition looks at) for a product.
async fn enroll_snapshot(
    _: Admin,
    State(s): State<WebState>,
    UrlPath(sku): UrlPath<String>,
    Query(q): Query<EnrollQuery>,
) -> Response {
    let Some(preview) = s.admin.preview.latest() else {
        return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({ "errors": ["no frame from the camera yet"] })))
            .into_response();
    };
    let _changing = s.admin.changing.lock().await;
    let (store, recognizer) = (s.store.clone(), s.admin.recognizer.clone());
    let result = blocking(move || {
        let finder = recognizer.finder();
        if store.product(&sku)?.is_none() {
            return Err(BadInput(vec![format!("no product {sku:?} in the catalog")]).into());
        }
        let frame = &preview.frame;
        let view = RgbView::new(frame.width, frame.height, &frame.rgb)?;
        let origin = format!("camera frame {}", frame.seq);
        let added = references(&finder, &sku, view, view.center_square(), origin)?;
        let total = store.enroll(&sku, &added, q.replace)?;
        recognizer.gallery.reload(&store, finder.embedder())?;
        Ok(total)
    })
    .await;
    match result {
        Ok(total) => {
            let _ = s.admin.engine.try_send(EngineInput::CatalogChanged);
            axum::Json(json!({ "references": total })).into_response()
        }
        Err(response) => response,
    }
}

/// A name safe to write in the upload folder: the last path component, plain characters only.
fn safe_name(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next()?;
    let ok =
        !base.is_empty() && !base.starts_with('.') && base.chars().all(|c| c.is_alphanumeric() || "._- ".contains(c));
    ok.then(|| base.to_owned())
}

/// Imports an uploaded catalog (field `catalog`) with its photos (fields `images`), all or
/// nothing; the photos are matched to the catalog's image paths by file name.
async fn import(_: Admin, State(s): State<WebState>, mut form: Multipart) -> Response {
    let _changing = s.admin.changing.lock().await;
    let folder = s.admin.uploads.join(crate::engine::now_ms().to_string());
    let files = folder.join("files");
    if let Err(error) = tokio::fs::create_dir_all(&files).await {
        return (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({ "errors": [error.to_string()] })))
            .into_response();
    }
    let mut catalog: Option<String> = None;
    let mut problems = Vec::new();
    loop {
        let field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(error) => {
                return (StatusCode::BAD_REQUEST, axum::Json(json!({ "errors": [error.to_string()] }))).into_response();
            }
        };
        let kind = field.name().unwrap_or_default().to_owned();
        let given = field.file_name().unwrap_or_default().to_owned();
        if given.is_empty() && kind == "images" {
            // A browser sends an empty part for a file input with nothing chosen.
            continue;
        }
        let Some(name) = safe_name(&given) else {
            problems.push(format!("{given:?}: not a usable file name"));
            continue;
        };
        let bytes = match field.bytes().await {
            Ok(b) => b,
            Err(error) => {
                return (StatusCode::BAD_REQUEST, axum::Json(json!({ "errors": [error.to_string()] }))).into_response();
            }
        };
        let target = match kind.as_str() {
            "catalog" => {
                catalog = Some(name.clone());
                folder.join(&name)
            }
            "images" => files.join(&name),
            other => {
                problems.push(format!("unexpected form field {other:?} (expected catalog or images)"));
                continue;
            }
        };
        if let Err(error) = tokio::fs::write(&target, &bytes).await {
            return (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({ "errors": [error.to_string()] })))
                .into_response();
        }
    }
    let Some(catalog) = catalog else {
        problems.push("no catalog file in the upload (form field \"catalog\")".into());
        return (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(json!({ "errors": problems }))).into_response();
    };
    if !problems.is_empty() {
        return (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(json!({ "errors": problems }))).into_response();
    }
    let (store, recognizer) = (s.store.clone(), s.admin.recognizer.clone());
    let result = blocking(move || {
        let embedder = recognizer.embedder();
        place_photos(&folder, &folder.join(&catalog))?;
        let report =
            import_file_named(&store, &folder.join(&catalog), &catalog, &Model::loaded(embedder.clone()), false)?;
        recognizer.gallery.reload(&store, &embedder)?;
        Ok(report.to_string())
    })
    .await;
    match result {
        Ok(report) => {
            let _ = s.admin.engine.try_send(EngineInput::CatalogChanged);
            axum::Json(json!({ "report": report })).into_response()
        }
        Err(response) => response,
    }
}

/// Puts each uploaded photo where the catalog names it (relative paths inside the folder only).
fn place_photos(folder: &Path, catalog: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(catalog)?;
    let Ok(parsed) = cuebox_catalog::parse_catalog(&text) else { return Ok(()) };
    for image in &parsed.images {
        let relative = Path::new(&image.written);
        let inside = relative.components().all(|c| matches!(c, std::path::Component::Normal(_)));
        let Some(name) = relative.file_name() else { continue };
        let uploaded = folder.join("files").join(name);
        if inside && uploaded.exists() {
            let target = folder.join(relative);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::copy(&uploaded, &target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_only_exactly() {
        let token = AdminToken::new("correct horse battery");
        assert!(token.matches("correct horse battery"));
        assert!(!token.matches("correct horse batter"));
        assert!(!token.matches(""));
    }

    #[test]
    fn uploaded_names_cannot_escape_the_folder() {
        assert_eq!(safe_name("images/tea 1.jpg").as_deref(), Some("tea 1.jpg"));
        assert_eq!(safe_name("..\\\\evil.jpg").as_deref(), Some("evil.jpg"));
        assert_eq!(safe_name(".."), None);
        assert_eq!(safe_name(".hidden"), None);
        assert_eq!(safe_name("a/b/"), None);
    }
}
