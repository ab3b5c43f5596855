//! Sources that fail come back by themselves, without restarting anything.

use std::time::{Duration, Instant};

use cuebox_capture::{Backend, Backoff, CameraState, CaptureConfig};

use crate::rtsp_server::{RtspCamera, free_port, url};
use crate::{WAIT, config, file_source, fixture, frame_after, start};

fn retrying(state: &CameraState) -> bool {
    matches!(state, CameraState::Retrying { .. })
}

fn error_of(state: Option<CameraState>) -> String {
    match state {
        Some(CameraState::Retrying { error }) => error,
        other => panic!("expected a retrying camera, got {other:?}"),
    }
}

#[test]
fn a_gst_pipeline_that_errors_after_n_buffers_comes_back() {
    let run = start(config(
        "gst:videotestsrc is-live=true ! video/x-raw,width=160,height=120,framerate=30/1 ! identity error-after=15",
        160,
        120,
        30,
    ));
    let error = error_of(run.stats.wait_for_state(WAIT, retrying));
    assert!(error.contains("identity"), "the error names the failing element: {error}");
    let mut outages = Vec::new();
    let mut seq = None;
    for failures in 1..=5 {
        run.stats
            .wait_for_state(WAIT, |s| *s == CameraState::Streaming && run.stats.restarts() >= failures)
            .expect("streams again");
        outages.push(run.stats.last_outage().expect("an outage was measured"));
        let frame = frame_after(&run.slot, seq);
        seq = Some(frame.seq);
    }
    outages.sort();
    // Backoff 100 ms + rebuild + the first frame of a 30 fps source.
    let median = outages[outages.len() / 2];
    println!("recovery after a pipeline error (default backoff): median {median:?}, all {outages:?}");
    assert!(median < Duration::from_millis(600), "{outages:?}");
    run.capture.stop();
}

#[test]
fn a_truncated_file_plays_again_from_the_start() {
    // 16 of the clip's 30 frames survive the cut; they play at 15 fps.
    let run = start(config(&file_source(&fixture("ball_320x240_truncated.mp4")), 320, 240, 30));
    let first = frame_after(&run.slot, None);
    let mut last = first.seq;
    while last < first.seq + 40 {
        last = frame_after(&run.slot, Some(last)).seq;
    }
    assert_eq!(run.stats.state(), CameraState::Streaming);
    run.capture.stop();
}

#[test]
fn a_missing_file_is_retried_with_a_doubling_wait() {
    let mut config = config("file:///nonexistent/cuebox/clip.mp4", 160, 120, 30);
    config.backoff = Backoff { first: Duration::from_millis(50), max: Duration::from_millis(200) };
    let started = Instant::now();
    let run = start(config);
    let error = error_of(run.stats.wait_for_state(WAIT, |_| run.stats.restarts() >= 5));
    let elapsed = started.elapsed();
    assert!(error.contains("/nonexistent/cuebox/clip.mp4"), "{error}");
    // Waits of 50 + 100 + 200 + 200 ms come between the five failures.
    assert!(elapsed >= Duration::from_millis(550), "{elapsed:?}");
    assert!(run.stats.lost_since().is_some_and(|since| since <= started + Duration::from_millis(50)));
    run.capture.stop();
}

#[test]
fn an_rtsp_camera_that_is_not_there_yet_is_waited_for() {
    let port = free_port();
    let mut config = config(&url(port), 320, 240, 30);
    config.backoff = Backoff { first: Duration::from_millis(100), max: Duration::from_millis(400) };
    let run = start(config);
    let error = error_of(run.stats.wait_for_state(WAIT, |_| run.stats.restarts() >= 2));
    assert!(error.contains("rtsp") || error.contains("resource"), "{error}");

    let camera = RtspCamera::start(port);
    let back = Instant::now();
    let frame = frame_after(&run.slot, None);
    println!("RTSP camera appeared: first frame {:?} after the server started", back.elapsed());
    assert_eq!((frame.width, frame.height), (320, 240));
    assert_eq!(run.stats.state(), CameraState::Streaming);
    run.capture.stop();
    camera.stop();
}

#[test]
fn an_rtsp_camera_that_goes_away_and_returns_is_followed() {
    let port = free_port();
    let camera = RtspCamera::start(port);
    let mut config = config(&url(port), 320, 240, 30);
    config.stall_timeout = Duration::from_secs(2);
    config.backoff = Backoff { first: Duration::from_millis(100), max: Duration::from_millis(800) };
    let run = start(config);
    let before = frame_after(&run.slot, None);

    let gone = Instant::now();
    camera.stop();
    let error = error_of(run.stats.wait_for_state(WAIT, retrying));
    println!("RTSP server gone: noticed after {:?} ({error})", gone.elapsed());
    let lost_since = run.stats.lost_since().expect("lost while retrying");
    assert!(lost_since <= Instant::now());

    let camera = RtspCamera::start(port);
    let back = Instant::now();
    let after = frame_after(&run.slot, Some(before.seq));
    println!(
        "RTSP server back: first frame {:?} after it restarted; outage {:?}",
        back.elapsed(),
        run.stats.last_outage().expect("an outage")
    );
    assert_eq!((after.width, after.height), (320, 240));
    assert!(after.captured > back);
    run.capture.stop();
    camera.stop();
}

#[test]
fn stop_is_prompt_while_a_missing_device_waits_out_a_long_backoff() {
    for backend in [Backend::Gstreamer, Backend::V4l] {
        let run = start(CaptureConfig {
            backend,
            backoff: Backoff { first: Duration::from_secs(60), max: Duration::from_secs(60) },
            ..config("v4l2:///dev/cuebox-no-such-camera", 640, 480, 30)
        });
        let error = error_of(run.stats.wait_for_state(WAIT, retrying));
        assert!(error.contains("/dev/cuebox-no-such-camera"), "{backend}: {error}");
        let stopping = Instant::now();
        run.capture.stop();
        assert!(stopping.elapsed() < Duration::from_millis(500), "{backend}: stop took {:?}", stopping.elapsed());
    }
}
