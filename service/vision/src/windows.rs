//! Where in a frame a product may be. The embedding model's feature map over the whole frame
//! is pooled under windows of several sizes and shapes, which gives each window an embedding
//! for the price of one run of the model; the windows that come closest to an enrolled product
//! are the candidates that are then embedded for real.

use crate::{Crop, EMBEDDING_DIM, FeatureMap, Gallery};

/// The smallest window side, in cells: a third of the frame's height on the default grid.
const MIN_SIDE: usize = 3;
/// Window shapes, width over height: upright, square and lying boxes.
const ASPECTS: [f32; 3] = [0.75, 1.0, 4.0 / 3.0];
/// Two candidates overlapping more than this (intersection over the smaller) are one.
const SAME_PLACE: f32 = 0.5;

/// A window in cells of the feature map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CellWindow {
    pub column: usize,
    pub row: usize,
    pub columns: usize,
    pub rows: usize,
}

/// A window worth a closer look: where it is in the frame and how close its pooled features
/// came to the nearest enrolled product.
#[derive(Clone, Debug, PartialEq)]
pub struct Proposal {
    pub region: Crop,
    pub sku: String,
    pub score: f32,
}

/// Every window of [`ASPECTS`] with sides from [`MIN_SIDE`] cells to the whole grid.
pub fn cell_windows(columns: usize, rows: usize) -> Vec<CellWindow> {
    let mut windows = Vec::new();
    for side in MIN_SIDE..=rows.max(MIN_SIDE) {
        for aspect in ASPECTS {
            let (width, height) = (((side as f32 * aspect).round() as usize).max(1), side);
            if width > columns || height > rows {
                continue;
            }
            for row in 0..=rows - height {
                for column in 0..=columns - width {
                    windows.push(CellWindow { column, row, columns: width, rows: height });
                }
            }
        }
    }
    windows.dedup();
    windows
}

impl FeatureMap {
    /// The centred, L2-normalised embedding of each window (row-major, [`EMBEDDING_DIM`] each),
    /// from sums over an integral image of the cells.
    #[expect(
        clippy::indexing_slicing,
        reason = "cells holds rows * columns cells of EMBEDDING_DIM values; the integral image has (rows + 1) x (columns + 1) of them and windows lie inside the grid"
    )]
    pub fn window_embeddings(&self, windows: &[CellWindow]) -> Vec<f32> {
        let stride = (self.columns + 1) * EMBEDDING_DIM;
        let mut integral = vec![0f32; (self.rows + 1) * stride];
        for row in 0..self.rows {
            let mut running = vec![0f32; EMBEDDING_DIM];
            for column in 0..self.columns {
                let cell = &self.cells[(row * self.columns + column) * EMBEDDING_DIM..][..EMBEDDING_DIM];
                for (sum, value) in running.iter_mut().zip(cell) {
                    *sum += value;
                }
                let (above, here) = integral.split_at_mut((row + 1) * stride);
                let above = &above[row * stride + (column + 1) * EMBEDDING_DIM..][..EMBEDDING_DIM];
                let here = &mut here[(column + 1) * EMBEDDING_DIM..][..EMBEDDING_DIM];
                for ((out, up), run) in here.iter_mut().zip(above).zip(&running) {
                    *out = up + run;
                }
            }
        }
        let at = |row: usize, column: usize| &integral[row * stride + column * EMBEDDING_DIM..][..EMBEDDING_DIM];
        let mut out = Vec::with_capacity(windows.len() * EMBEDDING_DIM);
        for window in windows {
            let (top, left) = (window.row, window.column);
            let (bottom, right) = (top + window.rows, left + window.columns);
            let area = (window.rows * window.columns) as f32;
            let start = out.len();
            for channel in 0..EMBEDDING_DIM {
                let sum = at(bottom, right)[channel] - at(top, right)[channel] - at(bottom, left)[channel]
                    + at(top, left)[channel];
                out.push(sum / area - self.feature_mean[channel]);
            }
            let embedding = &mut out[start..];
            let norm = embedding.iter().map(|v| v * v).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
            embedding.iter_mut().for_each(|v| *v /= norm);
        }
        out
    }

    /// `window` in pixels of the `width`x`height` frame the map was made of.
    pub fn region(&self, window: CellWindow, width: u32, height: u32) -> Crop {
        let (sx, sy) = (width as f32 / self.columns as f32, height as f32 / self.rows as f32);
        let x = (window.column as f32 * sx).round() as u32;
        let y = (window.row as f32 * sy).round() as u32;
        let right = (((window.column + window.columns) as f32 * sx).round() as u32).min(width);
        let bottom = (((window.row + window.rows) as f32 * sy).round() as u32).min(height);
        Crop { x, y, width: right.saturating_sub(x).max(1), height: bottom.saturating_sub(y).max(1) }
    }

    /// The `count` best windows of the frame, each at a different place, best first: each
    /// window scored by its nearest enrolled product.
    pub fn candidates(&self, gallery: &Gallery, width: u32, height: u32, count: usize) -> Vec<Proposal> {
        let windows = cell_windows(self.columns, self.rows);
        let embeddings = self.window_embeddings(&windows);
        let mut scored: Vec<(usize, String, f32)> = gallery
            .best_per_row(&embeddings)
            .into_iter()
            .enumerate()
            .filter_map(|(index, best)| best.map(|(sku, score)| (index, sku.to_owned(), score)))
            .collect();
        scored.sort_by(|a, b| b.2.total_cmp(&a.2));
        let mut chosen: Vec<Proposal> = Vec::with_capacity(count);
        for (index, sku, score) in scored {
            if chosen.len() == count {
                break;
            }
            let Some(&window) = windows.get(index) else { continue };
            let region = self.region(window, width, height);
            if chosen.iter().all(|known| overlap(known.region, region) <= SAME_PLACE) {
                chosen.push(Proposal { region, sku, score });
            }
        }
        chosen
    }
}

