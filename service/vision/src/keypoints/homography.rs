//! Homographies from point correspondences: the normalised direct linear transform (Hartley), and
//! RANSAC around it with a deterministic seed and an adaptive number of iterations.

use super::SplitMix64;
use crate::Point;

/// A plane-to-plane projective map: (x, y) goes to ((h0 x + h1 y + h2) / w, (h3 x + h4 y + h5) / w)
/// with w = h6 x + h7 y + h8.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Homography(pub [f64; 9]);

impl Homography {
    /// Where `point` lands, or None when it lands at infinity or beyond it (w <= 0: the point is
    /// behind the camera that would see the plane this way).
    pub fn project(&self, point: Point) -> Option<Point> {
        self.apply([f64::from(point.x), f64::from(point.y)]).map(|[x, y]| Point { x: x as f32, y: y as f32 })
    }

    fn apply(&self, [x, y]: [f64; 2]) -> Option<[f64; 2]> {
        let h = &self.0;
        let w = h[6] * x + h[7] * y + h[8];
        (w > f64::EPSILON).then(|| [(h[0] * x + h[1] * y + h[2]) / w, (h[3] * x + h[4] * y + h[5]) / w])
    }

    #[expect(clippy::indexing_slicing, reason = "row, column, k < 3 index 3x3 matrices stored in 9-arrays")]
    fn then(&self, other: &Homography) -> Homography {
        let (a, b) = (&other.0, &self.0);
        Homography(std::array::from_fn(|i| {
            let (row, column) = (i / 3, i % 3);
            (0..3).map(|k| a[row * 3 + k] * b[k * 3 + column]).sum()
        }))
    }

    /// Scaled so that the bottom-right entry is 1 (when it is not near 0).
    fn normalized(self) -> Homography {
        let last = self.0[8];
        if last.abs() > 1e-12 { Homography(self.0.map(|v| v / last)) } else { self }
    }
}

/// Hartley's normalisation of a point set: its centroid moved to the origin and its mean distance
/// from it scaled to sqrt(2).
#[derive(Clone, Copy)]
struct Normalization {
    centre: [f64; 2],
    scale: f64,
}

impl Normalization {
    fn of(points: &[[f64; 2]]) -> Option<Self> {
        let n = points.len() as f64;
        let centre = [points.iter().map(|p| p[0]).sum::<f64>() / n, points.iter().map(|p| p[1]).sum::<f64>() / n];
        let spread = points.iter().map(|p| (p[0] - centre[0]).hypot(p[1] - centre[1])).sum::<f64>() / n;
        (spread > 1e-9).then(|| Self { centre, scale: std::f64::consts::SQRT_2 / spread })
    }

    fn apply(&self, p: [f64; 2]) -> [f64; 2] {
        [(p[0] - self.centre[0]) * self.scale, (p[1] - self.centre[1]) * self.scale]
    }

    fn forward(&self) -> Homography {
        let (s, [cx, cy]) = (self.scale, self.centre);
        Homography([s, 0.0, -s * cx, 0.0, s, -s * cy, 0.0, 0.0, 1.0])
    }

    fn backward(&self) -> Homography {
        let (s, [cx, cy]) = (self.scale, self.centre);
        Homography([1.0 / s, 0.0, cx, 0.0, 1.0 / s, cy, 0.0, 0.0, 1.0])
    }
}

/// The two rows a correspondence adds to the DLT system in h0..h7 (h8 = 1), right-hand side last.
fn dlt_rows([x, y]: [f64; 2], [u, v]: [f64; 2]) -> [[f64; 9]; 2] {
    [[x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u], [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v]]
}

