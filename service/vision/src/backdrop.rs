//! Where the product is in a photo taken on a plain backdrop: what differs from the colour of the
//! photo's border.

use crate::{Crop, RgbView};

/// The photo is looked at with its longer side at most this many pixels (area-averaged).
const WORKING_SIDE: u32 = 512;
/// The border is this share of the shorter side, all round.
const BORDER_SHARE: f32 = 0.04;
/// A border whose pixels differ from its median colour by more than this (their median
/// difference, in levels of the most different channel) is no plain backdrop.
const MAX_UNIFORM_SPREAD: f32 = 20.0;
/// A pixel belongs to the product when it differs from the backdrop's colour by more than the
/// larger of this and `SPREAD_FACTOR` times the border's spread.
const MIN_DIFFERENCE: f32 = 30.0;
const SPREAD_FACTOR: f32 = 2.5;
/// Rows and columns with more than this share of product pixels bound the product.
const MIN_LINE_SHARE: f32 = 0.01;

/// The bounding box of the product in a photo on a plain backdrop, or None when the photo's
/// border is not plain (the product fills the photo, or it is a scene) or nothing stands out.
#[expect(
    clippy::indexing_slicing,
    reason = "pixels has width * height entries, so i / width < height = per_row.len() and i % width < width = per_column.len(); channels are 0..3 of [f32; 3]"
)]
pub fn product_bounds(view: RgbView<'_>) -> Option<Crop> {
    let scale = (WORKING_SIDE as f32 / view.width().max(view.height()) as f32).min(1.0);
    let size = |side: u32| ((side as f32 * scale).round() as usize).max(1);
    let (width, height) = (size(view.width()), size(view.height()));
    let mut planes = vec![0f32; 3 * width * height];
    view.resample(view.full(), width as u32, height as u32, 0.0, 1.0, &mut planes).ok()?;
    let pixels = box_blurred(&planes, width, height);
    let border = ((BORDER_SHARE * width.min(height) as f32).round() as usize).max(1);
    let in_border = |i: usize| {
        let (x, y) = (i % width, i / width);
        x < border || y < border || x + border >= width || y + border >= height
    };
    let border_pixels: Vec<[f32; 3]> = (0..pixels.len()).filter(|&i| in_border(i)).map(|i| pixels[i]).collect();
    let backdrop: [f32; 3] = std::array::from_fn(|c| median(border_pixels.iter().map(|p| p[c]).collect()));
    let difference = |p: &[f32; 3]| (0..3).map(|c| (p[c] - backdrop[c]).abs()).fold(0.0, f32::max);
    let spread = median(border_pixels.iter().map(difference).collect());
    if spread > MAX_UNIFORM_SPREAD {
        return None;
    }
    let limit = MIN_DIFFERENCE.max(SPREAD_FACTOR * spread);
    let (mut per_row, mut per_column) = (vec![0usize; height], vec![0usize; width]);
    for (i, pixel) in pixels.iter().enumerate() {
        if difference(pixel) > limit {
            per_row[i / width] += 1;
            per_column[i % width] += 1;
        }
    }
    let span = |counts: &[usize], length: usize| {
        let busy = |&(_, &count): &(usize, &usize)| count as f32 > MIN_LINE_SHARE * length as f32;
        let first = counts.iter().enumerate().find(busy)?.0;
        let last = counts.iter().enumerate().rev().find(busy)?.0;
        Some((first, last + 1))
    };
    let (left, right) = span(&per_column, height)?;
    let (top, bottom) = span(&per_row, width)?;
    // Back to the photo's pixels, rounded outwards.
    let out = |at: usize, working: usize, full: u32, up: bool| {
        let exact = at as f64 * f64::from(full) / working as f64;
        (if up { exact.ceil() } else { exact.floor() }).clamp(0.0, f64::from(full)) as u32
    };
    let (x, y) = (out(left, width, view.width(), false), out(top, height, view.height(), false));
    let (x_end, y_end) = (out(right, width, view.width(), true), out(bottom, height, view.height(), true));
    Some(Crop { x, y, width: x_end - x, height: y_end - y })
}

