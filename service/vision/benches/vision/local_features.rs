//! Local features: detecting a 640x480 frame and a reference cropped to its product, verifying
//! a reference against a frame that shows it and one that does not, and all the transfer set's
//! references against a frame; then the same steps on the same images in OpenCV with the same
//! settings (`bench/peer_orb.py`, from the project's .venv), medians side by side.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::Criterion;
use cuebox_vision::{Crop, FeatureOptions, LocalFeatures, RgbImage, load_image, product_bounds, verify};

use super::{PEER_RUNS, median_ms};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A frame with the tea tin held up in front of a photographed scene, the tin's first enrollment
/// photo, and another product's.
const FRAME: &str = "eval/transfer/frames/test/0001-product-TEA-LJ-250.jpg";
const REFERENCE: &str = "eval/transfer/enroll/TEA-LJ-250/1.jpg";
const OTHER_REFERENCE: &str = "eval/transfer/enroll/PET-DOG-CR15/1.jpg";

fn load(path: &str) -> RgbImage {
    let path = repo().join(path);
    assert!(path.exists(), "{} is missing: run `cargo xtask setup`", path.display());
    load_image(&path).unwrap()
}

/// A photo's features as enrollment takes them: cropped to the product, shrunk to 320 pixels.
fn reference_features(photo: &RgbImage) -> (Crop, LocalFeatures) {
    let view = photo.view().unwrap();
    let bounds = product_bounds(view).unwrap_or(view.full());
    (bounds, LocalFeatures::detect(view, bounds, &FeatureOptions::REFERENCE).unwrap())
}

pub fn local_features(c: &mut Criterion) {
    let (frame, photo) = (load(FRAME), load(REFERENCE));
    let (view, photo_view) = (frame.view().unwrap(), photo.view().unwrap());
    let (bounds, reference) = reference_features(&photo);
    let detect_frame = || LocalFeatures::detect(view, view.full(), &FeatureOptions::FRAME).unwrap();
    let detect_reference = || LocalFeatures::detect(photo_view, bounds, &FeatureOptions::REFERENCE).unwrap();
    let query = detect_frame();
    let (_, other) = reference_features(&load(OTHER_REFERENCE));
    assert!(verify(&reference, &query).is_some(), "the tin is in the frame");
    assert!(verify(&other, &query).is_none(), "the dog food is not in the frame");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join("eval/transfer/manifest.json")).unwrap()).unwrap();
    let gallery: Vec<LocalFeatures> = manifest["enrollment"]
        .as_array()
        .unwrap()
        .iter()
        .map(|photo| reference_features(&load(&format!("eval/transfer/{}", photo["path"].as_str().unwrap()))).1)
        .collect();

    let mut group = c.benchmark_group("local features");
    group.sample_size(50).measurement_time(Duration::from_secs(8));
    group.bench_function("detect a 640x480 frame (1000 features)", |b| b.iter(detect_frame));
    group.bench_function("detect a reference (product crop shrunk to 320 px)", |b| b.iter(detect_reference));
    group.bench_function("verify a reference against a frame showing it", |b| {
        b.iter(|| verify(black_box(&reference), black_box(&query)))
    });
    group.bench_function("verify a reference against a frame without it", |b| {
        b.iter(|| verify(black_box(&other), black_box(&query)))
    });
    group.bench_function(format!("verify all {} references of the transfer set against a frame", gallery.len()), |b| {
        b.iter(|| gallery.iter().filter(|reference| verify(reference, black_box(&query)).is_some()).count())
    });
    group.bench_function("product bounds of an 800x600 enrollment photo", |b| {
        b.iter(|| product_bounds(black_box(photo_view)))
    });
    group.finish();

    let ours = [
        timed(|| drop(black_box(detect_frame()))),
        timed(|| drop(black_box(detect_reference()))),
        timed(|| {
            black_box(verify(&reference, &query));
        }),
    ];
    let counts = (query.len(), reference.len(), verify(&reference, &query).map_or(0, |found| found.inliers));
    compare_with_opencv(bounds, ours, counts);
}

/// Runs the OpenCV peer on the same images and prints its medians next to `ours` (detect the
/// frame, detect the reference, verify), with `counts` (frame and reference keypoints, inliers).
fn compare_with_opencv(bounds: Crop, ours: [f64; 3], counts: (usize, usize, usize)) {
    let python = repo().join(".venv/bin/python");
    assert!(python.exists(), "{} is missing: run `cargo xtask setup`", python.display());
    let output = Command::new(&python)
        .arg(repo().join("bench/peer_orb.py"))
        .arg(repo().join(FRAME))
        .arg(repo().join(REFERENCE))
        .args([bounds.x, bounds.y, bounds.width, bounds.height].map(|v| v.to_string()))
        .arg(PEER_RUNS.to_string())
        .output()
        .expect("the OpenCV peer runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let peer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    println!(
        "local features against OpenCV {} (medians of {PEER_RUNS} runs, one thread; keypoints {}/{} here, {}/{} there; inliers {} here, {} there):",
        peer["opencv"].as_str().unwrap_or("?"),
        counts.0,
        counts.1,
        peer["frame_keypoints"],
        peer["reference_keypoints"],
        counts.2,
        peer["inliers"]
    );
    for (step, key, ours) in [
        ("detect the frame", "detect_frame_ms", ours[0]),
        ("detect the reference", "detect_reference_ms", ours[1]),
        ("verify", "verify_ms", ours[2]),
    ] {
        let theirs = peer[key].as_f64().unwrap();
        println!("  {step:<22} cuebox {ours:7.3} ms  OpenCV {theirs:7.3} ms  ratio {:.2}", ours / theirs);
    }
}

/// The median of `PEER_RUNS` runs of `step`, in milliseconds.
fn timed(mut step: impl FnMut()) -> f64 {
    median_ms((0..PEER_RUNS).map(|_| {
        let started = Instant::now();
        step();
        started.elapsed().as_secs_f64() * 1e3
    }))
}
