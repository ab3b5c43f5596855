//! The vision crate's cost on this machine.
//!
//! - The embedder: loading and optimising the model, turning a frame's centred square into the
//!   model input, and embedding it (preprocessing included) or running both heads. The frame is
//!   a real photo, opencv-doc's `box_in_scene.png` (512x384).
//! - Reading text: loading the three OCR models, the detector on a 640x480 frame and on a
//!   320x320 crop, the recogniser on one line, and whole reads. The frame is opencv-doc's
//!   `left.jpg` (two books, 612x459, scaled to 640x480), the line one of the packaging fixture's.
//!   Then the same model inputs are timed in tract and in onnxruntime (models/onnxruntime_peer.py,
//!   one thread each) side by side, and the ratio printed.
//! - Local features (`vision/local_features.rs`): detecting a 640x480 frame and a reference
//!   cropped to its product, verifying references against a frame, on the transfer set's images;
//!   then the same steps in OpenCV (bench/peer_orb.py) side by side.
//!
//! `cargo bench -p cuebox-vision --bench vision` (the models, the .venv and the evaluation sets
//! come from `cargo xtask setup`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "benchmark code: a failed unwrap, expect or index stops the benchmark"
)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use cuebox_vision::{
    Crop, DETECTOR_FILE, Embedder, INPUT_SIZE, ModelInput, OcrModel, RECOGNISER_FILE, TextReader, TextReaderConfig,
    load_image,
};

const PHOTO: &str = "/usr/share/doc/opencv-doc/examples/data/box_in_scene.png";

fn model_path() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/efficientnet-lite0.onnx");
    assert!(path.exists(), "{} is missing: run `cargo xtask setup`", path.display());
    path
}

fn embedder(c: &mut Criterion) {
    let path = model_path();
    let frame = load_image(Path::new(PHOTO)).expect("opencv-doc's box_in_scene.png (Debian opencv-doc)");
    let view = frame.view().unwrap();
    let crop = view.center_square();

    let mut group = c.benchmark_group("embedder");
    group.sample_size(20).measurement_time(Duration::from_secs(10));
    group.bench_function("load and optimise", |b| b.iter(|| Embedder::load(black_box(&path)).unwrap()));
    group.finish();

    let embedder = Embedder::load(&path).unwrap();
    let mut group = c.benchmark_group("embedder");
    group.sample_size(100).measurement_time(Duration::from_secs(10));
    group.bench_function("resample 384x384 to the 224x224 input", |b| {
        let mut input = vec![0f32; 3 * INPUT_SIZE * INPUT_SIZE];
        b.iter(|| view.resample_normalized(black_box(crop), INPUT_SIZE, 127.0, 128.0, &mut input).unwrap())
    });
    group.bench_function("embed (resample and embedding head)", |b| {
        b.iter(|| embedder.embed(view, black_box(crop)).unwrap())
    });
    group.bench_function("infer (resample, embedding and ImageNet heads)", |b| {
        b.iter(|| embedder.infer(view, black_box(crop)).unwrap())
    });
    group.finish();
}

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models")
}

