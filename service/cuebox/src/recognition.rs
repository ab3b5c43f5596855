//! Recognition on its own thread: newest frame → regions (the centre square and the whole
//! frame, what measured best on the evaluation set) → embeddings → nearest enrolled product
//! → tracker → engine, and barcode reading on another. Never on the async runtime, never
//! waiting on MQTT. The model, the gallery and the tuning can be replaced between two frames
//! (after an import, an enrollment or a configuration reload) without a pause.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use cuebox_capture::{CaptureStats, Frame, FrameSlot};
use cuebox_catalog::{Reference, Store};
use cuebox_vision::{
    BarcodeReader, Crop, Decision, DecisionRule, Embedder, Embedding, Finder, Gallery, RgbView, SceneSignature,
    Strategy, Tracker, TrackerConfig, VisionError,
};
use tokio::sync::mpsc;

use crate::config::VisionSettings;
use crate::engine::{EngineInput, VisionChange};
use crate::metrics::Metrics;

/// Side of the JPEG thumbnail kept with each reference.
const THUMBNAIL_SIDE: u32 = 256;
/// However still the scene, it is recognized again at least this often.
const MAX_REUSE: Duration = Duration::from_secs(2);

/// The enrolled references in use, replaced as a whole when the catalog changes.
#[derive(Clone, Default)]
pub struct SharedGallery(Arc<RwLock<Arc<Gallery>>>);

impl SharedGallery {
    pub fn current(&self) -> Arc<Gallery> {
        self.0.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn replace(&self, gallery: Gallery) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(gallery);
    }

    /// Loads the references of the active catalog that were enrolled with this model.
    pub fn reload(&self, store: &Store, embedder: &Embedder) -> anyhow::Result<()> {
        let mut gallery = Gallery::default();
        let mut other_model = 0usize;
        for reference in store.references().context("reading enrolled references")? {
            if reference.model != embedder.info().identity {
                other_model += 1;
                continue;
            }
            match Embedding::from_raw(reference.vector) {
                Ok(e) => gallery.add(reference.sku, e),
                Err(error) => tracing::warn!(sku = %reference.sku, %error, "unusable reference skipped"),
            }
        }
        if other_model > 0 {
            tracing::warn!(
                other_model,
                "references enrolled with another model are ignored; import the catalog again to re-enroll"
            );
        }
        tracing::info!(references = gallery.len(), products = gallery.products(), "gallery loaded");
        self.replace(gallery);
        Ok(())
    }
}

/// What a configuration reload may change while frames flow.
#[derive(Clone, Copy, Debug)]
pub struct Tuning {
    pub rule: DecisionRule,
    pub interval: Duration,
    pub tracker: TrackerConfig,
    pub still_threshold: f32,
    pub barcode_interval: Option<Duration>,
}

impl From<&VisionSettings> for Tuning {
    fn from(v: &VisionSettings) -> Self {
        Self {
            rule: v.rule,
            interval: v.interval,
            tracker: v.tracker,
            still_threshold: v.still_threshold,
            barcode_interval: v.barcode_interval,
        }
    }
}

/// Where recognition looks in a frame and how photos are enrolled: the strategy that measured
/// best on the evaluation set (eval/README.md). It places no region by the hand, so the palm
/// detector is not loaded.
fn finder(embedder: Embedder) -> Finder {
    Finder::new(embedder, None, Strategy::recommended())
}

/// The model, the enrolled references and the tuning, each replaceable while in use.
pub struct Recognizer {
    model: RwLock<Finder>,
    pub gallery: SharedGallery,
    tuning: RwLock<Tuning>,
}

impl Recognizer {
    pub fn new(embedder: Embedder, store: &Store, tuning: Tuning) -> anyhow::Result<Self> {
        let gallery = SharedGallery::default();
        gallery.reload(store, &embedder)?;
        Ok(Self { model: RwLock::new(finder(embedder)), gallery, tuning: RwLock::new(tuning) })
    }

