use std::fmt::Display;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crate::stats::Resumed;
use crate::{CaptureStats, Frame, FrameSlot};

/// What the supervisor hears about, from the daemon (stop) and from the running source.
pub(crate) enum Event {
    Stop,
    /// The source of attempt `attempt` delivered its first frame.
    Streaming {
        attempt: u64,
        resumed: Resumed,
    },
    Ended {
        attempt: u64,
        end: SourceEnd,
    },
}

pub(crate) enum SourceEnd {
    Error(String),
    Eos,
}

/// Where one attempt's frames go: numbered, counted, and put in the slot without waiting.
/// Called from GStreamer's streaming threads or from the V4L2 read loop.
pub(crate) struct Delivery {
    attempt: u64,
    slot: Arc<FrameSlot>,
    stats: Arc<CaptureStats>,
    seq: Arc<AtomicU64>,
    events: Sender<Event>,
    streaming: AtomicBool,
    last_arrival: Mutex<Option<Instant>>,
}

impl Delivery {
    pub(crate) fn new(
        attempt: u64,
        slot: Arc<FrameSlot>,
        stats: Arc<CaptureStats>,
        seq: Arc<AtomicU64>,
        events: Sender<Event>,
    ) -> Self {
        Self { attempt, slot, stats, seq, events, streaming: AtomicBool::new(false), last_arrival: Mutex::new(None) }
    }

    pub(crate) fn deliver(&self, mut frame: Frame) {
        frame.seq = self.seq.fetch_add(1, Ordering::Relaxed);
        *self.last_arrival.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        self.stats.record_frame(frame.captured);
        if !self.streaming.swap(true, Ordering::Relaxed) {
            let resumed = self.stats.set_streaming(frame.captured);
            // The supervisor is gone only once capture stops; nobody needs the news then.
            let _ = self.events.send(Event::Streaming { attempt: self.attempt, resumed });
        }
        self.slot.put(frame);
    }

    pub(crate) fn skip(&self, error: &dyn Display) {
        self.stats.record_skipped();
        tracing::debug!(%error, "unreadable frame skipped");
    }

    pub(crate) fn report_end(&self, end: SourceEnd) {
        let _ = self.events.send(Event::Ended { attempt: self.attempt, end });
    }

    /// When the last frame of this attempt arrived.
    pub(crate) fn last_arrival(&self) -> Option<Instant> {
        *self.last_arrival.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
