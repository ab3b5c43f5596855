//! The admin side of teaching recognition: "learn this studio" (calibration), "hold it up and
//! turn it" (live enrollment) and the host's corrections, kept as suggested references.

use std::time::Duration;

use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cuebox_catalog::StudioPhase;
use cuebox_vision::RgbView;
use serde::Deserialize;
use serde_json::json;

use super::{Admin, WebState, blocking};
use crate::commands::BadInput;
use crate::engine::EngineInput;
use crate::recognition::studio::{self, MAX_RECORDING};

/// Seconds recorded when the page does not say.
const DEFAULT_SECONDS: u64 = 3;

pub fn router() -> Router<WebState> {
    Router::new()
        .route("/api/studio", get(studio_view).delete(forget_studio))
        .route("/api/studio/:phase", post(learn_studio))
        .route("/api/products/:sku/shown", post(learn_shown))
        .route("/api/suggestions", get(suggestions))
        .route("/api/suggestions/:id", post(accept_suggestion).delete(drop_suggestion))
        .route("/api/suggestions/:id/frame", get(suggestion_frame))
}

#[derive(Deserialize)]
struct Recording {
    seconds: Option<u64>,
}

impl Recording {
    /// The recording's length, or the message of a 400 answer.
    fn duration(&self) -> Result<Duration, String> {
        let seconds = self.seconds.unwrap_or(DEFAULT_SECONDS);
        if seconds == 0 || seconds > MAX_RECORDING.as_secs() {
            return Err(format!("seconds: must be between 1 and {} (got {seconds})", MAX_RECORDING.as_secs()));
        }
        Ok(Duration::from_secs(seconds))
    }
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({ "errors": [message] }))).into_response()
}

fn phase_named(name: &str) -> Option<StudioPhase> {
    match name {
        "empty" => Some(StudioPhase::Empty),
        "host" => Some(StudioPhase::Host),
        _ => None,
    }
}

fn summary(view: Option<&cuebox_catalog::StudioView>) -> serde_json::Value {
    match view {
        Some(view) => json!({
            "calibrated": true,
            "empty": { "frames": view.empty.frames, "recorded_at_ms": view.empty.recorded_at_ms },
            "host": { "frames": view.host.frames, "recorded_at_ms": view.host.recorded_at_ms },
        }),
        None => json!({ "calibrated": false }),
    }
}

/// A handler's answer: the success, or the error response it stopped at.
type Answer = Result<Response, Response>;

/// What recognition knows of the studio without a product, under the current model.
async fn studio_view(_: Admin, State(s): State<WebState>) -> Answer {
    let (store, recognizer) = (s.store.clone(), s.admin.recognizer.clone());
    let view = blocking(move || Ok(store.studio_view(&recognizer.embedder().info().identity)?)).await?;
    Ok(axum::Json(summary(view.as_ref())).into_response())
}

/// Records the studio (`empty`: the set with nobody in it; `host`: the host without a
/// product) for `seconds`, and recognizes against it from then on.
async fn learn_studio(
    _: Admin,
    State(s): State<WebState>,
    UrlPath(phase): UrlPath<String>,
    Query(recording): Query<Recording>,
) -> Answer {
    let phase = phase_named(&phase)
        .ok_or_else(|| bad_request(format!("phase: must be \"empty\" or \"host\" (got {phase:?})")))?;
    let duration = recording.duration().map_err(bad_request)?;
    let _changing = s.admin.changing.lock().await;
    let (store, recognizer, preview) = (s.store.clone(), s.admin.recognizer.clone(), s.admin.preview.clone());
    let view = blocking(move || {
        let frames = studio::record(&preview, duration);
        let views = frames
            .iter()
            .map(|frame| RgbView::new(frame.width, frame.height, &frame.rgb))
            .collect::<Result<Vec<_>, _>>()?;
        studio::calibrate(&recognizer, &store, phase, &views)
    })
    .await?;
    Ok(axum::Json(summary(Some(&view))).into_response())
}

/// Forgets the studio's calibration under the current model.
async fn forget_studio(_: Admin, State(s): State<WebState>) -> Answer {
    let _changing = s.admin.changing.lock().await;
    let (store, recognizer) = (s.store.clone(), s.admin.recognizer.clone());
    let removed = blocking(move || {
        let embedder = recognizer.embedder();
        let removed = store.clear_studio_view(&embedder.info().identity)?;
        recognizer.gallery.reload(&store, &embedder)?;
        Ok(removed)
    })
    .await?;
    Ok(axum::Json(json!({ "forgotten": removed })).into_response())
}

