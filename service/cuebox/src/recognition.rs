//! Recognition on its own thread: newest frame → crop → embedding → nearest enrolled product
//! → tracker → engine. Never runs on the async runtime and never waits on MQTT. The gallery
//! can be replaced between two frames (after an import or an enrollment) without a pause.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use cuebox_capture::{Frame, FrameSlot};
use cuebox_catalog::{Reference, Store};
use cuebox_vision::{Crop, Decision, DecisionRule, Embedder, Embedding, Gallery, RgbView, Tracker, TrackerConfig, VisionError};
use tokio::sync::mpsc;

use crate::engine::{EngineInput, VisionChange};
use crate::metrics::Metrics;

/// Side of the JPEG thumbnail kept with each reference.
const THUMBNAIL_SIDE: u32 = 256;

/// The enrolled references in use, replaced as a whole when the catalog changes.
#[derive(Clone, Default)]
pub struct SharedGallery(Arc<RwLock<Arc<Gallery>>>);

impl SharedGallery {
    pub fn current(&self) -> Arc<Gallery> {
        self.0.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub fn replace(&self, gallery: Gallery) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(gallery);
    }

    /// Loads the references of the active catalog that were enrolled with this model.
    pub fn reload(&self, store: &Store, embedder: &Embedder) -> anyhow::Result<()> {
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
        self.replace(gallery);
        Ok(())
    }
}

/// The model, the enrolled references and the rule that decides.
pub struct Recognizer {
    pub embedder: Embedder,
    pub gallery: SharedGallery,
    pub rule: DecisionRule,
}

impl Recognizer {
    pub fn new(embedder: Embedder, store: &Store, rule: DecisionRule) -> anyhow::Result<Self> {
        let gallery = SharedGallery::default();
        gallery.reload(store, &embedder)?;
        Ok(Self { embedder, gallery, rule })
    }

    /// The product in a live frame or still image: the centred square, where a host holds it.
    pub fn recognize(&self, view: RgbView<'_>) -> Result<Decision, VisionError> {
        let embedding = self.embedder.embed(view, view.center_square())?;
        Ok(self.rule.decide(self.gallery.current().rank(&embedding)))
    }
}

/// A reference for `sku` from `crop` of an image: its embedding and a thumbnail.
pub fn reference(embedder: &Embedder, sku: &str, view: RgbView<'_>, crop: Crop, origin: String) -> Result<Reference, VisionError> {
    Ok(Reference {
        sku: sku.to_owned(),
        model: embedder.info().sha256.clone(),
        origin,
        vector: embedder.embed(view, crop)?.as_slice().to_vec(),
        thumbnail: view.jpeg(crop, THUMBNAIL_SIDE, 85)?,
    })
}

/// The latest recognized frame and what was decided, for snapshots and the live view.
#[derive(Clone)]
pub struct Preview {
    pub frame: Arc<Frame>,
    pub decision: Decision,
}

#[derive(Clone, Default)]
pub struct SharedPreview(Arc<Mutex<Option<Preview>>>);

impl SharedPreview {
    pub fn latest(&self) -> Option<Preview> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn set(&self, preview: Preview) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(preview);
    }
}

pub struct Worker {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

/// What the vision thread works with.
pub struct WorkerSetup {
    pub recognizer: Arc<Recognizer>,
    pub slot: Arc<FrameSlot>,
    pub tracker: TrackerConfig,
    pub interval: Duration,
    pub events: mpsc::Sender<EngineInput>,
    pub metrics: Arc<Metrics>,
    pub preview: SharedPreview,
}

impl Worker {
    pub fn spawn(setup: WorkerSetup) -> anyhow::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("vision".into())
            .spawn({
                let stop = stop.clone();
                move || run(&setup, &stop)
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

fn run(setup: &WorkerSetup, stop: &AtomicBool) {
    let metrics = &setup.metrics;
    let mut tracker = Tracker::new(setup.tracker);
    let mut due = Instant::now();
    let mut last_frame = Instant::now();
    let send = |change: VisionChange| {
        if setup.events.try_send(EngineInput::Vision(change)).is_err() {
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
        let Some(frame) = setup.slot.take(Duration::from_millis(200)) else {
            if last_frame.elapsed() > setup.tracker.exit
                && let Some(gone) = tracker.reset(Instant::now())
            {
                tracing::info!("no frames from the camera: product cleared");
                send(VisionChange { sku: gone.sku, confidence: 0.0, since_ms: crate::engine::now_ms(), captured: Instant::now() });
            }
            continue;
        };
        last_frame = Instant::now();
        due = last_frame + setup.interval;
        let frame = Arc::new(frame);
        let view = match RgbView::new(frame.width, frame.height, &frame.rgb) {
            Ok(v) => v,
            Err(error) => {
                tracing::warn!(%error, "frame skipped");
                continue;
            }
        };
        let started = Instant::now();
        let decision = match setup.recognizer.recognize(view) {
            Ok(d) => d,
            Err(error) => {
                tracing::warn!(%error, "recognition failed");
                continue;
            }
        };
        let ms = started.elapsed().as_secs_f64() * 1e3;
        metrics.inference_ms.record(ms);
        metrics.inference_histogram.record(ms);
        metrics.frames_processed.fetch_add(1, Ordering::Relaxed);
        tracing::trace!(seq = frame.seq, sku = ?decision.sku, score = decision.score, "frame recognized");
        let change = tracker.update(frame.captured, decision.sku.as_deref(), decision.score);
        setup.preview.set(Preview { frame: frame.clone(), decision });
        if let Some(change) = change {
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
