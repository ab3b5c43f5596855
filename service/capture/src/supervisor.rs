use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;

use crate::{FrameSlot, Source, pipeline};

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(50);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureConfig {
    /// Played in turn; files loop, a failing source is retried.
    pub sources: Vec<Source>,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// A source that delivers no frame for this long is treated as failed.
    pub stall_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("GStreamer is not usable: {0}")]
    Init(String),
    #[error("no capture source configured")]
    NoSource,
    #[error("capture thread could not start: {0}")]
    Thread(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CameraState {
    Starting,
    Streaming,
    Retrying { error: String },
}

impl CameraState {
    /// The contract's name for the state.
    pub fn as_str(&self) -> &'static str {
        match self {
            CameraState::Starting => "starting",
            CameraState::Streaming => "streaming",
            CameraState::Retrying { .. } => "retrying",
        }
    }
}

/// Counters shared with whoever reports on the camera.
#[derive(Debug)]
pub struct CaptureStats {
    frames_in: AtomicU64,
    restarts: AtomicU64,
    state: Mutex<CameraState>,
}

impl Default for CaptureStats {
    fn default() -> Self {
        Self { frames_in: AtomicU64::new(0), restarts: AtomicU64::new(0), state: Mutex::new(CameraState::Starting) }
    }
}

impl CaptureStats {
    pub fn frames_in(&self) -> u64 {
        self.frames_in.load(Ordering::Relaxed)
    }

    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }

    pub fn state(&self) -> CameraState {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn set_state(&self, state: CameraState) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = state;
    }
}

/// The running capture: a supervisor thread that owns the pipeline.
pub struct Capture {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Capture {
    pub fn start(config: CaptureConfig, slot: Arc<FrameSlot>, stats: Arc<CaptureStats>) -> Result<Self, CaptureError> {
        gst::init().map_err(|e| CaptureError::Init(e.to_string()))?;
        if config.sources.is_empty() {
            return Err(CaptureError::NoSource);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::Builder::new()
            .name("capture".into())
            .spawn({
                let stop = stop.clone();
                move || supervise(&config, &slot, &stats, &stop)
            })
            .map_err(|e| CaptureError::Thread(e.to_string()))?;
        Ok(Self { stop, thread: Some(thread) })
    }

    /// Stops the pipeline and waits for the supervisor to finish.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("capture supervisor panicked");
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.shutdown();
    }
}

enum Ended {
    Stopped,
    Finished,
    Failed(String),
}

fn supervise(config: &CaptureConfig, slot: &Arc<FrameSlot>, stats: &Arc<CaptureStats>, stop: &AtomicBool) {
    let seq = Arc::new(AtomicU64::new(0));
    let mut index = 0;
    let mut backoff = FIRST_BACKOFF;
    while !stop.load(Ordering::Relaxed) {
        let source = &config.sources[index];
        let last_frame = Arc::new(Mutex::new(None::<Instant>));
        let ended = run_once(source, config, slot, stats, stop, &seq, &last_frame);
        if last_frame.lock().unwrap_or_else(PoisonError::into_inner).is_some() {
            backoff = FIRST_BACKOFF;
        }
        match ended {
            Ended::Stopped => break,
            Ended::Finished => index = (index + 1) % config.sources.len(),
            Ended::Failed(error) => {
                stats.restarts.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(source = %source, %error, retry_in_ms = backoff.as_millis() as u64, "camera failed");
                stats.set_state(CameraState::Retrying { error });
                let until = Instant::now() + backoff;
                while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(POLL);
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                index = (index + 1) % config.sources.len();
            }
        }
    }
}

fn run_once(
    source: &Source,
    config: &CaptureConfig,
    slot: &Arc<FrameSlot>,
    stats: &Arc<CaptureStats>,
    stop: &AtomicBool,
    seq: &Arc<AtomicU64>,
    last_frame: &Arc<Mutex<Option<Instant>>>,
) -> Ended {
    if !matches!(stats.state(), CameraState::Streaming) {
        stats.set_state(CameraState::Starting);
    }
    let on_frame = {
        let (slot, stats, last_frame) = (slot.clone(), stats.clone(), last_frame.clone());
        move |frame: crate::Frame| {
            let first = last_frame.lock().unwrap_or_else(PoisonError::into_inner).replace(frame.captured).is_none();
            if first && stats.state() != CameraState::Streaming {
                stats.set_state(CameraState::Streaming);
                tracing::info!(width = frame.width, height = frame.height, "camera streaming");
            }
            stats.frames_in.fetch_add(1, Ordering::Relaxed);
            slot.put(frame);
        }
    };
    let next_seq = {
        let seq = seq.clone();
        move || seq.fetch_add(1, Ordering::Relaxed)
    };
    let pipeline = match pipeline::build(source, config, on_frame, next_seq) {
        Ok(p) => p,
        Err(error) => return Ended::Failed(format!("cannot build the pipeline: {error}")),
    };
    let ended = play(&pipeline, source, config, stop, last_frame);
    if pipeline.set_state(gst::State::Null).is_err() {
        tracing::warn!(source = %source, "pipeline did not stop cleanly");
    }
    ended
}

fn play(
    pipeline: &gst::Pipeline,
    source: &Source,
    config: &CaptureConfig,
    stop: &AtomicBool,
    last_frame: &Mutex<Option<Instant>>,
) -> Ended {
    let Some(bus) = pipeline.bus() else {
        return Ended::Failed("pipeline has no bus".into());
    };
    if pipeline.set_state(gst::State::Playing).is_err() {
        let detail = bus
            .pop_filtered(&[gst::MessageType::Error])
            .map(|m| describe(&m))
            .unwrap_or_else(|| "the source refused to start".into());
        return Ended::Failed(detail);
    }
    let started = Instant::now();
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ended::Stopped;
        }
        if let Some(message) = bus.timed_pop_filtered(
            gst::ClockTime::from_mseconds(POLL.as_millis() as u64),
            &[gst::MessageType::Eos, gst::MessageType::Error],
        ) {
            return match message.view() {
                gst::MessageView::Eos(_) if !source.is_live() => Ended::Finished,
                gst::MessageView::Eos(_) => Ended::Failed("the live source ended its stream".into()),
                _ => Ended::Failed(describe(&message)),
            };
        }
        let quiet_since = last_frame.lock().unwrap_or_else(PoisonError::into_inner).unwrap_or(started);
        if quiet_since.elapsed() > config.stall_timeout {
            return Ended::Failed(format!("no frame for {} ms", config.stall_timeout.as_millis()));
        }
    }
}

fn describe(message: &gst::Message) -> String {
    match message.view() {
        gst::MessageView::Error(err) => {
            let element = err.src().map(|s| s.name().to_string()).unwrap_or_else(|| "pipeline".into());
            match err.debug() {
                Some(debug) => format!("{element}: {} ({debug})", err.error()),
                None => format!("{element}: {}", err.error()),
            }
        }
        _ => format!("{:?}", message.type_()),
    }
}
