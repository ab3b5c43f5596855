//! Text boxes cut out as upright strips, and strips and crops made into the models' inputs.

use crate::{Crop, Point, RgbImage, RgbView, VisionError};

/// PaddleOCR's models see `(v / 255 - 0.5) / 0.5` for each 8-bit value `v`, in BGR order.
const PIXEL_MEAN: f32 = 127.5;
const PIXEL_FACTOR: f32 = 1.0 / 127.5;

/// A model input: planar BGR values and their `[1, 3, height, width]` shape.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInput {
    pub shape: [usize; 4],
    pub values: Vec<f32>,
}

/// The pixels under the quadrilateral `corners` (clockwise from the top-left of the text),
/// warped to a straight strip as long as the longer of the top and bottom edges and as high as
/// the longer of the side edges. A strip at least 1.5 times higher than long is turned a quarter
/// anticlockwise (text written downwards). `None` when the quadrilateral has no area.
pub(crate) fn cut(view: RgbView<'_>, corners: &[Point; 4]) -> Option<RgbImage> {
    let distance = |a: Point, b: Point| ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt();
    let [a, b, c, d] = *corners;
    let width = distance(a, b).max(distance(c, d)) as u32;
    let height = distance(a, d).max(distance(b, c)) as u32;
    if width == 0 || height == 0 {
        return None;
    }
    let warp = SquareToQuad::new(corners);
    let mut data = Vec::with_capacity(3 * width as usize * height as usize);
    for y in 0..height {
        for x in 0..width {
            let source = warp.map(x as f32 / width as f32, y as f32 / height as f32);
            data.extend_from_slice(&bicubic(view, source));
        }
    }
    let strip = RgbImage { width, height, data };
    Some(if height as f32 >= 1.5 * width as f32 { quarter_turn_anticlockwise(&strip) } else { strip })
}

/// The colour at a fractional position by bicubic interpolation (OpenCV's, a = -0.75), the
/// edge pixels repeated outside the image.
#[expect(clippy::indexing_slicing, reason = "the 4x4 neighbourhood's coordinates are clamped into the image")]
fn bicubic(view: RgbView<'_>, at: Point) -> [u8; 3] {
    let (width, height) = (view.width() as i64, view.height() as i64);
    let (x, y) = (at.x.clamp(-1.0, width as f32), at.y.clamp(-1.0, height as f32));
    let (x0, y0) = (x.floor() as i64, y.floor() as i64);
    let (wx, wy) = (cubic_weights(x - x0 as f32), cubic_weights(y - y0 as f32));
    let data = view.data();
    let mut sum = [0f32; 3];
    for (j, weight_y) in wy.iter().enumerate() {
        let row = (y0 - 1 + j as i64).clamp(0, height - 1) * width;
        for (i, weight_x) in wx.iter().enumerate() {
            let at = 3 * (row + (x0 - 1 + i as i64).clamp(0, width - 1)) as usize;
            for (c, total) in sum.iter_mut().enumerate() {
                *total += weight_y * weight_x * f32::from(data[at + c]);
            }
        }
    }
    sum.map(|v| v.round().clamp(0.0, 255.0) as u8)
}

/// The weights of the four pixels around a position `t` past the second of them.
fn cubic_weights(t: f32) -> [f32; 4] {
    const A: f32 = -0.75;
    let near = |d: f32| ((A + 2.0) * d - (A + 3.0)) * d * d + 1.0;
    let far = |d: f32| ((A * d - 5.0 * A) * d + 8.0 * A) * d - 4.0 * A;
    [far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)]
}

/// The projective map of the unit square onto a quadrilateral: (0, 0), (1, 0), (1, 1), (0, 1)
/// go to its corners in order (Heckbert's closed form).
struct SquareToQuad {
    a: f32,
    b: f32,
    c: f32,
    d: f32,
    e: f32,
    f: f32,
    g: f32,
    h: f32,
}

impl SquareToQuad {
    fn new(corners: &[Point; 4]) -> Self {
        let [p0, p1, p2, p3] = *corners;
        let (sx, sy) = (p0.x - p1.x + p2.x - p3.x, p0.y - p1.y + p2.y - p3.y);
        let (dx1, dx2, dy1, dy2) = (p1.x - p2.x, p3.x - p2.x, p1.y - p2.y, p3.y - p2.y);
        let denominator = dx1 * dy2 - dx2 * dy1;
        let (g, h) = if denominator.abs() > 1e-6 && (sx != 0.0 || sy != 0.0) {
            ((sx * dy2 - dx2 * sy) / denominator, (dx1 * sy - sx * dy1) / denominator)
        } else {
            (0.0, 0.0)
        };
        Self {
            a: p1.x - p0.x + g * p1.x,
            b: p3.x - p0.x + h * p3.x,
            c: p0.x,
            d: p1.y - p0.y + g * p1.y,
            e: p3.y - p0.y + h * p3.y,
            f: p0.y,
            g,
            h,
        }
    }

