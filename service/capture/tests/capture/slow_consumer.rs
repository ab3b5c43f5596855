//! A consumer slower than the camera never slows capture: frames it cannot take are dropped and
//! counted.

use std::time::{Duration, Instant};

use crate::{WAIT, config, frame_after, start};

#[test]
fn a_slow_consumer_never_makes_capture_wait() {
    let run = start(config("test", 640, 480, 30));
    let first = frame_after(&run.slot, None);
    let (started, in_before, dropped_before) = (Instant::now(), run.stats.frames_in(), run.slot.dropped());
    let mut taken = Vec::new();
    while started.elapsed() < Duration::from_secs(3) {
        let frame = run.slot.take(WAIT).expect("frames flow");
        taken.push(frame.seq);
        // Inference that takes 250 ms a frame.
        std::thread::sleep(Duration::from_millis(250));
    }
    let seconds = started.elapsed().as_secs_f64();
    let frames_in = run.stats.frames_in() - in_before;
    let dropped = run.slot.dropped() - dropped_before;
    println!(
        "slow consumer: {frames_in} frames in ({:.1}/s), {} taken, {dropped} dropped",
        frames_in as f64 / seconds,
        taken.len()
    );
    assert!(frames_in as f64 / seconds > 25.0, "capture kept its pace: {frames_in} frames in {seconds:.1} s");
    assert!(taken.len() <= 13, "the consumer took {} frames", taken.len());
    // Every frame delivered is either taken or dropped (one may still sit in the slot).
    assert!(
        (frames_in - dropped).abs_diff(taken.len() as u64) <= 1,
        "in {frames_in}, dropped {dropped}, taken {}",
        taken.len()
    );
    // The consumer always gets the newest frame: each one skips those that came meanwhile.
    assert!(taken.windows(2).all(|w| w[1] - w[0] >= 5), "{taken:?} after {}", first.seq);
    run.capture.stop();
}
