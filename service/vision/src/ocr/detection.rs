//! Text boxes from the detector's probability map, as PaddleOCR's DB post-processing (and
//! rapidocr's port of it) makes them: the map thresholded and dilated, each connected region's
//! minimum-area rectangle kept if the map's mean inside it is high enough, grown by the
//! "unclip" distance (area x ratio / perimeter), and scaled to the image.
//!
//! Deliberate differences: regions are 8-connected components rather than OpenCV contours
//! (the same outer outlines; holes inside a region give no extra box), and a rectangle is grown
//! exactly instead of by a rounded polygon offset and a second minimum-area rectangle (which
//! give the same rectangle up to integer rounding).

use crate::Point;

/// A pixel whose text probability exceeds this is text.
const THRESHOLD: f32 = 0.3;
/// A region is kept if the map's mean over its rectangle reaches this.
const BOX_THRESHOLD: f32 = 0.5;
const UNCLIP_RATIO: f32 = 1.6;
/// Rectangles whose shorter side is under this (in map pixels) are noise; after unclipping
/// the limit is this plus 2.
const MIN_SIZE: f32 = 3.0;
/// At most this many regions are looked at.
const MAX_CANDIDATES: usize = 1000;

/// A text box: corners clockwise from the top-left, and the map's mean inside it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TextBox {
    pub corners: [Point; 4],
    pub score: f32,
}

impl TextBox {
    pub fn area(&self) -> f32 {
        let [a, b, c, d] = self.corners;
        let cross = |p: Point, q: Point| p.x * q.y - q.x * p.y;
        ((cross(a, b) + cross(b, c) + cross(c, d) + cross(d, a)) / 2.0).abs()
    }
}

/// The boxes in a `width`x`height` probability map, in the coordinates of an image of
/// `scale_x`, `scale_y` image pixels per map pixel, clipped to `image_width`x`image_height`.
pub(crate) fn boxes(map: &[f32], width: usize, height: usize, image: (f32, f32)) -> Vec<TextBox> {
    let mask = dilated_mask(map, width, height);
    let (scale_x, scale_y) = (image.0 / width as f32, image.1 / height as f32);
    let mut found = Vec::new();
    for region in regions(&mask, width, height).into_iter().take(MAX_CANDIDATES) {
        let rectangle = min_area_rectangle(&convex_hull(region));
        if rectangle.shorter_side() < MIN_SIZE {
            continue;
        }
        let score = mean_inside(map, width, height, &rectangle.corners());
        if score < BOX_THRESHOLD {
            continue;
        }
        let grown = rectangle.unclipped(UNCLIP_RATIO);
        if grown.shorter_side() < MIN_SIZE + 2.0 {
            continue;
        }
        let corners = grown.corners().map(|p| Point {
            x: (p.x * scale_x).round().clamp(0.0, image.0 - 1.0),
            y: (p.y * scale_y).round().clamp(0.0, image.1 - 1.0),
        });
        let corners = clockwise_from_top_left(corners);
        let distance = |a: Point, b: Point| ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt();
        if distance(corners[0], corners[1]) <= 3.0 || distance(corners[0], corners[3]) <= 3.0 {
            continue;
        }
        found.push(TextBox { corners, score });
    }
    found
}

/// The thresholded map dilated by a 2x2 square: a pixel is set when it or its left, upper or
/// upper-left neighbour is text (OpenCV's anchor for an even kernel).
#[expect(
    clippy::indexing_slicing,
    reason = "x < width and y < height, and the neighbour is read only when x >= dx and y >= dy"
)]
fn dilated_mask(map: &[f32], width: usize, height: usize) -> Vec<bool> {
    let text: Vec<bool> = map.iter().map(|&p| p > THRESHOLD).collect();
    let mut mask = vec![false; width * height];
    for y in 0..height {
        for x in 0..width {
            let at = |dx: usize, dy: usize| x >= dx && y >= dy && text[(y - dy) * width + x - dx];
            mask[y * width + x] = at(0, 0) || at(1, 0) || at(0, 1) || at(1, 1);
        }
    }
    mask
}

