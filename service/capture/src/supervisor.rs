use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;

use crate::delivery::{Delivery, Event, SourceEnd};
use crate::device::{self, Decoder, FrameDevice, OpenDevice, RateLimit, SystemDevices};
use crate::mode::{ChosenMode, Scaling, choose_mode};
use crate::pipeline::{self, Input};
use crate::stats::Resumed;
use crate::{Backend, CaptureConfig, CaptureStats, FrameSlot, Source};

/// How long one read of a V4L2 device waits for a buffer: bounds how late a stop is noticed
/// while the camera sends nothing.
const DEVICE_READ_TIMEOUT: Duration = Duration::from_millis(100);

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("GStreamer is not usable: {0}")]
    Init(String),
    #[error("no capture source configured")]
    NoSource,
    #[error("capture thread could not start: {0}")]
    Thread(String),
}

/// The running capture: a supervisor thread that owns the source, rebuilds it when it fails and
/// puts every frame in the slot.
pub struct Capture {
    events: Sender<Event>,
    thread: Option<JoinHandle<()>>,
}

impl Capture {
    pub fn start(config: CaptureConfig, slot: Arc<FrameSlot>, stats: Arc<CaptureStats>) -> Result<Self, CaptureError> {
        Self::start_with(config, slot, stats, Box::new(SystemDevices))
    }

    pub(crate) fn start_with(
        config: CaptureConfig,
        slot: Arc<FrameSlot>,
        stats: Arc<CaptureStats>,
        devices: Box<dyn OpenDevice>,
    ) -> Result<Self, CaptureError> {
        gst::init().map_err(|e| CaptureError::Init(e.to_string()))?;
        if config.sources.is_empty() {
            return Err(CaptureError::NoSource);
        }
        let (events, inbox) = mpsc::channel();
        let supervisor = Supervisor {
            config,
            slot,
            stats,
            devices,
            seq: Arc::new(AtomicU64::new(0)),
            events: events.clone(),
            inbox,
            attempt: 0,
            stopping: false,
        };
        let thread = std::thread::Builder::new()
            .name("capture".into())
            .spawn(move || supervisor.run())
            .map_err(|e| CaptureError::Thread(e.to_string()))?;
        Ok(Self { events, thread: Some(thread) })
    }

    /// Stops the source and waits for the supervisor to finish.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let _ = self.events.send(Event::Stop);
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
    /// A file played to its end.
    Finished,
    Failed(String),
}

enum Waited {
    Stop,
    Streaming(Resumed),
    Ended(SourceEnd),
    Timeout,
}

struct Supervisor {
    config: CaptureConfig,
    slot: Arc<FrameSlot>,
    stats: Arc<CaptureStats>,
    devices: Box<dyn OpenDevice>,
    seq: Arc<AtomicU64>,
    events: Sender<Event>,
    inbox: Receiver<Event>,
    /// Numbers each try of a source, so that late news of an earlier one is ignored.
    attempt: u64,
    stopping: bool,
}

impl Supervisor {
    fn run(mut self) {
        let CaptureConfig { width, height, fps, backend, .. } = self.config;
        // `Capture::start` refuses a configuration without sources.
        let Some(first) = self.config.sources.first() else { return };
        tracing::info!(source = %first.redacted(), width, height, fps, %backend, "camera starting");
        let mut index = 0;
        let mut backoff = self.config.backoff.first;
        let mut failures_in_a_row: u64 = 0;
        let mut last_error = None::<String>;
        while !self.stopping {
            let Some(source) = self.config.sources.get(index).cloned() else { break };
            let (ended, delivered) = self.attempt(&source);
            if delivered {
                backoff = self.config.backoff.first;
                failures_in_a_row = 0;
                last_error = None;
            }
            match ended {
                Ended::Stopped => break,
                Ended::Finished => index = (index + 1) % self.config.sources.len(),
                Ended::Failed(error) => {
                    failures_in_a_row += 1;
                    let retry_in_ms = backoff.as_millis() as u64;
                    if last_error.as_deref() == Some(error.as_str()) {
                        tracing::debug!(source = %source.redacted(), %error, retry_in_ms, failures_in_a_row, "camera failed again");
                    } else {
                        tracing::warn!(source = %source.redacted(), %error, retry_in_ms, failures_in_a_row, "camera failed");
                    }
                    self.stats.record_failure(error.clone());
                    last_error = Some(error);
                    if self.pause(backoff) {
                        break;
                    }
                    backoff = self.config.backoff.next(backoff);
                    index = (index + 1) % self.config.sources.len();
                }
            }
        }
        tracing::info!("capture stopped");
    }

