//! Reading printed text (`TextReader`, the PP-OCRv6 models of `cargo xtask setup`) on real
//! images and the committed packaging fixture (`tests/data/render_packaging.py`), against
//! onnxruntime and rapidocr's own pipeline; and naming products from what was read (`TextIndex`).

use std::path::{Path, PathBuf};
use std::process::Command;

use cuebox_vision::{
    Crop, ModelInput, OcrModel, RgbImage, TextIndex, TextLine, TextReader, TextReaderConfig, TextRule, TextSource,
    VisionError, load_image,
};

/// What the fixture prints, top to bottom.
const PACKAGING: &[&str] = &[
    "山岚茶舍",
    "SHANLAN TEA HOUSE",
    "茉莉花茶",
    "新品 NEW",
    "Jasmine Green Tea",
    "净含量 250g NET WT 8.8 OZ",
    "6901234567892",
];

/// The page of opencv-doc's imageTextN.png and imageTextR.png (the same page, turned).
const PAGE: &[&str] = &[
    "technical details are too complex to cover in the book itself.",
    "In teaching our courses, we have found it useful for the students to attempt a number of",
    "small implementation projects, which often build on one another, in order to get them used to",
    "working with real-world images and the challenges that these present. The students are then",
    "asked to choose an individual topic for each of their small-group, final projects. (Sometimes",
    "these projects even turn into conference papers!) The exercises at the end of each chapter",
    "contain numerous suggestions for smaller mid-term projects, as well as more open-ended",
    "problems whose solutions are still active research topics. Wherever possible, I encourage",
    "students to try their algorithms on their own personal photographs, since this better motivates",
    "them, often leads to creative variants on the problems, and better acquaints them with the",
    "variety and complexity of real-world imagery.",
    "In formulating and solving computer vision problems, I have often found it useful to draw",
    "inspiration from three high-level approaches:",
];

fn models() -> PathBuf {
    super::repo().join("models")
}

fn reader() -> TextReader {
    TextReader::load(&models()).expect("the OCR models load (run `cargo xtask setup`)")
}

/// A reader that takes a whole page: every line, at full width.
fn page_reader(reader: &TextReader) -> TextReader {
    reader.with_config(TextReaderConfig { max_lines: 20, max_line_width: 1600, ..Default::default() }).unwrap()
}

fn fixture() -> RgbImage {
    load_image(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/packaging.png")).unwrap()
}

fn read(reader: &TextReader, image: &RgbImage) -> Vec<TextLine> {
    let view = image.view().unwrap();
    reader.read(view, view.full()).unwrap().lines
}

fn half_turn(image: &RgbImage) -> RgbImage {
    let data = image.data.chunks_exact(3).rev().flatten().copied().collect();
    RgbImage { width: image.width, height: image.height, data }
}

/// The character error rate of `read` against `truth`: edits over the truth's length.
fn error_rate(read: &str, truth: &str) -> f64 {
    let (a, b): (Vec<char>, Vec<char>) = (read.chars().collect(), truth.chars().collect());
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            current[j + 1] = (previous[j] + usize::from(ca != cb)).min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()] as f64 / b.len().max(1) as f64
}

/// For each expected line, the best error rate of any line read.
fn error_rates(lines: &[TextLine], expected: &[&str]) -> Vec<f64> {
    expected.iter().map(|truth| lines.iter().map(|l| error_rate(&l.text, truth)).fold(1.0, f64::min)).collect()
}

fn texts(lines: &[TextLine]) -> Vec<String> {
    lines.iter().map(|l| format!("{} ({:.3})", l.text, l.confidence)).collect()
}

