//! The admin side, behind the token of `web.admin_token_file`: the admin page, camera
//! snapshots, enrollment from live snapshots, catalog upload, live status.

use std::path::{Path, PathBuf};

use axum::Router;
use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Multipart, Path as UrlPath, Query, State};
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
use super::session::{Attempt, Sessions};
use crate::commands::{BadInput, Model, import_file_named};
use crate::engine::EngineInput;
use crate::recognition::{Recognizer, SharedPreview, references};

mod studio;

const ADMIN: &str = include_str!("../../web/admin.html");
const LOGIN: &str = include_str!("../../web/login.html");
const COOKIE: &str = "cuebox_admin";
/// The whole upload of a catalog and its photos.
const UPLOAD_LIMIT: usize = 64 * 1024 * 1024;
/// The catalog file of an upload.
const CATALOG_FILE_LIMIT: u64 = 4 * 1024 * 1024;

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
    /// Signed-in browsers, and failed sign-ins.
    pub sessions: Sessions,
}

pub fn router() -> Router<WebState> {
    Router::new()
        .route("/admin", get(admin_page))
        .route("/admin/login", post(sign_in))
        .route("/admin/logout", post(sign_out))
        .route("/api/status", get(status))
        .route("/api/snapshot", get(snapshot))
        .route("/api/products/:sku", get(product))
        .route("/api/products/:sku/references/:index", get(thumbnail))
        .route("/api/products/:sku/snapshots", post(enroll_snapshot))
        .route("/api/catalog", post(import).layer(DefaultBodyLimit::max(UPLOAD_LIMIT)))
        .merge(studio::router())
}

/// A token presented as `Authorization: Bearer T` (scripts).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// The session id of the sign-in cookie (browsers).
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(COOKIE).and_then(|rest| rest.strip_prefix('=')))
}

pub(super) fn authorized(s: &WebState, headers: &HeaderMap) -> bool {
    let Some(token) = &s.admin.token else { return false };
    if let Some(candidate) = bearer(headers) {
        return token.matches(candidate);
    }
    session_cookie(headers).is_some_and(|id| s.admin.sessions.is_open(id))
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

#[derive(Deserialize)]
struct SignIn {
    token: String,
}

/// The admin page, or the sign-in form (401). `/admin?token=...` (the link `cuebox demo`
/// prints) signs in as the form does.
async fn admin_page(
    State(s): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
) -> Response {
    if let Some(candidate) = &q.token {
        return sign_in_with(&s, peer, candidate, over_tls(&headers));
    }
    if authorized(&s, &headers) {
        return super::page(ADMIN);
    }
    login_page(&s, StatusCode::UNAUTHORIZED, "")
}

/// `POST /admin/login` (form field `token`): opens a session and redirects to `/admin`.
async fn sign_in(
    State(s): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<SignIn>,
) -> Response {
    sign_in_with(&s, peer, &form.token, over_tls(&headers))
}

/// Whether the page was asked for over HTTPS, through a proxy that ends TLS in front of the box
/// (`X-Forwarded-Proto: https` or `Forwarded: proto=https`). A client that claims it only gets a
/// stricter cookie.
fn over_tls(headers: &HeaderMap) -> bool {
    let values =
        |name: &'static str| headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).map(str::to_ascii_lowercase);
    values("x-forwarded-proto").any(|v| v.trim() == "https")
        || values("forwarded").any(|v| v.split([';', ',']).any(|part| part.trim() == "proto=https"))
}

fn sign_in_with(s: &WebState, peer: SocketAddr, candidate: &str, secure: bool) -> Response {
    let Some(token) = &s.admin.token else {
        return login_page(s, StatusCode::UNAUTHORIZED, "");
    };
    if let Attempt::Wait(wait) = s.admin.sessions.attempt(peer.ip()) {
        let seconds = wait.as_secs() + 1;
        let mut response =
            login_page(s, StatusCode::TOO_MANY_REQUESTS, &format!("Too many wrong tokens: try again in {seconds} s."));
        if let Ok(value) = header::HeaderValue::from_str(&seconds.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        return response;
    }
    if !token.matches(candidate) {
        let wait = s.admin.sessions.failed(peer.ip());
        tracing::warn!(client = %peer.ip(), wait_s = wait.as_secs(), "admin sign-in with a wrong token");
        return login_page(s, StatusCode::UNAUTHORIZED, "Wrong token.");
    }
    s.admin.sessions.succeeded(peer.ip());
    match s.admin.sessions.open() {
        Ok(id) => {
            let cookie = format!(
                "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{}",
                super::session::SESSION_LIFETIME.as_secs(),
                if secure { "; Secure" } else { "" }
            );
            ([(header::SET_COOKIE, cookie)], Redirect::to("/admin")).into_response()
        }
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, format!("no session: {error}")).into_response(),
    }
}

/// `POST /admin/logout`: closes the session and clears the cookie.
async fn sign_out(State(s): State<WebState>, headers: HeaderMap) -> Response {
    if let Some(id) = session_cookie(&headers) {
        s.admin.sessions.close(id);
    }
    let cookie = format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/admin")).into_response()
}

fn login_page(s: &WebState, status: StatusCode, message: &str) -> Response {
    let hint = if s.admin.token.is_none() { "web.admin_token_file is not set on this box." } else { message };
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], LOGIN.replace("{{hint}}", hint)).into_response()
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

