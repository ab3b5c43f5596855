//! A keypoint's orientation by the intensity centroid of its patch, and the steered BRIEF
//! descriptor: 256 intensity comparisons between point pairs of the smoothed patch, the pairs
//! turned by the orientation.

use std::sync::LazyLock;

use super::SplitMix64;
use super::pyramid::Gray;

/// A binary descriptor: bit `i` is set when the first point of pair `i` is darker than the second.
pub(super) type Descriptor = [u64; 4];

/// Radius of the patch the orientation is measured on; keypoints keep at least one pixel more
/// from the level's edges.
pub(super) const PATCH_RADIUS: usize = 15;
/// Test points lie within this radius, so that turned and rounded they stay inside the patch.
const PATTERN_RADIUS_SQUARED: i32 = 13 * 13;
/// BRIEF's isotropic Gaussian sampling (its G II): sigma^2 = S^2 / 25 for a patch of side S = 31.
const PATTERN_SIGMA: f64 = 31.0 / 5.0;
/// The test pattern depends on nothing but this seed; stored descriptors depend on the pattern.
const PATTERN_SEED: u64 = 0x4355_4542_4f58_4250;

/// For each row offset 0..=15 of the circular patch, the largest column offset inside it
/// (u^2 + v^2 <= r^2 + r, so that the patch is the same turned by a right angle).
const CIRCLE_SPANS: [usize; PATCH_RADIUS + 1] = circle_spans();

#[expect(clippy::indexing_slicing, reason = "v runs over 0..=PATCH_RADIUS, the indices of the PATCH_RADIUS + 1 spans")]
const fn circle_spans() -> [usize; PATCH_RADIUS + 1] {
    let limit = PATCH_RADIUS * PATCH_RADIUS + PATCH_RADIUS;
    let mut spans = [0; PATCH_RADIUS + 1];
    let mut v = 0;
    while v <= PATCH_RADIUS {
        let mut u = 0;
        while (u + 1) * (u + 1) + v * v <= limit {
            u += 1;
        }
        spans[v] = u;
        v += 1;
    }
    spans
}

/// The 256 point pairs (x1, y1, x2, y2), offsets from the keypoint.
static PATTERN: LazyLock<[[i8; 4]; 256]> = LazyLock::new(generate_pattern);

/// The pattern's 512 points (first and second of each pair in turn) as columns of x and of y.
static POINTS: LazyLock<([f32; 512], [f32; 512])> = LazyLock::new(|| {
    let (mut xs, mut ys) = ([0f32; 512], [0f32; 512]);
    for ((pair, [x1, x2]), [y1, y2]) in PATTERN.iter().zip(xs.as_chunks_mut::<2>().0).zip(ys.as_chunks_mut::<2>().0) {
        let [a, b, c, d] = pair.map(f32::from);
        (*x1, *y1, *x2, *y2) = (a, b, c, d);
    }
    (xs, ys)
});

/// Points drawn i.i.d. from the Gaussian around the centre (a sum of twelve uniform variates,
/// in integer and exactly rounded arithmetic so that every machine draws the same), redrawn when
/// outside the pattern's radius; pairs of one point twice are redrawn.
fn generate_pattern() -> [[i8; 4]; 256] {
    let mut random = SplitMix64::new(PATTERN_SEED);
    let mut coordinate = || {
        let sum: i64 = (0..12).map(|_| (random.next_u64() >> 40) as i64).sum();
        let standard = (sum - 6 * (1 << 24)) as f64 / f64::from(1 << 24);
        (standard * PATTERN_SIGMA).round() as i32
    };
    let mut point = || loop {
        let (x, y) = (coordinate(), coordinate());
        if x * x + y * y <= PATTERN_RADIUS_SQUARED {
            return [x as i8, y as i8];
        }
    };
    let mut pattern = [[0i8; 4]; 256];
    for pair in &mut pattern {
        *pair = loop {
            let (first, second) = (point(), point());
            if first != second {
                break [first[0], first[1], second[0], second[1]];
            }
        };
    }
    pattern
}