    fn finder(&self) -> Finder {
        self.model.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub fn embedder(&self) -> Embedder {
        self.finder().embedder().clone()
    }

    /// A new model, with the references enrolled under it.
    pub fn set_model(&self, embedder: Embedder, store: &Store) -> anyhow::Result<()> {
        self.gallery.reload(store, &embedder)?;
        *self.model.write().unwrap_or_else(PoisonError::into_inner) = finder(embedder);
        Ok(())
    }

    pub fn tuning(&self) -> Tuning {
        *self.tuning.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn set_tuning(&self, tuning: Tuning) {
        *self.tuning.write().unwrap_or_else(PoisonError::into_inner) = tuning;
    }

    /// The product in a live frame or still image.
    pub fn recognize(&self, view: RgbView<'_>) -> Result<Decision, VisionError> {
        Ok(self.finder().find(view, &self.gallery.current(), self.tuning().rule)?.decision)
    }
}

/// The references for `sku` from `crop` of an image, as recognition enrolls a photo (the photo,
/// its mirror image, and both at the scale a held product has in a frame). The first carries a
/// thumbnail of the photo for people to look at.
pub fn references(
    embedder: &Embedder,
    sku: &str,
    view: RgbView<'_>,
    crop: Crop,
    origin: String,
) -> Result<Vec<Reference>, VisionError> {
    let photo = view.cropped(crop)?;
    let embeddings = finder(embedder.clone()).references(photo.view()?)?;
    let thumbnail = view.jpeg(crop, THUMBNAIL_SIDE, 85)?;
    Ok(embeddings
        .into_iter()
        .enumerate()
        .map(|(index, embedding)| Reference {
            sku: sku.to_owned(),
            model: embedder.info().identity.clone(),
            origin: origin.clone(),
            vector: embedding.as_slice().to_vec(),
            thumbnail: if index == 0 { thumbnail.clone() } else { Vec::new() },
            text: Vec::new(),
            features: Vec::new(),
        })
        .collect())
}

/// The latest frame and what was decided on it, for snapshots, the live view and barcodes.
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

/// A thread that runs until stopped.
pub struct Worker {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Worker {
    pub fn spawn(name: &str, body: impl FnOnce(&AtomicBool) + Send + 'static) -> anyhow::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn({
                let stop = stop.clone();
                move || body(&stop)
            })
            .with_context(|| format!("starting the {name} thread"))?;
        Ok(Self { stop, thread })
    }

    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        if self.thread.join().is_err() {
            tracing::error!("a recognition thread panicked");
        }
    }
}

/// What the recognition threads work with.
#[derive(Clone)]
pub struct Pipeline {
    pub recognizer: Arc<Recognizer>,
    pub slot: Arc<FrameSlot>,
    pub capture: Arc<CaptureStats>,
    /// How long the camera may be lost before the product goes back to none.
    pub lost_grace: Duration,
    pub events: mpsc::Sender<EngineInput>,
    pub metrics: Arc<Metrics>,
    pub preview: SharedPreview,
}

impl Pipeline {
    pub fn spawn_vision(&self) -> anyhow::Result<Worker> {
        let pipeline = self.clone();
        Worker::spawn("vision", move |stop| pipeline.recognize_frames(stop))
    }

    pub fn spawn_barcodes(&self) -> anyhow::Result<Worker> {
        let pipeline = self.clone();
        Worker::spawn("barcodes", move |stop| pipeline.read_barcodes(stop))
    }

    fn send(&self, input: EngineInput) {
        if self.events.try_send(input).is_err() {
            self.metrics.events_dropped.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("engine queue full: an observation was dropped");
        }
    }

