//! Reading printed text with PaddleOCR's PP-OCRv6 models (models/README.md): the detector finds
//! text boxes in a crop, each box is cut out as an upright strip, the orientation classifier
//! turns upside-down strips round, and the recogniser reads each strip, decoded greedily (CTC)
//! with the dictionary stored in its ONNX metadata. The steps follow rapidocr's pipeline.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crate::{Crop, Point, RgbImage, RgbView, VisionError};

mod detection;
mod models;
mod strip;

use models::Models;
use strip::LineShape;
pub use strip::ModelInput;

/// The model files, in the models folder.
pub const DETECTOR_FILE: &str = "PP-OCRv6_det_small.onnx";
pub const CLASSIFIER_FILE: &str = "ch_ppocr_mobile_v2.0_cls_mobile.onnx";
pub const RECOGNISER_FILE: &str = "PP-OCRv6_rec_small.onnx";

/// Lines are read at this height.
const LINE_HEIGHT: usize = 48;
/// The classifier sees lines this wide (narrower ones padded, wider ones squeezed).
const CLASSIFIER_WIDTH: usize = 192;
/// Lines narrower than this are padded to it for the recogniser, as PaddleOCR does.
const MIN_LINE_WIDTH: usize = 320;
/// The classifier looks at most at this many windows of a long line.
const CLASSIFIER_WINDOWS: u32 = 3;
/// Every line is fitted to the classifier's fixed input.
const CLASSIFIER_LINE: LineShape =
    LineShape { height: LINE_HEIGHT, max_width: CLASSIFIER_WIDTH, padded: |_| CLASSIFIER_WIDTH };
/// A strip is turned round when the classifier finds it upside down with at least this
/// probability (rapidocr's `cls_thresh`).
const UPSIDE_DOWN_THRESHOLD: f32 = 0.9;
/// The detector's input sides are multiples of this, as the model needs.
const DETECTOR_STEP: usize = 32;
/// Boxes whose top edges are closer than this (in pixels) are on one line for the reading order.
const SAME_LINE: f32 = 10.0;

/// How a [`TextReader`] reads.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TextReaderConfig {
    /// The crop is scaled so that its longer side is at most this for the detector, each side
    /// then to the nearest multiple of 32.
    pub max_side: u32,
    /// Crops smaller than `max_side` are enlarged by up to this factor: the detector finds small
    /// print better at a larger scale.
    pub max_upscale: f32,
    /// At most this many lines are recognised per read, the largest boxes first.
    pub max_lines: usize,
    /// The widest recogniser input (rounded down to 320, 480, 640 or a multiple of 320); longer
    /// lines are squeezed into it.
    pub max_line_width: usize,
    /// Lines read with a lower confidence are left out (rapidocr's `text_score`).
    pub min_confidence: f32,
}

impl Default for TextReaderConfig {
    fn default() -> Self {
        Self { max_side: 640, max_upscale: 2.0, max_lines: 8, max_line_width: 960, min_confidence: 0.5 }
    }
}

impl TextReaderConfig {
    /// Every problem with the settings, or none.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !(32..=4096).contains(&self.max_side) {
            problems.push(format!("max_side {} is not within 32..=4096", self.max_side));
        }
        if !(self.max_upscale >= 1.0 && self.max_upscale <= 8.0) {
            problems.push(format!("max_upscale {} is not within 1..=8", self.max_upscale));
        }
        if !(1..=64).contains(&self.max_lines) {
            problems.push(format!("max_lines {} is not within 1..=64", self.max_lines));
        }
        if !(MIN_LINE_WIDTH..=4096).contains(&self.max_line_width) {
            problems.push(format!("max_line_width {} is not within {MIN_LINE_WIDTH}..=4096", self.max_line_width));
        }
        if !(0.0..=1.0).contains(&self.min_confidence) {
            problems.push(format!("min_confidence {} is not within 0..=1", self.min_confidence));
        }
        problems
    }
}

/// One line of text read.
#[derive(Clone, Debug, PartialEq)]
pub struct TextLine {
    pub text: String,
    /// The mean probability of the characters read, 0..=1.
    pub confidence: f32,
    /// The line's box in the frame's pixels, clockwise from the top-left corner as the image
    /// shows it (not as the text runs).
    pub corners: [Point; 4],
}

