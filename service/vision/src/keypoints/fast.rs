//! FAST-9 corners (Rosten and Drummond): a pixel is a corner when at least 9 contiguous pixels of
//! the 16 on a circle of radius 3 around it are all brighter, or all darker, than it by more than
//! a threshold. Corners are thinned to local maxima of their score and ranked by the Harris
//! response.

use super::pyramid::Gray;

/// The circle of radius 3, clockwise from the top.
const CIRCLE: [(isize, isize); 16] = [
    (0, -3),
    (1, -3),
    (2, -2),
    (3, -1),
    (3, 0),
    (3, 1),
    (2, 2),
    (1, 3),
    (0, 3),
    (-1, 3),
    (-2, 2),
    (-3, 1),
    (-3, 0),
    (-3, -1),
    (-2, -2),
    (-1, -3),
];

/// A corner of a pyramid level: where it is, its FAST score (the largest threshold it would
/// still pass) and, once ranked, its Harris response.
#[derive(Clone, Copy, Debug)]
pub(super) struct Corner {
    pub x: usize,
    pub y: usize,
    pub score: u8,
    pub response: f32,
}

/// The corners of `image` at least `border` pixels from its edges that score higher than their
/// eight neighbours (of equal neighbours, the first in raster order is kept).
#[expect(
    clippy::indexing_slicing,
    reason = "y and x stay border >= 4 inside the image, so at and its eight neighbours index scores, which has width * height entries"
)]
pub(super) fn corners(image: &Gray, threshold: u8, border: usize) -> Vec<Corner> {
    let (width, height) = (image.width, image.height);
    let border = border.max(4);
    if width < 2 * border + 1 || height < 2 * border + 1 {
        return Vec::new();
    }
    let offsets = CIRCLE.map(|(dx, dy)| dy * width as isize + dx);
    let mut scores = vec![0u8; width * height];
    let mut found = Vec::new();
    let (first, end) = (border - 1, width - border + 1);
    let mut maybe = vec![false; end - first];
    for y in border - 1..height - border + 1 {
        compass_test(&image.pixels, width, y, first, threshold, &mut maybe);
        for (x, _) in (first..end).zip(&maybe).filter(|(_, maybe)| **maybe) {
            let at = y * width + x;
            if let Some(score) = score(&image.pixels, at, &offsets, threshold) {
                scores[at] = score;
                if (border..height - border).contains(&y) && (border..width - border).contains(&x) {
                    found.push(at);
                }
            }
        }
    }
    found
        .into_iter()
        .filter(|&at| {
            let s = scores[at];
            let (w, before) = (width, [at - width - 1, at - width, at - width + 1, at - 1]);
            before.iter().all(|&n| s > scores[n])
                && [at + 1, at + w - 1, at + w, at + w + 1].iter().all(|&n| s >= scores[n])
        })
        .map(|at| Corner { x: at % width, y: at / width, score: scores[at], response: 0.0 })
        .collect()
}

/// For the pixels of row `y` from column `first` on (one per value of `maybe`; all at least 3
/// pixels inside the image), whether they pass FAST's quick test: an arc of 9 covers two
/// neighbouring points of the four at 0, 4, 8 and 12, so two of those must be brighter, or
/// darker. Written over whole rows so that it runs on vector instructions.
#[expect(
    clippy::indexing_slicing,
    reason = "rows y - 3 and y + 3 and columns first - 3 to first + n + 3 are inside the image, as corners() keeps y and x at least border - 1 >= 3 from its edges"
)]
fn compass_test(pixels: &[u8], width: usize, y: usize, first: usize, threshold: u8, maybe: &mut [bool]) {
    let n = maybe.len();
    let centre = &pixels[y * width + first..][..n];
    let up = &pixels[(y - 3) * width + first..][..n];
    let down = &pixels[(y + 3) * width + first..][..n];
    let right = &pixels[y * width + first + 3..][..n];
    let left = &pixels[y * width + first - 3..][..n];
    for i in 0..n {
        let (high, low) = (centre[i].saturating_add(threshold), centre[i].saturating_sub(threshold));
        let (u, r, d, l) = (up[i], right[i], down[i], left[i]);
        let bright = (u > high && r > high) | (r > high && d > high) | (d > high && l > high) | (l > high && u > high);
        let dark = (u < low && r < low) | (r < low && d < low) | (d < low && l < low) | (l < low && u < low);
        maybe[i] = bright | dark;
    }
}