/// Each 8-connected region of the mask, as the leftmost and rightmost pixel of each of its rows
/// (all a convex hull needs), in the order their first pixels come in a raster scan.
#[expect(
    clippy::indexing_slicing,
    reason = "start and every neighbour pushed are pixels inside the width * height map, the length of mask and seen"
)]
fn regions(mask: &[bool], width: usize, height: usize) -> Vec<Vec<(i32, i32)>> {
    let mut seen = vec![false; mask.len()];
    let mut regions = Vec::new();
    let mut stack = Vec::new();
    for start in 0..mask.len() {
        if !mask[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let mut rows: std::collections::BTreeMap<usize, (usize, usize)> = std::collections::BTreeMap::new();
        while let Some(at) = stack.pop() {
            let (x, y) = (at % width, at / width);
            let row = rows.entry(y).or_insert((x, x));
            *row = (row.0.min(x), row.1.max(x));
            for ny in y.saturating_sub(1)..=(y + 1).min(height - 1) {
                for nx in x.saturating_sub(1)..=(x + 1).min(width - 1) {
                    let next = ny * width + nx;
                    if mask[next] && !seen[next] {
                        seen[next] = true;
                        stack.push(next);
                    }
                }
            }
        }
        let points = rows.iter().flat_map(|(&y, &(left, right))| [(left as i32, y as i32), (right as i32, y as i32)]);
        regions.push(points.collect());
    }
    regions
}

/// The convex hull (Andrew's monotone chain), counter-clockwise in image coordinates.
#[expect(
    clippy::indexing_slicing,
    reason = "the loop reads hull.len() - 2 and hull.len() - 1 only while hull has at least floor + 2 points"
)]
fn convex_hull(mut points: Vec<(i32, i32)>) -> Vec<Point> {
    points.sort_unstable();
    points.dedup();
    if points.len() < 3 {
        return points.into_iter().map(|(x, y)| Point { x: x as f32, y: y as f32 }).collect();
    }
    let cross = |o: (i32, i32), a: (i32, i32), b: (i32, i32)| {
        i64::from(a.0 - o.0) * i64::from(b.1 - o.1) - i64::from(a.1 - o.1) * i64::from(b.0 - o.0)
    };
    let mut hull: Vec<(i32, i32)> = Vec::with_capacity(points.len() * 2);
    for pass in [&points[..], &points.iter().rev().copied().collect::<Vec<_>>()[..]] {
        let floor = hull.len();
        for &p in pass {
            while hull.len() >= floor + 2 && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0 {
                hull.pop();
            }
            hull.push(p);
        }
        hull.pop();
    }
    hull.into_iter().map(|(x, y)| Point { x: x as f32, y: y as f32 }).collect()
}

/// A rectangle: its centre, unit axis, and the extents along the axis and across it.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Rectangle {
    center: Point,
    axis: Point,
    length: f32,
    breadth: f32,
}

impl Rectangle {
    fn shorter_side(&self) -> f32 {
        self.length.min(self.breadth)
    }

    /// The rectangle grown on every side by its area x `ratio` / its perimeter.
    fn unclipped(&self, ratio: f32) -> Rectangle {
        let perimeter = 2.0 * (self.length + self.breadth);
        let distance = if perimeter > 0.0 { self.length * self.breadth * ratio / perimeter } else { 0.0 };
        Rectangle { length: self.length + 2.0 * distance, breadth: self.breadth + 2.0 * distance, ..*self }
    }

    fn corners(&self) -> [Point; 4] {
        let (u, v) = (self.axis, Point { x: -self.axis.y, y: self.axis.x });
        let (a, b) = (self.length / 2.0, self.breadth / 2.0);
        let at = |s: f32, t: f32| Point {
            x: self.center.x + s * a * u.x + t * b * v.x,
            y: self.center.y + s * a * u.y + t * b * v.y,
        };
        [at(-1.0, -1.0), at(1.0, -1.0), at(1.0, 1.0), at(-1.0, 1.0)]
    }
}

/// The smallest rectangle around a convex polygon: one of its sides lies along a hull edge
/// (rotating calipers). A point or a segment gives a rectangle with no breadth.
#[expect(clippy::indexing_slicing, reason = "(i + 1) % hull.len() < hull.len() for the hull's corners i")]
fn min_area_rectangle(hull: &[Point]) -> Rectangle {
    let mut best: Option<(f32, Rectangle)> = None;
    for (i, &start) in hull.iter().enumerate() {
        let end = hull[(i + 1) % hull.len()];
        let (dx, dy) = (end.x - start.x, end.y - start.y);
        let norm = (dx * dx + dy * dy).sqrt();
        if norm == 0.0 {
            continue;
        }
        let (u, v) = (Point { x: dx / norm, y: dy / norm }, Point { x: -dy / norm, y: dx / norm });
        let (mut low_u, mut high_u, mut low_v, mut high_v) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
        for p in hull {
            let (along, across) = (p.x * u.x + p.y * u.y, p.x * v.x + p.y * v.y);
            (low_u, high_u) = (low_u.min(along), high_u.max(along));
            (low_v, high_v) = (low_v.min(across), high_v.max(across));
        }
        let (length, breadth) = (high_u - low_u, high_v - low_v);
        if best.as_ref().is_none_or(|(area, _)| length * breadth < *area) {
            let (mid_u, mid_v) = ((low_u + high_u) / 2.0, (low_v + high_v) / 2.0);
            let center = Point { x: mid_u * u.x + mid_v * v.x, y: mid_u * u.y + mid_v * v.y };
            best = Some((length * breadth, Rectangle { center, axis: u, length, breadth }));
        }
    }
    let lone = hull.first().copied().unwrap_or(Point { x: 0.0, y: 0.0 });
    best.map_or(Rectangle { center: lone, axis: Point { x: 1.0, y: 0.0 }, length: 0.0, breadth: 0.0 }, |(_, r)| r)
}

