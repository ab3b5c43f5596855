//! Recognition in the running daemon: barcodes, still scenes, reloading.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rxing::{BarcodeFormat, Writer};

use crate::support::{Daemon, DaemonConfig, Mosquitto, Subscriber, asset, demo_store, eventually};

const WAIT: Duration = Duration::from_secs(60);

/// Runs a gst-launch-1.0 pipeline given as its elements, each with its properties.
fn gst(elements: &[&[&str]]) {
    let args: Vec<&str> = elements.join(&"!");
    let status = Command::new("gst-launch-1.0").arg("-q").args(&args).status().unwrap();
    assert!(status.success(), "gst-launch-1.0 {args:?}");
}

/// A file property.
fn location(path: &Path) -> String {
    format!("location={}", path.display())
}

/// The video of the `source` elements encoded into an H.264 MP4 file at `out`.
fn encode_h264_mp4(source: &[&[&str]], out: &Path) {
    let sink = location(out);
    let encode: [&[&str]; 4] =
        [&["videoconvert"], &["x264enc", "speed-preset=ultrafast"], &["mp4mux"], &["filesink", &sink]];
    gst(&[source, &encode].concat());
}

/// The cookie-box footage with the tumbler's EAN-13 printed over a corner of the frame.
fn clip_with_barcode(dir: &Path, code: &str) -> PathBuf {
    let matrix = rxing::MultiFormatWriter.encode(code, &BarcodeFormat::EAN_13, 240, 100).unwrap();
    let mut label = image::GrayImage::new(matrix.getWidth() + 20, matrix.getHeight() + 20);
    for (x, y, pixel) in label.enumerate_pixels_mut() {
        let inside = (10..matrix.getWidth() + 10).contains(&x) && (10..matrix.getHeight() + 10).contains(&y);
        *pixel = image::Luma([if inside && matrix.get(x - 10, y - 10) { 0 } else { 255 }]);
    }
    let png = dir.join("ean.png");
    label.save(&png).unwrap();
    let out = dir.join("box-with-tumbler-barcode.mp4");
    let (clip, overlay) = (location(&asset("demo/clips/1-box.mp4")), location(&png));
    encode_h264_mp4(
        &[
            &["filesrc", &clip],
            &["decodebin"],
            &["videoconvert"],
            &["gdkpixbufoverlay", &overlay, "offset-x=20", "offset-y=340"],
        ],
        &out,
    );
    out
}

#[test]
fn a_catalog_barcode_in_view_wins_over_the_embedding() {
    let broker = Mosquitto::start();
    let store = demo_store();
    let clip = clip_with_barcode(store.path(), "6901234567892");
    let config = DaemonConfig::write(
        store.path(),
        "scan",
        &[clip],
        store.path(),
        &format!("url = \"mqtt://127.0.0.1:{}\"", broker.port),
        "",
    );
    let live = Subscriber::connect(broker.port, "cuebox/scan/product");
    let daemon = Daemon::start(&config.path);
    let scanned = live
        .wait_for(&config.topic("product"), WAIT, |m| m.json()["source"] == "barcode")
        .expect("the barcode is read");
    assert_eq!(
        scanned.json()["sku"],
        "TUMBLER-BLK-01",
        "the code on the frame names the tumbler, whatever the box looks like"
    );
    let later = live.collect(Duration::from_secs(3));
    assert!(
        later.iter().all(|m| m.json()["sku"] != "BISCUIT-BOX-01"),
        "vision does not take over while the code is read: {later:?}"
    );
    daemon.stop();
}

/// One frame of the box footage, held for 10 s and encoded: a scene that does not change.
fn still_clip(dir: &Path) -> PathBuf {
    let frame = dir.join("frame.png");
    let (clip, frame_file) = (location(&asset("demo/clips/1-box.mp4")), location(&frame));
    gst(&[
        &["filesrc", &clip],
        &["decodebin"],
        &["videoconvert"],
        &["pngenc", "snapshot=true"],
        &["filesink", &frame_file],
    ]);
    let out = dir.join("still.mp4");
    encode_h264_mp4(
        &[&["multifilesrc", &frame_file, "index=0", "stop-index=249", "caps=image/png,framerate=25/1"], &["pngdec"]],
        &out,
    );
    out
}

