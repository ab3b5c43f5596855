//! Recognition on its own thread: newest frame → crop → embedding → nearest enrolled product
//! → tracker → engine. Never runs on the async runtime and never waits on MQTT.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use cuebox_capture::FrameSlot;
use cuebox_catalog::Store;
use cuebox_vision::{Decision, DecisionRule, Embedder, Embedding, Gallery, RgbView, Tracker, TrackerConfig, VisionError};
use tokio::sync::mpsc;

use crate::engine::{EngineInput, VisionChange};
use crate::metrics::Metrics;

/// The model, the enrolled references and the rule that decides.
pub struct Recognizer {
    pub embedder: Embedder,
    pub gallery: Gallery,
    pub rule: DecisionRule,
}

impl Recognizer {
    /// Loads the references of the active catalog that were enrolled with this model.
    pub fn new(embedder: Embedder, store: &Store, rule: DecisionRule) -> anyhow::Result<Self> {
        let mut gallery = Gallery::default();
        let mut other_model = 0usize;
        for reference in store.references().context("reading enrolled references")? {
            if reference.model != embedder.info().sha256 {
                other_model += 1;
                continue;
            }
            match Embedding::from_raw(reference.vector) {
                Ok(e) => gallery.add(reference.sku, e),
                Err(error) => tracing::warn!(sku = %reference.sku, %error, "unusable reference skipped"),
            }
        }
        if other_model > 0 {
            tracing::warn!(other_model, "references enrolled with another model are ignored; import the catalog again to re-enroll");
        }
        tracing::info!(references = gallery.len(), products = gallery.products(), "gallery loaded");
        Ok(Self { embedder, gallery, rule })
    }

    /// The product in a live frame or still image: the centred square, where a host holds it.
    pub fn recognize(&self, view: RgbView<'_>) -> Result<Decision, VisionError> {
        let embedding = self.embedder.embed(view, view.center_square())?;
        Ok(self.rule.decide(self.gallery.rank(&embedding)))
    }
}

pub struct Worker {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Worker {
    pub fn spawn(
        recognizer: Recognizer,
        slot: Arc<FrameSlot>,
        tracker: TrackerConfig,
        interval: Duration,
        events: mpsc::Sender<EngineInput>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("vision".into())
            .spawn({
                let stop = stop.clone();
                move || run(&recognizer, &slot, Tracker::new(tracker), tracker.exit, interval, &events, &metrics, &stop)
            })
            .context("starting the vision thread")?;
        Ok(Self { stop, thread })
    }

    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        if self.thread.join().is_err() {
            tracing::error!("vision thread panicked");
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn run(
    recognizer: &Recognizer,
    slot: &FrameSlot,
    mut tracker: Tracker,
    camera_grace: Duration,
    interval: Duration,
    events: &mpsc::Sender<EngineInput>,
    metrics: &Metrics,
    stop: &AtomicBool,
) {
    let mut due = Instant::now();
    let mut last_frame = Instant::now();
    let send = |change: VisionChange| {
        if events.try_send(EngineInput::Vision(change)).is_err() {
            metrics.events_dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("engine queue full: product change dropped");
        }
    };
    while !stop.load(Ordering::Relaxed) {
        metrics.heartbeat();
        let now = Instant::now();
        if now < due {
            std::thread::sleep((due - now).min(Duration::from_millis(100)));
            continue;
        }
        let Some(frame) = slot.take(Duration::from_millis(200)) else {
            if last_frame.elapsed() > camera_grace
                && let Some(gone) = tracker.reset(Instant::now())
            {
                tracing::info!("no frames from the camera: product cleared");
                send(VisionChange { sku: gone.sku, confidence: 0.0, since_ms: crate::engine::now_ms(), captured: Instant::now() });
            }
            continue;
        };
        last_frame = Instant::now();
        due = last_frame + interval;
        let view = match RgbView::new(frame.width, frame.height, &frame.rgb) {
            Ok(v) => v,
            Err(error) => {
                tracing::warn!(%error, "frame skipped");
                continue;
            }
        };
        let started = Instant::now();
        let decision = match recognizer.recognize(view) {
            Ok(d) => d,
            Err(error) => {
                tracing::warn!(%error, "recognition failed");
                continue;
            }
        };
        metrics.inference_ms.record(started.elapsed().as_secs_f64() * 1e3);
        metrics.frames_processed.fetch_add(1, Ordering::Relaxed);
        tracing::trace!(seq = frame.seq, sku = ?decision.sku, score = decision.score, "frame recognized");
        if let Some(change) = tracker.update(frame.captured, decision.sku.as_deref(), decision.score) {
            let evidence = frame.captured.saturating_duration_since(change.since).as_millis() as u64;
            send(VisionChange {
                sku: change.sku,
                confidence: change.confidence,
                since_ms: frame.captured_unix_ms.saturating_sub(evidence),
                captured: frame.captured,
            });
        }
    }
}
