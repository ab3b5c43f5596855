//! Hand localisation with MediaPipe's palm detector (models/palm-detection-lite.onnx): the frame is
//! letterboxed into the 192x192 input, each of the 2016 SSD anchors regresses a palm box and seven
//! keypoints, and overlapping detections are merged by MediaPipe's weighted non-max suppression.
//! The post-processing follows MediaPipe's palm detection graph (SsdAnchorsCalculator,
//! TensorsToDetectionsCalculator, NonMaxSuppressionCalculator, DetectionLetterboxRemovalCalculator).

use std::path::Path;
use std::sync::Arc;

use tract_onnx::prelude::*;

use crate::{Crop, RgbView, VisionError};

/// Side of the square model input, in pixels.
pub const PALM_INPUT_SIZE: usize = 192;
/// Palm keypoints per detection.
pub const PALM_KEYPOINTS: usize = 7;
/// MediaPipe's default score threshold for a palm.
pub const DEFAULT_MIN_PALM_SCORE: f32 = 0.5;

const ANCHOR_COUNT: usize = 2016;
/// Per anchor: box centre x, y, width, height, then (x, y) of each keypoint.
const VALUES_PER_ANCHOR: usize = 4 + 2 * PALM_KEYPOINTS;
/// SsdAnchorsCalculator options of palm_detection_lite: one feature map per stride, layers of equal
/// stride share a map, and each layer puts two anchors on every cell (aspect ratio 1 and the
/// interpolated scale). With `fixed_anchor_size` every anchor is 1x1, so only centres matter.
const ANCHOR_STRIDES: [usize; 4] = [8, 16, 16, 16];
const ANCHORS_PER_LAYER_AND_CELL: usize = 2;
const ANCHOR_OFFSET: f32 = 0.5;
/// NonMaxSuppressionCalculator: detections overlapping the best one by more than this IoU merge into it.
const MIN_SUPPRESSION_IOU: f32 = 0.3;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    pub x: f32,
    pub y: f32,
}

/// An axis-aligned box; its coordinates are fractional and may lie outside the image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BoundingBox {
    pub x_min: f32,
    pub y_min: f32,
    pub x_max: f32,
    pub y_max: f32,
}

impl BoundingBox {
    pub fn width(&self) -> f32 {
        self.x_max - self.x_min
    }

    pub fn height(&self) -> f32 {
        self.y_max - self.y_min
    }

    pub fn center(&self) -> Point {
        Point { x: (self.x_min + self.x_max) / 2.0, y: (self.y_min + self.y_max) / 2.0 }
    }
}

/// A detected palm, in the pixel coordinates of the frame it was found in.
#[derive(Clone, Debug, PartialEq)]
pub struct Palm {
    /// Probability that this is a palm: that of the best anchor among those merged into it.
    pub score: f32,
    /// The palm without the fingers (MediaPipe enlarges it to crop the whole hand); it may reach
    /// past the frame's edges.
    pub bounds: BoundingBox,
    /// Keypoint 0 is the centre of the wrist and 2 the knuckle of the middle finger: MediaPipe
    /// orients the hand along 0 -> 2.
    pub keypoints: [Point; PALM_KEYPOINTS],
}

impl Palm {
    /// The part of the palm's box that lies inside a `width`x`height` frame; `None` when the box
    /// does not cover a whole pixel of it.
    pub fn crop_within(&self, width: u32, height: u32) -> Option<Crop> {
        let clamp = |value: f32, limit: u32| value.round().clamp(0.0, limit as f32) as u32;
        let (x_min, x_max) = (clamp(self.bounds.x_min, width), clamp(self.bounds.x_max, width));
        let (y_min, y_max) = (clamp(self.bounds.y_min, height), clamp(self.bounds.y_max, height));
        let (width, height) = (x_max.saturating_sub(x_min), y_max.saturating_sub(y_min));
        (width > 0 && height > 0).then_some(Crop { x: x_min, y: y_min, width, height })
    }
}

/// The model's raw outputs for one input.
#[derive(Clone, Debug)]
pub struct PalmInference {
    /// `[2016][18]`: per anchor, box centre and size then 7 keypoints, in input pixels relative
    /// to the anchor's centre.
    pub regressors: Vec<f32>,
    /// `[2016]`: palm score per anchor, before the sigmoid.
    pub logits: Vec<f32>,
}