/// The map's mean over the pixels inside a convex quadrilateral (corners truncated to whole
/// pixels, edges included, as OpenCV's fillPoly does).
#[expect(
    clippy::indexing_slicing,
    reason = "x and y are clamped to width - 1 and height - 1 of the width * height map"
)]
fn mean_inside(map: &[f32], width: usize, height: usize, corners: &[Point; 4]) -> f32 {
    let corners = corners.map(|p| Point { x: p.x.trunc(), y: p.y.trunc() });
    let clamp = |v: f32, limit: usize| v.clamp(0.0, (limit - 1) as f32) as usize;
    let (x_min, x_max) =
        (corners.iter().map(|p| p.x).fold(f32::MAX, f32::min), corners.iter().map(|p| p.x).fold(f32::MIN, f32::max));
    let (y_min, y_max) =
        (corners.iter().map(|p| p.y).fold(f32::MAX, f32::min), corners.iter().map(|p| p.y).fold(f32::MIN, f32::max));
    let (mut sum, mut count) = (0.0f64, 0usize);
    for y in clamp(y_min.floor(), height)..=clamp(y_max.ceil(), height) {
        for x in clamp(x_min.floor(), width)..=clamp(x_max.ceil(), width) {
            if inside(&corners, Point { x: x as f32, y: y as f32 }) {
                sum += f64::from(map[y * width + x]);
                count += 1;
            }
        }
    }
    if count == 0 { 0.0 } else { (sum / count as f64) as f32 }
}

/// Whether `p` lies inside or on a convex polygon, whichever way round its corners go.
fn inside(corners: &[Point; 4], p: Point) -> bool {
    let sides: Vec<f32> = corners
        .iter()
        .zip(corners.iter().cycle().skip(1))
        .map(|(a, b)| (b.x - a.x) * (p.y - a.y) - (b.y - a.y) * (p.x - a.x))
        .collect();
    sides.iter().all(|&s| s >= -1e-3) || sides.iter().all(|&s| s <= 1e-3)
}

