//! The vision crate on the real model (made by `cargo xtask setup`) and real photos.

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
    let peer_embedding: Vec<f32> = peer["embedding"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
    let max_diff = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    assert!(max_diff(&ours.logits, &peer_logits) < 1e-3, "logits differ by {}", max_diff(&ours.logits, &peer_logits));
    let norm = peer_embedding.iter().map(|v| v * v).sum::<f32>().sqrt();
    let peer_normalized: Vec<f32> = peer_embedding.iter().map(|v| v / norm).collect();
    let diff = max_diff(ours.embedding.as_slice(), &peer_normalized);
    eprintln!("tract vs onnxruntime: logits max |diff| {:.2e}, normalised embedding max |diff| {diff:.2e}", max_diff(&ours.logits, &peer_logits));
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
