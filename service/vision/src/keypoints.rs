//! Local features and geometric verification: ORB-style keypoints (FAST-9 corners over an image
//! pyramid, ranked by Harris response, oriented by their intensity centroid, described by steered
//! BRIEF) matched between a reference photo and a frame, and a homography found among the matches
//! by RANSAC and checked to be a view of a flat product. Many inliers under a valid homography
//! say that this very product is in view, which an embedding cannot tell from a look-alike.

mod brief;
mod detect;
mod encoding;
mod fast;
mod homography;
mod matching;
mod pyramid;
mod validity;

pub use homography::Homography;

use crate::{Crop, Point, RgbView, VisionError};
use brief::Descriptor;

/// How features are detected.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FeatureOptions {
    /// The crop is shrunk (area-averaged) until its longer side is at most this many pixels.
    pub max_side: u32,
    /// At most this many keypoints, shared over the levels by their areas.
    pub max_features: usize,
    /// Pyramid levels, each `scale_factor` times smaller than the one above.
    pub levels: usize,
    pub scale_factor: f32,
    /// FAST's contrast threshold, in grey levels.
    pub fast_threshold: u8,
}

impl FeatureOptions {
    /// For a live frame: 640 pixels (a VGA frame as it is), 1000 keypoints.
    pub const FRAME: Self =
        Self { max_side: 640, max_features: 1000, levels: 8, scale_factor: 1.2, fast_threshold: 10 };
    /// For a reference photo, cropped to the product ([`crate::product_bounds`]): 320 pixels, so
    /// that the product's print is about the size it has when held up to the camera.
    pub const REFERENCE: Self = Self { max_side: 320, ..Self::FRAME };

    /// What is wrong with these options, every problem (none when they are usable).
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !(32..=4096).contains(&self.max_side) {
            problems.push(format!("max_side {} is not within 32..=4096", self.max_side));
        }
        if !(1..=100_000).contains(&self.max_features) {
            problems.push(format!("max_features {} is not within 1..=100000", self.max_features));
        }
        if !(1..=16).contains(&self.levels) {
            problems.push(format!("levels {} is not within 1..=16", self.levels));
        }
        if !(self.scale_factor > 1.0 && self.scale_factor <= 2.0) {
            problems.push(format!("scale_factor {} is not above 1 and at most 2", self.scale_factor));
        }
        if self.fast_threshold == 0 || self.fast_threshold == u8::MAX {
            problems.push(format!("fast_threshold {} is not within 1..=254", self.fast_threshold));
        }
        problems
    }
}

/// Where a feature is, in the coordinates of the view it was detected in, and the pyramid level
/// (0 the finest) it was found on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Keypoint {
    pub x: f32,
    pub y: f32,
    pub level: u8,
}

/// The keypoints of a region of an image and their descriptors.
#[derive(Clone, Debug, PartialEq)]
pub struct LocalFeatures {
    region: Crop,
    /// View pixels per pixel the features were detected at (1 unless the region was shrunk).
    pixel_scale: f32,
    keypoints: Vec<Keypoint>,
    /// One per keypoint, in the same order, contiguous so that matching streams through them.
    descriptors: Vec<Descriptor>,
}

impl LocalFeatures {
    /// The features of `crop` of `view`. A crop too small for a feature has none; a crop that is
    /// empty or reaches outside the view is an error.
    pub fn detect(view: RgbView<'_>, crop: Crop, options: &FeatureOptions) -> Result<Self, VisionError> {
        let problems = options.problems();
        if !problems.is_empty() {
            return Err(VisionError::Settings(problems));
        }
        if crop.width == 0
            || crop.height == 0
            || crop.x.checked_add(crop.width).is_none_or(|r| r > view.width())
            || crop.y.checked_add(crop.height).is_none_or(|b| b > view.height())
        {
            return Err(VisionError::BadCrop { crop, width: view.width(), height: view.height() });
        }
        let (keypoints, descriptors, pixel_scale) = detect::detect(view, crop, options);
        Ok(Self { region: crop, pixel_scale, keypoints, descriptors })
    }

    /// The region of the view the features were detected in.
    pub fn region(&self) -> Crop {
        self.region
    }