#[test]
fn packaging_text_in_chinese_and_english_is_read_where_it_is_printed() {
    let lines = read(&reader(), &fixture());
    eprintln!("packaging fixture: {:?}", texts(&lines));
    let rates = error_rates(&lines, PACKAGING);
    for (truth, rate) in PACKAGING.iter().zip(&rates) {
        assert!(*rate <= 0.1, "{truth:?} read with error rate {rate:.2}: {:?}", texts(&lines));
    }
    let order: Vec<usize> =
        lines.iter().filter_map(|l| PACKAGING.iter().position(|truth| error_rate(&l.text, truth) <= 0.1)).collect();
    assert_eq!(order, [0, 1, 2, 3, 4, 5, 6], "lines come in reading order");
    let sticker = lines.iter().find(|l| error_rate(&l.text, "新品 NEW") <= 0.1).unwrap();
    let [top_left, top_right, _, _] = sticker.corners;
    let slope = (top_right.y - top_left.y) / (top_right.x - top_left.x);
    assert!((slope + 12f32.to_radians().tan()).abs() < 0.05, "the sticker is printed at 12 degrees: {slope}");
    let code = lines.iter().find(|l| l.text == "6901234567892").expect("the barcode number is read exactly");
    let centre = code.corners.iter().fold((0.0, 0.0), |(x, y), p| (x + p.x / 4.0, y + p.y / 4.0));
    assert!((centre.0 - 120.0).abs() < 15.0 && (centre.1 - 329.0).abs() < 10.0, "{centre:?}");
}

#[test]
fn an_upside_down_image_reads_the_same_through_the_orientation_classifier() {
    let reader = reader();
    for (name, image, expected) in [
        ("packaging fixture", fixture(), PACKAGING),
        ("biscuit box", load_image(&super::photo("box.png")).unwrap(), &["Crisp Almond Cookies", "PAN DUCALE"][..]),
    ] {
        let upright = read(&reader, &image);
        let turned = read(&reader, &half_turn(&image));
        eprintln!("{name} upright: {:?}\n{name} upside down: {:?}", texts(&upright), texts(&turned));
        for (lines, how) in [(&upright, "upright"), (&turned, "upside down")] {
            for (truth, rate) in expected.iter().zip(error_rates(lines, expected)) {
                assert!(rate <= 0.1, "{name} {how}: {truth:?} read with error rate {rate:.2}");
            }
        }
    }
}

#[test]
fn printed_pages_straight_and_turned_are_read_line_by_line() {
    let reader = page_reader(&reader());
    for name in ["imageTextN.png", "imageTextR.png"] {
        let lines = read(&reader, &load_image(&super::photo(name)).unwrap());
        let rates = error_rates(&lines, PAGE);
        let mean = rates.iter().sum::<f64>() / rates.len() as f64;
        eprintln!(
            "{name}: {} lines, mean error rate {mean:.4}, worst {:.3}",
            lines.len(),
            rates.iter().fold(0.0, |a: f64, b| a.max(*b))
        );
        assert_eq!(lines.len(), PAGE.len(), "{name}: {:?}", texts(&lines));
        assert!(mean <= 0.02, "{name}: mean character error rate {mean:.3}");
        assert!(rates.iter().all(|r| *r <= 0.1), "{name}: {rates:?}");
    }
}

/// Photos without text: at most a stray mark read as one character, never with confidence.
#[test]
fn photos_without_text_read_nothing_confident() {
    let reader = reader();
    for name in
        ["orange.jpg", "apple.jpg", "baboon.jpg", "fruits.jpg", "HappyFish.jpg", "squirrel_cls.jpg", "butterfly.jpg"]
    {
        let lines = read(&reader, &load_image(&super::photo(name)).unwrap());
        eprintln!("{name}: {:?}", texts(&lines));
        for line in &lines {
            assert!(line.text.chars().count() == 1 && line.confidence < 0.9, "{name}: {:?}", texts(&lines));
        }
    }
}