#[test]
fn a_still_scene_is_not_recognized_again_but_its_product_stays() {
    let broker = Mosquitto::start();
    let store = demo_store();
    let clip = still_clip(store.path());
    let config = DaemonConfig::write(
        store.path(),
        "still",
        &[clip],
        store.path(),
        &format!("url = \"mqtt://127.0.0.1:{}\"", broker.port),
        "",
    );
    let live = Subscriber::connect(broker.port, "cuebox/still/product");
    let daemon = Daemon::start(&config.path);
    live.wait_for(&config.topic("product"), WAIT, |m| m.json()["sku"] == "BISCUIT-BOX-01")
        .expect("the product is recognized");
    std::thread::sleep(Duration::from_secs(4));
    let (recognized, still) = (config.metric("frames_processed_total"), config.metric("frames_still_total"));
    eprintln!("still scene: {recognized} frames recognized, {still} skipped as unchanged");
    assert!(
        still > 3.0 * recognized,
        "most frames of a still scene are not recognized again ({recognized} vs {still})"
    );
    assert!(recognized >= 2.0, "it is still looked at now and then ({recognized})");
    assert!(live.collect(Duration::from_secs(1)).iter().all(|m| m.json()["sku"] == "BISCUIT-BOX-01"));
    daemon.stop();
}

#[test]
fn sighup_reloads_the_model_and_tuning_without_pausing_and_refuses_a_bad_configuration() {
    let broker = Mosquitto::start();
    let store = demo_store();
    let mqtt = format!("url = \"mqtt://127.0.0.1:{}\"", broker.port);
    let config = DaemonConfig::write(store.path(), "reload", &[asset("demo/clips/1-box.mp4")], store.path(), &mqtt, "");
    let log = store.path().join("daemon.log");
    let mut daemon = Daemon::start_logged(&config.path, &log);
    eventually("frames to be recognized", WAIT, || config.metric("frames_processed_total") > 5.0);

    let text = std::fs::read_to_string(&config.path).unwrap();
    std::fs::write(&config.path, format!("{text}client_id = \"renamed\"\n[vision]\nrate = 4\n")).unwrap();
    let mut samples = Vec::new();
    let started = Instant::now();
    daemon.hangup();
    while started.elapsed() < Duration::from_secs(4) {
        samples.push((started.elapsed(), config.metric("frames_processed_total")));
        std::thread::sleep(Duration::from_millis(100));
    }
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(log_text.contains("model reloaded"), "{log_text}");
    assert!(
        log_text.contains("these sections changed and apply after a restart") && log_text.contains("sections=mqtt"),
        "{log_text}"
    );
    let longest_pause = samples.windows(2).fold((Duration::ZERO, Duration::ZERO), |(pause, since), pair| {
        let since = if pair[1].1 > pair[0].1 { pair[1].0 } else { since };
        (pause.max(pair[1].0 - since), since)
    });
    eprintln!("reload: longest time without a recognized frame {} ms", longest_pause.0.as_millis());
    assert!(longest_pause.0 < Duration::from_millis(1200), "frames kept being recognized during the reload");

    std::fs::write(&config.path, "[vision]\nrate = \"fast\"\n").unwrap();
    daemon.hangup();
    eventually("the bad configuration to be refused", WAIT, || {
        std::fs::read_to_string(&log).unwrap().contains("configuration not reloaded")
    });
    let before = config.metric("frames_processed_total");
    eventually("recognition to go on", WAIT, || config.metric("frames_processed_total") > before);
    assert!(daemon.is_running());
    daemon.stop();
}