/// The FAST score of the pixel at `at`, or None when it is no corner at `threshold`.
#[expect(
    clippy::indexing_slicing,
    reason = "at is at least 3 pixels inside the image, so the Bresenham circle's offsets stay inside pixels; k < 16 indexes the 16 offsets"
)]
fn score(pixels: &[u8], at: usize, offsets: &[isize; 16], threshold: u8) -> Option<u8> {
    let centre = i16::from(pixels[at]);
    let (high, low) = (centre + i16::from(threshold), centre - i16::from(threshold));
    let values: [i16; 16] = std::array::from_fn(|k| i16::from(pixels[at.wrapping_add_signed(offsets[k])]));
    let (mut bright, mut dark) = (0u32, 0u32);
    for (k, &v) in values.iter().enumerate() {
        bright |= u32::from(v > high) << k;
        dark |= u32::from(v < low) << k;
    }
    if !has_arc(bright) && !has_arc(dark) {
        return None;
    }
    let brighter = best_arc(&values.map(|v| v - centre));
    let darker = best_arc(&values.map(|v| centre - v));
    Some((brighter.max(darker) - 1).clamp(0, 255) as u8)
}

/// Whether the 16-bit circular `mask` has 9 contiguous bits set.
fn has_arc(mask: u32) -> bool {
    let doubled = mask | mask << 16;
    let two = doubled & doubled >> 1;
    let four = two & two >> 2;
    let eight = four & four >> 4;
    eight & doubled >> 8 != 0
}

/// The largest, over the arcs of 9 contiguous points, of the smallest difference on the arc
/// (minima of pairs, then of fours, then of eights, then the ninth point; in fixed-size arrays so
/// that it runs on vector instructions).
#[expect(
    clippy::indexing_slicing,
    reason = "every index is below the length of its fixed-size array: k % 16 < 16, k + 1 < 24, k + 2 < 22, k + 4 < 20, k + 8 < 24"
)]
fn best_arc(differences: &[i16; 16]) -> i16 {
    let ring: [i16; 24] = std::array::from_fn(|k| differences[k % 16]);
    let pairs: [i16; 22] = std::array::from_fn(|k| ring[k].min(ring[k + 1]));
    let fours: [i16; 20] = std::array::from_fn(|k| pairs[k].min(pairs[k + 2]));
    let arcs: [i16; 16] = std::array::from_fn(|k| fours[k].min(fours[k + 4]).min(ring[k + 8]));
    arcs.into_iter().fold(i16::MIN, i16::max)
}

