//! Learning a product by being shown it: where the shown product is in a live frame, how sharp
//! that view of it is, and which of many views are worth keeping as references.

use crate::{Crop, Embedding, Finder, Gallery, RgbView, VisionError, cell_windows};

/// Two views of a product whose embeddings are at least this similar show it the same way.
pub const SAME_VIEW: f32 = 0.92;
/// Sharpness is measured on at most this many pixels a side.
const SHARPNESS_SIDE: u32 = 256;

impl Finder {
    /// Where the product `sku` is in a frame in which it is being shown: the window of the
    /// feature map nearest its references when it is enrolled; otherwise the window least like
    /// the studio without a product (its calibration); otherwise the centre square.
    pub fn shown_region(&self, view: RgbView<'_>, gallery: &Gallery, sku: &str) -> Result<Crop, VisionError> {
        let Some(map) = self.embedder().feature_map(view)? else { return Ok(view.center_square()) };
        let (width, height) = (view.width(), view.height());
        let own = gallery.only(sku);
        if !own.is_empty() {
            let best = map.candidates(&own, width, height, 1);
            return Ok(best.first().map_or(view.center_square(), |proposal| proposal.region));
        }
        if gallery.studio_len() == 0 {
            return Ok(view.center_square());
        }
        let windows = cell_windows(map.columns, map.rows);
        let embeddings = map.window_embeddings(&windows);
        let mut least_like_studio: Option<(usize, f32)> = None;
        for (index, values) in embeddings.chunks_exact(crate::EMBEDDING_DIM).enumerate() {
            let likeness = gallery.studio_likeness(&Embedding::from_raw(values.to_vec())?);
            if least_like_studio.is_none_or(|(_, lowest)| likeness < lowest) {
                least_like_studio = Some((index, likeness));
            }
        }
        let window = least_like_studio.and_then(|(index, _)| windows.get(index));
        Ok(window.map_or(view.center_square(), |window| map.region(*window, width, height)))
    }
}

/// How sharp `crop` of `view` is: the variance of the Laplacian of its grey levels, on a copy
/// at most [`SHARPNESS_SIDE`] pixels a side (so that sizes compare). Motion blur and defocus
/// lower it.
#[expect(
    clippy::indexing_slicing,
    reason = "planes holds 3 planes of width * height values and the Laplacian's neighbours of interior pixels (1 <= x < width - 1, 1 <= y < height - 1) are inside the image"
)]
pub fn sharpness(view: RgbView<'_>, crop: Crop) -> Result<f32, VisionError> {
    let scale = (SHARPNESS_SIDE as f32 / crop.width.max(crop.height) as f32).min(1.0);
    let width = ((crop.width as f32 * scale).round() as usize).max(3);
    let height = ((crop.height as f32 * scale).round() as usize).max(3);
    let mut planes = vec![0f32; 3 * width * height];
    view.resample_normalized_to(crop, (width, height), 0.0, 1.0, &mut planes)?;
    let plane = width * height;
    let grey: Vec<f32> =
        (0..plane).map(|i| 0.299 * planes[i] + 0.587 * planes[plane + i] + 0.114 * planes[2 * plane + i]).collect();
    let mut responses = Vec::with_capacity((width - 2) * (height - 2));
    for y in 1..height - 1 {
        for x in 1..width - 1 {
            let at = |dx: isize, dy: isize| grey[(y as isize + dy) as usize * width + (x as isize + dx) as usize];
            responses.push(at(-1, 0) + at(1, 0) + at(0, -1) + at(0, 1) - 4.0 * at(0, 0));
        }
    }
    let mean = responses.iter().sum::<f32>() / responses.len() as f32;
    Ok(responses.iter().map(|r| (r - mean) * (r - mean)).sum::<f32>() / responses.len() as f32)
}

/// Which of `views` (each its sharpness and embedding) to keep: at most `keep`, the sharpest
/// first, none showing the product the same way as one already kept ([`SAME_VIEW`]).
pub fn diverse_views(views: &[(f32, Embedding)], keep: usize) -> Vec<usize> {
    let mut order: Vec<(usize, &(f32, Embedding))> = views.iter().enumerate().collect();
    order.sort_by(|(_, a), (_, b)| b.0.total_cmp(&a.0));
    let mut kept: Vec<(usize, &Embedding)> = Vec::with_capacity(keep);
    for (index, (_, embedding)) in order {
        if kept.len() == keep {
            break;
        }
        if kept.iter().all(|(_, known)| known.cosine(embedding) < SAME_VIEW) {
            kept.push((index, embedding));
        }
    }
    kept.into_iter().map(|(index, _)| index).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EMBEDDING_DIM;

    fn embedding(direction: &[(usize, f32)]) -> Embedding {
        let mut values = vec![0.0; EMBEDDING_DIM];
        for &(index, value) in direction {
            values[index] = value;
        }
        let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt();
        Embedding::from_raw(values.into_iter().map(|v| v / norm).collect()).unwrap()
    }

    fn checkerboard(side: u32, cell: u32) -> Vec<u8> {
        (0..side * side)
            .flat_map(|i| {
                let (x, y) = (i % side, i / side);
                let v = if (x / cell + y / cell).is_multiple_of(2) { 230 } else { 20 };
                [v, v, v]
            })
            .collect()
    }

    #[test]
    fn fine_detail_is_sharper_than_its_blurred_copy_and_flat_grey_has_none() {
        let side = 128;
        let sharp = checkerboard(side, 4);
        let blurred: Vec<u8> = (0..(side * side) as usize)
            .flat_map(|i| {
                let (x, y) = ((i as u32 % side) as i32, (i as u32 / side) as i32);
                let mut sum = 0u32;
                let mut count = 0u32;
                for dy in -3..=3 {
                    for dx in -3..=3 {
                        let (sx, sy) = ((x + dx).clamp(0, side as i32 - 1), (y + dy).clamp(0, side as i32 - 1));
                        sum += sharp[3 * (sy as u32 * side + sx as u32) as usize] as u32;
                        count += 1;
                    }
                }
                let v = (sum / count) as u8;
                [v, v, v]
            })
            .collect();
        let flat = vec![128u8; (3 * side * side) as usize];
        let measure = |data: &[u8]| {
            let view = RgbView::new(side, side, data).unwrap();
            sharpness(view, view.full()).unwrap()
        };
        let (sharp, blurred, flat) = (measure(&sharp), measure(&blurred), measure(&flat));
        assert!(sharp > 4.0 * blurred, "sharp {sharp} against blurred {blurred}");
        assert!(blurred > flat && flat.abs() < 1e-3, "blurred {blurred}, flat {flat}");
    }

    #[test]
    fn the_sharpest_views_are_kept_and_near_duplicates_are_not() {
        let front = embedding(&[(0, 1.0)]);
        let front_again = embedding(&[(0, 1.0), (1, 0.1)]);
        let side = embedding(&[(2, 1.0)]);
        let back = embedding(&[(3, 1.0)]);
        let views = vec![(5.0, front.clone()), (9.0, front_again), (1.0, side), (3.0, back)];
        assert_eq!(diverse_views(&views, 10), vec![1, 3, 2], "the sharper of the two front views, then the others");
        assert_eq!(diverse_views(&views, 2), vec![1, 3], "at most the handful asked for");
        assert!(diverse_views(&[], 4).is_empty());
    }
}