fn ocr(c: &mut Criterion) {
    let models = models_dir();
    let frame = load_image(Path::new(BOOKS)).expect("opencv-doc's left.jpg (Debian opencv-doc)");
    let view = frame.view().unwrap();
    let fixture = load_image(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/packaging.png")).unwrap();
    let line_view = fixture.view().unwrap();

    let mut group = c.benchmark_group("ocr");
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    group.bench_function("load the three models", |b| b.iter(|| TextReader::load(black_box(&models)).unwrap()));
    group.finish();

    let reader = TextReader::load(&models).unwrap();
    let unenlarged = reader.with_config(TextReaderConfig { max_upscale: 1.0, ..Default::default() }).unwrap();
    let frame_input = reader.detection_input(view, view.full()).unwrap();
    let crop_input = unenlarged.detection_input(view, BOOKS_CROP).unwrap();
    let line_input = reader.line_input(line_view, JASMINE_LINE).unwrap();
    let mut group = c.benchmark_group("ocr");
    group.sample_size(20).measurement_time(Duration::from_secs(15));
    group.bench_function("detector, 640x480 frame", |b| {
        b.iter(|| reader.infer(OcrModel::Detector, black_box(&frame_input)).unwrap())
    });
    group.bench_function("detector, 320x320 crop", |b| {
        b.iter(|| reader.infer(OcrModel::Detector, black_box(&crop_input)).unwrap())
    });
    let line_name = format!("recogniser, one {}x{} line", line_input.shape[2], line_input.shape[3]);
    group
        .bench_function(&line_name, |b| b.iter(|| reader.infer(OcrModel::Recogniser, black_box(&line_input)).unwrap()));
    group.bench_function("read one line (input, recogniser, decoding)", |b| {
        b.iter(|| reader.read_line(line_view, black_box(JASMINE_LINE)).unwrap())
    });
    group.bench_function("read a 320x320 crop (enlarged to 640x640)", |b| {
        b.iter(|| reader.read(view, black_box(BOOKS_CROP)).unwrap())
    });
    group.bench_function("read a 320x320 crop (not enlarged)", |b| {
        b.iter(|| unenlarged.read(view, black_box(BOOKS_CROP)).unwrap())
    });
    group.bench_function("read the 640x480 frame", |b| b.iter(|| reader.read(view, black_box(view.full())).unwrap()));
    group.finish();

    for (name, model, file, input) in [
        ("detector, 640x480 frame", OcrModel::Detector, DETECTOR_FILE, &frame_input),
        ("detector, 320x320 crop", OcrModel::Detector, DETECTOR_FILE, &crop_input),
        (line_name.as_str(), OcrModel::Recogniser, RECOGNISER_FILE, &line_input),
    ] {
        let tract = median_ms((0..PEER_RUNS).map(|_| {
            let started = Instant::now();
            reader.infer(model, input).unwrap();
            started.elapsed().as_secs_f64() * 1e3
        }));
        match onnxruntime_ms(&models.join(file), input) {
            Ok(peer) => println!(
                "ocr/{name}: tract {tract:.1} ms, onnxruntime {peer:.1} ms (medians of {PEER_RUNS}): {:.2}x",
                tract / peer
            ),
            Err(error) => println!("ocr/{name}: tract {tract:.1} ms; onnxruntime not timed: {error}"),
        }
    }
}

/// opencv-doc's left.jpg: two books on a floor.
const BOOKS: &str = "/usr/share/doc/opencv-doc/examples/data/left.jpg";
/// The cover of "Basic Electronics" in left.jpg.
const BOOKS_CROP: Crop = Crop { x: 200, y: 60, width: 320, height: 320 };
/// "Jasmine Green Tea" on the packaging fixture.
const JASMINE_LINE: Crop = Crop { x: 34, y: 215, width: 260, height: 33 };
const PEER_RUNS: usize = 30;

fn median_ms(times: impl Iterator<Item = f64>) -> f64 {
    let mut times: Vec<f64> = times.collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// The median time of onnxruntime running `model` on `input`, one thread.
fn onnxruntime_ms(model: &Path, input: &ModelInput) -> Result<f64, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = std::env::temp_dir().join(format!("cuebox-ocr-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let raw = dir.join("input.f32");
    std::fs::write(&raw, input.values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>())
        .map_err(|e| e.to_string())?;
    let output = Command::new(root.join(".venv/bin/python"))
        .arg(root.join("models/onnxruntime_peer.py"))
        .arg(model)
        .arg(&raw)
        .args(["1", "--shape", &input.shape.map(|d| d.to_string()).join(","), "--runs", &PEER_RUNS.to_string()])
        .output()
        .map_err(|e| e.to_string());
    let _ = std::fs::remove_dir_all(&dir);
    let output = output?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let peer: serde_json::Value = serde_json::from_slice(&output.stdout).map_err(|e| e.to_string())?;
    let times = peer["ms"].as_array().ok_or("no times")?.iter().filter_map(serde_json::Value::as_f64);
    Ok(median_ms(times))
}

#[path = "vision/local_features.rs"]
mod local_features;

criterion_group!(benches, embedder, ocr, local_features::local_features);
criterion_main!(benches);