    /// Runs `source` once; how it ended and whether it delivered a frame.
    fn attempt(&mut self, source: &Source) -> (Ended, bool) {
        self.attempt += 1;
        let delivery = Arc::new(Delivery::new(
            self.attempt,
            self.slot.clone(),
            self.stats.clone(),
            self.seq.clone(),
            self.events.clone(),
        ));
        let ended = match (source, self.config.backend) {
            (Source::V4l2(path), Backend::V4l) => self.read_device(source, path, &delivery),
            _ => self.run_pipeline(source, &delivery),
        };
        let delivered = delivery.last_arrival().is_some();
        let ended = match ended {
            _ if self.stopping => Ended::Stopped,
            Ended::Finished if !delivered => Ended::Failed("the source ended before its first frame".into()),
            other => other,
        };
        (ended, delivered)
    }

    fn run_pipeline(&mut self, source: &Source, delivery: &Arc<Delivery>) -> Ended {
        let pipeline = match pipeline::build(source, &self.config, delivery.clone()) {
            Ok(pipeline) => pipeline,
            Err(error) => return Ended::Failed(error.to_string()),
        };
        let ended = self.play(&pipeline, source, delivery);
        pipeline::shut_down(&pipeline);
        ended
    }

    fn play(&mut self, pipeline: &gst::Pipeline, source: &Source, delivery: &Delivery) -> Ended {
        let live = match pipeline.set_state(gst::State::Paused) {
            Ok(gst::StateChangeSuccess::NoPreroll) => true,
            Ok(_) => false,
            Err(_) => return Ended::Failed(self.startup_error()),
        };
        if let Err(error) = pipeline::pace(pipeline, live) {
            return Ended::Failed(error.to_string());
        }
        if pipeline.set_state(gst::State::Playing).is_err() {
            return Ended::Failed(self.startup_error());
        }
        let started = Instant::now();
        loop {
            let deadline = delivery.last_arrival().unwrap_or(started) + self.config.stall_timeout;
            match self.wait(deadline) {
                Waited::Stop => return Ended::Stopped,
                Waited::Streaming(resumed) => self.announce(source, resumed, pipeline::input(pipeline)),
                Waited::Ended(SourceEnd::Error(error)) => return Ended::Failed(error),
                Waited::Ended(SourceEnd::Eos) if live => {
                    return Ended::Failed("the live source ended its stream".into());
                }
                Waited::Ended(SourceEnd::Eos) => return Ended::Finished,
                Waited::Timeout => {
                    if let Some(stall) = self.stalled(delivery, started) {
                        return Ended::Failed(stall);
                    }
                }
            }
        }
    }

    fn read_device(&mut self, source: &Source, path: &Path, delivery: &Delivery) -> Ended {
        let (mut device, mode, decoder) = match self.open_device(path) {
            Ok(opened) => opened,
            Err(error) => return Ended::Failed(error),
        };
        let mut rate_limit = RateLimit::new(self.config.fps);
        let started = Instant::now();
        loop {
            match self.poll() {
                Some(Waited::Stop) => return Ended::Stopped,
                Some(Waited::Streaming(resumed)) => self.announce(source, resumed, Some(input_of(&mode))),
                Some(Waited::Ended(_) | Waited::Timeout) | None => {}
            }
            match device.next_buffer(DEVICE_READ_TIMEOUT) {
                Ok(Some(buffer)) => {
                    let arrived = Instant::now();
                    // Frames over the configured rate are not even decoded.
                    if rate_limit.admit(arrived) {
                        match decoder.decode(buffer, arrived) {
                            Ok(frame) => delivery.deliver(frame),
                            Err(error) => delivery.skip(&error),
                        }
                    }
                }
                Ok(None) => {}
                Err(error) => return Ended::Failed(error.to_string()),
            }
            if let Some(stall) = self.stalled(delivery, started) {
                return Ended::Failed(stall);
            }
        }
    }

