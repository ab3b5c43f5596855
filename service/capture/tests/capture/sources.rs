//! Every source kind but a V4L2 device delivers frames of the configured size and rate.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cuebox_capture::{CameraState, Frame};

use crate::rtsp_server::{RtspCamera, free_port};
use crate::{Running, WAIT, assert_close, config, file_source, fixture, frame_after, pixel, start};

/// Three consecutive frames of `width`x`height`, tightly packed, numbered and stamped in order.
fn assert_frames(run: &Running, width: u32, height: u32) -> Frame {
    let mut previous = frame_after(&run.slot, None);
    for _ in 0..2 {
        let frame = frame_after(&run.slot, Some(previous.seq));
        assert_eq!((frame.width, frame.height), (width, height));
        assert_eq!(frame.rgb.len(), (width * height * 3) as usize, "RGB rows without padding");
        assert!(frame.captured > previous.captured && frame.captured <= Instant::now());
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        assert!(
            now_ms.abs_diff(frame.captured_unix_ms) < 5_000,
            "captured_unix_ms {} vs now {now_ms}",
            frame.captured_unix_ms
        );
        previous = frame;
    }
    assert_eq!(run.stats.state(), CameraState::Streaming);
    assert_eq!(run.stats.lost_since(), None);
    previous
}

fn varies(frame: &Frame) -> bool {
    frame.rgb.chunks_exact(3).any(|p| p != &frame.rgb[..3])
}

#[test]
fn the_test_pattern_delivers_the_configured_size() {
    let run = start(config("test", 320, 240, 30));
    assert!(varies(&assert_frames(&run, 320, 240)), "a pattern, not a blank picture");
    run.capture.stop();
}

#[test]
fn an_mp4_file_is_scaled_to_the_configured_size() {
    let run = start(config(&file_source(&fixture("ball_320x240_2s.mp4")), 160, 120, 30));
    assert!(varies(&assert_frames(&run, 160, 120)));
    run.capture.stop();
}

#[test]
fn a_webm_file_is_decoded_and_upscaled() {
    let run = start(config(&file_source(&fixture("smpte_176x144_2s.webm")), 352, 288, 30));
    let frame = assert_frames(&run, 352, 288);
    // VP8 at this size blurs the bar edges; the bar centres keep their colours.
    assert_close(pixel(&frame, 25, 100), [255, 255, 255], 24, "white bar");
    assert_close(pixel(&frame, 176, 100), [0, 255, 0], 24, "green bar");
    run.capture.stop();
}

#[test]
fn an_avi_file_with_an_audio_track_delivers_video() {
    let megamind = std::path::Path::new("/usr/share/doc/opencv-doc/examples/data/Megamind.avi");
    assert!(megamind.exists(), "{} is missing: install Debian's opencv-doc (cargo xtask setup)", megamind.display());
    let run = start(config(&file_source(megamind), 320, 240, 30));
    assert!(varies(&assert_frames(&run, 320, 240)));
    run.capture.stop();
}

#[test]
fn a_gst_pipeline_gets_conversion_and_tightly_packed_rows_at_an_odd_width() {
    // 318 RGB pixels are 954 bytes; GStreamer pads such rows to 956.
    let run = start(config(
        "gst:videotestsrc is-live=true pattern=smpte ! video/x-raw,width=636,height=480,framerate=30/1",
        318,
        240,
        30,
    ));
    let frame = assert_frames(&run, 318, 240);
    // The seven 100% bars across the top two thirds, on the last row of that band too: a stride
    // error would shear them.
    for (bar, colour) in
        [[255, 255, 255], [255, 255, 0], [0, 255, 255], [0, 255, 0], [255, 0, 255], [255, 0, 0], [0, 0, 255]]
            .into_iter()
            .enumerate()
    {
        let x = (bar as u32 * 2 + 1) * 318 / 14;
        for y in [10, 150] {
            assert_close(pixel(&frame, x, y), colour, 6, &format!("bar {bar} at ({x}, {y})"));
        }
    }
    run.capture.stop();
}

#[test]
fn an_rtsp_camera_delivers_the_configured_size() {
    let camera = RtspCamera::start(free_port());
    let run = start(config(&camera.url(), 640, 480, 30));
    assert!(varies(&assert_frames(&run, 640, 480)));
    run.capture.stop();
    camera.stop();
}

/// Frames delivered per second, counted over `window` once frames flow.
fn delivered_per_second(run: &Running, window: Duration) -> f64 {
    frame_after(&run.slot, None);
    let (started, before) = (Instant::now(), run.stats.frames_in());
    while started.elapsed() < window {
        run.slot.take(WAIT).expect("frames flow");
    }
    (run.stats.frames_in() - before) as f64 / started.elapsed().as_secs_f64()
}

#[test]
fn the_configured_rate_is_a_ceiling() {
    let run =
        start(config("gst:videotestsrc is-live=true ! video/x-raw,width=160,height=120,framerate=60/1", 160, 120, 10));
    let fps = delivered_per_second(&run, Duration::from_secs(2));
    assert!((8.0..=11.0).contains(&fps), "a 60 fps source limited to 10 fps gave {fps:.1}");
    run.capture.stop();

    let run = start(config(&file_source(&fixture("ball_320x240_2s.mp4")), 160, 120, 30));
    let fps = delivered_per_second(&run, Duration::from_secs(2));
    assert!((12.0..=16.0).contains(&fps), "a 15 fps file plays at its own pace, gave {fps:.1}");
    run.capture.stop();
}

#[test]
fn a_live_frame_is_stamped_when_it_was_taken_not_when_it_arrived() {
    // The queue holds every frame for 300 ms before it reaches Cuebox.
    let run = start(config(
        "gst:videotestsrc is-live=true ! video/x-raw,width=160,height=120,framerate=30/1 ! queue min-threshold-time=300000000 max-size-time=0 max-size-buffers=0 max-size-bytes=0",
        160,
        120,
        30,
    ));
    let frame = frame_after(&run.slot, None);
    let frame = frame_after(&run.slot, Some(frame.seq));
    let age = frame.captured.elapsed();
    assert!(age >= Duration::from_millis(250) && age < Duration::from_secs(1), "age {age:?}");
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    assert!(now_ms - frame.captured_unix_ms >= 250, "unix stamp {} ms old", now_ms - frame.captured_unix_ms);
    run.capture.stop();
}
