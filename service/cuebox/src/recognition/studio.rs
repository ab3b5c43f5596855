//! What a studio teaches recognition while the show runs: how the set looks without a product
//! (calibration), a product held up and turned in front of the camera (live enrollment), and
//! the frames where the host named a product vision did not (suggested references).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

use anyhow::Context;
use cuebox_capture::Frame;
use cuebox_catalog::{Reference, Store, StudioPhase, StudioView};
use cuebox_vision::{Embedding, RgbView, decode_image, diverse_views, sharpness};

use super::{Recognizer, SharedPreview, references};
use crate::metrics::Metrics;
use crate::worker::Worker;

/// How often a recording takes the camera's latest frame.
const RECORDING_INTERVAL: Duration = Duration::from_millis(250);
/// The longest recording the admin page or the CLI may ask for.
pub const MAX_RECORDING: Duration = Duration::from_secs(20);
/// How many views of a product shown to the camera become references.
pub const SHOWN_VIEWS_KEPT: usize = 6;
/// Corrections waiting to be kept; more are dropped (and counted).
const CORRECTIONS_QUEUED: usize = 4;
/// Frames kept as suggestions are stored at most this many pixels a side.
const SUGGESTION_SIDE: u32 = 1920;

/// The distinct frames recognition saw over `duration`, one every [`RECORDING_INTERVAL`] at
/// most. Blocking: run it off the async runtime.
pub fn record(preview: &SharedPreview, duration: Duration) -> Vec<Arc<Frame>> {
    let end = Instant::now() + duration.min(MAX_RECORDING);
    let mut frames: Vec<Arc<Frame>> = Vec::new();
    while Instant::now() < end {
        if let Some(latest) = preview.latest()
            && frames.last().is_none_or(|last| last.seq != latest.frame.seq)
        {
            frames.push(latest.frame);
        }
        std::thread::sleep(RECORDING_INTERVAL.min(end.saturating_duration_since(Instant::now())));
    }
    frames
}