/// Solves the 8x8 system whose right-hand side is the last column (Gaussian elimination with
/// partial pivoting); None when it is (nearly) singular.
#[expect(
    clippy::indexing_slicing,
    reason = "column, row, k < 8 and pivot in column..8 index the fixed 8x9 system and the 9 values of h"
)]
fn solve(mut system: [[f64; 9]; 8]) -> Option<Homography> {
    for column in 0..8 {
        let pivot = (column..8).max_by(|&a, &b| system[a][column].abs().total_cmp(&system[b][column].abs()))?;
        if system[pivot][column].abs() < 1e-10 {
            return None;
        }
        system.swap(column, pivot);
        let (upper, lower) = system.split_at_mut(column + 1);
        let pivot_row = &upper[column];
        for row in lower {
            let factor = row[column] / pivot_row[column];
            for (value, &above) in row[column..].iter_mut().zip(&pivot_row[column..]) {
                *value -= factor * above;
            }
        }
    }
    let mut h = [0.0; 9];
    h[8] = 1.0;
    for row in (0..8).rev() {
        let known: f64 = (row + 1..8).map(|k| system[row][k] * h[k]).sum();
        h[row] = (system[row][8] - known) / system[row][row];
    }
    h.iter().all(|v| v.is_finite()).then_some(Homography(h))
}

/// The homography through four correspondences.
#[expect(clippy::indexing_slicing, reason = "i < 4 indexes the four points and rows 2i, 2i + 1 of the 8-row system")]
fn through_four(src: [[f64; 2]; 4], dst: [[f64; 2]; 4]) -> Option<Homography> {
    let mut system = [[0.0; 9]; 8];
    for i in 0..4 {
        let [a, b] = dlt_rows(src[i], dst[i]);
        system[2 * i] = a;
        system[2 * i + 1] = b;
    }
    solve(system)
}

/// The least-squares DLT fit of `dst` to `src` (both already normalised), from the normal equations.
#[expect(clippy::indexing_slicing, reason = "i < 8 and k < 9 index the fixed 8x9 system and a 9-value DLT row")]
fn least_squares(src: &[[f64; 2]], dst: &[[f64; 2]]) -> Option<Homography> {
    let mut system = [[0.0; 9]; 8];
    for (&s, &d) in src.iter().zip(dst) {
        for row in dlt_rows(s, d) {
            for i in 0..8 {
                for k in 0..9 {
                    system[i][k] += row[i] * row[k];
                }
            }
        }
    }
    solve(system)
}

/// RANSAC's settings: the confidence of having drawn one all-inlier sample, and the most samples drawn.
const CONFIDENCE: f64 = 0.995;
const MAX_ITERATIONS: usize = 2000;
const REFITS: usize = 3;
const SEED: u64 = 0x5241_4e53_4143_4b50;

/// A homography and the indices of the correspondences it maps within the threshold.
pub(super) struct Fit {
    pub homography: Homography,
    pub inliers: Vec<usize>,
}

/// The homography that maps the most of `src` within `threshold` of their `dst`: minimal samples
/// drawn until one with all inliers has been drawn with `CONFIDENCE` (at most `MAX_ITERATIONS`),
/// then refitted on the best one's inliers while that keeps or adds inliers.
#[expect(
    clippy::indexing_slicing,
    reason = "draw_four gives indices below n = src.len() = dst.len(), and within() gives indices of src"
)]
pub(super) fn ransac(src: &[[f64; 2]], dst: &[[f64; 2]], threshold: f64) -> Option<Fit> {
    let n = src.len();
    if n < 4 || dst.len() != n {
        return None;
    }
    let (from, to) = (Normalization::of(src)?, Normalization::of(dst)?);
    let src: Vec<[f64; 2]> = src.iter().map(|&p| from.apply(p)).collect();
    let dst: Vec<[f64; 2]> = dst.iter().map(|&p| to.apply(p)).collect();
    let limit = (threshold * to.scale).powi(2);
    let mut random = SplitMix64::new(SEED ^ n as u64);
    let (mut best, mut best_count, mut needed, mut drawn) = (None, 0, MAX_ITERATIONS, 0);
    while drawn < needed {
        drawn += 1;
        let sample = draw_four(&mut random, n);
        let (s, d) = (sample.map(|i| src[i]), sample.map(|i| dst[i]));
        if !same_orientation(&s, &d) {
            continue;
        }
        let Some(candidate) = through_four(s, d) else { continue };
        let count = count_within(&candidate, &src, &dst, limit);
        if count > best_count {
            (best, best_count) = (Some(candidate), count);
            needed = needed.min(iterations_for(count, n));
        }
    }
    let mut homography = best?;
    let mut inliers = within(&homography, &src, &dst, limit);
    for _ in 0..REFITS {
        let (s, d): (Vec<[f64; 2]>, Vec<[f64; 2]>) = inliers.iter().map(|&i| (src[i], dst[i])).unzip();
        let Some(refit) = least_squares(&s, &d) else { break };
        let refit_inliers = within(&refit, &src, &dst, limit);
        if refit_inliers.len() < inliers.len() {
            break;
        }
        let unchanged = refit_inliers == inliers;
        (homography, inliers) = (refit, refit_inliers);
        if unchanged {
            break;
        }
    }
    let homography = from.forward().then(&homography).then(&to.backward()).normalized();
    Some(Fit { homography, inliers })
}