/// What a read found and what it cost.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TextReading {
    /// In reading order: top to bottom, then left to right.
    pub lines: Vec<TextLine>,
    /// Text boxes the detector found.
    pub boxes_found: usize,
    /// Boxes recognised (at most `max_lines`); those read as nothing or below `min_confidence`
    /// are not in `lines`.
    pub lines_recognised: usize,
    /// Scaling the crop, the detector and its post-processing.
    pub detect_ms: f64,
    /// Cutting the boxes out and the orientation classifier.
    pub orient_ms: f64,
    /// The recogniser and decoding.
    pub recognise_ms: f64,
}

/// One of the three models.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OcrModel {
    /// Input `[1, 3, h, w]` (multiples of 32), output the text probability map `[1, 1, h, w]`.
    Detector,
    /// Input `[1, 3, 48, 192]`, output the probabilities of upright and upside down `[1, 2]`.
    Classifier,
    /// Input `[1, 3, 48, w]`, output per step of 8 columns the probability of each character
    /// `[1, w / 8, 2 + dictionary]` (0 is the CTC blank, the last a space).
    Recogniser,
}

/// The three OCR models, loaded and optimised once, shared cheaply across threads.
#[derive(Clone)]
pub struct TextReader {
    models: Arc<Models>,
    config: TextReaderConfig,
}

impl TextReader {
    /// Loads the three models from `models` (the folder `cargo xtask setup` fills), with the
    /// default settings.
    pub fn load(models: &Path) -> Result<Self, VisionError> {
        Ok(Self { models: Arc::new(Models::load(models)?), config: TextReaderConfig::default() })
    }

