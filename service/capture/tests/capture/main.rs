//! cuebox-capture against real GStreamer pipelines, files, an RTSP server on loopback and
//! recorded camera buffers (no /dev/video* device exists on the build machines).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap, expect or index fails the test"
)]

mod decode;
mod recovery;
mod resources;
mod rtsp_server;
mod slow_consumer;
mod sources;

use std::path::PathBuf;
use std::sync::{Arc, Once};
use std::time::Duration;

use cuebox_capture::{Capture, CaptureConfig, CaptureStats, Frame, FrameSlot, Source};

/// Generous: CI machines are shared and slow; a test that passes waits far less.
pub const WAIT: Duration = Duration::from_secs(20);

pub struct Running {
    pub capture: Capture,
    pub slot: Arc<FrameSlot>,
    pub stats: Arc<CaptureStats>,
}

/// Capture's logs go to the test's output (shown for a failing test, or with --nocapture);
/// `RUST_LOG` picks the level.
fn log_to_test_output() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let filter =
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "cuebox_capture=info".into());
        tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false).with_test_writer().init();
    });
}

pub fn start(config: CaptureConfig) -> Running {
    log_to_test_output();
    let (slot, stats) = (Arc::new(FrameSlot::new()), Arc::new(CaptureStats::default()));
    let capture = Capture::start(config, slot.clone(), stats.clone()).expect("capture starts");
    Running { capture, slot, stats }
}

pub fn config(source: &str, width: u32, height: u32, fps: u32) -> CaptureConfig {
    CaptureConfig {
        sources: vec![source.parse::<Source>().expect("a valid source")],
        width,
        height,
        fps,
        ..CaptureConfig::default()
    }
}

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

pub fn file_source(path: &std::path::Path) -> String {
    format!("file://{}", path.display())
}

/// The next frame numbered after `seq`.
pub fn frame_after(slot: &FrameSlot, seq: Option<u64>) -> Frame {
    loop {
        let frame = slot.take(WAIT).expect("frames flow");
        if seq.is_none_or(|seq| frame.seq > seq) {
            return frame;
        }
    }
}

pub fn pixel(frame: &Frame, x: u32, y: u32) -> [u8; 3] {
    let at = ((y * frame.width + x) * 3) as usize;
    [frame.rgb[at], frame.rgb[at + 1], frame.rgb[at + 2]]
}

pub fn assert_close(got: [u8; 3], want: [u8; 3], tolerance: u8, what: &str) {
    assert!(
        got.iter().zip(want).all(|(g, w)| g.abs_diff(w) <= tolerance),
        "{what}: got {got:?}, want {want:?} (±{tolerance})"
    );
}