/// Samples needed to draw four inliers at once with `CONFIDENCE` when `inliers` of `n` are.
fn iterations_for(inliers: usize, n: usize) -> usize {
    let all_four = (inliers as f64 / n as f64).powi(4);
    if all_four >= 1.0 {
        return 1;
    }
    let needed = (1.0 - CONFIDENCE).ln() / (1.0 - all_four).ln();
    if needed.is_finite() { needed.ceil().min(MAX_ITERATIONS as f64) as usize } else { MAX_ITERATIONS }
}

#[expect(clippy::indexing_slicing, reason = "i < 4 indexes a 4-array")]
fn draw_four(random: &mut SplitMix64, n: usize) -> [usize; 4] {
    let mut sample = [0usize; 4];
    for i in 0..4 {
        sample[i] = loop {
            let candidate = random.below(n);
            if !sample[..i].contains(&candidate) {
                break candidate;
            }
        };
    }
    sample
}

/// Whether every three of the four points turn the same way in both sets and none are (nearly)
/// in a line: a homography of a seen plane neither mirrors it nor folds it.
#[expect(clippy::indexing_slicing, reason = "TRIPLES holds indices 0..4 into 4-arrays of 2-arrays")]
fn same_orientation(src: &[[f64; 2]; 4], dst: &[[f64; 2]; 4]) -> bool {
    const TRIPLES: [[usize; 3]; 4] = [[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]];
    let turn = |p: &[[f64; 2]; 4], [a, b, c]: [usize; 3]| {
        (p[b][0] - p[a][0]) * (p[c][1] - p[a][1]) - (p[b][1] - p[a][1]) * (p[c][0] - p[a][0])
    };
    TRIPLES.iter().all(|&triple| {
        let (s, d) = (turn(src, triple), turn(dst, triple));
        s.abs() > 1e-6 && d.abs() > 1e-6 && (s > 0.0) == (d > 0.0)
    })
}

fn error(h: &Homography, s: [f64; 2], d: [f64; 2]) -> f64 {
    h.apply(s).map_or(f64::INFINITY, |[x, y]| (x - d[0]).powi(2) + (y - d[1]).powi(2))
}

fn count_within(h: &Homography, src: &[[f64; 2]], dst: &[[f64; 2]], limit: f64) -> usize {
    src.iter().zip(dst).filter(|&(&s, &d)| error(h, s, d) < limit).count()
}

