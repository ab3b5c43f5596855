//! The embedder's cost on this machine: loading and optimising the model, turning a frame's
//! centred square into the model input, and embedding it (preprocessing included) or running
//! both heads. The frame is a real photo, opencv-doc's `box_in_scene.png` (512x384).
//!
//! `cargo bench -p cuebox-vision --bench vision` (the model comes from `cargo xtask setup`).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use cuebox_vision::{Embedder, INPUT_SIZE, load_image};

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

criterion_group!(benches, embedder);
criterion_main!(benches);
