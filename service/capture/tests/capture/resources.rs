//! A thousand fail/recover cycles leave no file descriptors, threads or memory behind.
//!
//! The cycles run in a process of their own (this test binary, started again on the ignored
//! test below) so that the other tests' pipelines and threads do not blur the figures.

use std::process::Command;
use std::time::{Duration, Instant};

use cuebox_capture::{Backoff, CaptureConfig};

use crate::{WAIT, config, start};

const CYCLES: u64 = 1000;
const WARM_UP: u64 = 50;

#[test]
fn a_thousand_fail_recover_cycles_leave_nothing_behind() {
    let output = Command::new(std::env::current_exe().expect("the test binary"))
        .args(["resources::cycles_in_this_process", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env("RUST_LOG", "off")
        .output()
        .expect("the test binary runs again");
    let stdout = String::from_utf8_lossy(&output.stdout);
    print!("{stdout}");
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the cycles failed");
    assert!(stdout.contains("1 passed"), "the cycles did not run");
}

#[derive(Debug)]
struct Usage {
    fds: usize,
    threads: usize,
    rss_kib: u64,
}

impl Usage {
    fn now() -> Usage {
        let count = |dir: &str| std::fs::read_dir(dir).expect("/proc is mounted").count();
        let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
        let rss_kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS");
        Usage { fds: count("/proc/self/fd"), threads: count("/proc/self/task"), rss_kib }
    }
}

/// Runs capture until its source failed `cycles` times, each time after delivering a frame.
fn fail_and_recover(config: &CaptureConfig, cycles: u64) -> Duration {
    let started = Instant::now();
    let run = start(config.clone());
    while run.stats.restarts() < cycles {
        run.slot.take(WAIT).expect("frames flow between failures");
    }
    let (restarts, frames_in) = (run.stats.restarts(), run.stats.frames_in());
    run.capture.stop();
    assert!(frames_in + 1 >= restarts, "every rebuild delivered frames again: {frames_in} frames, {restarts} failures");
    started.elapsed()
}

#[test]
#[ignore = "run in its own process by a_thousand_fail_recover_cycles_leave_nothing_behind"]
fn cycles_in_this_process() {
    let config = CaptureConfig {
        backoff: Backoff { first: Duration::from_millis(1), max: Duration::from_millis(1) },
        ..config(
            "gst:videotestsrc is-live=true ! video/x-raw,width=64,height=48,framerate=1000/1 ! identity error-after=3",
            64,
            48,
            30,
        )
    };
    fail_and_recover(&config, WARM_UP);
    let before = Usage::now();
    let took = fail_and_recover(&config, CYCLES);
    let after = Usage::now();
    println!(
        "{CYCLES} fail/recover cycles in {took:.1?} ({:.1} ms each): fds {} -> {}, threads {} -> {}, RSS {} -> {} KiB",
        took.as_secs_f64() * 1e3 / CYCLES as f64,
        before.fds,
        after.fds,
        before.threads,
        after.threads,
        before.rss_kib,
        after.rss_kib
    );
    assert_eq!(after.fds, before.fds, "file descriptors leaked");
    assert!(after.threads <= before.threads + 2, "threads leaked: {before:?} -> {after:?}");
    assert!(after.rss_kib <= before.rss_kib + 4 * 1024, "memory grew: {before:?} -> {after:?}");
}
