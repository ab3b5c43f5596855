use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CameraState {
    /// The first source is being opened; no frame yet.
    Starting,
    Streaming,
    /// The source failed and is being rebuilt; stays so until frames flow again.
    Retrying {
        error: String,
    },
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

/// How a source that delivered its first frame relates to the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resumed {
    First,
    /// After a failure; the time without pictures.
    AfterOutage(Duration),
    /// A file started over, or the next source in turn took over, without a failure.
    Again,
}

/// Counters and camera state shared with whoever reports on the camera.
#[derive(Debug)]
pub struct CaptureStats {
    frames_in: AtomicU64,
    frames_skipped: AtomicU64,
    restarts: AtomicU64,
    camera: Mutex<Camera>,
    changed: Condvar,
}

#[derive(Debug)]
struct Camera {
    state: CameraState,
    created: Instant,
    last_frame: Option<Instant>,
    /// The last picture before the current outage.
    down_since: Option<Instant>,
    last_outage: Option<Duration>,
}

impl Default for CaptureStats {
    fn default() -> Self {
        Self {
            frames_in: AtomicU64::new(0),
            frames_skipped: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
            camera: Mutex::new(Camera {
                state: CameraState::Starting,
                created: Instant::now(),
                last_frame: None,
                down_since: None,
                last_outage: None,
            }),
            changed: Condvar::new(),
        }
    }
}

impl CaptureStats {
    /// Frames delivered to the slot.
    pub fn frames_in(&self) -> u64 {
        self.frames_in.load(Ordering::Relaxed)
    }

    /// Frames the source produced that could not be read (a corrupt MJPEG frame, a short
    /// buffer) and were dropped.
    pub fn frames_skipped(&self) -> u64 {
        self.frames_skipped.load(Ordering::Relaxed)
    }

    /// Source failures, each followed by a rebuild.
    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }

    pub fn state(&self) -> CameraState {
        self.camera().state.clone()
    }

    /// While the camera is not streaming: when it last delivered a picture (or when capture
    /// started, if it never did). `None` while streaming.
    pub fn lost_since(&self) -> Option<Instant> {
        let camera = self.camera();
        match camera.state {
            CameraState::Streaming => None,
            _ => Some(camera.last_frame.unwrap_or(camera.created)),
        }
    }

    /// The last outage that ended: from the last picture before a failure to the first picture
    /// after the source was rebuilt.
    pub fn last_outage(&self) -> Option<Duration> {
        self.camera().last_outage
    }

    /// Waits up to `timeout` for the camera state to satisfy `wanted`; the state that did, or
    /// `None` on timeout.
    pub fn wait_for_state(
        &self,
        timeout: Duration,
        mut wanted: impl FnMut(&CameraState) -> bool,
    ) -> Option<CameraState> {
        let camera = self.camera();
        let (camera, _) = self
            .changed
            .wait_timeout_while(camera, timeout, |c| !wanted(&c.state))
            .unwrap_or_else(PoisonError::into_inner);
        wanted(&camera.state).then(|| camera.state.clone())
    }

    pub(crate) fn record_frame(&self, at: Instant) {
        self.frames_in.fetch_add(1, Ordering::Relaxed);
        self.camera().last_frame = Some(at);
    }

    pub(crate) fn record_skipped(&self) {
        self.frames_skipped.fetch_add(1, Ordering::Relaxed);
    }

    /// Marks the camera streaming from the frame captured `at`.
    pub(crate) fn set_streaming(&self, at: Instant) -> Resumed {
        let mut camera = self.camera();
        let before = std::mem::replace(&mut camera.state, CameraState::Streaming);
        let resumed = match (before, camera.down_since.take()) {
            (_, Some(since)) => {
                let outage = at.saturating_duration_since(since);
                camera.last_outage = Some(outage);
                Resumed::AfterOutage(outage)
            }
            (CameraState::Streaming, None) => Resumed::Again,
            (_, None) => Resumed::First,
        };
        drop(camera);
        self.changed.notify_all();
        resumed
    }

    pub(crate) fn record_failure(&self, error: String) {
        self.restarts.fetch_add(1, Ordering::Relaxed);
        let mut camera = self.camera();
        if camera.down_since.is_none() {
            camera.down_since = Some(camera.last_frame.unwrap_or(camera.created));
        }
        camera.state = CameraState::Retrying { error };
        drop(camera);
        self.changed.notify_all();
    }

    fn camera(&self) -> MutexGuard<'_, Camera> {
        self.camera.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_runs_from_the_last_picture_to_the_first_after_recovery() {
        let stats = CaptureStats::default();
        let t0 = Instant::now();
        assert!(stats.lost_since().is_some(), "not streaming before the first frame");
        stats.record_frame(t0);
        assert_eq!(stats.set_streaming(t0), Resumed::First);
        assert_eq!(stats.set_streaming(t0), Resumed::Again, "a file that loops");
        assert_eq!(stats.lost_since(), None);

        stats.record_failure("gone".into());
        stats.record_failure("still gone".into());
        assert_eq!(stats.state(), CameraState::Retrying { error: "still gone".into() });
        assert_eq!(stats.lost_since(), Some(t0));
        assert_eq!(stats.restarts(), 2);

        let back = t0 + Duration::from_millis(250);
        stats.record_frame(back);
        assert_eq!(stats.set_streaming(back), Resumed::AfterOutage(Duration::from_millis(250)));
        assert_eq!(stats.last_outage(), Some(Duration::from_millis(250)));
        assert_eq!(stats.frames_in(), 2);
    }

    #[test]
    fn waiting_for_a_state_wakes_on_the_change() {
        let stats = std::sync::Arc::new(CaptureStats::default());
        let waiter = {
            let stats = stats.clone();
            std::thread::spawn(move || stats.wait_for_state(Duration::from_secs(30), |s| *s == CameraState::Streaming))
        };
        stats.set_streaming(Instant::now());
        assert_eq!(waiter.join().unwrap(), Some(CameraState::Streaming));
        assert_eq!(stats.wait_for_state(Duration::from_millis(1), |s| s.as_str() == "retrying"), None);
    }
}