    /// The same models with other settings.
    pub fn with_config(&self, config: TextReaderConfig) -> Result<Self, VisionError> {
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(VisionError::Settings(problems));
        }
        Ok(Self { models: self.models.clone(), config })
    }

    pub fn config(&self) -> &TextReaderConfig {
        &self.config
    }

    /// The text in `crop` of `view`: detection, orientation, recognition.
    pub fn read(&self, view: RgbView<'_>, crop: Crop) -> Result<TextReading, VisionError> {
        let started = Instant::now();
        let input = self.detection_input(view, crop)?;
        let map = self.models.run(OcrModel::Detector, &input)?;
        let [_, _, height, width] = input.shape;
        let mut boxes = detection::boxes(&map, width, height, (crop.width as f32, crop.height as f32));
        let boxes_found = boxes.len();
        boxes.sort_by(|a, b| b.area().total_cmp(&a.area()));
        boxes.truncate(self.config.max_lines);
        let offset = |p: Point| Point { x: p.x + crop.x as f32, y: p.y + crop.y as f32 };
        let corners: Vec<[Point; 4]> = boxes.iter().map(|b| b.corners.map(offset)).collect();
        let detected = Instant::now();
        let mut strips = Vec::with_capacity(corners.len());
        for corners in corners {
            if let Some(strip) = strip::cut(view, &corners) {
                strips.push((self.upright(strip)?, corners));
            }
        }
        let oriented = Instant::now();
        // Lines of one input width one after the other: each plan is made at most once a read.
        strips.sort_by_key(|(strip, _)| strip.width as u64 * 1024 / u64::from(strip.height.max(1)));
        let mut lines = Vec::with_capacity(strips.len());
        for (strip, corners) in &strips {
            let view = strip.view()?;
            let (text, confidence) = self.read_line(view, view.full())?;
            if !text.is_empty() && confidence >= self.config.min_confidence {
                lines.push(TextLine { text, confidence, corners: *corners });
            }
        }
        let ms = |from: Instant, to: Instant| (to - from).as_secs_f64() * 1e3;
        Ok(TextReading {
            lines: in_reading_order(lines),
            boxes_found,
            lines_recognised: strips.len(),
            detect_ms: ms(started, detected),
            orient_ms: ms(detected, oriented),
            recognise_ms: ms(oriented, Instant::now()),
        })
    }

    /// The strip turned round when the classifier finds it upside down. A line longer than the
    /// classifier's input (4:1) is not squeezed into it, which distorts the glyphs and made the
    /// classifier turn upright lines of a printed page round: up to three windows of that aspect,
    /// spread along the line, are classified and their probabilities averaged.
    fn upright(&self, strip: RgbImage) -> Result<RgbImage, VisionError> {
        let view = strip.view()?;
        let window = (strip.height as usize * CLASSIFIER_WIDTH / LINE_HEIGHT).max(1) as u32;
        let count = strip.width.div_ceil(window).clamp(1, CLASSIFIER_WINDOWS);
        let mut upside_down = 0.0;
        for index in 0..count {
            let free = strip.width.saturating_sub(window);
            let x = if count == 1 { 0 } else { free * index / (count - 1) };
            let crop = Crop { x, y: 0, width: window.min(strip.width), height: strip.height };
            let input = strip::line_input(view, crop, CLASSIFIER_LINE)?;
            upside_down += self.models.run(OcrModel::Classifier, &input)?.get(1).copied().unwrap_or(0.0);
        }
        upside_down /= count as f32;
        Ok(if upside_down > UPSIDE_DOWN_THRESHOLD { strip::half_turn(&strip) } else { strip })
    }

    /// The text of one upright line, `crop` of `view`, without detection or orientation, and
    /// the mean probability of its characters (0 when nothing is read).
    pub fn read_line(&self, view: RgbView<'_>, crop: Crop) -> Result<(String, f32), VisionError> {
        let input = self.line_input(view, crop)?;
        let probabilities = self.models.run(OcrModel::Recogniser, &input)?;
        Ok(self.models.decode(&probabilities))
    }

    /// The detector's input for `crop` of `view`: the crop scaled so that its longer side is at
    /// most `max_side` (enlarged by at most `max_upscale`), each side then to the nearest
    /// multiple of 32.
    pub fn detection_input(&self, view: RgbView<'_>, crop: Crop) -> Result<ModelInput, VisionError> {
        let size = detector_size(crop, &self.config);
        strip::canvas_input(view, crop, size, size)
    }

    /// The recogniser's input for an upright line, `crop` of `view`: 48 rows high, as wide as
    /// its aspect ratio makes it (at most `max_line_width`), padded to 320, 480, 640 or a
    /// multiple of 320 columns.
    pub fn line_input(&self, view: RgbView<'_>, crop: Crop) -> Result<ModelInput, VisionError> {
        let max_width = widest_recogniser_input(self.config.max_line_width);
        strip::line_input(view, crop, LineShape { height: LINE_HEIGHT, max_width, padded: recogniser_width })
    }

    /// The raw output of one model on an input.
    pub fn infer(&self, model: OcrModel, input: &ModelInput) -> Result<Vec<f32>, VisionError> {
        self.models.run(model, input)
    }
}

/// The size of the detector's input for a crop: the crop scaled, its aspect kept, so that its
/// longer side is at most `max_side` (enlarged by at most `max_upscale`), then each side to the
/// nearest multiple of 32, as PaddleOCR and rapidocr do. Padding instead of stretching is not
/// neutral: the model's channel attention pools over the whole input, and grey padding changed
/// the boxes and readings of lines far from it (in the comparison with rapidocr, 33 of 37 lines
/// alike with padding to multiples of 160, 36 of 37 stretched to multiples of 32).
fn detector_size(crop: Crop, config: &TextReaderConfig) -> (usize, usize) {
    let longer = crop.width.max(crop.height).max(1) as f32;
    let scale = (config.max_side as f32 / longer).min(config.max_upscale);
    let most = (config.max_side as usize / DETECTOR_STEP).max(1);
    let side =
        |length: u32| ((length as f32 * scale / DETECTOR_STEP as f32).round() as usize).clamp(1, most) * DETECTOR_STEP;
    (side(crop.width), side(crop.height))
}

/// The recogniser's input width for a line `columns` wide: at least 320 (as PaddleOCR pads), then
/// 480 and 640, then multiples of 320. Every width needs a plan of its own, which holds its own
/// copy of the weights (`ocr/models.rs`): these give four widths up to the default widest line,
/// the four recogniser plans kept, with less padding where most lines are.
fn recogniser_width(columns: usize) -> usize {
    if columns <= 640 { columns.max(MIN_LINE_WIDTH).next_multiple_of(160) } else { columns.next_multiple_of(320) }
}