    fn map(&self, u: f32, v: f32) -> Point {
        let w = self.g * u + self.h * v + 1.0;
        Point { x: (self.a * u + self.b * v + self.c) / w, y: (self.d * u + self.e * v + self.f) / w }
    }
}

#[expect(
    clippy::indexing_slicing,
    reason = "source_x < width and source_y < height of the image's width * height pixels"
)]
fn quarter_turn_anticlockwise(image: &RgbImage) -> RgbImage {
    let (width, height) = (image.width as usize, image.height as usize);
    let mut data = Vec::with_capacity(image.data.len());
    for row in 0..width {
        let source_x = width - 1 - row;
        for source_y in 0..height {
            data.extend_from_slice(&image.data[3 * (source_y * width + source_x)..][..3]);
        }
    }
    RgbImage { width: image.height, height: image.width, data }
}

pub(crate) fn half_turn(image: &RgbImage) -> RgbImage {
    let data = image.data.chunks_exact(3).rev().flatten().copied().collect();
    RgbImage { width: image.width, height: image.height, data }
}

/// `crop` scaled to `content` (width, height) by the crate's resampling (area when shrinking,
/// bilinear when growing), normalised, and padded with zeros on the right and bottom to
/// `canvas`: a `[1, 3, height, width]` BGR input.
pub(crate) fn canvas_input(
    view: RgbView<'_>,
    crop: Crop,
    content: (usize, usize),
    canvas: (usize, usize),
) -> Result<ModelInput, VisionError> {
    Ok(ModelInput { shape: [1, 3, canvas.1, canvas.0], values: bgr_planes(view, crop, content, canvas)? })
}

/// The input a line of text is fitted to: `height` rows, and as many columns as the line's
/// aspect ratio gives it, at most `max_width` (into which longer lines are squeezed); the input
/// is then `padded(columns)` wide, zeros on the right.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LineShape {
    pub height: usize,
    pub max_width: usize,
    pub padded: fn(usize) -> usize,
}

/// A line of text (`crop` of `view`, upright) as the classifier's or recogniser's input, zeros
/// (mid-grey) right of the text.
pub(crate) fn line_input(view: RgbView<'_>, crop: Crop, shape: LineShape) -> Result<ModelInput, VisionError> {
    let scaled = (shape.height as f64 * f64::from(crop.width) / f64::from(crop.height)).ceil() as usize;
    let resized = scaled.clamp(1, shape.max_width);
    let width = (shape.padded)(resized).max(resized);
    canvas_input(view, crop, (resized, shape.height), (width, shape.height))
}

