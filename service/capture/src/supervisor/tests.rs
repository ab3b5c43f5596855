//! The direct V4L2 backend's read loop under the supervisor, on recorded camera buffers (no
//! /dev/video* exists on the build machines).

use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::device::{DeviceError, Layout};
use crate::mode::{DeviceMode, PixelFormat, Rate, Rates, Sizes};
use crate::{Backoff, CameraState, YuvRange, yuyv_to_rgb};

const YUYV_SMPTE: &[u8] = include_bytes!("../../tests/data/smpte_160x120.yuyv");
const MJPEG_SMPTE: &[u8] = include_bytes!("../../tests/data/smpte_160x120.mjpeg");
const WAIT: Duration = Duration::from_secs(10);

fn mode(format: PixelFormat, width: u32, height: u32) -> DeviceMode {
    DeviceMode { format, sizes: Sizes::One { width, height }, rates: Rates::Listed(vec![Rate { num: 30, den: 1 }]) }
}

/// A camera that plays back recorded buffers at its frame rate and may vanish after some.
struct RecordedDevice {
    modes: Vec<DeviceMode>,
    buffers: Vec<Vec<u8>>,
    served: usize,
    vanish_after: Option<usize>,
}

impl RecordedDevice {
    fn new(modes: Vec<DeviceMode>, buffers: &[&[u8]]) -> Self {
        Self { modes, buffers: buffers.iter().map(|b| b.to_vec()).collect(), served: 0, vanish_after: None }
    }
}

impl FrameDevice for RecordedDevice {
    fn modes(&mut self) -> Result<Vec<DeviceMode>, DeviceError> {
        Ok(self.modes.clone())
    }

    fn start(&mut self, _: &ChosenMode) -> Result<Layout, DeviceError> {
        Ok(Layout { stride: 160 * 2, range: YuvRange::Limited })
    }

    fn next_buffer(&mut self, timeout: Duration) -> Result<Option<&[u8]>, DeviceError> {
        if self.vanish_after == Some(self.served) {
            let unplugged = io::Error::from_raw_os_error(19); // ENODEV
            return Err(DeviceError::Io { action: "cannot read from", path: "/dev/video0".into(), source: unplugged });
        }
        // The pace of a 30 fps camera: the read loop blocks in the driver the same way.
        std::thread::sleep(Duration::from_millis(33).min(timeout));
        let buffer = &self.buffers[self.served % self.buffers.len()];
        self.served += 1;
        Ok(Some(buffer))
    }
}

/// Each open finds what is plugged in next: a device, or (`None`, or nothing left) no device node.
struct RecordedCamera {
    plugged: Mutex<VecDeque<Option<RecordedDevice>>>,
    opens: Arc<AtomicUsize>,
}

impl OpenDevice for RecordedCamera {
    fn open(&self, path: &Path) -> Result<Box<dyn FrameDevice>, DeviceError> {
        self.opens.fetch_add(1, Ordering::Relaxed);
        match self.plugged.lock().unwrap().pop_front() {
            Some(Some(device)) => Ok(Box::new(device)),
            Some(None) | None => Err(DeviceError::Io {
                action: "cannot open",
                path: path.to_owned(),
                source: io::ErrorKind::NotFound.into(),
            }),
        }
    }
}

struct Running {
    capture: Capture,
    slot: Arc<FrameSlot>,
    stats: Arc<CaptureStats>,
    opens: Arc<AtomicUsize>,
}

fn start(devices: Vec<Option<RecordedDevice>>, (width, height): (u32, u32)) -> Running {
    let config = CaptureConfig {
        sources: vec![Source::V4l2(PathBuf::from("/dev/video0"))],
        width,
        height,
        fps: 30,
        backend: Backend::V4l,
        backoff: Backoff { first: Duration::from_millis(5), max: Duration::from_millis(20) },
        ..CaptureConfig::default()
    };
    let (slot, stats, opens) =
        (Arc::new(FrameSlot::new()), Arc::new(CaptureStats::default()), Arc::new(AtomicUsize::new(0)));
    let camera = RecordedCamera { plugged: Mutex::new(devices.into()), opens: opens.clone() };
    let capture = Capture::start_with(config, slot.clone(), stats.clone(), Box::new(camera)).unwrap();
    Running { capture, slot, stats, opens }
}

fn pixel(frame: &crate::Frame, x: usize, y: usize) -> [u8; 3] {
    let at = (y * frame.width as usize + x) * 3;
    [frame.rgb[at], frame.rgb[at + 1], frame.rgb[at + 2]]
}

/// Centres of the seven SMPTE bars (videotestsrc draws them at 100%) in a 160-pixel-wide
/// picture, and their colours.
const BARS: [(usize, [u8; 3]); 7] = [
    (11, [255, 255, 255]),
    (34, [255, 255, 0]),
    (57, [0, 255, 255]),
    (80, [0, 255, 0]),
    (103, [255, 0, 255]),
    (126, [255, 0, 0]),
    (148, [0, 0, 255]),
];

fn assert_bars(frame: &crate::Frame, tolerance: u8) {
    for (x, want) in BARS {
        let got = pixel(frame, x, 40);
        assert!(
            got.iter().zip(want).all(|(g, w)| g.abs_diff(w) <= tolerance),
            "bar at x={x}: got {got:?}, want {want:?}"
        );
    }
}