#[expect(clippy::indexing_slicing, reason = "i < src.len(), and dst has as many points (checked by ransac)")]
fn within(h: &Homography, src: &[[f64; 2]], dst: &[[f64; 2]], limit: f64) -> Vec<usize> {
    (0..src.len()).filter(|&i| error(h, src[i], dst[i]) < limit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The normalised DLT: the homography that best maps `src` onto `dst` (at least four pairs).
    fn fit(src: &[[f64; 2]], dst: &[[f64; 2]]) -> Option<Homography> {
        if src.len() < 4 || src.len() != dst.len() {
            return None;
        }
        let (from, to) = (Normalization::of(src)?, Normalization::of(dst)?);
        let src: Vec<[f64; 2]> = src.iter().map(|&p| from.apply(p)).collect();
        let dst: Vec<[f64; 2]> = dst.iter().map(|&p| to.apply(p)).collect();
        Some(from.forward().then(&least_squares(&src, &dst)?).then(&to.backward()).normalized())
    }

    /// A product seen turned and in perspective.
    const TRUTH: Homography = Homography([0.76, -0.30, 225.7, 0.33, 1.01, -77.0, 3.5e-4, -1.4e-5, 1.0]);

    fn grid() -> Vec<[f64; 2]> {
        (0..50).map(|i| [f64::from(i % 10) * 31.0 + 7.0, f64::from(i / 10) * 53.0 + 11.0]).collect()
    }

    fn assert_close(a: &Homography, b: &Homography, tolerance: f64) {
        for (x, y) in a.0.iter().zip(b.0) {
            assert!((x - y).abs() <= tolerance * y.abs().max(1e-3), "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn the_dlt_recovers_an_exact_homography_from_four_points_and_from_many() {
        let src = grid();
        let dst: Vec<[f64; 2]> = src.iter().map(|&p| TRUTH.apply(p).unwrap()).collect();
        assert_close(&fit(&src, &dst).unwrap(), &TRUTH, 1e-6);
        let four = [0, 9, 49, 40];
        assert_close(&fit(&four.map(|i| src[i]), &four.map(|i| dst[i])).unwrap(), &TRUTH, 1e-6);
        let moved = Homography([1.0, 0.0, 12.5, 0.0, 1.0, -3.0, 0.0, 0.0, 1.0]);
        let shifted: Vec<[f64; 2]> = src.iter().map(|&p| moved.apply(p).unwrap()).collect();
        assert_close(&fit(&src, &shifted).unwrap(), &moved, 1e-9);
    }

    #[test]
    fn the_dlt_refuses_points_in_a_line_and_too_few() {
        let line: Vec<[f64; 2]> = (0..6).map(|i| [f64::from(i), 2.0 * f64::from(i)]).collect();
        assert!(fit(&line, &line).is_none());
        assert!(fit(&grid()[..3], &grid()[..3]).is_none());
        assert!(fit(&[[1.0, 1.0]; 8], &grid()[..8]).is_none(), "all points in one place");
    }

    #[test]
    fn ransac_finds_the_homography_among_outliers_and_the_same_each_run() {
        let src = grid();
        let mut random = SplitMix64::new(3);
        let mut noise = || (random.next_u64() >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
        let dst: Vec<[f64; 2]> = src
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                if i % 5 < 3 {
                    let [x, y] = TRUTH.apply(p).unwrap();
                    [x + noise(), y + noise()]
                } else {
                    [noise() * 600.0 + 300.0, noise() * 400.0 + 200.0]
                }
            })
            .collect();
        let found = ransac(&src, &dst, 3.0).unwrap();
        assert!(found.inliers.len() >= 30, "{} of the 30 true matches", found.inliers.len());
        assert!(found.inliers.iter().all(|&i| i % 5 < 3 || error(&found.homography, src[i], dst[i]) < 9.0));
        for corner in [[0.0, 0.0], [300.0, 0.0], [300.0, 250.0], [0.0, 250.0]] {
            let (a, b) = (found.homography.apply(corner).unwrap(), TRUTH.apply(corner).unwrap());
            assert!((a[0] - b[0]).hypot(a[1] - b[1]) < 1.5, "{corner:?}: {a:?} vs {b:?}");
        }
        let again = ransac(&src, &dst, 3.0).unwrap();
        assert_eq!((again.homography, again.inliers), (found.homography, found.inliers));
    }

    #[test]
    fn ransac_needs_four_correspondences_and_a_consistent_sample() {
        assert!(ransac(&grid()[..3], &grid()[..3], 5.0).is_none());
        // A mirror image: every sample turns the other way, so none is tried.
        let src = grid();
        let mirrored: Vec<[f64; 2]> = src.iter().map(|p| [500.0 - p[0], p[1]]).collect();
        assert!(ransac(&src, &mirrored, 5.0).is_none());
    }

    #[test]
    fn iterations_adapt_to_the_inlier_share() {
        assert_eq!(iterations_for(100, 100), 1);
        assert_eq!(iterations_for(50, 100), 83, "ln(0.005) / ln(1 - 0.5^4)");
        assert_eq!(iterations_for(5, 100), MAX_ITERATIONS);
    }

    #[test]
    fn points_behind_the_horizon_do_not_project() {
        let tilted = Homography([1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.01, 0.0, 1.0]);
        assert!(tilted.project(Point { x: 50.0, y: 0.0 }).is_some());
        assert!(tilted.project(Point { x: -100.0, y: 0.0 }).is_none());
        assert!(tilted.project(Point { x: -150.0, y: 0.0 }).is_none());
    }
}
