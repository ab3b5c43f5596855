//! Recognition on its own thread: newest frame → regions (the centre square and the whole
//! frame, what measured best on the evaluation set) → embeddings → nearest enrolled product
//! → tracker → engine, and barcode reading on another. Never on the async runtime, never
//! waiting on MQTT. The model, the gallery and the tuning can be replaced between two frames
//! (after an import, an enrollment or a configuration reload) without a pause.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use cuebox_capture::{CaptureStats, Frame, FrameSlot};
use cuebox_catalog::{Reference, Store};
use cuebox_vision::{
    BarcodeReader, Crop, Decision, DecisionRule, Embedder, Finder, Finding, RgbView, SceneSignature, Strategy,
    TextReader, Tracker, TrackerConfig, VisionError,
};
use tokio::sync::mpsc;

use crate::config::VisionSettings;
use crate::engine::{EngineInput, VisionChange};
use crate::metrics::Metrics;
use crate::worker::Worker;

mod gallery;
mod reading;
pub mod studio;

pub use gallery::SharedGallery;
pub use reading::SharedText;

/// Side of the JPEG thumbnail kept with each reference.
const THUMBNAIL_SIDE: u32 = 256;
/// However still the scene, it is recognized again at least this often.
const MAX_REUSE: Duration = Duration::from_secs(2);

/// What a configuration reload may change while frames flow.
#[derive(Clone, Copy, Debug)]
pub struct Tuning {
    pub rule: DecisionRule,
    pub interval: Duration,
    pub tracker: TrackerConfig,
    pub still_threshold: f32,
    pub barcode_interval: Option<Duration>,
    pub text_interval: Option<Duration>,
}

impl From<&VisionSettings> for Tuning {
    fn from(v: &VisionSettings) -> Self {
        Self {
            rule: v.rule,
            interval: v.interval,
            tracker: v.tracker,
            still_threshold: v.still_threshold,
            barcode_interval: v.barcode_interval,
            text_interval: v.text_interval,
        }
    }
}

/// Where recognition looks in a frame and how photos are enrolled: the strategy that measured
/// best on the evaluation sets (eval/README.md), reading printed text when the OCR models are
/// installed. It places no region by the hand, so the palm detector is not loaded.
pub fn finder(embedder: Embedder) -> Finder {
    Finder::new(embedder, None, Strategy::recommended()).with_text_reader(text_reader())
}