enum FieldError {
    TooLarge,
    Upload(axum::extract::multipart::MultipartError),
    Disk(std::io::Error),
}

/// Writes one uploaded file to `target` as it arrives, refusing it past `limit` bytes.
async fn save_field(
    mut field: axum::extract::multipart::Field<'_>,
    target: &Path,
    limit: u64,
) -> Result<(), FieldError> {
    use tokio::io::AsyncWriteExt;
    let mut file = tokio::fs::File::create(target).await.map_err(FieldError::Disk)?;
    let mut written = 0u64;
    while let Some(chunk) = field.chunk().await.map_err(FieldError::Upload)? {
        written += chunk.len() as u64;
        if written > limit {
            return Err(FieldError::TooLarge);
        }
        file.write_all(&chunk).await.map_err(FieldError::Disk)?;
    }
    file.flush().await.map_err(FieldError::Disk)
}

/// Imports an uploaded catalog (field `catalog`) with its photos (fields `images`), all or
/// nothing; the photos are matched to the catalog's image paths by file name. The upload's
/// folder is removed afterwards, whatever the outcome.
async fn import(admin: Admin, State(s): State<WebState>, form: Multipart) -> Response {
    let _changing = s.admin.changing.lock().await;
    let folder = s.admin.uploads.join(crate::engine::now_ms().to_string());
    let response = import_into(admin, &s, &folder, form).await;
    if let Err(error) = tokio::fs::remove_dir_all(&folder).await
        && error.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(folder = %folder.display(), %error, "upload folder not removed");
    }
    response
}

async fn import_into(_: Admin, s: &WebState, folder: &Path, mut form: Multipart) -> Response {
    let folder = folder.to_path_buf();
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
        let (target, limit) = match kind.as_str() {
            "catalog" => {
                catalog = Some(name.clone());
                (folder.join(&name), CATALOG_FILE_LIMIT)
            }
            "images" => (files.join(&name), crate::photo::MAX_PHOTO_BYTES),
            other => {
                problems.push(format!("unexpected form field {other:?} (expected catalog or images)"));
                continue;
            }
        };
        match save_field(field, &target, limit).await {
            Ok(()) => {}
            Err(FieldError::TooLarge) => {
                return (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    axum::Json(json!({ "errors": [format!("{given}: over the limit of {} MB for a {kind} file", limit / 1024 / 1024)] })),
                )
                    .into_response();
            }
            Err(FieldError::Upload(error)) => {
                return (StatusCode::BAD_REQUEST, axum::Json(json!({ "errors": [error.to_string()] }))).into_response();
            }
            Err(FieldError::Disk(error)) => {
                return (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({ "errors": [error.to_string()] })))
                    .into_response();
            }
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