/// The palm detector, loaded and optimised once, shared cheaply across threads.
#[derive(Clone)]
pub struct PalmDetector {
    plan: Arc<TypedRunnableModel>,
    anchors: Arc<[Point]>,
}

impl PalmDetector {
    pub fn load(path: &Path) -> Result<Self, VisionError> {
        let model_error = |message: String| VisionError::Model { path: path.to_owned(), message };
        let bytes = std::fs::read(path).map_err(|e| model_error(e.to_string()))?;
        let plan = tract_onnx::onnx()
            .model_for_read(&mut bytes.as_slice())
            .and_then(|m| m.with_input_fact(0, f32::fact([1, 3, PALM_INPUT_SIZE, PALM_INPUT_SIZE]).into()))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| model_error(format!("{e:#}")))?;
        let detector = Self { plan, anchors: ssd_anchors().into() };
        detector
            .infer(&vec![0.0; 3 * PALM_INPUT_SIZE * PALM_INPUT_SIZE])
            .map_err(|e| model_error(format!("does not run as the palm detector: {e}")))?;
        Ok(detector)
    }

    /// The whole frame scaled to fit the model input, centred between black bars: planar RGB
    /// (CHW), 192x192, values in [0, 1].
    pub fn input(view: RgbView<'_>) -> Vec<f32> {
        Letterbox::fit(view.width(), view.height()).sample(view)
    }

    /// Runs the model on an input made by [`PalmDetector::input`].
    pub fn infer(&self, input: &[f32]) -> Result<PalmInference, VisionError> {
        let tensor = Tensor::from_shape(&[1, 3, PALM_INPUT_SIZE, PALM_INPUT_SIZE], input)
            .map_err(|e| VisionError::Inference(format!("palm detector input: {e}")))?;
        let outputs = self.plan.run(tvec!(tensor.into())).map_err(|e| VisionError::Inference(format!("{e:#}")))?;
        let read = |index: usize, name: &str, expected: usize| -> Result<Vec<f32>, VisionError> {
            let output = outputs
                .get(index)
                .ok_or_else(|| VisionError::Inference(format!("the palm detector has no output {name}")))?;
            let values: Vec<f32> = output
                .to_plain_array_view::<f32>()
                .map_err(|e| VisionError::Inference(e.to_string()))?
                .iter()
                .copied()
                .collect();
            if values.len() != expected {
                return Err(VisionError::Inference(format!(
                    "palm detector output {name} has {} values, expected {expected}",
                    values.len()
                )));
            }
            Ok(values)
        };
        Ok(PalmInference {
            regressors: read(0, "regressors", ANCHOR_COUNT * VALUES_PER_ANCHOR)?,
            logits: read(1, "logits", ANCHOR_COUNT)?,
        })
    }

    /// The palms in the frame scoring at least `min_score` (MediaPipe uses
    /// [`DEFAULT_MIN_PALM_SCORE`]), best first.
    pub fn detect(&self, view: RgbView<'_>, min_score: f32) -> Result<Vec<Palm>, VisionError> {
        let letterbox = Letterbox::fit(view.width(), view.height());
        let inference = self.infer(&letterbox.sample(view))?;
        let detections = decode(&inference, &self.anchors, min_score);
        Ok(weighted_non_max_suppression(detections).iter().map(|palm| letterbox.to_frame(palm)).collect())
    }
}

/// The anchor centres, in [0, 1] of the model input, in the order of the model's outputs:
/// feature map by feature map, row by row, cell by cell.
fn ssd_anchors() -> Vec<Point> {
    let mut anchors = Vec::with_capacity(ANCHOR_COUNT);
    for layers in ANCHOR_STRIDES.chunk_by(|a, b| a == b) {
        let Some(&stride) = layers.first() else { continue };
        let cells = PALM_INPUT_SIZE.div_ceil(stride);
        for row in 0..cells {
            for column in 0..cells {
                let center = Point {
                    x: (column as f32 + ANCHOR_OFFSET) / cells as f32,
                    y: (row as f32 + ANCHOR_OFFSET) / cells as f32,
                };
                anchors.extend(std::iter::repeat_n(center, layers.len() * ANCHORS_PER_LAYER_AND_CELL));
            }
        }
    }
    anchors
}