    pub fn keypoints(&self) -> &[Keypoint] {
        &self.keypoints
    }

    pub fn len(&self) -> usize {
        self.keypoints.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keypoints.is_empty()
    }

    /// The compact, versioned byte form (41 bytes a keypoint and a 29-byte header).
    pub fn to_bytes(&self) -> Vec<u8> {
        encoding::to_bytes(self)
    }

    /// Features from [`LocalFeatures::to_bytes`]; bytes that are not such features (truncated,
    /// damaged, another version) are an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, VisionError> {
        encoding::from_bytes(bytes)
    }
}

/// A reference found in a query under a valid homography.
#[derive(Clone, Debug, PartialEq)]
pub struct GeometricMatch {
    /// Matches the homography maps within the reprojection threshold.
    pub inliers: usize,
    /// Matches that passed the ratio test.
    pub matches: usize,
    /// From the reference's view to the query's.
    pub homography: Homography,
    /// The reference's region in the query's view: its top-left, top-right, bottom-right and
    /// bottom-left corners (the product's outline, when the reference is cropped to the product).
    pub outline: [Point; 4],
}

/// Fewer inliers than this are too easily found by chance to say anything.
const MIN_INLIERS: usize = 6;
/// RANSAC's reprojection threshold, in pixels the query was detected at.
const REPROJECTION_THRESHOLD: f64 = 5.0;

/// Whether `reference` is seen in `query`: descriptors matched by Hamming distance with the ratio
/// test, a homography found among the matches by RANSAC, and the reference's region mapped by it
/// checked to be a plausible view of a flat object ([`GeometricMatch`]); None when there is none.
/// The reference's rectangle is the region its features were detected in (the product's crop of
/// the enrollment photo), the frame's the query's region: both travel with the features.
pub fn verify(reference: &LocalFeatures, query: &LocalFeatures) -> Option<GeometricMatch> {
    let pairs = matching::ratio_matches(&reference.descriptors, &query.descriptors);
    if pairs.len() < MIN_INLIERS {
        return None;
    }
    let at = |k: &Keypoint| [f64::from(k.x), f64::from(k.y)];
    // Each descriptor has its keypoint (`LocalFeatures` are made and decoded so).
    let (src, dst): (Vec<[f64; 2]>, Vec<[f64; 2]>) = pairs
        .iter()
        .filter_map(|p| Some((at(reference.keypoints.get(p.reference)?), at(query.keypoints.get(p.query)?))))
        .unzip();
    let threshold = REPROJECTION_THRESHOLD * f64::from(query.pixel_scale);
    let fit = homography::ransac(&src, &dst, threshold)?;
    if fit.inliers.len() < MIN_INLIERS {
        return None;
    }
    let outline = validity::outline(&fit.homography, reference.region)?;
    let inlier_points: Vec<[f64; 2]> = fit.inliers.iter().filter_map(|&i| src.get(i).copied()).collect();
    let valid = validity::plausible(&outline, query.region, query.pixel_scale)
        && validity::covers_enough(&inlier_points, reference.region);
    valid.then_some(GeometricMatch {
        inliers: fit.inliers.len(),
        matches: pairs.len(),
        homography: fit.homography,
        outline,
    })
}

/// SplitMix64 (Steele, Lea and Flood): a tiny deterministic generator for the BRIEF pattern and
/// RANSAC's samples.
struct SplitMix64(u64);