/// `crop` resampled to `content`, normalised, as planes in BGR order of `canvas` size (zeros
/// right of and below the image).
#[expect(
    clippy::indexing_slicing,
    reason = "the canvas holds 3 planes of canvas_height * canvas_width values and rows no wider than the canvas"
)]
fn bgr_planes(
    view: RgbView<'_>,
    crop: Crop,
    (width, height): (usize, usize),
    (canvas_width, canvas_height): (usize, usize),
) -> Result<Vec<f32>, VisionError> {
    let mut planar = vec![0f32; 3 * height * width];
    view.resample(crop, width as u32, height as u32, PIXEL_MEAN, PIXEL_FACTOR, &mut planar)?;
    let mut values = vec![0f32; 3 * canvas_height * canvas_width];
    for (channel, plane) in planar.chunks_exact(height * width).enumerate() {
        let target = &mut values[(2 - channel) * canvas_height * canvas_width..][..canvas_height * canvas_width];
        for (row, source) in target.chunks_exact_mut(canvas_width).zip(plane.chunks_exact(width)) {
            row[..width].copy_from_slice(source);
        }
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(width: u32, height: u32, pixel: impl Fn(u32, u32) -> [u8; 3]) -> RgbImage {
        let data = (0..height).flat_map(|y| (0..width).map(move |x| (x, y))).flat_map(|(x, y)| pixel(x, y)).collect();
        RgbImage { width, height, data }
    }

    #[test]
    fn an_axis_aligned_box_cuts_out_exactly_its_pixels() {
        let source = image(20, 10, |x, y| [x as u8 * 10, y as u8 * 20, 7]);
        let corners =
            [Point { x: 4.0, y: 2.0 }, Point { x: 12.0, y: 2.0 }, Point { x: 12.0, y: 6.0 }, Point { x: 4.0, y: 6.0 }];
        let strip = cut(source.view().unwrap(), &corners).unwrap();
        assert_eq!((strip.width, strip.height), (8, 4));
        assert_eq!(&strip.data[..3], &[40, 40, 7]);
        let last = 3 * (3 * 8 + 7);
        assert_eq!(&strip.data[last..last + 3], &[110, 100, 7]);
    }

    #[test]
    fn a_tilted_box_is_straightened() {
        // A bright bar along a line rising 1 in 4, on black; cut along the bar it fills the strip.
        let on_bar = |x: u32, y: u32| {
            let along = x as f32 - 10.0;
            let centre = 30.0 - along / 4.0;
            (10..=50).contains(&x) && (y as f32 - centre).abs() <= 3.0
        };
        let source = image(64, 40, |x, y| if on_bar(x, y) { [250; 3] } else { [0; 3] });
        let corners = [
            Point { x: 12.0, y: 27.5 },
            Point { x: 48.0, y: 18.5 },
            Point { x: 48.0, y: 22.5 },
            Point { x: 12.0, y: 31.5 },
        ];
        let strip = cut(source.view().unwrap(), &corners).unwrap();
        assert!(strip.width > 30 && strip.height < 10, "{}x{}", strip.width, strip.height);
        let mean = strip.data.iter().map(|&v| f32::from(v)).sum::<f32>() / strip.data.len() as f32;
        assert!(mean > 200.0, "the strip lies on the bar: mean {mean}");
    }

    #[test]
    fn a_tall_strip_turns_a_quarter_and_a_half_turn_reverses_pixels() {
        let source = image(4, 12, |x, y| [x as u8, y as u8, 0]);
        let corners =
            [Point { x: 0.0, y: 0.0 }, Point { x: 4.0, y: 0.0 }, Point { x: 4.0, y: 12.0 }, Point { x: 0.0, y: 12.0 }];
        let strip = cut(source.view().unwrap(), &corners).unwrap();
        assert_eq!((strip.width, strip.height), (12, 4));
        // Turned anticlockwise: the top row is the source's right column, top to bottom.
        let pixel = |image: &RgbImage, x: u32, y: u32| image.data[3 * (y * image.width + x) as usize..][..2].to_vec();
        assert_eq!(pixel(&strip, 0, 0), [3, 0]);
        assert_eq!(pixel(&strip, 11, 0), [3, 11]);
        assert_eq!(pixel(&strip, 0, 3), [0, 0]);
        let turned = half_turn(&strip);
        assert_eq!(pixel(&turned, 11, 3), pixel(&strip, 0, 0));
        assert_eq!(pixel(&turned, 0, 0), pixel(&strip, 11, 3));
    }

    #[test]
    fn degenerate_boxes_cut_nothing() {
        let source = image(8, 8, |_, _| [1, 2, 3]);
        let point = Point { x: 3.0, y: 3.0 };
        assert!(cut(source.view().unwrap(), &[point; 4]).is_none());
        let far = Point { x: 1e6, y: -1e6 };
        let strip = cut(
            source.view().unwrap(),
            &[
                far,
                Point { x: 1e6 + 3.0, y: -1e6 },
                Point { x: 1e6 + 3.0, y: -1e6 + 2.0 },
                Point { x: 1e6, y: -1e6 + 2.0 },
            ],
        );
        assert_eq!(strip.map(|s| s.data[..3].to_vec()), Some(vec![1, 2, 3]), "outside the image repeats the edge");
    }

    #[test]
    fn line_input_keeps_the_aspect_pads_with_zeros_and_orders_planes_bgr() {
        let source = image(40, 10, |_, _| [255, 127, 0]);
        let shape = LineShape { height: 48, max_width: 960, padded: |w| w.max(320).next_multiple_of(160) };
        let line = |width, height, shape| {
            line_input(source.view().unwrap(), Crop { x: 0, y: 0, width, height }, shape).unwrap()
        };
        let input = line(40, 10, shape);
        assert_eq!(input.shape, [1, 3, 48, 320]);
        let plane = 48 * 320;
        let (blue, red) = (&input.values[..plane], &input.values[2 * plane..]);
        assert!((blue[0] + 1.0).abs() < 1e-6 && (red[0] - 1.0).abs() < 1e-6, "{} {}", blue[0], red[0]);
        assert!((red[191] - 1.0).abs() < 1e-6 && red[192] == 0.0, "192 columns of text, then padding");
        assert_eq!(line(40, 1, shape).shape, [1, 3, 48, 960], "squeezed to the widest");
        let wide = line(40, 5, shape);
        assert_eq!(wide.shape, [1, 3, 48, 480], "384 columns of text, padded");
        assert!(wide.values[383] == -1.0 && wide.values[384] == 0.0, "text, then padding");
        let fixed = LineShape { height: 48, max_width: 192, padded: |_| 192 };
        assert_eq!(line(40, 10, fixed).shape, [1, 3, 48, 192], "squeezed into a fixed width");
        assert_eq!(line(10, 10, fixed).shape, [1, 3, 48, 192], "padded to a fixed width");
    }
}
