//! Whether a homography found by RANSAC can be a product seen by a camera: the reference's
//! outline must land as a convex, unmirrored quadrilateral of plausible size and perspective, and
//! the inliers must cover enough of the reference to say the whole of it was found.

use super::homography::Homography;
use crate::{Crop, Point};

/// The outline may not take more than this share of the query's region (a product held up can
/// fill the frame and reach past it a little, not much).
const MAX_AREA_SHARE: f64 = 1.2;
/// Nor less than this area in pixels of the query's detection: a patch's side squared, smaller
/// than what local features can describe.
const MIN_AREA_PIXELS: f64 = 31.0 * 31.0;
/// Opposite sides of the outline: the shorter at least this share of the longer (perspective
/// shortens the far side, not to a sliver).
const MIN_OPPOSITE_SIDE_RATIO: f64 = 0.3;
/// The inliers' convex hull must cover at least this share of the reference's region.
const MIN_HULL_SHARE: f64 = 0.1;

/// The corners of `region` (top-left, top-right, bottom-right, bottom-left) where `homography`
/// puts them, when it puts all four in front of the camera.
pub(super) fn outline(homography: &Homography, region: Crop) -> Option<[Point; 4]> {
    let (left, top) = (region.x as f32, region.y as f32);
    let (right, bottom) = (left + region.width as f32, top + region.height as f32);
    let corners = [(left, top), (right, top), (right, bottom), (left, bottom)];
    let [a, b, c, d] = corners.map(|(x, y)| homography.project(Point { x, y }));
    Some([a?, b?, c?, d?])
}

/// Whether `outline` (in the query view) is convex, turns the way the region's corners do (no
/// mirror image), is neither too small (`pixel_scale`: view pixels per detection pixel) nor larger
/// than `MAX_AREA_SHARE` of the query's `frame`, and has no side squashed against its opposite.
#[expect(clippy::indexing_slicing, reason = "indices are taken mod 4 into 4-arrays of 2-arrays")]
pub(super) fn plausible(outline: &[Point; 4], frame: Crop, pixel_scale: f32) -> bool {
    let p: [[f64; 2]; 4] = outline.map(|c| [f64::from(c.x), f64::from(c.y)]);
    let turns = (0..4).map(|i| {
        let (a, b, c) = (p[i], p[(i + 1) % 4], p[(i + 2) % 4]);
        (b[0] - a[0]) * (c[1] - b[1]) - (b[1] - a[1]) * (c[0] - b[0])
    });
    // Image coordinates point down: the region's corners, clockwise on screen, turn positive.
    if !turns.into_iter().all(|turn| turn > 0.0) {
        return false;
    }
    let area = polygon_area(&p);
    let frame_area = f64::from(frame.width) * f64::from(frame.height);
    if area > MAX_AREA_SHARE * frame_area || area < MIN_AREA_PIXELS * f64::from(pixel_scale).powi(2) {
        return false;
    }
    let side = |i: usize| (p[(i + 1) % 4][0] - p[i][0]).hypot(p[(i + 1) % 4][1] - p[i][1]);
    [(0, 2), (1, 3)].iter().all(|&(a, b)| side(a).min(side(b)) >= MIN_OPPOSITE_SIDE_RATIO * side(a).max(side(b)))
}

/// Whether the convex hull of `points` (the inliers, in the reference view) covers enough of `region`.
pub(super) fn covers_enough(points: &[[f64; 2]], region: Crop) -> bool {
    let region_area = f64::from(region.width) * f64::from(region.height);
    polygon_area(&convex_hull(points)) >= MIN_HULL_SHARE * region_area
}

/// The area of a simple polygon (shoelace formula), whichever way it turns.
#[expect(clippy::indexing_slicing, reason = "i < n and (i + 1) % n < n index the polygon of n corners, each a 2-array")]
fn polygon_area(polygon: &[[f64; 2]]) -> f64 {
    let n = polygon.len();
    let twice: f64 =
        (0..n).map(|i| polygon[i][0] * polygon[(i + 1) % n][1] - polygon[(i + 1) % n][0] * polygon[i][1]).sum();
    twice.abs() / 2.0
}