impl SplitMix64 {
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n (n > 0; the bias of the modulo is below n / 2^64).
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_its_reference_sequence() {
        // The first outputs for seed 1234567 in the reference implementation (prng.di.unimi.it).
        let mut random = SplitMix64::new(1_234_567);
        assert_eq!(random.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(random.next_u64(), 3_203_168_211_198_807_973);
    }

    #[test]
    fn bad_options_are_reported_together() {
        let options = FeatureOptions { max_side: 8, levels: 0, scale_factor: 1.0, ..FeatureOptions::FRAME };
        let data = [0u8; 3 * 64 * 64];
        let view = RgbView::new(64, 64, &data).unwrap();
        let error = LocalFeatures::detect(view, view.full(), &options).unwrap_err().to_string();
        assert!(
            error.contains("max_side 8") && error.contains("levels 0") && error.contains("scale_factor 1"),
            "{error}"
        );
        assert_eq!(options.problems().len(), 3);
        assert!(FeatureOptions::FRAME.problems().is_empty() && FeatureOptions::REFERENCE.problems().is_empty());
    }

    fn textured(width: u32, height: u32) -> Vec<u8> {
        let mut random = SplitMix64::new(99);
        let cells: Vec<u8> = (0..64).map(|_| (random.next_u64() >> 56) as u8).collect();
        (0..width * height)
            .flat_map(|i| {
                let (x, y) = (i % width, i / width);
                [cells[((x / 12 + 8 * (y / 12)) % 64) as usize]; 3]
            })
            .collect()
    }

    #[test]
    fn tiny_crops_have_no_features_and_empty_or_outside_crops_are_errors() {
        let data = textured(200, 150);
        let view = RgbView::new(200, 150, &data).unwrap();
        for crop in [
            Crop { x: 5, y: 5, width: 1, height: 1 },
            Crop { x: 0, y: 0, width: 200, height: 3 },
            Crop { x: 50, y: 50, width: 30, height: 30 },
        ] {
            let features = LocalFeatures::detect(view, crop, &FeatureOptions::FRAME).unwrap();
            assert!(features.is_empty(), "{crop:?}: {}", features.len());
        }
        for crop in [Crop { x: 5, y: 5, width: 0, height: 9 }, Crop { x: 190, y: 0, width: 20, height: 10 }] {
            let result = LocalFeatures::detect(view, crop, &FeatureOptions::FRAME);
            assert!(matches!(result, Err(VisionError::BadCrop { .. })), "{crop:?}");
        }
        let full = LocalFeatures::detect(view, view.full(), &FeatureOptions::FRAME).unwrap();
        assert!(full.len() > 50, "a checkerboard of random greys has corners: {}", full.len());
    }

    #[test]
    fn keypoints_are_in_the_views_coordinates_inside_the_crop() {
        // The image, and the image twice as large (each pixel four) inside a larger canvas: shrunk
        // back to the image's size, the crop has the same keypoints, where the view has them.
        let (width, height) = (200u32, 150u32);
        let small = textured(width, height);
        let (left, top, canvas_width, canvas_height) = (20u32, 30u32, 440u32, 340u32);
        let mut canvas = vec![255u8; (canvas_width * canvas_height * 3) as usize];
        for y in 0..2 * height {
            for x in 0..2 * width {
                let from = 3 * ((y / 2) * width + x / 2) as usize;
                let to = 3 * ((top + y) * canvas_width + left + x) as usize;
                canvas[to..to + 3].copy_from_slice(&small[from..from + 3]);
            }
        }
        let options = FeatureOptions { max_side: width, ..FeatureOptions::FRAME };
        let view = RgbView::new(width, height, &small).unwrap();
        let original = LocalFeatures::detect(view, view.full(), &options).unwrap();
        let large = RgbView::new(canvas_width, canvas_height, &canvas).unwrap();
        let crop = Crop { x: left, y: top, width: 2 * width, height: 2 * height };
        let cropped = LocalFeatures::detect(large, crop, &options).unwrap();
        assert!(original.len() > 50, "{}", original.len());
        assert_eq!(original.len(), cropped.len());
        assert_eq!(original.descriptors, cropped.descriptors);
        assert!(original.keypoints().iter().any(|k| k.level > 0));
        for (a, b) in original.keypoints().iter().zip(cropped.keypoints()) {
            // A pixel i of the image is the view's pixels 2i and 2i + 1, centred on 2i + 0.5.
            let (x, y) = (left as f32 + 2.0 * a.x + 0.5, top as f32 + 2.0 * a.y + 0.5);
            assert!((b.x - x).abs() < 1e-3 && (b.y - y).abs() < 1e-3 && a.level == b.level, "{a:?} -> {b:?}");
        }
        assert_eq!((cropped.region(), cropped.pixel_scale), (crop, 2.0));
    }
}