    fn open_device(&self, path: &Path) -> Result<(Box<dyn FrameDevice>, ChosenMode, Decoder), String> {
        let mut device = self.devices.open(path).map_err(|e| e.to_string())?;
        let modes = device.modes().map_err(|e| e.to_string())?;
        let wanted = (self.config.width, self.config.height, self.config.fps);
        let mode = choose_mode(&modes, &device::FORMATS, wanted, Scaling::ExactSizeOnly)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let layout = device.start(&mode).map_err(|e| e.to_string())?;
        let decoder = Decoder::for_mode(&mode, layout)
            .ok_or_else(|| format!("{} is not decoded by the v4l backend", mode.format))?;
        Ok((device, mode, decoder))
    }

    fn stalled(&self, delivery: &Delivery, started: Instant) -> Option<String> {
        let last = delivery.last_arrival();
        if last.unwrap_or(started).elapsed() < self.config.stall_timeout {
            return None;
        }
        let ms = self.config.stall_timeout.as_millis();
        Some(match last {
            Some(_) => format!("no frame for {ms} ms"),
            None => format!("no frame within {ms} ms of starting"),
        })
    }

    /// Logs that frames flow, and what the source gives when it falls short of the
    /// configuration (frames are then upscaled, or fewer than `capture.fps`).
    fn announce(&self, source: &Source, resumed: Resumed, input: Option<Input>) {
        let source = source.redacted();
        let input_text = input.as_ref().map(ToString::to_string).unwrap_or_default();
        match resumed {
            Resumed::First => tracing::info!(%source, input = %input_text, "camera streaming"),
            Resumed::AfterOutage(outage) => {
                tracing::info!(%source, input = %input_text, outage_ms = outage.as_millis() as u64, "camera recovered");
            }
            Resumed::Again => {
                tracing::debug!(%source, "source playing again from the start");
                return;
            }
        }
        let Some(input) = input else { return };
        let (width, height, fps) = (self.config.width, self.config.height, self.config.fps);
        if input.width < width || input.height < height {
            tracing::warn!(%source, input = %input_text, wanted = %format!("{width}x{height}"), "the source delivers smaller pictures than configured: frames are upscaled");
        }
        if let Some(input_fps) = input.fps
            && input_fps < f64::from(fps) * 0.99
        {
            tracing::warn!(%source, input = %input_text, wanted_fps = fps, "the source delivers fewer frames per second than configured");
        }
    }

    /// Waits until `deadline` for news of the current attempt or a stop.
    fn wait(&mut self, deadline: Instant) -> Waited {
        loop {
            let event = match self.inbox.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(event) => event,
                Err(RecvTimeoutError::Timeout) => return Waited::Timeout,
                Err(RecvTimeoutError::Disconnected) => return self.stop(),
            };
            if let Some(waited) = self.sort(event) {
                return waited;
            }
        }
    }

    /// News already waiting, without blocking.
    fn poll(&mut self) -> Option<Waited> {
        loop {
            match self.inbox.try_recv() {
                Ok(event) => {
                    if let Some(waited) = self.sort(event) {
                        return Some(waited);
                    }
                }
                Err(TryRecvError::Empty) => return None,
                Err(TryRecvError::Disconnected) => return Some(self.stop()),
            }
        }
    }

    /// A stop, or news of the current attempt; `None` for late news of an earlier one.
    fn sort(&mut self, event: Event) -> Option<Waited> {
        match event {
            Event::Stop => Some(self.stop()),
            Event::Streaming { attempt, resumed } if attempt == self.attempt => Some(Waited::Streaming(resumed)),
            Event::Ended { attempt, end } if attempt == self.attempt => Some(Waited::Ended(end)),
            Event::Streaming { .. } | Event::Ended { .. } => None,
        }
    }

    fn stop(&mut self) -> Waited {
        self.stopping = true;
        Waited::Stop
    }

    /// The error the source posted while refusing to start.
    fn startup_error(&mut self) -> String {
        while let Some(waited) = self.poll() {
            match waited {
                Waited::Ended(SourceEnd::Error(error)) => return error,
                Waited::Stop => break,
                _ => {}
            }
        }
        "the source refused to start".into()
    }

    /// Waits out a backoff; true when capture is stopping.
    fn pause(&mut self, duration: Duration) -> bool {
        let until = Instant::now() + duration;
        loop {
            match self.wait(until) {
                Waited::Stop => return true,
                Waited::Timeout => return false,
                Waited::Streaming(_) | Waited::Ended(_) => {}
            }
        }
    }
}

fn input_of(mode: &ChosenMode) -> Input {
    Input { width: mode.width, height: mode.height, fps: Some(mode.rate.per_second()), format: mode.format.to_string() }
}

#[cfg(test)]
mod tests;