/// Intersection over the smaller of the two.
pub fn overlap(a: Crop, b: Crop) -> f32 {
    let width = (a.x + a.width).min(b.x + b.width).saturating_sub(a.x.max(b.x));
    let height = (a.y + a.height).min(b.y + b.height).saturating_sub(a.y.max(b.y));
    let smaller = (a.width * a.height).min(b.width * b.height).max(1);
    (width * height) as f32 / smaller as f32
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::Embedding;

    fn map_with(columns: usize, rows: usize, hot: &[(usize, usize)]) -> FeatureMap {
        let mut cells = vec![0f32; rows * columns * EMBEDDING_DIM];
        for &(column, row) in hot {
            cells[(row * columns + column) * EMBEDDING_DIM + 7] = 6.0;
        }
        let mut feature_mean = vec![0f32; EMBEDDING_DIM];
        feature_mean[0] = -0.01;
        FeatureMap { rows, columns, cells, feature_mean: Arc::from(feature_mean) }
    }

    #[test]
    fn windows_cover_every_size_and_stay_inside() {
        let windows = cell_windows(12, 9);
        assert!(windows.iter().all(|w| w.column + w.columns <= 12 && w.row + w.rows <= 9));
        assert!(windows.contains(&CellWindow { column: 0, row: 0, columns: 3, rows: 3 }));
        assert!(windows.contains(&CellWindow { column: 0, row: 0, columns: 12, rows: 9 }));
        assert!(windows.contains(&CellWindow { column: 5, row: 2, columns: 4, rows: 3 }));
        assert!(windows.iter().all(|w| w.rows >= MIN_SIDE));
    }

    #[test]
    fn a_window_embedding_is_the_mean_of_its_cells_less_the_feature_mean() {
        let map = map_with(4, 3, &[(1, 1)]);
        let window = CellWindow { column: 0, row: 0, columns: 2, rows: 2 };
        let embedding = map.window_embeddings(&[window]);
        let expected = [0.01f32, 6.0 / 4.0];
        let norm = (expected[0] * expected[0] + expected[1] * expected[1]).sqrt();
        assert!((embedding[0] - expected[0] / norm).abs() < 1e-5);
        assert!((embedding[7] - expected[1] / norm).abs() < 1e-5);
        assert!(embedding[1..7].iter().all(|v| v.abs() < 1e-6));
    }

    #[test]
    fn the_best_window_is_where_the_enrolled_features_are() {
        let map = map_with(12, 9, &[(8, 5), (9, 5), (8, 6), (9, 6), (10, 6)]);
        let mut gallery = Gallery::default();
        let mut values = vec![0f32; EMBEDDING_DIM];
        values[7] = 1.0;
        gallery.add("A", Embedding::from_raw(values).unwrap());
        let candidates = map.candidates(&gallery, 640, 480, 2);
        assert_eq!(candidates.len(), 2);
        let best = &candidates[0];
        assert_eq!(best.sku, "A");
        let (centre_x, centre_y) = (best.region.x + best.region.width / 2, best.region.y + best.region.height / 2);
        assert!((440..560).contains(&centre_x) && (270..400).contains(&centre_y), "{best:?}");
        assert!(overlap(candidates[0].region, candidates[1].region) <= SAME_PLACE);
    }

    #[test]
    fn regions_map_cells_to_frame_pixels() {
        let map = map_with(12, 9, &[]);
        let region = map.region(CellWindow { column: 3, row: 0, columns: 6, rows: 9 }, 1280, 720);
        assert_eq!(region, Crop { x: 320, y: 0, width: 640, height: 720 });
    }
}