/// Planar RGB (three `width`x`height` planes) to pixels, each the mean of the 3x3 around it
/// (the border repeated outwards).
#[expect(
    clippy::indexing_slicing,
    reason = "planes holds 3 planes of width * height values and every neighbour's coordinates are clamped into the image"
)]
fn box_blurred(planes: &[f32], width: usize, height: usize) -> Vec<[f32; 3]> {
    let plane = width * height;
    let clamp = |v: isize, n: usize| v.clamp(0, n as isize - 1) as usize;
    (0..plane)
        .map(|i| {
            let (x, y) = ((i % width) as isize, (i / width) as isize);
            std::array::from_fn(|c| {
                let mut sum = 0.0;
                for dy in -1..=1 {
                    for dx in -1..=1 {
                        sum += planes[c * plane + clamp(y + dy, height) * width + clamp(x + dx, width)];
                    }
                }
                sum / 9.0
            })
        })
        .collect()
}

fn median(mut values: Vec<f32>) -> f32 {
    if values.is_empty() {
        return 0.0;
    }
    let middle = values.len() / 2;
    *values.select_nth_unstable_by(middle, f32::total_cmp).1
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A backdrop shaded from 200 to 230 grey left to right, with `product` (x, y, width, height)
    /// painted in stripes of dark colours.
    fn photo(width: u32, height: u32, product: (u32, u32, u32, u32)) -> Vec<u8> {
        let (px, py, pw, ph) = product;
        (0..width * height)
            .flat_map(|i| {
                let (x, y) = (i % width, i / width);
                if (px..px + pw).contains(&x) && (py..py + ph).contains(&y) {
                    if (y / 7) % 2 == 0 { [150, 30, 40] } else { [20, 90, 160] }
                } else {
                    [(200 + 30 * x / width) as u8; 3]
                }
            })
            .collect()
    }

    #[test]
    fn a_product_on_a_shaded_plain_backdrop_is_bounded() {
        let data = photo(400, 300, (120, 50, 90, 200));
        let bounds = product_bounds(RgbView::new(400, 300, &data).unwrap()).unwrap();
        let (right, bottom) = (bounds.x + bounds.width, bounds.y + bounds.height);
        assert!(bounds.x.abs_diff(120) <= 2 && bounds.y.abs_diff(50) <= 2, "{bounds:?}");
        assert!(right.abs_diff(210) <= 2 && bottom.abs_diff(250) <= 2, "{bounds:?}");
    }

    #[test]
    fn large_photos_are_bounded_in_their_own_pixels() {
        let data = photo(2000, 1000, (1000, 100, 600, 700));
        let bounds = product_bounds(RgbView::new(2000, 1000, &data).unwrap()).unwrap();
        let (right, bottom) = (bounds.x + bounds.width, bounds.y + bounds.height);
        assert!(bounds.x.abs_diff(1000) <= 8 && bounds.y.abs_diff(100) <= 8, "{bounds:?}");
        assert!(right.abs_diff(1600) <= 8 && bottom.abs_diff(800) <= 8 && right <= 2000, "{bounds:?}");
    }

    #[test]
    fn a_busy_border_or_an_empty_backdrop_gives_none() {
        let noise: Vec<u8> = (0..200 * 150 * 3u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
        assert_eq!(product_bounds(RgbView::new(200, 150, &noise).unwrap()), None);
        let empty = photo(200, 150, (0, 0, 0, 0));
        assert_eq!(product_bounds(RgbView::new(200, 150, &empty).unwrap()), None);
        let tiny = [7u8; 3 * 2 * 2];
        assert_eq!(product_bounds(RgbView::new(2, 2, &tiny).unwrap()), None);
    }
}