/// The convex hull of `points` (Andrew's monotone chain), its corners in order.
#[expect(
    clippy::indexing_slicing,
    reason = "the loop reads hull.len() - 2 and hull.len() - 1 only while hull has at least start + 2 points"
)]
fn convex_hull(points: &[[f64; 2]]) -> Vec<[f64; 2]> {
    let mut sorted = points.to_vec();
    sorted.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    sorted.dedup();
    if sorted.len() < 3 {
        return sorted;
    }
    let cross = |o: [f64; 2], a: [f64; 2], b: [f64; 2]| (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
    let mut hull: Vec<[f64; 2]> = Vec::with_capacity(2 * sorted.len());
    for pass in [sorted.clone(), sorted.into_iter().rev().collect()] {
        let start = hull.len();
        for point in pass {
            while hull.len() >= start + 2 && cross(hull[hull.len() - 2], hull[hull.len() - 1], point) <= 0.0 {
                hull.pop();
            }
            hull.push(point);
        }
        hull.pop();
    }
    hull
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: Crop = Crop { x: 0, y: 0, width: 640, height: 480 };

    fn quad(corners: [(f32, f32); 4]) -> [Point; 4] {
        corners.map(|(x, y)| Point { x, y })
    }

    #[test]
    fn a_product_turned_and_in_perspective_is_plausible() {
        let upright = quad([(200.0, 100.0), (400.0, 100.0), (400.0, 380.0), (200.0, 380.0)]);
        assert!(plausible(&upright, FRAME, 1.0));
        let turned = quad([(220.0, 80.0), (420.0, 140.0), (380.0, 400.0), (170.0, 350.0)]);
        assert!(plausible(&turned, FRAME, 1.0));
        let far_side_shorter = quad([(250.0, 150.0), (350.0, 170.0), (350.0, 310.0), (250.0, 330.0)]);
        assert!(plausible(&far_side_shorter, FRAME, 1.0));
        let reaching_out = quad([(-40.0, -30.0), (660.0, -20.0), (650.0, 500.0), (-30.0, 490.0)]);
        assert!(plausible(&reaching_out, FRAME, 1.0), "a product held close reaches past the frame");
    }

    #[test]
    fn impossible_outlines_are_refused() {
        let mirrored = quad([(400.0, 100.0), (200.0, 100.0), (200.0, 380.0), (400.0, 380.0)]);
        assert!(!plausible(&mirrored, FRAME, 1.0), "mirror image");
        let bow_tie = quad([(200.0, 100.0), (400.0, 380.0), (400.0, 100.0), (200.0, 380.0)]);
        assert!(!plausible(&bow_tie, FRAME, 1.0), "crossed");
        let dart = quad([(200.0, 100.0), (400.0, 100.0), (250.0, 150.0), (200.0, 380.0)]);
        assert!(!plausible(&dart, FRAME, 1.0), "concave");
        let tiny = quad([(300.0, 200.0), (320.0, 200.0), (320.0, 220.0), (300.0, 220.0)]);
        assert!(!plausible(&tiny, FRAME, 1.0), "20x20 pixels");
        assert!(plausible(&quad([(300.0, 200.0), (340.0, 200.0), (340.0, 240.0), (300.0, 240.0)]), FRAME, 1.0));
        assert!(
            !plausible(&quad([(300.0, 200.0), (340.0, 200.0), (340.0, 240.0), (300.0, 240.0)]), FRAME, 2.0),
            "40x40 view pixels are 20x20 where the frame was shrunk by half"
        );
        let huge = quad([(-300.0, -300.0), (900.0, -300.0), (900.0, 700.0), (-300.0, 700.0)]);
        assert!(!plausible(&huge, FRAME, 1.0), "far larger than the frame");
        let sliver_side = quad([(200.0, 100.0), (400.0, 230.0), (400.0, 250.0), (200.0, 380.0)]);
        assert!(!plausible(&sliver_side, FRAME, 1.0), "right side 20 against the left's 280");
    }

    #[test]
    fn the_hull_of_inliers_must_cover_a_tenth_of_the_reference() {
        let region = Crop { x: 10, y: 10, width: 200, height: 100 };
        let spread = [[20.0, 20.0], [200.0, 15.0], [190.0, 100.0], [30.0, 95.0], [100.0, 50.0]];
        assert!(covers_enough(&spread, region));
        let clustered = [[20.0, 20.0], [60.0, 20.0], [60.0, 60.0], [20.0, 60.0], [40.0, 40.0]];
        assert!(!covers_enough(&clustered, region), "1600 of 20000 square pixels");
        let in_a_line = [[20.0, 20.0], [100.0, 60.0], [180.0, 100.0]];
        assert!(!covers_enough(&in_a_line, region));
        assert!(!covers_enough(&[], region));
    }

    #[test]
    fn hull_and_area_of_a_square_with_points_inside() {
        let points = [[0.0, 0.0], [4.0, 0.0], [2.0, 2.0], [4.0, 4.0], [0.0, 4.0], [1.0, 3.0], [4.0, 2.0]];
        let hull = convex_hull(&points);
        assert_eq!(hull.len(), 4, "{hull:?}");
        assert_eq!(polygon_area(&hull), 16.0);
    }

    #[test]
    fn the_outline_is_the_region_mapped_and_none_past_the_horizon() {
        let shift = Homography([2.0, 0.0, 5.0, 0.0, 2.0, -5.0, 0.0, 0.0, 1.0]);
        let region = Crop { x: 10, y: 20, width: 30, height: 40 };
        let mapped = outline(&shift, region).unwrap();
        assert_eq!(mapped, quad([(25.0, 35.0), (85.0, 35.0), (85.0, 115.0), (25.0, 115.0)]));
        let tilted = Homography([1.0, 0.0, 0.0, 0.0, 1.0, 0.0, -0.03, 0.0, 1.0]);
        assert!(outline(&tilted, region).is_none(), "x = 40 lies past the horizon at x = 33");
    }
}