/// The corners ordered top-left, top-right, bottom-right, bottom-left: the two leftmost are the
/// left side (the upper one first), the two rightmost the right side.
pub(crate) fn clockwise_from_top_left(mut corners: [Point; 4]) -> [Point; 4] {
    corners.sort_by(|a, b| a.x.total_cmp(&b.x));
    let [a, b, c, d] = corners;
    let upper_first = |p: Point, q: Point| if q.y.total_cmp(&p.y).is_lt() { (q, p) } else { (p, q) };
    let ((top_left, bottom_left), (top_right, bottom_right)) = (upper_first(a, b), upper_first(c, d));
    [top_left, top_right, bottom_right, bottom_left]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inclusive pixel ranges across and down, and the probability inside.
    type Region = ((usize, usize), (usize, usize), f32);

    /// A `width`x`height` map with each region's probability inside it and 0.01 elsewhere.
    fn map(width: usize, height: usize, regions: &[Region]) -> Vec<f32> {
        let mut map = vec![0.01; width * height];
        for &((x0, x1), (y0, y1), p) in regions {
            for y in y0..=y1 {
                map[y * width + x0..=y * width + x1].fill(p);
            }
        }
        map
    }

    fn close(a: Point, x: f32, y: f32) -> bool {
        (a.x - x).abs() <= 1.0 && (a.y - y).abs() <= 1.0
    }

    #[test]
    fn a_text_region_becomes_its_unclipped_rectangle_in_image_coordinates() {
        // Pixels 10..=49 x 20..=29: dilated to 10..=50 x 20..=30, a 40x10 rectangle between
        // pixel centres; unclipped by 40 * 10 * 1.6 / 100 = 6.4 on each side.
        let found = boxes(&map(64, 48, &[((10, 49), (20, 29), 0.9)]), 64, 48, (128.0, 96.0));
        assert_eq!(found.len(), 1, "{found:?}");
        let [tl, tr, br, bl] = found[0].corners;
        assert!(close(tl, 2.0 * 3.6, 2.0 * 13.6), "{tl:?}");
        assert!(close(tr, 2.0 * 56.4, 2.0 * 13.6), "{tr:?}");
        assert!(close(br, 2.0 * 56.4, 2.0 * 36.4), "{br:?}");
        assert!(close(bl, 2.0 * 3.6, 2.0 * 36.4), "{bl:?}");
        // The score is the mean over the rectangle before unclipping, the dilated edge included.
        let expected = (400.0 * 0.9 + 51.0 * 0.01) / 451.0;
        assert!((found[0].score - expected).abs() < 1e-3, "{} vs {expected}", found[0].score);
        assert!((found[0].area() - (2.0 * 52.8) * (2.0 * 22.8)).abs() < 100.0, "{}", found[0].area());
    }

    #[test]
    fn a_tilted_region_gives_a_tilted_box() {
        let (width, height) = (80, 60);
        let mut map = vec![0.0; width * height];
        for y in 0..height {
            for x in 0..width {
                // A band 6 pixels across along a line rising 1 in 3 from (10, 45).
                let distance = ((y as f32 - 45.0) + (x as f32 - 10.0) / 3.0) / (1.0f32 + 1.0 / 9.0).sqrt();
                if (10..=70).contains(&x) && distance.abs() <= 3.0 {
                    map[y * width + x] = 0.95;
                }
            }
        }
        let found = boxes(&map, width, height, (80.0, 60.0));
        assert_eq!(found.len(), 1, "{found:?}");
        let [tl, tr, _, bl] = found[0].corners;
        let slope = (tr.y - tl.y) / (tr.x - tl.x);
        assert!((slope + 1.0 / 3.0).abs() < 0.05, "top edge slope {slope}: {:?}", found[0].corners);
        assert!(bl.y > tl.y);
    }

    #[test]
    fn specks_faint_regions_and_empty_maps_give_no_box() {
        let specks = map(32, 32, &[((3, 4), (3, 4), 0.9), ((20, 20), (10, 25), 0.9)]);
        assert!(boxes(&specks, 32, 32, (32.0, 32.0)).is_empty(), "regions under 3 pixels across are noise");
        let faint = map(32, 32, &[((2, 28), (10, 20), 0.4)]);
        assert!(boxes(&faint, 32, 32, (32.0, 32.0)).is_empty(), "a mean of 0.4 is under the box threshold");
        assert!(boxes(&vec![0.0; 32 * 32], 32, 32, (32.0, 32.0)).is_empty());
        assert!(boxes(&vec![1.0; 32 * 32], 32, 32, (32.0, 32.0)).len() == 1, "a full map is one box");
    }

    #[test]
    fn separate_regions_are_separate_boxes_and_touching_ones_merge() {
        let two = map(64, 32, &[((2, 20), (5, 12), 0.9), ((30, 60), (5, 12), 0.9)]);
        assert_eq!(boxes(&two, 64, 32, (64.0, 32.0)).len(), 2);
        let mut diagonal = vec![false; 16];
        (diagonal[5], diagonal[10], diagonal[3]) = (true, true, true);
        let found = regions(&diagonal, 4, 4);
        assert_eq!(
            found,
            [vec![(3, 0), (3, 0)], vec![(1, 1), (1, 1), (2, 2), (2, 2)]],
            "8-connected pixels are one region"
        );
    }

    #[test]
    fn hull_and_rectangle_of_simple_shapes() {
        let hull = convex_hull(vec![(0, 0), (4, 0), (4, 2), (0, 2), (2, 1), (2, 0)]);
        assert_eq!(hull.len(), 4, "{hull:?}");
        let rectangle = min_area_rectangle(&hull);
        assert!((rectangle.length * rectangle.breadth - 8.0).abs() < 1e-4, "{rectangle:?}");
        let segment = min_area_rectangle(&convex_hull(vec![(0, 0), (5, 0)]));
        assert_eq!(segment.shorter_side(), 0.0);
        assert_eq!(min_area_rectangle(&[]).shorter_side(), 0.0);
    }

    #[test]
    fn corners_are_ordered_from_the_top_left_clockwise() {
        let p = |x: f32, y: f32| Point { x, y };
        let ordered = clockwise_from_top_left([p(10.0, 5.0), p(0.0, 5.0), p(10.0, 0.0), p(0.0, 0.0)]);
        assert_eq!(ordered, [p(0.0, 0.0), p(10.0, 0.0), p(10.0, 5.0), p(0.0, 5.0)]);
    }
}
