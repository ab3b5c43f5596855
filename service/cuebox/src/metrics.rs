//! The daemon's counters, shared by the pipeline threads and read by `metrics` and `/metrics`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// The most recent samples of a latency, for percentiles.
#[derive(Debug, Default)]
pub struct LatencyWindow {
    samples: Mutex<VecDeque<f64>>,
}

const WINDOW: usize = 512;

impl LatencyWindow {
    pub fn record(&self, ms: f64) {
        let mut s = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        if s.len() == WINDOW {
            s.pop_front();
        }
        s.push_back(ms);
    }

    /// The `q` quantile (0..=1) of the window, by nearest rank; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let s = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        let mut sorted: Vec<f64> = s.iter().copied().collect();
        drop(s);
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        Some(sorted[rank - 1])
    }
}

#[derive(Debug)]
pub struct Metrics {
    pub started: Instant,
    pub frames_processed: AtomicU64,
    pub inference_ms: LatencyWindow,
    /// From the frame that completed a product change to its `product` message being handed to MQTT.
    pub glass_to_mqtt_ms: LatencyWindow,
    /// Vision results the engine could not take (its queue was full).
    pub events_dropped: AtomicU64,
    pub outbox_dropped: AtomicU64,
    /// Prompts waiting in the persistent outbox for the broker.
    pub outbox_depth: AtomicU64,
    pub outbox_delivered: AtomicU64,
    pub outbox_expired: AtomicU64,
    pub inputs_rejected: AtomicU64,
    pub mqtt_connected: AtomicBool,
    /// Milliseconds since `started` when the vision loop last made progress.
    pub vision_heartbeat_ms: AtomicU64,
}

impl Metrics {
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            frames_processed: AtomicU64::new(0),
            inference_ms: LatencyWindow::default(),
            glass_to_mqtt_ms: LatencyWindow::default(),
            events_dropped: AtomicU64::new(0),
            outbox_dropped: AtomicU64::new(0),
            outbox_depth: AtomicU64::new(0),
            outbox_delivered: AtomicU64::new(0),
            outbox_expired: AtomicU64::new(0),
            inputs_rejected: AtomicU64::new(0),
            mqtt_connected: AtomicBool::new(false),
            vision_heartbeat_ms: AtomicU64::new(0),
        }
    }

    pub fn heartbeat(&self) {
        self.vision_heartbeat_ms.store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
    }

    /// How long ago the vision loop last made progress.
    pub fn vision_silence_ms(&self) -> u64 {
        (self.started.elapsed().as_millis() as u64).saturating_sub(self.vision_heartbeat_ms.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank_over_the_recent_window() {
        let w = LatencyWindow::default();
        assert_eq!(w.quantile(0.5), None);
        for v in 1..=100 {
            w.record(v as f64);
        }
        assert_eq!(w.quantile(0.5), Some(50.0));
        assert_eq!(w.quantile(0.99), Some(99.0));
        for _ in 0..WINDOW {
            w.record(7.0);
        }
        assert_eq!(w.quantile(0.99), Some(7.0));
    }
}