/// The OCR models, loaded once per process; missing or unusable models are said once, and
/// recognition goes on without text.
fn text_reader() -> Option<TextReader> {
    static READER: OnceLock<Option<TextReader>> = OnceLock::new();
    READER
        .get_or_init(|| {
            let Some(models) = crate::assets::ocr_models_dir() else {
                tracing::info!("the OCR models are not installed: products are recognized without their printed text");
                return None;
            };
            match TextReader::load(&models) {
                Ok(reader) => Some(reader),
                Err(error) => {
                    tracing::error!(%error, "the OCR models cannot be used: products are recognized without their printed text");
                    None
                }
            }
        })
        .clone()
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

    pub fn finder(&self) -> Finder {
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

    /// Whether printed text can be read.
    pub fn reads_text(&self) -> bool {
        self.finder().text_reader().is_some()
    }

    /// The lines of text read in `crop` (none without the OCR models).
    pub fn read_text(&self, view: RgbView<'_>, crop: Crop) -> Result<Vec<String>, VisionError> {
        Ok(self.finder().read_text(view, crop)?.unwrap_or_default())
    }

    pub fn tuning(&self) -> Tuning {
        *self.tuning.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn set_tuning(&self, tuning: Tuning) {
        *self.tuning.write().unwrap_or_else(PoisonError::into_inner) = tuning;
    }

    /// The product in a live frame, with the text last read on the scene.
    pub fn find(&self, view: RgbView<'_>, text: Option<&[String]>) -> Result<Finding, VisionError> {
        self.finder().find(view, &self.gallery.current(), self.tuning().rule, text)
    }
}

/// The references for `sku` from `crop` of an image, as recognition enrolls a photo (cropped to
/// the product on a plain backdrop; the photo, its mirror image, and both at the scale a held
/// product has in a frame). The first carries a thumbnail of the product for people to look at,
/// the text read on the photo and the product's local features.
pub fn references(
    finder: &Finder,
    sku: &str,
    view: RgbView<'_>,
    crop: Crop,
    origin: String,
) -> Result<Vec<Reference>, VisionError> {
    let photo = view.cropped(crop)?;
    let photo = photo.view()?;
    let enrolled = finder.enroll(photo)?;
    let thumbnail = photo.jpeg(enrolled.product, THUMBNAIL_SIDE, 85)?;
    let features = enrolled.features.map(|f| f.to_bytes()).unwrap_or_default();
    let identity = &finder.embedder().info().identity;
    Ok(enrolled
        .embeddings
        .into_iter()
        .enumerate()
        .map(|(index, embedding)| Reference {
            sku: sku.to_owned(),
            model: identity.clone(),
            origin: origin.clone(),
            vector: embedding.as_slice().to_vec(),
            thumbnail: if index == 0 { thumbnail.clone() } else { Vec::new() },
            text: if index == 0 { enrolled.text.clone() } else { Vec::new() },
            features: if index == 0 { features.clone() } else { Vec::new() },
        })
        .collect())
}

/// The latest frame and what was decided on it, for snapshots, the live view, barcodes and text.
#[derive(Clone)]
pub struct Preview {
    pub frame: Arc<Frame>,
    pub decision: Decision,
    /// Where the best product was seen.
    pub region: Crop,
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
    pub text: SharedText,
}

impl Pipeline {
    pub fn spawn_vision(&self) -> anyhow::Result<Worker> {
        let pipeline = self.clone();
        Worker::spawn("vision", &self.metrics.workers, move |stop| {
            pipeline.recognize_frames(stop);
            Ok(())
        })
    }

    pub fn spawn_barcodes(&self) -> anyhow::Result<Worker> {
        let pipeline = self.clone();
        Worker::spawn("barcodes", &self.metrics.workers, move |stop| {
            pipeline.read_barcodes(stop);
            Ok(())
        })
    }

    pub fn spawn_text(&self) -> anyhow::Result<Worker> {
        let pipeline = self.clone();
        Worker::spawn("text", &self.metrics.workers, move |stop| {
            pipeline.read_text(stop);
            Ok(())
        })
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
        let mut last: Option<(SceneSignature, (Decision, Crop), Instant)> = None;
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
            let (decision, region) = if still {
                metrics.frames_still.fetch_add(1, Ordering::Relaxed);
                last.as_ref()
                    .map(|(_, d, _)| d.clone())
                    .unwrap_or_else(|| (tuning.rule.decide(Vec::new()), view.center_square()))
            } else {
                let started = Instant::now();
                let text = self.text.fresh(&signature);
                let found = match self.recognizer.find(view, text.as_deref()) {
                    Ok(found) => (found.decision, found.region),
                    Err(error) => {
                        tracing::warn!(%error, "recognition failed");
                        continue;
                    }
                };
                let ms = started.elapsed().as_secs_f64() * 1e3;
                metrics.inference_ms.record(ms);
                metrics.inference_histogram.record(ms);
                metrics.frames_processed.fetch_add(1, Ordering::Relaxed);
                last = Some((signature, found.clone(), Instant::now()));
                found
            };
            tracing::trace!(seq = frame.seq, sku = ?decision.sku, score = decision.score, still, "frame recognized");
            let change = tracker.update(frame.captured, decision.sku.as_deref(), decision.score);
            self.preview.set(Preview { frame: frame.clone(), decision, region });
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
                pause(stop, Duration::from_millis(200));
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
            pause(stop, interval.saturating_sub(started.elapsed()));
        }
    }
}

/// Sleeps for `rest`, waking at least every 100 ms to see whether the thread is asked to stop.
fn pause(stop: &AtomicBool, rest: Duration) {
    let wake = Instant::now() + rest;
    while Instant::now() < wake && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(wake.saturating_duration_since(Instant::now()).min(Duration::from_millis(100)));
    }
}
