//! The vision crate on the real model (made by `cargo xtask setup`) and real photos.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed unwrap, expect or index fails the test"
)]

use std::path::{Path, PathBuf};
use std::process::Command;

use cuebox_vision::{Embedder, INPUT_SIZE, load_image};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).expect("repository root").to_owned()
}

fn model() -> Embedder {
    let path = repo().join("models/efficientnet-lite0.onnx");
    assert!(path.exists(), "{} is missing: run `cargo xtask setup`", path.display());
    Embedder::load(&path).expect("the model loads")
}

fn photo(name: &str) -> PathBuf {
    let path = Path::new("/usr/share/doc/opencv-doc/examples/data").join(name);
    assert!(path.exists(), "{} is missing: run `cargo xtask setup` (Debian package opencv-doc)", path.display());
    path
}

/// ImageNet-1k indices: the converted weights must put each photo in its class.
#[test]
fn real_weights_classify_real_photos_into_their_imagenet_class() {
    let embedder = model();
    for (name, class, label) in [
        ("apple.jpg", 948, "Granny Smith"),
        ("orange.jpg", 950, "orange"),
        ("squirrel_cls.jpg", 335, "fox squirrel"),
        ("baboon.jpg", 372, "baboon"),
        ("messi5.jpg", 805, "soccer ball"),
    ] {
        let image = load_image(&photo(name)).unwrap();
        let view = image.view().unwrap();
        let logits = embedder.infer(view, view.center_square()).unwrap().logits;
        let best = (0..logits.len()).max_by(|&a, &b| logits[a].total_cmp(&logits[b])).unwrap();
        assert_eq!(best, class, "{name} should be class {class} ({label}), got {best}");
    }
}