/// Runs `model` in onnxruntime (models/onnxruntime_peer.py) on `input`; its one output.
fn onnxruntime(model: &str, input: &ModelInput) -> Vec<f32> {
    let python = super::repo().join(".venv/bin/python");
    assert!(python.exists(), "{} is missing: run `cargo xtask setup`", python.display());
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("input.f32");
    std::fs::write(&raw, input.values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
    let shape = input.shape.map(|d| d.to_string()).join(",");
    let output = Command::new(&python)
        .arg(super::repo().join("models/onnxruntime_peer.py"))
        .arg(models().join(model))
        .arg(&raw)
        .args(["--shape", &shape])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let peer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let outputs = peer.as_object().unwrap();
    assert_eq!(outputs.len(), 1, "{model} has one output");
    outputs.values().next().unwrap().as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect()
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// tract and onnxruntime run each model on the same input tensors and agree.
#[test]
fn tract_agrees_with_onnxruntime_on_the_same_inputs() {
    let reader = reader();
    let image = fixture();
    let view = image.view().unwrap();
    let detection = reader.detection_input(view, view.full()).unwrap();
    let ours = reader.infer(OcrModel::Detector, &detection).unwrap();
    let peer = onnxruntime(cuebox_vision::DETECTOR_FILE, &detection);
    let map = max_difference(&ours, &peer);
    let text = |map: &[f32]| map.iter().filter(|&&p| p > 0.3).count();
    eprintln!("detector {:?}: max |diff| {map:.2e}, text pixels {} vs {}", detection.shape, text(&ours), text(&peer));
    assert!(map < 1e-3, "probability maps differ by {map}");
    assert!(text(&ours) > 1000, "the fixture's text is found");
    // "Jasmine Green Tea", cut as its own line.
    let line = reader.line_input(view, Crop { x: 34, y: 215, width: 260, height: 33 }).unwrap();
    let ours = reader.infer(OcrModel::Recogniser, &line).unwrap();
    let peer = onnxruntime(cuebox_vision::RECOGNISER_FILE, &line);
    let classes = ours.len() / (line.shape[3] / 8);
    let argmax = |p: &[f32]| -> Vec<usize> {
        p.chunks(classes).map(|s| (0..classes).max_by(|&a, &b| s[a].total_cmp(&s[b])).unwrap()).collect()
    };
    let steps = max_difference(&ours, &peer);
    eprintln!("recogniser {:?}: {classes} classes, max |diff| {steps:.2e}", line.shape);
    assert!(steps < 1e-3, "character probabilities differ by {steps}");
    assert_eq!(argmax(&ours), argmax(&peer), "the same character wins at every step");
    assert_eq!(reader.read_line(view, Crop { x: 34, y: 215, width: 260, height: 33 }).unwrap().0, "Jasmine Green Tea");
    let orientation = ModelInput {
        shape: [1, 3, 48, 192],
        values: line.values.chunks(line.shape[3]).flat_map(|row| &row[..192]).copied().collect(),
    };
    let ours = reader.infer(OcrModel::Classifier, &orientation).unwrap();
    let peer = onnxruntime(cuebox_vision::CLASSIFIER_FILE, &orientation);
    eprintln!("classifier: {ours:?} vs {peer:?}");
    assert!(max_difference(&ours, &peer) < 1e-4 && ours[0] > 0.9, "upright: {ours:?} vs {peer:?}");
}

/// Cuebox's reading against rapidocr's own Python pipeline (models/rapidocr_peer.py) with the
/// same model files, both detecting at the image's own scale: the lines rapidocr reads with
/// confidence are read alike.
#[test]
fn the_reading_agrees_with_rapidocr() {
    let python = super::repo().join(".venv/bin/python");
    let reader = reader()
        .with_config(TextReaderConfig { max_upscale: 1.0, max_lines: 20, max_line_width: 4096, ..Default::default() })
        .unwrap();
    let fixture_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/packaging.png");
    let (mut compared, mut alike, mut total_rate) = (0usize, 0usize, 0.0);
    for path in [fixture_path, super::photo("imageTextN.png"), super::photo("imageTextR.png"), super::photo("box.png")]
    {
        let output = Command::new(&python)
            .arg(super::repo().join("models/rapidocr_peer.py"))
            .arg(models())
            .arg(&path)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let peer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let image = load_image(&path).unwrap();
        let view = image.view().unwrap();
        let reading = reader.read(view, view.full()).unwrap();
        let confident: Vec<&str> = peer["lines"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["score"].as_f64().unwrap() >= 0.9)
            .map(|l| l["text"].as_str().unwrap())
            .collect();
        let rates = error_rates(&reading.lines, &confident);
        compared += rates.len();
        alike += rates.iter().filter(|r| **r <= 0.1).count();
        total_rate += rates.iter().sum::<f64>();
        eprintln!(
            "{}: rapidocr {confident:?} in {:.0}/{:.0}/{:.0} ms (det/cls/rec); Cuebox {:?} in {:.0}/{:.0}/{:.0} ms; error rates {rates:.2?}",
            path.file_name().unwrap().to_string_lossy(),
            peer["det_ms"].as_f64().unwrap(),
            peer["cls_ms"].as_f64().unwrap(),
            peer["rec_ms"].as_f64().unwrap(),
            texts(&reading.lines),
            reading.detect_ms,
            reading.orient_ms,
            reading.recognise_ms
        );
    }
    eprintln!(
        "{alike} of {compared} confident rapidocr lines read alike (error rate <= 0.1); mean error rate {:.3}",
        total_rate / compared as f64
    );
    assert!(compared >= 30, "rapidocr reads the test images");
    assert!(alike as f64 >= 0.9 * compared as f64, "{alike} of {compared} lines alike");
}

#[test]
fn missing_or_corrupt_model_files_are_clear_errors() {
    let models = models();
    let files = [cuebox_vision::DETECTOR_FILE, cuebox_vision::CLASSIFIER_FILE, cuebox_vision::RECOGNISER_FILE];
    let folder = |replace: &dyn Fn(&Path, &str)| {
        let dir = tempfile::tempdir().unwrap();
        for file in files {
            std::os::unix::fs::symlink(models.join(file), dir.path().join(file)).unwrap();
            replace(dir.path(), file);
        }
        dir
    };
    let load_error = |dir: &tempfile::TempDir| TextReader::load(dir.path()).err().expect("loading fails").to_string();
    let missing = folder(&|dir, file| {
        if file == cuebox_vision::CLASSIFIER_FILE {
            std::fs::remove_file(dir.join(file)).unwrap();
        }
    });
    let error = load_error(&missing);
    assert!(error.contains(&missing.path().join(cuebox_vision::CLASSIFIER_FILE).display().to_string()), "{error}");
    let corrupt = folder(&|dir, file| {
        if file == cuebox_vision::DETECTOR_FILE {
            std::fs::remove_file(dir.join(file)).unwrap();
            std::fs::write(dir.join(file), b"not a model at all").unwrap();
        }
    });
    let error = load_error(&corrupt);
    assert!(error.contains(&corrupt.path().join(cuebox_vision::DETECTOR_FILE).display().to_string()), "{error}");
    // The classifier in the recogniser's place: a valid model without a dictionary.
    let swapped = folder(&|dir, file| {
        if file == cuebox_vision::RECOGNISER_FILE {
            std::fs::remove_file(dir.join(file)).unwrap();
            std::os::unix::fs::symlink(models.join(cuebox_vision::CLASSIFIER_FILE), dir.join(file)).unwrap();
        }
    });
    let error = load_error(&swapped);
    assert!(error.contains(cuebox_vision::RECOGNISER_FILE) && error.contains("dictionary"), "{error}");
    // The recogniser in the detector's place: it loads but is not a detector.
    let wrong = folder(&|dir, file| {
        if file == cuebox_vision::DETECTOR_FILE {
            std::fs::remove_file(dir.join(file)).unwrap();
            std::os::unix::fs::symlink(models.join(cuebox_vision::RECOGNISER_FILE), dir.join(file)).unwrap();
        }
    });
    let error = load_error(&wrong);
    eprintln!("recogniser as the detector: {error}");
    assert!(error.contains(cuebox_vision::DETECTOR_FILE), "{error}");
}

#[test]
fn tiny_degenerate_and_blank_crops_read_nothing_and_bad_settings_are_refused() {
    let reader = reader();
    let image = fixture();
    let view = image.view().unwrap();
    for crop in [
        Crop { x: 40, y: 30, width: 1, height: 1 },
        Crop { x: 40, y: 30, width: 2, height: 200 },
        Crop { x: 40, y: 30, width: 300, height: 2 },
        Crop { x: 0, y: 0, width: 560, height: 360 },
    ] {
        let reading = reader.read(view, crop).unwrap();
        assert!(
            crop.width > 100 && crop.height > 100 || reading.lines.is_empty(),
            "{crop:?}: {:?}",
            texts(&reading.lines)
        );
    }
    let grey = RgbImage { width: 64, height: 48, data: vec![128; 64 * 48 * 3] };
    let reading = reader.read(grey.view().unwrap(), grey.view().unwrap().full()).unwrap();
    assert!(reading.lines.is_empty() && reading.boxes_found == 0, "{reading:?}");
    let outside = reader.read(view, Crop { x: 500, y: 0, width: 100, height: 10 });
    assert!(matches!(outside, Err(VisionError::BadCrop { .. })), "{outside:?}");
    assert!(reader.read_line(view, Crop { x: 0, y: 0, width: 1, height: 1 }).is_ok());
    let bad = TextReaderConfig { max_side: 0, max_upscale: 0.5, max_lines: 0, max_line_width: 10, min_confidence: 2.0 };
    let error = reader.with_config(bad).err().expect("refused").to_string();
    for setting in ["max_side", "max_upscale", "max_lines", "max_line_width", "min_confidence"] {
        assert!(error.contains(setting), "every problem is reported: {error}");
    }
}

/// Products enrolled by what their reference photos read, named by what a later view reads.
#[test]
fn text_read_on_a_product_names_it_and_text_elsewhere_names_nothing() {
    let reader = reader();
    let biscuits = load_image(&super::photo("box.png")).unwrap();
    let mut entries: Vec<(String, TextSource, String)> = Vec::new();
    for (sku, image) in [("TEA-JASMINE", fixture()), ("COOKIES", biscuits.clone())] {
        for line in read(&reader, &image) {
            entries.push((sku.to_owned(), TextSource::Photo, line.text));
        }
    }
    entries.push(("TEA-OOLONG".into(), TextSource::Name, "山岚茶舍 乌龙茶 Oolong Tea".into()));
    entries.push(("TEA-OOLONG".into(), TextSource::Barcode, "6901234567885".into()));
    let index = TextIndex::new(entries);
    for (image, expected) in [(half_turn(&fixture()), Some("TEA-JASMINE")), (half_turn(&biscuits), Some("COOKIES"))] {
        let lines: Vec<String> = read(&reader, &image).into_iter().map(|l| l.text).collect();
        let found = index.search(&lines, TextRule::DEFAULT);
        eprintln!("{lines:?}: {:?}", found.candidates.iter().map(|c| (&c.sku, c.score)).collect::<Vec<_>>());
        assert_eq!(found.named(), expected, "{found:?}");
    }
    for name in ["orange.jpg", "imageTextN.png", "box_in_scene.png"] {
        let lines: Vec<String> =
            read(&reader, &load_image(&super::photo(name)).unwrap()).into_iter().map(|l| l.text).collect();
        let found = index.search(&lines, TextRule::DEFAULT);
        assert_eq!(found.named(), None, "{name}: {lines:?} {found:?}");
    }
}
