use std::time::{Duration, Instant};

/// Hysteresis over time, so that one odd frame never switches what is on air.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrackerConfig {
    /// How long a product must be seen without interruption before it goes on air.
    pub enter: Duration,
    /// How long nothing confident must be seen before the product on air is dropped.
    pub exit: Duration,
}

/// A change of the product in view.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackerEvent {
    pub sku: Option<String>,
    /// Mean decision score over the frames that confirmed the change (0 when leaving).
    pub confidence: f32,
    /// When the evidence for this change began.
    pub since: Instant,
}

/// Turns per-frame decisions (timestamped at capture) into a stable product-in-view state.
#[derive(Debug)]
pub struct Tracker {
    config: TrackerConfig,
    current: Option<String>,
    pending: Option<Pending>,
}

#[derive(Debug)]
struct Pending {
    sku: Option<String>,
    since: Instant,
    score_sum: f32,
    frames: u32,
}

impl Tracker {
    pub fn new(config: TrackerConfig) -> Self {
        Self { config, current: None, pending: None }
    }

    pub fn current(&self) -> Option<&str> {
        self.current.as_deref()
    }

    /// Feeds one frame's decision; returns the change if this frame completes one.
    pub fn update(&mut self, at: Instant, observed: Option<&str>, score: f32) -> Option<TrackerEvent> {
        if observed == self.current.as_deref() {
            self.pending = None;
            return None;
        }
        let pending = match &mut self.pending {
            Some(p) if p.sku.as_deref() == observed => p,
            _ => {
                self.pending.insert(Pending { sku: observed.map(str::to_owned), since: at, score_sum: 0.0, frames: 0 })
            }
        };
        pending.score_sum += score;
        pending.frames += 1;
        let needed = if observed.is_some() { self.config.enter } else { self.config.exit };
        if at.saturating_duration_since(pending.since) < needed {
            return None;
        }
        let done = self.pending.take()?;
        self.current = done.sku.clone();
        let confidence = if done.sku.is_some() { done.score_sum / done.frames as f32 } else { 0.0 };
        Some(TrackerEvent { sku: done.sku, confidence, since: done.since })
    }

    /// New enter and exit times, from the next frame on.
    pub fn set_config(&mut self, config: TrackerConfig) {
        self.config = config;
    }

    /// Forgets the product on air (e.g. the camera is gone); returns the change if there was one.
    pub fn reset(&mut self, at: Instant) -> Option<TrackerEvent> {
        self.pending = None;
        self.current.take().map(|_| TrackerEvent { sku: None, confidence: 0.0, since: at })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTER: Duration = Duration::from_millis(300);
    const EXIT: Duration = Duration::from_millis(1000);

    fn run(tracker: &mut Tracker, start: Instant, frames: &[(u64, Option<&str>)]) -> Vec<(u64, Option<String>)> {
        frames
            .iter()
            .filter_map(|&(ms, sku)| tracker.update(start + Duration::from_millis(ms), sku, 0.8).map(|e| (ms, e.sku)))
            .collect()
    }

    #[test]
    fn product_enters_after_the_enter_time_not_before() {
        let mut t = Tracker::new(TrackerConfig { enter: ENTER, exit: EXIT });
        let start = Instant::now();
        let frames: Vec<_> = (0..=10).map(|i| (i * 100, Some("A"))).collect();
        assert_eq!(run(&mut t, start, &frames), vec![(300, Some("A".to_owned()))]);
        assert_eq!(t.current(), Some("A"));
    }

    #[test]
    fn one_bad_frame_never_switches_the_product() {
        let mut t = Tracker::new(TrackerConfig { enter: ENTER, exit: EXIT });
        let start = Instant::now();
        let mut frames: Vec<_> = (0..10).map(|i| (i * 100, Some("A"))).collect();
        frames.push((1000, Some("B")));
        frames.push((1100, None));
        frames.extend((12..30).map(|i| (i * 100, Some("A"))));
        assert_eq!(run(&mut t, start, &frames), vec![(300, Some("A".to_owned()))]);
    }

    #[test]
    fn product_leaves_after_the_exit_time_and_switches_when_another_holds() {
        let mut t = Tracker::new(TrackerConfig { enter: ENTER, exit: EXIT });
        let start = Instant::now();
        let mut frames: Vec<_> = (0..5).map(|i| (i * 100, Some("A"))).collect();
        frames.extend((5..25).map(|i| (i * 100, None)));
        frames.extend((25..35).map(|i| (i * 100, Some("B"))));
        assert_eq!(
            run(&mut t, start, &frames),
            vec![(300, Some("A".to_owned())), (1500, None), (2800, Some("B".to_owned()))]
        );
    }

    #[test]
    fn reset_drops_the_product_once() {
        let mut t = Tracker::new(TrackerConfig { enter: ENTER, exit: EXIT });
        let start = Instant::now();
        run(&mut t, start, &[(0, Some("A")), (400, Some("A"))]);
        assert_eq!(t.reset(start).map(|e| e.sku), Some(None));
        assert_eq!(t.reset(start), None);
    }
}
