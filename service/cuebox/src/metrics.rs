//! The daemon's counters, shared by the pipeline threads and read by `metrics` and `/metrics`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::worker::Workers;

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
        sorted.get(rank - 1).copied()
    }
}

/// A Prometheus histogram of milliseconds.
#[derive(Debug)]
pub struct Histogram {
    bounds_ms: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_us: AtomicU64,
}

pub const INFERENCE_BUCKETS_MS: &[f64] = &[5.0, 10.0, 20.0, 30.0, 50.0, 75.0, 100.0, 200.0, 500.0, 1000.0];

impl Histogram {
    pub fn new(bounds_ms: &'static [f64]) -> Self {
        Self {
            bounds_ms,
            counts: (0..=bounds_ms.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_us: AtomicU64::new(0),
        }
    }

    pub fn record(&self, ms: f64) {
        let bucket = self.bounds_ms.iter().position(|&b| ms <= b).unwrap_or(self.bounds_ms.len());
        if let Some(count) = self.counts.get(bucket) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_us.fetch_add((ms * 1000.0) as u64, Ordering::Relaxed);
    }

    /// The histogram in Prometheus text format, in seconds as Prometheus prefers.
    pub fn render(&self, name: &str, help: &str) -> String {
        let mut out = format!("# HELP {name} {help}\n# TYPE {name} histogram\n");
        let mut cumulative = 0;
        for (i, count) in self.counts.iter().enumerate() {
            cumulative += count.load(Ordering::Relaxed);
            let le = self.bounds_ms.get(i).map_or_else(|| "+Inf".to_owned(), |b| format!("{}", b / 1000.0));
            out += &format!("{name}_bucket{{le=\"{le}\"}} {cumulative}\n");
        }
        out += &format!("{name}_sum {}\n{name}_count {cumulative}\n", self.sum_us.load(Ordering::Relaxed) as f64 / 1e6);
        out
    }
}

#[derive(Debug)]
pub struct Metrics {
    pub started: Instant,
    pub frames_processed: AtomicU64,
    /// Frames not recognized again because the scene had not changed.
    pub frames_still: AtomicU64,
    pub inference_ms: LatencyWindow,
    pub inference_histogram: Histogram,
    /// Reads of printed text, and how long each took.
    pub text_reads: AtomicU64,
    /// Frames the host corrected, kept as suggested references, and those dropped on a full queue.
    pub suggestions_kept: AtomicU64,
    pub suggestions_dropped: AtomicU64,
    pub text_ms: LatencyWindow,
    /// From the frame that completed a product change to its `product` message being handed to MQTT.
    pub glass_to_mqtt_ms: LatencyWindow,
    /// Vision results the engine could not take (its queue was full).
    pub events_dropped: AtomicU64,
    pub outbox_dropped: AtomicU64,
    /// Prompts waiting in the persistent outbox for the broker.
    pub outbox_depth: AtomicU64,
    pub outbox_delivered: AtomicU64,
    pub outbox_expired: AtomicU64,
    /// Writes and reads of the outbox's store that failed (a full disk, an I/O error).
    pub outbox_store_errors: AtomicU64,
    pub inputs_rejected: AtomicU64,
    /// Retained messages on input topics, ignored (a retained command would act again on every
    /// connection).
    pub inputs_retained_ignored: AtomicU64,
    /// `cmd/*` messages over the command rate, dropped.
    pub commands_over_rate: AtomicU64,
    /// Clients the embedded broker's gate turned away: a wrong login, a forbidden will, a bad
    /// packet or none in time.
    pub broker_clients_refused: AtomicU64,
    /// Of those, clients cut off after logging in: a publish (or retain) their login may not make,
    /// a subscription beyond the bound of distinct filters, an oversized or malformed packet.
    pub broker_publishes_denied: AtomicU64,
    pub chat_questions: AtomicU64,
    /// Questions dropped by the rate limit or a full queue.
    pub chat_dropped: AtomicU64,
    pub chat_unanswered: AtomicU64,
    /// Viewer messages shown masked (a phone number, a link or a banned word).
    pub chat_masked: AtomicU64,
    /// Answers not sent to chat because they contain an advertising-law term.
    pub chat_answers_held: AtomicU64,
    /// From a viewer message's receipt to its answer handed to the MQTT publisher.
    pub chat_to_mqtt_ms: LatencyWindow,
    /// The FAQ index is built with every retrieval the configuration asks for (the text model
    /// loaded, or given up on).
    pub faq_ready: AtomicBool,
    pub mqtt_connected: AtomicBool,
    /// Milliseconds since `started` when the MQTT link last connected or lost its connection.
    mqtt_changed_ms: AtomicU64,
    /// The store was damaged at start and moved aside (the daemon runs on an empty one).
    pub store_set_aside: AtomicBool,
    /// Milliseconds since `started` when the vision loop last made progress.
    pub vision_heartbeat_ms: AtomicU64,
    /// Frames in and recognized per second, over the last metrics interval.
    rates: Mutex<(f64, f64)>,
    /// The supervised threads and their state.
    pub workers: Workers,
}

impl Metrics {
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            frames_processed: AtomicU64::new(0),
            frames_still: AtomicU64::new(0),
            inference_ms: LatencyWindow::default(),
            text_reads: AtomicU64::new(0),
            suggestions_kept: AtomicU64::new(0),
            suggestions_dropped: AtomicU64::new(0),
            text_ms: LatencyWindow::default(),
            inference_histogram: Histogram::new(INFERENCE_BUCKETS_MS),
            glass_to_mqtt_ms: LatencyWindow::default(),
            events_dropped: AtomicU64::new(0),
            outbox_dropped: AtomicU64::new(0),
            outbox_depth: AtomicU64::new(0),
            outbox_delivered: AtomicU64::new(0),
            outbox_expired: AtomicU64::new(0),
            outbox_store_errors: AtomicU64::new(0),
            inputs_rejected: AtomicU64::new(0),
            inputs_retained_ignored: AtomicU64::new(0),
            commands_over_rate: AtomicU64::new(0),
            broker_clients_refused: AtomicU64::new(0),
            broker_publishes_denied: AtomicU64::new(0),
            chat_questions: AtomicU64::new(0),
            chat_dropped: AtomicU64::new(0),
            chat_unanswered: AtomicU64::new(0),
            chat_masked: AtomicU64::new(0),
            chat_answers_held: AtomicU64::new(0),
            chat_to_mqtt_ms: LatencyWindow::default(),
            faq_ready: AtomicBool::new(false),
            mqtt_connected: AtomicBool::new(false),
            mqtt_changed_ms: AtomicU64::new(0),
            store_set_aside: AtomicBool::new(false),
            vision_heartbeat_ms: AtomicU64::new(0),
            rates: Mutex::new((0.0, 0.0)),
            workers: Workers::default(),
        }
    }

    pub fn set_rates(&self, frames_in: f64, frames_processed: f64) {
        *self.rates.lock().unwrap_or_else(PoisonError::into_inner) = (frames_in, frames_processed);
    }

    /// Frames in and recognized per second, over the last metrics interval.
    pub fn rates(&self) -> (f64, f64) {
        *self.rates.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records whether the MQTT link is connected; returns whether it was.
    pub fn set_mqtt_connected(&self, connected: bool) -> bool {
        let was = self.mqtt_connected.swap(connected, Ordering::Relaxed);
        if was != connected {
            self.mqtt_changed_ms.store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
        }
        was
    }

    /// How long the MQTT link has been without a connection (since start if it never had one);
    /// `None` while connected.
    pub fn mqtt_disconnected_for(&self) -> Option<Duration> {
        if self.mqtt_connected.load(Ordering::Relaxed) {
            return None;
        }
        let since = self.mqtt_changed_ms.load(Ordering::Relaxed);
        Some(Duration::from_millis((self.started.elapsed().as_millis() as u64).saturating_sub(since)))
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
    fn histogram_buckets_are_cumulative_in_seconds() {
        let h = Histogram::new(&[10.0, 20.0]);
        for ms in [5.0, 15.0, 15.0, 50.0] {
            h.record(ms);
        }
        let text = h.render("t", "test");
        assert!(text.contains("t_bucket{le=\"0.01\"} 1\n"), "{text}");
        assert!(text.contains("t_bucket{le=\"0.02\"} 3\n"), "{text}");
        assert!(text.contains("t_bucket{le=\"+Inf\"} 4\n"), "{text}");
        assert!(text.contains("t_sum 0.085\nt_count 4\n"), "{text}");
    }

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