/// tract and onnxruntime run the same model on the same input and agree.
#[test]
fn tract_agrees_with_onnxruntime() {
    let python = repo().join(".venv/bin/python");
    assert!(python.exists(), "{} is missing: run `cargo xtask setup`", python.display());
    let embedder = model();
    let image = load_image(&photo("orange.jpg")).unwrap();
    let view = image.view().unwrap();
    let mut input = vec![0f32; 3 * INPUT_SIZE * INPUT_SIZE];
    view.resample_normalized(view.center_square(), INPUT_SIZE, 127.0, 128.0, &mut input).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("input.f32");
    std::fs::write(&raw, input.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
    let output = Command::new(&python)
        .arg(repo().join("models/onnxruntime_peer.py"))
        .arg(repo().join("models/efficientnet-lite0.onnx"))
        .arg(&raw)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let peer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let ours = embedder.infer(view, view.center_square()).unwrap();
    let peer_logits: Vec<f32> = peer["logits"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
    let peer_embedding: Vec<f32> =
        peer["embedding"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
    let max_diff = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    assert!(max_diff(&ours.logits, &peer_logits) < 1e-3, "logits differ by {}", max_diff(&ours.logits, &peer_logits));
    let norm = peer_embedding.iter().map(|v| v * v).sum::<f32>().sqrt();
    let peer_normalized: Vec<f32> = peer_embedding.iter().map(|v| v / norm).collect();
    let diff = max_diff(ours.embedding.as_slice(), &peer_normalized);
    eprintln!(
        "tract vs onnxruntime: logits max |diff| {:.2e}, normalised embedding max |diff| {diff:.2e}",
        max_diff(&ours.logits, &peer_logits)
    );
    assert!(diff < 1e-5, "normalised embeddings differ by {diff}");
}

#[test]
fn a_file_that_is_not_a_model_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("model.onnx");
    std::fs::write(&fake, b"not a model").unwrap();
    let error = Embedder::load(&fake).err().expect("loading fails").to_string();
    assert!(error.contains("model.onnx"), "{error}");
}

use cuebox_vision::{DEFAULT_MIN_PALM_SCORE, PALM_INPUT_SIZE, PalmDetector, RgbImage};

fn palm_detector() -> PalmDetector {
    let path = repo().join("models/palm-detection-lite.onnx");
    assert!(path.exists(), "{} is missing: run `cargo xtask setup`", path.display());
    PalmDetector::load(&path).expect("the palm detector loads")
}

/// Frames of a demo clip (`cargo xtask setup` cuts the clips), decoded by GStreamer's own tool.
fn clip_frames(clip: &str, numbers: &[usize]) -> Vec<RgbImage> {
    let path = repo().join("demo/clips").join(clip);
    assert!(path.exists(), "{} is missing: run `cargo xtask setup`", path.display());
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("gst-launch-1.0")
        .args(["-q", "filesrc", &format!("location={}", path.display()), "!", "decodebin", "!", "videoconvert"])
        .args(["!", "jpegenc", "quality=95", "!", "multifilesink"])
        .arg(format!("location={}/%05d.jpg", dir.path().display()))
        .status()
        .expect("gst-launch-1.0 runs (Debian package gstreamer1.0-tools)");
    assert!(status.success(), "decoding {clip} failed");
    numbers.iter().map(|n| load_image(&dir.path().join(format!("{n:05}.jpg"))).unwrap()).collect()
}

/// The host's hand is found where it is in the demo footage, and no hand in photos without one.
#[test]
fn palm_detector_finds_the_hand_holding_the_product_and_none_elsewhere() {
    let detector = palm_detector();
    // Frame, then the palm's centre and side in pixels as seen on the frame (640x480).
    let cup: &[(usize, (f32, f32), f32)] = &[
        (0, (330.0, 230.0), 114.0),
        (25, (324.0, 224.0), 104.0),
        (50, (549.0, 247.0), 122.0),
        (75, (518.0, 246.0), 89.0),
        (100, (430.0, 238.0), 87.0),
        (150, (474.0, 217.0), 140.0),
    ];
    let gift_box: &[(usize, (f32, f32), f32)] =
        &[(0, (295.0, 55.0), 70.0), (150, (261.0, 87.0), 73.0), (300, (292.0, 127.0), 66.0)];
    for (clip, frames) in [("2-cup.mp4", cup), ("1-box.mp4", gift_box)] {
        let numbers: Vec<usize> = frames.iter().map(|&(number, _, _)| number).collect();
        for (image, &(number, (x, y), side)) in clip_frames(clip, &numbers).iter().zip(frames) {
            let palms = detector.detect(image.view().unwrap(), DEFAULT_MIN_PALM_SCORE).unwrap();
            let best = palms.first().unwrap_or_else(|| panic!("{clip} frame {number}: no palm found"));
            let center = best.bounds.center();
            let off = ((center.x - x).powi(2) + (center.y - y).powi(2)).sqrt();
            assert!(off < 0.2 * side, "{clip} frame {number}: palm at {center:?}, expected near ({x}, {y})");
            assert!((best.bounds.width() / side - 1.0).abs() < 0.25, "{clip} frame {number}: {:?}", best.bounds);
            assert!((best.bounds.height() / side - 1.0).abs() < 0.25, "{clip} frame {number}: {:?}", best.bounds);
            assert!(best.score >= DEFAULT_MIN_PALM_SCORE && best.score <= 1.0, "{clip} frame {number}: {}", best.score);
            let crop = best.crop_within(image.width, image.height).expect("the palm is inside the frame");
            assert!(crop.x + crop.width <= image.width && crop.y + crop.height <= image.height, "{crop:?}");
        }
    }
    for name in ["box_in_scene.png", "home.jpg"] {
        let image = load_image(&photo(name)).unwrap();
        let palms = detector.detect(image.view().unwrap(), DEFAULT_MIN_PALM_SCORE).unwrap();
        assert!(palms.is_empty(), "{name} shows no hand, found {palms:?}");
    }
}

/// tract and onnxruntime run the palm detector on the same letterboxed frame and agree.
#[test]
fn palm_detector_tract_agrees_with_onnxruntime() {
    let python = repo().join(".venv/bin/python");
    assert!(python.exists(), "{} is missing: run `cargo xtask setup`", python.display());
    let detector = palm_detector();
    let frame = clip_frames("2-cup.mp4", &[50]).remove(0);
    let input = PalmDetector::input(frame.view().unwrap());
    assert_eq!(input.len(), 3 * PALM_INPUT_SIZE * PALM_INPUT_SIZE);
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("input.f32");
    std::fs::write(&raw, input.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
    let output = Command::new(&python)
        .arg(repo().join("models/onnxruntime_peer.py"))
        .arg(repo().join("models/palm-detection-lite.onnx"))
        .arg(&raw)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let peer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let values = |name: &str| -> Vec<f32> {
        peer[name].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect()
    };
    let ours = detector.infer(&input).unwrap();
    let max_diff = |a: &[f32], b: &[f32]| {
        assert_eq!(a.len(), b.len());
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max)
    };
    let regressors = max_diff(&ours.regressors, &values("regressors"));
    let logits = max_diff(&ours.logits, &values("logits"));
    eprintln!("palm detector, tract vs onnxruntime: regressors max |diff| {regressors:.2e}, logits {logits:.2e}");
    assert!(regressors < 2e-3, "regressors (input pixels) differ by {regressors}");
    assert!(logits < 2e-4, "logits differ by {logits}");
    assert!(ours.logits.iter().any(|&l| l > 0.0), "the frame's hand scores above 0.5 on some anchor");
}

mod barcodes {
    use cuebox_vision::{BarcodeReader, RgbView, load_image};
    use rxing::{BarcodeFormat, Writer};

    /// A real photo of book barcodes from opencv-doc's barcode tutorial.
    #[test]
    fn an_isbn_barcode_in_a_real_photo_is_read() {
        let photo = std::path::Path::new("/usr/share/doc/opencv-doc/opencv4/html/4_barcodes.jpg");
        assert!(photo.exists(), "run `cargo xtask setup` (Debian package opencv-doc)");
        let image = load_image(photo).unwrap();
        let code = BarcodeReader.read(image.view().unwrap()).unwrap().expect("a code is read");
        assert_eq!(code.format, "EAN_13");
        assert!(["9787564350840", "9783319200064"].contains(&code.text.as_str()), "{code:?}");
    }

    /// A generated code pasted, scaled, into a real demo frame (the cookie box clip).
    fn frame_with_code(format: BarcodeFormat, contents: &str, size: (i32, i32)) -> (u32, u32, Vec<u8>) {
        let frame = super::photo_frame();
        let (width, height) = (frame.width, frame.height);
        let mut rgb = frame.data;
        let matrix = rxing::MultiFormatWriter.encode(contents, &format, size.0, size.1).unwrap();
        let (left, top) = (width as usize / 3, height as usize / 4);
        for y in 0..matrix.getHeight() as usize {
            for x in 0..matrix.getWidth() as usize {
                let value = if matrix.get(x as u32, y as u32) { 10 } else { 245 };
                let at = ((top + y) * width as usize + left + x) * 3;
                rgb[at..at + 3].copy_from_slice(&[value; 3]);
            }
        }
        (width, height, rgb)
    }

    #[test]
    fn ean_13_and_qr_codes_in_a_camera_frame_are_read_and_a_frame_without_none() {
        for (format, contents, size, expected) in [
            (BarcodeFormat::EAN_13, "6901234567892", (220, 90), "EAN_13"),
            (BarcodeFormat::QR_CODE, "https://shop.example/p/TEA-001", (150, 150), "QR_CODE"),
        ] {
            let (width, height, rgb) = frame_with_code(format, contents, size);
            let code = BarcodeReader.read(RgbView::new(width, height, &rgb).unwrap()).unwrap();
            assert_eq!(code.map(|c| (c.format, c.text)), Some((expected.to_owned(), contents.to_owned())));
        }
        let frame = super::photo_frame();
        assert_eq!(BarcodeReader.read(frame.view().unwrap()).unwrap(), None);
    }
}

/// A frame of the demo footage (a hand holding the cookie box), decoded by GStreamer.
fn photo_frame() -> cuebox_vision::RgbImage {
    let clip = repo().join("demo/clips/1-box.mp4");
    assert!(clip.exists(), "{} is missing: run `cargo xtask setup`", clip.display());
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("frame.png");
    let status = Command::new("gst-launch-1.0")
        .args(["-q", "filesrc"])
        .arg(format!("location={}", clip.display()))
        .args(["!", "decodebin", "!", "videoconvert", "!", "pngenc", "snapshot=true", "!", "filesink"])
        .arg(format!("location={}", out.display()))
        .status()
        .unwrap();
    assert!(status.success());
    load_image(&out).unwrap()
}

#[path = "vision/evaluation.rs"]
mod evaluation;

#[path = "vision/ocr.rs"]
mod ocr;

#[path = "vision/local_features.rs"]
mod local_features;

#[path = "vision/showing.rs"]
mod showing;