/// The widest recogniser input at most `max_line_width` (at least 320).
fn widest_recogniser_input(max_line_width: usize) -> usize {
    if max_line_width >= 960 { max_line_width / 320 * 320 } else { (max_line_width / 160 * 160).max(MIN_LINE_WIDTH) }
}

/// Top to bottom; boxes whose top-left corners are within [`SAME_LINE`] of the previous one's
/// height form one line, read left to right (rapidocr's order).
fn in_reading_order(mut lines: Vec<TextLine>) -> Vec<TextLine> {
    lines.sort_by(|a, b| a.corners[0].y.total_cmp(&b.corners[0].y));
    let mut row = 0usize;
    let mut keyed: Vec<(usize, TextLine)> = Vec::with_capacity(lines.len());
    for line in lines {
        if let Some((_, previous)) = keyed.last()
            && line.corners[0].y - previous.corners[0].y >= SAME_LINE
        {
            row += 1;
        }
        keyed.push((row, line));
    }
    keyed.sort_by(|(row_a, a), (row_b, b)| row_a.cmp(row_b).then(a.corners[0].x.total_cmp(&b.corners[0].x)));
    keyed.into_iter().map(|(_, line)| line).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_detector_sees_the_crop_scaled_to_fit_in_multiples_of_32() {
        let config = TextReaderConfig::default();
        let crop = |width, height| Crop { x: 0, y: 0, width, height };
        let size = |c: Crop| detector_size(c, &config);
        assert_eq!(size(crop(612, 459)), (640, 480));
        assert_eq!(size(crop(1280, 720)), (640, 352), "360 rounds to 352");
        assert_eq!(size(crop(200, 100)), (416, 192), "enlarged twice at most: 400x200");
        assert_eq!(size(crop(1, 1)), (32, 32));
        assert_eq!(size(crop(5000, 1)), (640, 32));
        let unenlarged = TextReaderConfig { max_upscale: 1.0, ..config };
        assert_eq!(detector_size(crop(556, 257), &unenlarged), (544, 256));
        let odd = TextReaderConfig { max_side: 630, ..config };
        assert_eq!(detector_size(crop(1260, 630), &odd), (608, 320), "never past max_side");
    }

    #[test]
    fn lines_come_top_to_bottom_and_left_to_right_within_a_row() {
        let line = |text: &str, x: f32, y: f32| TextLine {
            text: text.into(),
            confidence: 1.0,
            corners: [
                Point { x, y },
                Point { x: x + 50.0, y },
                Point { x: x + 50.0, y: y + 20.0 },
                Point { x, y: y + 20.0 },
            ],
        };
        let lines = vec![line("c", 10.0, 60.0), line("b", 200.0, 12.0), line("a", 20.0, 18.0), line("d", 5.0, 75.0)];
        let order: Vec<String> = in_reading_order(lines).into_iter().map(|l| l.text).collect();
        assert_eq!(order, ["a", "b", "c", "d"]);
    }

    #[test]
    fn recogniser_widths_are_few() {
        let widths: Vec<usize> = [1, 320, 321, 480, 481, 640, 641, 960, 961].map(recogniser_width).to_vec();
        assert_eq!(widths, [320, 320, 480, 480, 640, 640, 960, 960, 1280]);
        assert_eq!([320, 500, 700, 960, 1000, 1600].map(widest_recogniser_input), [320, 480, 640, 960, 960, 1600]);
        let default = TextReaderConfig::default().max_line_width;
        let count =
            (1..=widest_recogniser_input(default)).map(recogniser_width).collect::<std::collections::BTreeSet<_>>();
        assert_eq!(count.len(), 4, "as many widths as recogniser plans kept: {count:?}");
    }

    #[test]
    fn every_settings_problem_is_reported() {
        assert!(TextReaderConfig::default().problems().is_empty());
        let bad = TextReaderConfig {
            max_side: 16,
            max_upscale: f32::NAN,
            max_lines: 0,
            max_line_width: 100,
            min_confidence: -1.0,
        };
        assert_eq!(bad.problems().len(), 5, "{:?}", bad.problems());
    }

    #[test]
    fn a_reader_is_shared_across_threads() {
        fn shareable<T: Send + Sync + Clone>() {}
        shareable::<TextReader>();
    }
}