/// The direction (radians, atan2 of the first moments) from (x, y) to the intensity centroid of
/// the circular patch around it; (x, y) lies at least `PATCH_RADIUS` pixels inside `image`.
#[expect(
    clippy::indexing_slicing,
    reason = "keypoints lie at least the patch radius inside the image, so the rows y +- v and the columns around x are inside it"
)]
pub(super) fn orientation(image: &Gray, x: usize, y: usize) -> f32 {
    let (mut m10, mut m01) = (0i64, 0i64);
    for (v, &span) in CIRCLE_SPANS.iter().enumerate() {
        let columns = x - span..=x + span;
        let below = &image.pixels[(y + v) * image.width..][columns.clone()];
        let above = &image.pixels[(y - v) * image.width..][columns];
        for (u, (&b, &a)) in (-(span as i64)..).zip(below.iter().zip(above)) {
            let (b, a) = (i64::from(b), i64::from(a));
            if v == 0 {
                m10 += u * b;
            } else {
                m10 += u * (a + b);
                m01 += v as i64 * (b - a);
            }
        }
    }
    (m01 as f32).atan2(m10 as f32)
}

/// The steered BRIEF descriptor of (x, y) in `smoothed`, the pattern turned by `angle`; (x, y)
/// lies at least `PATCH_RADIUS` pixels inside `smoothed`.
#[expect(
    clippy::indexing_slicing,
    reason = "keypoints are kept at least the pattern's radius away from the border of their level, so every patch and pattern offset stays inside the smoothed image"
)]
pub(super) fn describe(smoothed: &Gray, x: usize, y: usize, angle: f32) -> Descriptor {
    let (sin, cos) = angle.sin_cos();
    let width = smoothed.width as i32;
    let (xs, ys) = &*POINTS;
    // Adding 1.5 * 2^23 leaves a small number rounded to the nearest integer in the low bits of
    // the sum (ties to even, so that a point and its mirror image round alike).
    const ROUNDING: f32 = 12_582_912.0;
    let round = |v: f32| (v + ROUNDING).to_bits() as i32 - ROUNDING.to_bits() as i32;
    let mut offsets = [0i32; 512];
    for ((offset, &px), &py) in offsets.iter_mut().zip(xs).zip(ys) {
        *offset = round(px * sin + py * cos) * width + round(px * cos - py * sin);
    }
    let radius = PATCH_RADIUS * (smoothed.width + 1);
    let centre = y * smoothed.width + x;
    let patch = &smoothed.pixels[centre - radius..=centre + radius];
    let value = |offset: i32| patch[(radius as i32 + offset) as usize];
    let mut descriptor = [0u64; 4];
    for (word, pairs) in descriptor.iter_mut().zip(offsets.chunks_exact(128)) {
        for (bit, pair) in pairs.chunks_exact(2).enumerate() {
            *word |= u64::from(value(pair[0]) < value(pair[1])) << bit;
        }
    }
    descriptor
}

#[cfg(test)]
mod tests {
    use super::*;

    fn distance(a: &Descriptor, b: &Descriptor) -> u32 {
        a.iter().zip(b).map(|(a, b)| (a ^ b).count_ones()).sum()
    }