/// The anchors scoring at least `min_score`, as palms in [0, 1] coordinates of the model input.
#[expect(
    clippy::indexing_slicing,
    reason = "each row is one anchor's VALUES_PER_ANCHOR regressors (chunks_exact), and the offsets read are below that count"
)]
fn decode(inference: &PalmInference, anchors: &[Point], min_score: f32) -> Vec<Palm> {
    let scale = PALM_INPUT_SIZE as f32;
    let rows = inference.regressors.chunks_exact(VALUES_PER_ANCHOR);
    anchors
        .iter()
        .zip(rows)
        .zip(&inference.logits)
        .map(|((anchor, row), &logit)| (anchor, row, sigmoid(logit)))
        .filter(|&(_, _, score)| score >= min_score)
        .map(|(anchor, row, score)| {
            let at = |offset: usize| Point { x: anchor.x + row[offset] / scale, y: anchor.y + row[offset + 1] / scale };
            let center = at(0);
            let (half_width, half_height) = (row[2] / scale / 2.0, row[3] / scale / 2.0);
            Palm {
                score,
                bounds: BoundingBox {
                    x_min: center.x - half_width,
                    y_min: center.y - half_height,
                    x_max: center.x + half_width,
                    y_max: center.y + half_height,
                },
                keypoints: std::array::from_fn(|k| at(4 + 2 * k)),
            }
        })
        .collect()
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// MediaPipe's WEIGHTED non-max suppression: the best remaining detection absorbs every detection
/// that overlaps it by more than `MIN_SUPPRESSION_IOU`, its box and keypoints become the
/// score-weighted mean of the group, and it keeps its own score.
fn weighted_non_max_suppression(mut remaining: Vec<Palm>) -> Vec<Palm> {
    remaining.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut merged = Vec::new();
    while let Some((best, others)) = remaining.split_first() {
        let (group, rest): (Vec<&Palm>, Vec<&Palm>) =
            others.iter().partition(|other| intersection_over_union(&other.bounds, &best.bounds) > MIN_SUPPRESSION_IOU);
        merged.push(weighted_mean(best, &group));
        remaining = rest.into_iter().cloned().collect();
    }
    merged
}

#[expect(clippy::indexing_slicing, reason = "k < the keypoint count, the length of every palm's keypoints array")]
fn weighted_mean(best: &Palm, group: &[&Palm]) -> Palm {
    let members = || std::iter::once(best).chain(group.iter().copied());
    let total: f32 = members().map(|p| p.score).sum();
    let mean = |value: &dyn Fn(&Palm) -> f32| members().map(|p| value(p) * p.score).sum::<f32>() / total;
    Palm {
        score: best.score,
        bounds: BoundingBox {
            x_min: mean(&|p| p.bounds.x_min),
            y_min: mean(&|p| p.bounds.y_min),
            x_max: mean(&|p| p.bounds.x_max),
            y_max: mean(&|p| p.bounds.y_max),
        },
        keypoints: std::array::from_fn(|k| Point { x: mean(&|p| p.keypoints[k].x), y: mean(&|p| p.keypoints[k].y) }),
    }
}

fn intersection_over_union(a: &BoundingBox, b: &BoundingBox) -> f32 {
    let overlap_width = (a.x_max.min(b.x_max) - a.x_min.max(b.x_min)).max(0.0);
    let overlap_height = (a.y_max.min(b.y_max) - a.y_min.max(b.y_min)).max(0.0);
    let intersection = overlap_width * overlap_height;
    let union = a.width() * a.height() + b.width() * b.height() - intersection;
    if union > 0.0 { intersection / union } else { 0.0 }
}

/// Where a frame sits in the square model input: input pixel = frame pixel * scale + offset.
#[derive(Clone, Copy, Debug)]
struct Letterbox {
    scale: f32,
    offset_x: f32,
    offset_y: f32,
}

/// One output pixel's bilinear sample along an axis: two source indices and the far one's weight.
#[derive(Clone, Copy)]
struct Tap {
    near: usize,
    far: usize,
    weight: f32,
}

impl Letterbox {
    fn fit(width: u32, height: u32) -> Self {
        let size = PALM_INPUT_SIZE as f32;
        let scale = size / width.max(height) as f32;
        Self { scale, offset_x: (size - width as f32 * scale) / 2.0, offset_y: (size - height as f32 * scale) / 2.0 }
    }

    /// Bilinear samples of each input pixel along one axis, `None` in the black bars.
    fn taps(&self, length: u32, offset: f32) -> Vec<Option<Tap>> {
        let last = length as usize - 1;
        (0..PALM_INPUT_SIZE)
            .map(|output| {
                let inside = (output as f32 + 0.5 - offset) / self.scale;
                if !(0.0..length as f32).contains(&inside) {
                    return None;
                }
                let source = (inside - 0.5).clamp(0.0, last as f32);
                let near = source.floor() as usize;
                Some(Tap { near, far: (near + 1).min(last), weight: source - near as f32 })
            })
            .collect()
    }

    #[expect(
        clippy::indexing_slicing,
        reason = "taps() clamps near and far into 0..length of the view's side, an RgbView holds width * height RGB pixels, and x, y < PALM_INPUT_SIZE fill the input's 3 planes"
    )]
    fn sample(&self, view: RgbView<'_>) -> Vec<f32> {
        let plane = PALM_INPUT_SIZE * PALM_INPUT_SIZE;
        let mut input = vec![0.0; 3 * plane];
        let columns = self.taps(view.width(), self.offset_x);
        let rows = self.taps(view.height(), self.offset_y);
        let stride = view.width() as usize * 3;
        let data = view.data();
        for (y, row) in rows.iter().enumerate() {
            let Some(row) = row else { continue };
            let (upper, lower) = (&data[row.near * stride..][..stride], &data[row.far * stride..][..stride]);
            for (x, column) in columns.iter().enumerate() {
                let Some(column) = column else { continue };
                for channel in 0..3 {
                    let along = |line: &[u8]| {
                        let near = f32::from(line[column.near * 3 + channel]);
                        near + (f32::from(line[column.far * 3 + channel]) - near) * column.weight
                    };
                    let (top, bottom) = (along(upper), along(lower));
                    input[channel * plane + y * PALM_INPUT_SIZE + x] = (top + (bottom - top) * row.weight) / 255.0;
                }
            }
        }
        input
    }

    /// A palm in [0, 1] coordinates of the model input, in frame pixels.
    fn to_frame(self, palm: &Palm) -> Palm {
        let size = PALM_INPUT_SIZE as f32;
        let x = |v: f32| (v * size - self.offset_x) / self.scale;
        let y = |v: f32| (v * size - self.offset_y) / self.scale;
        Palm {
            score: palm.score,
            bounds: BoundingBox {
                x_min: x(palm.bounds.x_min),
                y_min: y(palm.bounds.y_min),
                x_max: x(palm.bounds.x_max),
                y_max: y(palm.bounds.y_max),
            },
            keypoints: palm.keypoints.map(|p| Point { x: x(p.x), y: y(p.y) }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() <= 1e-5 * (1.0 + b.abs())
    }

    fn same_palm(a: &Palm, b: &Palm) -> bool {
        let corners = |p: &Palm| [p.bounds.x_min, p.bounds.y_min, p.bounds.x_max, p.bounds.y_max];
        let keypoints = |p: &Palm| p.keypoints.iter().flat_map(|k| [k.x, k.y]).collect::<Vec<f32>>();
        a.score == b.score
            && corners(a).iter().zip(corners(b)).all(|(x, y)| close(*x, y))
            && keypoints(a).iter().zip(keypoints(b)).all(|(x, y)| close(*x, y))
    }

    fn palm(score: f32, x_min: f32, y_min: f32, side: f32, keypoint: Point) -> Palm {
        Palm {
            score,
            bounds: BoundingBox { x_min, y_min, x_max: x_min + side, y_max: y_min + side },
            keypoints: [keypoint; PALM_KEYPOINTS],
        }
    }

    #[test]
    fn anchors_cover_the_stride_8_map_then_the_shared_stride_16_map() {
        let anchors = ssd_anchors();
        assert_eq!(anchors.len(), 2016);
        // 24x24 cells with 2 anchors each, then 12x12 cells with 3 layers x 2 anchors each.
        let first = Point { x: 0.5 / 24.0, y: 0.5 / 24.0 };
        assert_eq!(&anchors[..2], &[first, first]);
        assert!(close(anchors[2].x, 1.5 / 24.0) && close(anchors[2].y, 0.5 / 24.0));
        assert!(close(anchors[48].x, 0.5 / 24.0) && close(anchors[48].y, 1.5 / 24.0));
        assert!(close(anchors[1151].x, 23.5 / 24.0) && close(anchors[1151].y, 23.5 / 24.0));
        let coarse = Point { x: 0.5 / 12.0, y: 0.5 / 12.0 };
        assert!(anchors[1152..1158].iter().all(|a| close(a.x, coarse.x) && close(a.y, coarse.y)));
        assert!(close(anchors[1158].x, 1.5 / 12.0));
        let last = anchors[2015];
        assert!(close(last.x, 11.5 / 12.0) && close(last.y, 11.5 / 12.0));
    }

    #[test]
    fn decoding_offsets_box_and_keypoints_from_the_anchor_in_input_pixels() {
        let anchors = ssd_anchors();
        let mut regressors = vec![0.0; ANCHOR_COUNT * VALUES_PER_ANCHOR];
        let mut logits = vec![-10.0; ANCHOR_COUNT];
        let chosen = 1160;
        logits[chosen] = 2.0;
        let row = &mut regressors[chosen * VALUES_PER_ANCHOR..][..VALUES_PER_ANCHOR];
        row[..4].copy_from_slice(&[19.2, -9.6, 38.4, 57.6]);
        for k in 0..PALM_KEYPOINTS {
            row[4 + 2 * k] = k as f32 * 1.92;
            row[5 + 2 * k] = -(k as f32) * 3.84;
        }
        let palms = decode(&PalmInference { regressors, logits }, &anchors, 0.5);
        assert_eq!(palms.len(), 1);
        let found = &palms[0];
        assert!(close(found.score, 1.0 / (1.0 + (-2.0f32).exp())));
        let anchor = anchors[chosen];
        let center = found.bounds.center();
        assert!(close(center.x, anchor.x + 0.1) && close(center.y, anchor.y - 0.05), "{center:?}");
        assert!(close(found.bounds.width(), 0.2) && close(found.bounds.height(), 0.3), "{:?}", found.bounds);
        for (k, keypoint) in found.keypoints.iter().enumerate() {
            assert!(close(keypoint.x, anchor.x + k as f32 * 0.01), "keypoint {k}: {keypoint:?}");
            assert!(close(keypoint.y, anchor.y - k as f32 * 0.02), "keypoint {k}: {keypoint:?}");
        }
    }

    #[test]
    fn decoding_keeps_scores_at_the_threshold_and_survives_extreme_logits() {
        let regressors = vec![10.0; ANCHOR_COUNT * VALUES_PER_ANCHOR];
        let mut logits = vec![-1e30; ANCHOR_COUNT];
        logits[0] = 0.0;
        logits[1] = 1e30;
        logits[2] = f32::NAN;
        logits[3] = -0.01;
        let palms = decode(&PalmInference { regressors, logits }, &ssd_anchors(), 0.5);
        let scores: Vec<f32> = palms.iter().map(|p| p.score).collect();
        assert_eq!(scores, vec![0.5, 1.0]);
    }

    #[test]
    fn weighted_suppression_averages_overlapping_palms_and_keeps_the_best_score() {
        let best = palm(0.9, 0.30, 0.30, 0.2, Point { x: 0.3, y: 0.3 });
        let overlapping = palm(0.6, 0.32, 0.30, 0.2, Point { x: 0.6, y: 0.3 });
        // IoU with `best` is 0.25: below the threshold, so it stays a palm of its own.
        let beside = palm(0.8, 0.42, 0.30, 0.2, Point { x: 0.5, y: 0.5 });
        let far = palm(0.7, 0.80, 0.80, 0.1, Point { x: 0.9, y: 0.9 });
        let merged = weighted_non_max_suppression(vec![far.clone(), overlapping, best, beside.clone()]);
        assert_eq!(merged.len(), 3, "{merged:?}");
        assert_eq!(merged[0].score, 0.9);
        let expected_x_min = (0.30 * 0.9 + 0.32 * 0.6) / 1.5;
        assert!(close(merged[0].bounds.x_min, expected_x_min), "{:?}", merged[0].bounds);
        assert!(close(merged[0].bounds.x_max, expected_x_min + 0.2));
        assert!(close(merged[0].bounds.y_min, 0.30));
        assert!(close(merged[0].keypoints[6].x, (0.3 * 0.9 + 0.6 * 0.6) / 1.5));
        assert!(same_palm(&merged[1], &beside), "{:?}", merged[1]);
        assert!(same_palm(&merged[2], &far), "{:?}", merged[2]);
    }

    #[test]
    fn suppression_of_nothing_is_nothing() {
        assert!(weighted_non_max_suppression(Vec::new()).is_empty());
    }

    #[test]
    fn letterbox_centres_a_wide_frame_between_black_bars_and_maps_back() {
        let letterbox = Letterbox::fit(640, 480);
        assert!(close(letterbox.scale, 0.3) && close(letterbox.offset_x, 0.0) && close(letterbox.offset_y, 24.0));
        let mut data = Vec::new();
        for _ in 0..640 * 480 {
            data.extend_from_slice(&[255, 51, 0]);
        }
        let view = RgbView::new(640, 480, &data).unwrap();
        let input = PalmDetector::input(view);
        let plane = PALM_INPUT_SIZE * PALM_INPUT_SIZE;
        for y in [0, 23, 24, 100, 167, 168, 191] {
            let inside = (24..168).contains(&y);
            for x in [0, 96, 191] {
                let at = y * PALM_INPUT_SIZE + x;
                let pixel = [input[at], input[plane + at], input[2 * plane + at]];
                let expected = if inside { [1.0, 0.2, 0.0] } else { [0.0; 3] };
                assert!(pixel.iter().zip(expected).all(|(a, b)| close(*a, b)), "({x}, {y}): {pixel:?}");
            }
        }
        let centre = palm(0.7, 0.25, 0.25, 0.5, Point { x: 0.5, y: 0.125 });
        let mapped = letterbox.to_frame(&centre);
        assert!(close(mapped.bounds.x_min, 160.0) && close(mapped.bounds.x_max, 480.0), "{:?}", mapped.bounds);
        assert!(close(mapped.bounds.y_min, 80.0) && close(mapped.bounds.y_max, 400.0), "{:?}", mapped.bounds);
        assert!(close(mapped.keypoints[0].x, 320.0) && close(mapped.keypoints[0].y, 0.0));
        assert_eq!(mapped.score, 0.7);
    }

    #[test]
    fn letterbox_keeps_a_tall_frame_upright() {
        // A 2x4 frame: left column red, right column blue; it fills the middle half of the input.
        let mut data = Vec::new();
        for _ in 0..4 {
            data.extend_from_slice(&[255, 0, 0, 0, 0, 255]);
        }
        let view = RgbView::new(2, 4, &data).unwrap();
        let input = PalmDetector::input(view);
        let plane = PALM_INPUT_SIZE * PALM_INPUT_SIZE;
        let row = 100 * PALM_INPUT_SIZE;
        assert_eq!((input[row + 47], input[2 * plane + row + 47]), (0.0, 0.0), "left bar");
        assert_eq!((input[row + 50], input[2 * plane + row + 50]), (1.0, 0.0), "left column is red");
        assert_eq!((input[row + 140], input[2 * plane + row + 140]), (0.0, 1.0), "right column is blue");
        assert_eq!(input[2 * plane + row + 144], 0.0, "right bar");
    }

    #[test]
    fn crop_within_clamps_to_the_frame() {
        let inside = palm(0.9, -20.4, 10.6, 100.0, Point { x: 0.0, y: 0.0 });
        assert_eq!(inside.crop_within(64, 48), Some(Crop { x: 0, y: 11, width: 64, height: 37 }));
        let outside = palm(0.9, 70.0, 10.0, 20.0, Point { x: 0.0, y: 0.0 });
        assert_eq!(outside.crop_within(64, 48), None);
    }

    #[test]
    fn missing_model_file_names_the_path() {
        let err = PalmDetector::load(Path::new("/nonexistent/palm.onnx")).err().unwrap();
        assert!(err.to_string().contains("/nonexistent/palm.onnx"), "{err}");
    }
}