/// "Hold it up and turn it": records the product `sku` shown to the camera for `seconds` and
/// enrolls a handful of its sharp, different views.
async fn learn_shown(
    _: Admin,
    State(s): State<WebState>,
    UrlPath(sku): UrlPath<String>,
    Query(recording): Query<Recording>,
) -> Answer {
    let duration = recording.duration().map_err(bad_request)?;
    let _changing = s.admin.changing.lock().await;
    let (store, recognizer, preview) = (s.store.clone(), s.admin.recognizer.clone(), s.admin.preview.clone());
    let learned = blocking(move || {
        if store.product(&sku)?.is_none() {
            return Err(BadInput(vec![format!("no product {sku:?} in the catalog")]).into());
        }
        let frames = studio::record(&preview, duration);
        if frames.is_empty() {
            return Err(BadInput(vec!["no frames were recorded: is the camera delivering?".into()]).into());
        }
        let added = studio::shown_references(&recognizer, &sku, &frames)?;
        let views = added.iter().filter(|r| !r.thumbnail.is_empty()).count();
        let total = store.enroll(&sku, &added, false)?;
        recognizer.gallery.reload(&store, &recognizer.embedder())?;
        Ok(json!({ "frames": frames.len(), "views": views, "references": total }))
    })
    .await?;
    catalog_changed(&s);
    Ok(axum::Json(learned).into_response())
}

fn catalog_changed(s: &WebState) {
    if s.admin.engine.try_send(EngineInput::CatalogChanged).is_err() {
        s.metrics.events_dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::warn!("engine queue full: it reads the catalog again on the next change");
    }
}

/// The frames the host corrected, oldest first.
async fn suggestions(_: Admin, State(s): State<WebState>) -> Answer {
    let store = s.store.clone();
    let kept = blocking(move || Ok(store.suggestions()?)).await?;
    Ok(axum::Json(json!({ "suggestions": kept })).into_response())
}

async fn suggestion_frame(_: Admin, State(s): State<WebState>, UrlPath(id): UrlPath<u64>) -> Answer {
    let store = s.store.clone();
    let suggestion = blocking(move || Ok(store.suggestion(id)?)).await?.ok_or_else(|| no_such_suggestion(id))?;
    Ok(([(header::CONTENT_TYPE, "image/jpeg"), (header::CACHE_CONTROL, "no-store")], suggestion.jpeg).into_response())
}

fn no_such_suggestion(id: u64) -> Response {
    (StatusCode::NOT_FOUND, axum::Json(json!({ "errors": [format!("no suggestion {id}")] }))).into_response()
}

/// Adds a suggestion to its product's references (and removes it from the list).
async fn accept_suggestion(_: Admin, State(s): State<WebState>, UrlPath(id): UrlPath<u64>) -> Answer {
    let _changing = s.admin.changing.lock().await;
    let (store, recognizer) = (s.store.clone(), s.admin.recognizer.clone());
    let accepted = blocking(move || {
        let Some(suggestion) = store.suggestion(id)? else { return Ok(None) };
        if store.product(&suggestion.sku)?.is_none() {
            return Err(BadInput(vec![format!(
                "suggestion {id}: product {:?} is no longer in the catalog",
                suggestion.sku
            )])
            .into());
        }
        let added = studio::suggested_references(&recognizer, &suggestion)?;
        let total = store.enroll(&suggestion.sku, &added, false)?;
        store.take_suggestion(id)?;
        recognizer.gallery.reload(&store, &recognizer.embedder())?;
        Ok(Some(json!({ "sku": suggestion.sku, "references": total })))
    })
    .await?
    .ok_or_else(|| no_such_suggestion(id))?;
    catalog_changed(&s);
    Ok(axum::Json(accepted).into_response())
}

async fn drop_suggestion(_: Admin, State(s): State<WebState>, UrlPath(id): UrlPath<u64>) -> Answer {
    let store = s.store.clone();
    blocking(move || Ok(store.take_suggestion(id)?)).await?.ok_or_else(|| no_such_suggestion(id))?;
    Ok(axum::Json(json!({ "dropped": id })).into_response())
}