    /// Smooth random blobs: texture with corners at every scale.
    fn texture(side: usize, seed: u64) -> Gray {
        let mut random = SplitMix64::new(seed);
        let blobs: Vec<(f32, f32, f32, f32)> = (0..40)
            .map(|_| {
                let mut unit = || (random.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
                (unit() * side as f32, unit() * side as f32, 2.0 + 8.0 * unit(), unit() * 2.0 - 1.0)
            })
            .collect();
        let pixels = (0..side * side)
            .map(|i| {
                let (x, y) = ((i % side) as f32, (i / side) as f32);
                let sum: f32 = blobs
                    .iter()
                    .map(|&(bx, by, r, a)| a * (-((x - bx).powi(2) + (y - by).powi(2)) / (r * r)).exp())
                    .sum();
                (128.0 + 90.0 * sum).clamp(0.0, 255.0) as u8
            })
            .collect();
        Gray { width: side, height: side, pixels }
    }

    /// `image` turned a quarter clockwise: the pixel at (x, y) moves to (side - 1 - y, x).
    fn quarter_turn(image: &Gray) -> Gray {
        let side = image.width;
        let pixels = (0..side * side).map(|i| image.at(i / side, side - 1 - i % side)).collect();
        Gray { width: side, height: side, pixels }
    }

    #[test]
    fn the_pattern_is_fixed_balanced_and_inside_the_patch() {
        let pattern = generate_pattern();
        assert_eq!(pattern, *PATTERN, "the same seed draws the same pattern");
        let checksum = pattern.iter().flatten().fold(0u32, |h, &v| h.wrapping_mul(31).wrapping_add(v as u8 as u32));
        assert_eq!(checksum, 3_705_253_057, "the stored descriptors' pattern changed: bump the encoding version");
        let squares: Vec<i32> =
            pattern.iter().flat_map(|p| [p[0], p[1], p[2], p[3]]).map(|v| i32::from(v).pow(2)).collect();
        assert!(pattern.iter().all(|p| i32::from(p[0]).pow(2) + i32::from(p[1]).pow(2) <= PATTERN_RADIUS_SQUARED));
        let spread = (squares.iter().sum::<i32>() as f64 / squares.len() as f64).sqrt();
        assert!((4.5..6.5).contains(&spread), "coordinates spread by {spread}, about sigma = 6.2 clipped at 13");
        let mean: f64 = pattern.iter().flatten().map(|&v| f64::from(v)).sum::<f64>() / 1024.0;
        assert!(mean.abs() < 0.5, "centred: {mean}");
    }

    #[test]
    fn the_circular_patch_is_symmetric_and_15_pixels_in_radius() {
        assert_eq!(CIRCLE_SPANS[0], 15);
        assert_eq!(CIRCLE_SPANS[15], 3);
        for (v, &row_span) in CIRCLE_SPANS.iter().enumerate() {
            for (u, &column_span) in CIRCLE_SPANS.iter().enumerate() {
                assert_eq!(u <= row_span, v <= column_span, "({u}, {v})");
            }
        }
    }

    #[test]
    fn orientation_points_towards_the_bright_side() {
        let side = 41;
        let ramp = |f: &dyn Fn(usize, usize) -> u8| Gray {
            width: side,
            height: side,
            pixels: (0..side * side).map(|i| f(i % side, i / side)).collect(),
        };
        let right = orientation(&ramp(&|x, _| (x * 5) as u8), 20, 20);
        let down = orientation(&ramp(&|_, y| (y * 5) as u8), 20, 20);
        let left = orientation(&ramp(&|x, _| 250 - (x * 5) as u8), 20, 20);
        assert!(right.abs() < 1e-3, "{right}");
        assert!((down - std::f32::consts::FRAC_PI_2).abs() < 1e-3, "{down}");
        assert!((left.abs() - std::f32::consts::PI).abs() < 1e-3, "{left}");
    }

    #[test]
    fn a_patch_turned_a_quarter_keeps_its_descriptor() {
        let image = texture(101, 7);
        let turned = quarter_turn(&image);
        let (angle, turned_angle) = (orientation(&image, 50, 50), orientation(&turned, 50, 50));
        let quarter = (turned_angle - angle).rem_euclid(std::f32::consts::TAU);
        assert!((quarter - std::f32::consts::FRAC_PI_2).abs() < 1e-3, "turned by {quarter} rad");
        let original = describe(&image.smoothed(), 50, 50, angle);
        let steered = describe(&turned.smoothed(), 50, 50, turned_angle);
        assert!(distance(&original, &steered) <= 8, "distance {}", distance(&original, &steered));
        let unsteered = describe(&turned.smoothed(), 50, 50, angle);
        assert!(distance(&original, &unsteered) > 64, "without steering: {}", distance(&original, &unsteered));
        let elsewhere = describe(&image.smoothed(), 30, 65, orientation(&image, 30, 65));
        assert!(distance(&original, &elsewhere) > 64, "another patch: {}", distance(&original, &elsewhere));
    }
}