/// `jpeg` without its DHT segments, as many UVC cameras send MJPEG.
fn without_huffman_tables(jpeg: &[u8]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    let mut at = 2;
    while jpeg[at + 1] != 0xDA {
        let length = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        if jpeg[at + 1] != 0xC4 {
            out.extend_from_slice(&jpeg[at..at + 2 + length]);
        }
        at += 2 + length;
    }
    out.extend_from_slice(&jpeg[at..]);
    out
}

#[test]
fn yuyv_is_read_directly_when_the_camera_offers_it_recorded_buffers() {
    let device =
        RecordedDevice::new(vec![mode(PixelFormat::Mjpeg, 160, 120), mode(PixelFormat::Yuyv, 160, 120)], &[YUYV_SMPTE]);
    let run = start(vec![Some(device)], (160, 120));
    let frame = run.slot.take(WAIT).expect("a frame");
    let mut expected = vec![0; 160 * 120 * 3];
    yuyv_to_rgb(YUYV_SMPTE, 160, 120, 320, YuvRange::Limited, &mut expected).unwrap();
    assert_eq!((frame.width, frame.height), (160, 120));
    assert!(frame.rgb == expected, "the frame is the YUYV buffer converted");
    assert_bars(&frame, 3);
    let next = run.slot.take(WAIT).expect("a second frame");
    assert!(next.seq > frame.seq && next.captured > frame.captured);
    assert_eq!(run.stats.state(), CameraState::Streaming);
    run.capture.stop();
}

#[test]
fn mjpeg_without_huffman_tables_is_read_directly_recorded_buffers() {
    let stripped = without_huffman_tables(MJPEG_SMPTE);
    assert!(stripped.len() < MJPEG_SMPTE.len() && !stripped.windows(2).any(|w| w == [0xFF, 0xC4]));
    let device = RecordedDevice::new(vec![mode(PixelFormat::Mjpeg, 160, 120)], &[&stripped]);
    let run = start(vec![Some(device)], (160, 120));
    let frame = run.slot.take(WAIT).expect("a frame");
    assert_bars(&frame, 8);
    assert_eq!(run.stats.frames_skipped(), 0);
    run.capture.stop();
}

#[test]
fn corrupt_mjpeg_frames_are_skipped_and_counted_recorded_buffers() {
    let cut = &MJPEG_SMPTE[..300];
    let device = RecordedDevice::new(vec![mode(PixelFormat::Mjpeg, 160, 120)], &[MJPEG_SMPTE, cut]);
    let run = start(vec![Some(device)], (160, 120));
    for _ in 0..3 {
        assert_bars(&run.slot.take(WAIT).expect("good frames still flow"), 8);
    }
    assert!(run.stats.frames_skipped() >= 2, "skipped {}", run.stats.frames_skipped());
    assert_eq!(run.stats.restarts(), 0, "a bad frame is no failure");
    run.capture.stop();
}

#[test]
fn a_vanished_device_is_reopened_when_it_comes_back_recorded_buffers() {
    let yuyv = || RecordedDevice::new(vec![mode(PixelFormat::Yuyv, 160, 120)], &[YUYV_SMPTE]);
    // Streams three frames and is unplugged; the next open finds no device node; the one
    // after finds it plugged back in.
    let run = start(vec![Some(RecordedDevice { vanish_after: Some(3), ..yuyv() }), None, Some(yuyv())], (160, 120));
    run.stats
        .wait_for_state(WAIT, |s| *s == CameraState::Streaming && run.stats.restarts() == 2)
        .expect("streams again");
    let frame = (0..10).find_map(|_| run.slot.take(WAIT).filter(|f| f.seq >= 3)).expect("frames after the reopen");
    assert_bars(&frame, 3);
    assert_eq!(run.opens.load(Ordering::Relaxed), 3);
    assert!(run.stats.last_outage().is_some_and(|o| o < Duration::from_secs(1)), "{:?}", run.stats.last_outage());
    run.capture.stop();
}

#[test]
fn a_missing_device_is_retried_with_the_reason() {
    let run = start(vec![None], (160, 120));
    let state = run.stats.wait_for_state(WAIT, |_| run.stats.restarts() >= 3).expect("retried");
    assert_eq!(state, CameraState::Retrying { error: "cannot open /dev/video0: entity not found".into() });
    assert!(run.stats.lost_since().is_some());
    run.capture.stop();
}

#[test]
fn a_camera_without_the_configured_size_says_what_it_delivers_recorded_modes() {
    let device = RecordedDevice::new(
        vec![
            mode(PixelFormat::Yuyv, 640, 480),
            mode(PixelFormat::Mjpeg, 1280, 720),
            mode(PixelFormat::Nv12, 1920, 1080),
        ],
        &[YUYV_SMPTE],
    );
    let run = start(vec![Some(device)], (1920, 1080));
    let state = run.stats.wait_for_state(WAIT, |s| matches!(s, CameraState::Retrying { .. })).expect("refused");
    assert_eq!(
        state,
        CameraState::Retrying {
            error:
                "/dev/video0: the camera cannot deliver 1920x1080 at 30 fps; it delivers YUYV 640x480 at up to 30 fps, \
                    MJPEG 1280x720 at up to 30 fps"
                    .into()
        }
    );
    run.capture.stop();
}
