use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::Frame;

/// Single-frame hand-off between capture and vision: the producer never waits, a frame that
/// was not taken before the next one arrives is dropped and counted.
#[derive(Debug, Default)]
pub struct FrameSlot {
    state: Mutex<SlotState>,
    changed: Condvar,
    dropped: AtomicU64,
}

#[derive(Debug, Default)]
struct SlotState {
    frame: Option<Frame>,
    closed: bool,
}

impl FrameSlot {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores the newest frame, replacing (and counting as dropped) one that was never taken.
    pub fn put(&self, frame: Frame) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.frame.replace(frame).is_some() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        drop(state);
        self.changed.notify_one();
    }

    /// Waits up to `timeout` for a frame; `None` on timeout or once the slot is closed.
    pub fn take(&self, timeout: Duration) -> Option<Frame> {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(frame) = state.frame.take() {
                return Some(frame);
            }
            let now = Instant::now();
            if state.closed || now >= deadline {
                return None;
            }
            state = self.changed.wait_timeout(state, deadline - now).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    /// Wakes every waiter; later `take` calls return what is left, then `None`.
    pub fn close(&self) {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).closed = true;
        self.changed.notify_all();
    }

    pub fn is_closed(&self) -> bool {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).closed
    }

    /// Frames replaced before anyone took them.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn frame(seq: u64) -> Frame {
        Frame { seq, captured: Instant::now(), captured_unix_ms: 0, width: 1, height: 1, rgb: vec![0; 3] }
    }

    #[test]
    fn newest_frame_wins_and_replaced_ones_are_counted() {
        let slot = FrameSlot::new();
        for seq in 0..5 {
            slot.put(frame(seq));
        }
        assert_eq!(slot.take(Duration::ZERO).map(|f| f.seq), Some(4));
        assert_eq!(slot.dropped(), 4);
        assert!(slot.take(Duration::from_millis(1)).is_none());
    }

    #[test]
    fn take_wakes_when_a_frame_arrives_and_close_releases_waiters() {
        let slot = Arc::new(FrameSlot::new());
        let waiter = {
            let slot = slot.clone();
            std::thread::spawn(move || slot.take(Duration::from_secs(30)).map(|f| f.seq))
        };
        slot.put(frame(7));
        assert_eq!(waiter.join().unwrap(), Some(7));

        let waiter = {
            let slot = slot.clone();
            std::thread::spawn(move || slot.take(Duration::from_secs(30)))
        };
        slot.close();
        assert!(waiter.join().unwrap().is_none());
        assert!(slot.is_closed());
    }
}