/// The Harris corner response (k = 0.04) over the 7x7 block around (x, y), from 3x3 Sobel
/// gradients; (x, y) lies at least 4 pixels inside `image`.
#[expect(
    clippy::indexing_slicing,
    reason = "corners are found at least the border (>= 4) inside the image, so the 7x7 window around them is inside it"
)]
pub(super) fn harris_response(image: &Gray, x: usize, y: usize) -> f32 {
    let width = image.width;
    let p = |at: usize| i32::from(image.pixels[at]);
    let (mut xx, mut yy, mut xy) = (0i64, 0i64, 0i64);
    for row in y - 3..=y + 3 {
        for column in x - 3..=x + 3 {
            let at = row * width + column;
            let (up, down) = (at - width, at + width);
            let dx = p(up + 1) + 2 * p(at + 1) + p(down + 1) - p(up - 1) - 2 * p(at - 1) - p(down - 1);
            let dy = p(down - 1) + 2 * p(down) + p(down + 1) - p(up - 1) - 2 * p(up) - p(up + 1);
            xx += i64::from(dx * dx);
            yy += i64::from(dy * dy);
            xy += i64::from(dx * dy);
        }
    }
    let (a, b, c) = (xx as f64, yy as f64, xy as f64);
    (a * b - c * c - 0.04 * (a + b) * (a + b)) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gray(width: usize, height: usize, pixel: impl Fn(usize, usize) -> u8) -> Gray {
        let pixels = (0..height).flat_map(|y| (0..width).map(move |x| (x, y))).map(|(x, y)| pixel(x, y)).collect();
        Gray { width, height, pixels }
    }

    #[test]
    fn the_corner_of_a_bright_square_is_found_and_its_edges_and_inside_are_not() {
        let image = gray(60, 60, |x, y| if (20..40).contains(&x) && (20..40).contains(&y) { 200 } else { 40 });
        let found = corners(&image, 20, 8);
        let at: Vec<(usize, usize)> = found.iter().map(|c| (c.x, c.y)).collect();
        assert_eq!(found.len(), 4, "one corner each: {at:?}");
        // Along a perfectly straight edge the pixels next to the corner score the same; of such a
        // run, the first in raster order is kept.
        for (cx, cy) in [(20, 20), (39, 20), (20, 39), (39, 39)] {
            assert!(
                at.iter().any(|&(x, y)| x.abs_diff(cx) <= 2 && y.abs_diff(cy) <= 2),
                "no corner near ({cx}, {cy}): {at:?}"
            );
        }
        assert!(found.iter().all(|c| c.score > 20));
    }

    #[test]
    fn flat_images_edges_and_weak_contrast_give_no_corner() {
        assert!(corners(&gray(50, 50, |_, _| 90), 10, 8).is_empty());
        assert!(corners(&gray(50, 50, |x, _| if x < 25 { 30 } else { 220 }), 10, 8).is_empty(), "a straight edge");
        let faint = gray(60, 60, |x, y| if (20..40).contains(&x) && (20..40).contains(&y) { 105 } else { 100 });
        assert!(corners(&faint, 10, 8).is_empty(), "contrast below the threshold");
    }

    #[test]
    fn a_dark_spot_is_a_corner_scored_by_its_contrast() {
        let spot = |level: u8| gray(40, 40, move |x, y| if (x, y) == (20, 20) { level } else { 180 });
        let strong = corners(&spot(20), 10, 8);
        let weak = corners(&spot(150), 10, 8);
        assert_eq!(strong.iter().map(|c| (c.x, c.y)).collect::<Vec<_>>(), [(20, 20)]);
        assert_eq!(weak.len(), 1);
        assert_eq!(strong[0].score, 159, "every pixel of the ring is 160 brighter");
        assert!(strong[0].score > weak[0].score);
    }

    #[test]
    fn corners_keep_off_the_border() {
        let image = gray(40, 40, |x, y| if x < 6 && y < 6 { 250 } else { 10 });
        assert!(corners(&image, 10, 8).is_empty());
        assert!(corners(&gray(10, 10, |x, y| (x * y) as u8), 10, 8).is_empty(), "too small for the border");
    }

    #[test]
    fn arcs_of_nine_are_told_from_shorter_ones() {
        assert!(has_arc(0x01ff) && has_arc(0xff80) && has_arc(0xf01f), "9 in a row, also across the wrap");
        assert!(!has_arc(0x00ff) && !has_arc(0xf00f) && !has_arc(0x5555));
        assert!(has_arc(0xffff));
    }

    #[test]
    fn the_best_arc_is_the_best_run_of_nine() {
        let mut differences = [0i16; 16];
        for (k, d) in [(14, 50), (15, 40), (0, 30), (1, 60), (2, 70), (3, 45), (4, 80), (5, 90), (6, 35)] {
            differences[k] = d;
        }
        assert_eq!(best_arc(&differences), 30, "the run from 14 across the wrap to 6");
        // Against every run of nine taken one by one, on pseudo-random rings.
        let mut state = 12345u32;
        for _ in 0..2000 {
            let ring: [i16; 16] = std::array::from_fn(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (state >> 16) as i16 % 300 - 150
            });
            let naive = (0..16).map(|start| (0..9).map(|k| ring[(start + k) % 16]).min().unwrap()).max().unwrap();
            assert_eq!(best_arc(&ring), naive, "{ring:?}");
        }
    }

    #[test]
    fn harris_prefers_corners_to_edges() {
        let image = gray(60, 60, |x, y| if x >= 30 && y >= 30 { 200 } else { 40 });
        let corner = harris_response(&image, 30, 30);
        let edge = harris_response(&image, 30, 45);
        let flat = harris_response(&image, 12, 12);
        assert!(corner > 0.0 && edge < 0.0 && flat == 0.0, "{corner} {edge} {flat}");
    }
}