/// Calibrates one part of the studio's view from frames of it: each frame embedded as
/// recognition looks at a frame, stored under the current model (replacing that part's
/// earlier recording), and the gallery reloaded with it.
pub fn calibrate(
    recognizer: &Recognizer,
    store: &Store,
    phase: StudioPhase,
    frames: &[RgbView<'_>],
) -> anyhow::Result<StudioView> {
    if frames.is_empty() {
        anyhow::bail!("no frames were recorded: is the camera delivering?");
    }
    let finder = recognizer.finder();
    let mut embeddings = Vec::new();
    for frame in frames {
        embeddings.extend(finder.studio_embeddings(*frame)?.iter().map(|e| e.as_slice().to_vec()));
    }
    let model = &finder.embedder().info().identity;
    let view = store.record_studio(model, phase, frames.len(), embeddings).context("storing the studio's view")?;
    recognizer.gallery.reload(store, finder.embedder())?;
    tracing::info!(
        ?phase,
        frames = frames.len(),
        studio = recognizer.gallery.current().studio_len(),
        "studio calibrated"
    );
    Ok(view)
}

/// The references of a product held up and turned in front of the camera: in each frame the
/// region where it is, then the sharpest views that each show it differently, at most
/// [`SHOWN_VIEWS_KEPT`].
pub fn shown_references(recognizer: &Recognizer, sku: &str, frames: &[Arc<Frame>]) -> anyhow::Result<Vec<Reference>> {
    let finder = recognizer.finder();
    let gallery = recognizer.gallery.current();
    let mut views = Vec::with_capacity(frames.len());
    for frame in frames {
        let view = RgbView::new(frame.width, frame.height, &frame.rgb)?;
        let region = finder.shown_region(view, &gallery, sku)?;
        views.push((region, (sharpness(view, region)?, finder.embedder().embed(view, region)?)));
    }
    let scored: Vec<(f32, Embedding)> = views.iter().map(|(_, scored)| scored.clone()).collect();
    let mut added = Vec::new();
    for index in diverse_views(&scored, SHOWN_VIEWS_KEPT) {
        let (Some(frame), Some((region, _))) = (frames.get(index), views.get(index)) else { continue };
        let view = RgbView::new(frame.width, frame.height, &frame.rgb)?;
        added.extend(references(&finder, sku, view, *region, format!("shown to the camera, frame {}", frame.seq))?);
    }
    Ok(added)
}

/// The references of a suggestion: its frame, cropped where the product was thought to be.
pub fn suggested_references(
    recognizer: &Recognizer,
    suggestion: &cuebox_catalog::Suggestion,
) -> anyhow::Result<Vec<Reference>> {
    let image = decode_image(&suggestion.jpeg)
        .map_err(|message| anyhow::anyhow!("suggestion {}: its frame does not decode: {message}", suggestion.id))?;
    let view = image.view()?;
    let [x, y, width, height] = suggestion.region;
    let (x, y) = (x.min(view.width() - 1), y.min(view.height() - 1));
    let region =
        cuebox_vision::Crop { x, y, width: width.min(view.width() - x), height: height.min(view.height() - y) };
    let origin = format!("host's correction {}", suggestion.id);
    Ok(references(&recognizer.finder(), &suggestion.sku, view, region, origin)?)
}

/// A product the host named while vision named another (or none), with the frame it was on.
struct Correction {
    sku: String,
    seen_as: Option<String>,
    frame: Arc<Frame>,
}

/// Keeps the frames the host corrected as suggested references, on a thread of its own.
#[derive(Clone)]
pub struct Corrections {
    preview: SharedPreview,
    queue: SyncSender<Correction>,
    metrics: Arc<Metrics>,
}

impl Corrections {
    pub fn spawn(
        recognizer: Arc<Recognizer>,
        store: Arc<Store>,
        preview: SharedPreview,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<(Self, Worker)> {
        let (queue, received) = sync_channel(CORRECTIONS_QUEUED);
        let worker = Worker::spawn("corrections", &metrics.workers, {
            let metrics = metrics.clone();
            move |stop| {
                keep_corrections(&received, stop, &recognizer, &store, &metrics);
                Ok(())
            }
        })?;
        Ok((Self { preview, queue, metrics }, worker))
    }

    /// The host named `sku` while vision named `seen_as`: the latest frame is kept as a
    /// suggestion, unless there is none yet or the queue is full.
    pub fn keep(&self, sku: &str, seen_as: Option<&str>) {
        let Some(latest) = self.preview.latest() else { return };
        let correction = Correction { sku: sku.to_owned(), seen_as: seen_as.map(str::to_owned), frame: latest.frame };
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.queue.try_send(correction) {
            self.metrics.suggestions_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn keep_corrections(
    received: &Receiver<Correction>,
    stop: &std::sync::atomic::AtomicBool,
    recognizer: &Recognizer,
    store: &Store,
    metrics: &Metrics,
) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(correction) = received.recv_timeout(Duration::from_millis(200)) else { continue };
        match keep_correction(recognizer, store, &correction) {
            Ok(id) => {
                metrics.suggestions_kept.fetch_add(1, Ordering::Relaxed);
                tracing::info!(id, sku = %correction.sku, seen_as = ?correction.seen_as, "frame kept as a suggested reference");
            }
            Err(error) => {
                tracing::warn!(sku = %correction.sku, error = format!("{error:#}"), "a corrected frame could not be kept")
            }
        }
    }
}

fn keep_correction(recognizer: &Recognizer, store: &Store, correction: &Correction) -> anyhow::Result<u64> {
    let frame = &correction.frame;
    let view = RgbView::new(frame.width, frame.height, &frame.rgb)?;
    let region = recognizer.finder().shown_region(view, &recognizer.gallery.current(), &correction.sku)?;
    let scale = (SUGGESTION_SIDE as f32 / frame.width.max(frame.height) as f32).min(1.0);
    let scaled = |v: u32| (v as f32 * scale).round() as u32;
    let jpeg = view.jpeg(view.full(), SUGGESTION_SIDE, 90)?;
    let region = [scaled(region.x), scaled(region.y), scaled(region.width).max(1), scaled(region.height).max(1)];
    Ok(store.suggest(&correction.sku, correction.seen_as.as_deref(), region, &jpeg)?)
}