    fn recognize_frames(&self, stop: &AtomicBool) {
        let metrics = &self.metrics;
        let mut tuning = self.recognizer.tuning();
        let mut tracker = Tracker::new(tuning.tracker);
        let mut due = Instant::now();
        let mut last_frame = Instant::now();
        let mut last: Option<(SceneSignature, Decision, Instant)> = None;
        while !stop.load(Ordering::Relaxed) {
            metrics.heartbeat();
            tuning = self.recognizer.tuning();
            tracker.set_config(tuning.tracker);
            let now = Instant::now();
            if now < due {
                std::thread::sleep((due - now).min(Duration::from_millis(100)));
                continue;
            }
            let Some(frame) = self.slot.take(Duration::from_millis(200)) else {
                let camera_lost = self.capture.lost_since().is_some_and(|since| since.elapsed() > self.lost_grace);
                if (camera_lost || last_frame.elapsed() > tuning.tracker.exit)
                    && let Some(gone) = tracker.reset(Instant::now())
                {
                    tracing::info!("no frames from the camera: product cleared");
                    self.send(EngineInput::Vision(VisionChange {
                        sku: gone.sku,
                        confidence: 0.0,
                        since_ms: crate::engine::now_ms(),
                        captured: Instant::now(),
                    }));
                }
                continue;
            };
            last_frame = Instant::now();
            due = last_frame + tuning.interval;
            let frame = Arc::new(frame);
            let view = match RgbView::new(frame.width, frame.height, &frame.rgb) {
                Ok(v) => v,
                Err(error) => {
                    tracing::warn!(%error, "frame skipped");
                    continue;
                }
            };
            let signature = SceneSignature::of(view);
            let still = last.as_ref().is_some_and(|(previous, _, at)| {
                tuning.still_threshold > 0.0
                    && at.elapsed() < MAX_REUSE
                    && previous.difference(&signature) < tuning.still_threshold
            });
            let decision = if still {
                metrics.frames_still.fetch_add(1, Ordering::Relaxed);
                last.as_ref().map(|(_, d, _)| d.clone()).unwrap_or_else(|| tuning.rule.decide(Vec::new()))
            } else {
                let started = Instant::now();
                let decision = match self.recognizer.recognize(view) {
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
                last = Some((signature, decision.clone(), Instant::now()));
                decision
            };
            tracing::trace!(seq = frame.seq, sku = ?decision.sku, score = decision.score, still, "frame recognized");
            let change = tracker.update(frame.captured, decision.sku.as_deref(), decision.score);
            self.preview.set(Preview { frame: frame.clone(), decision });
            if let Some(change) = change {
                let evidence = frame.captured.saturating_duration_since(change.since).as_millis() as u64;
                self.send(EngineInput::Vision(VisionChange {
                    sku: change.sku,
                    confidence: change.confidence,
                    since_ms: frame.captured_unix_ms.saturating_sub(evidence),
                    captured: frame.captured,
                }));
            }
        }
    }

    fn read_barcodes(&self, stop: &AtomicBool) {
        let reader = BarcodeReader;
        let mut last_seq = None;
        while !stop.load(Ordering::Relaxed) {
            let Some(interval) = self.recognizer.tuning().barcode_interval else {
                std::thread::sleep(Duration::from_millis(200));
                continue;
            };
            let started = Instant::now();
            if let Some(preview) = self.preview.latest()
                && last_seq != Some(preview.frame.seq)
            {
                last_seq = Some(preview.frame.seq);
                let frame = &preview.frame;
                let read = RgbView::new(frame.width, frame.height, &frame.rgb).and_then(|view| reader.read(view));
                match read {
                    Ok(Some(code)) => {
                        tracing::debug!(format = %code.format, text = %code.text, "barcode read");
                        self.send(EngineInput::Barcode { text: code.text, captured: frame.captured });
                    }
                    Ok(None) => {}
                    Err(error) => tracing::warn!(%error, "barcode reading failed"),
                }
            }
            let rest = interval.saturating_sub(started.elapsed());
            let wake = Instant::now() + rest;
            while Instant::now() < wake && !stop.load(Ordering::Relaxed) {
                std::thread::sleep(rest.min(Duration::from_millis(100)));
            }
        }
    }
}
