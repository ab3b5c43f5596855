//! Grey images, their area-averaged shrinking into a scale pyramid, and the Gaussian smoothing
//! the descriptors are taken on.

use crate::image::Taps;
use crate::{Crop, RgbView};

/// An 8-bit grey image, rows packed.
#[derive(Clone, Debug)]
pub(super) struct Gray {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

impl Gray {
    #[cfg(test)]
    pub fn at(&self, x: usize, y: usize) -> u8 {
        self.pixels[y * self.width + x]
    }

    /// The luma (ITU-R BT.601 weights in 14-bit fixed point) of `crop`, which lies inside `view`.
    #[expect(
        clippy::indexing_slicing,
        reason = "the crop lies inside the view (this function's contract, above), and an RgbView holds width * height RGB pixels, so each of the crop's rows is inside the view's data"
    )]
    pub fn of(view: RgbView<'_>, crop: Crop) -> Self {
        let stride = 3 * view.width() as usize;
        let (width, height) = (crop.width as usize, crop.height as usize);
        let mut pixels = Vec::with_capacity(width * height);
        for y in crop.y as usize..crop.y as usize + height {
            let row = &view.data()[y * stride + 3 * crop.x as usize..][..3 * width];
            pixels.extend(row.chunks_exact(3).map(|p| {
                ((4899 * u32::from(p[0]) + 9617 * u32::from(p[1]) + 1868 * u32::from(p[2]) + 8192) >> 14) as u8
            }));
        }
        Self { width, height, pixels }
    }

    /// This image resampled to `width`x`height` (each no larger than this image's): every output
    /// pixel is the mean of the source pixels under it, weighted by how much of each it covers.
    #[expect(
        clippy::indexing_slicing,
        reason = "the taps of rows and columns stay inside the source image (Taps::new)"
    )]
    pub fn shrunk(&self, width: usize, height: usize) -> Self {
        let columns = Taps::new(self.width, width);
        let rows = Taps::new(self.height, height);
        let mut blended = vec![0f32; self.width];
        let mut pixels = Vec::with_capacity(width * height);
        for y in 0..height {
            let (first_row, row_weights) = rows.of(y);
            blended.fill(0.0);
            for (k, &weight) in row_weights.iter().enumerate() {
                let row = &self.pixels[(first_row + k) * self.width..][..self.width];
                for (sum, &value) in blended.iter_mut().zip(row) {
                    *sum += weight * f32::from(value);
                }
            }
            pixels.extend((0..width).map(|x| {
                let (first, weights) = columns.of(x);
                let value: f32 = weights.iter().zip(&blended[first..]).map(|(w, v)| w * v).sum();
                (value + 0.5) as u8
            }));
        }
        Self { width, height, pixels }
    }

    /// This image smoothed by a 7x7 Gaussian (sigma 2; integer weights summing to 256, each
    /// pass rounded to 8 bits), the border repeated outwards.
    #[expect(
        clippy::indexing_slicing,
        reason = "padded is the row with 3 pixels of border each side (width + 6), the kernel has 7 taps and rows are clamped into the image"
    )]
    pub fn smoothed(&self) -> Self {
        const WEIGHTS: [u16; 7] = [18, 33, 49, 56, 49, 33, 18];
        let (width, height) = (self.width, self.height);
        let clamp = |i: isize, n: usize| i.clamp(0, n as isize - 1) as usize;
        let mut across = vec![0u8; width * height];
        let mut padded = vec![0u8; width + 6];
        let mut sums = vec![0u16; width];
        for (source, out) in self.pixels.chunks_exact(width).zip(across.chunks_exact_mut(width)) {
            padded[..3].fill(source[0]);
            padded[3..3 + width].copy_from_slice(source);
            padded[3 + width..].fill(source[width - 1]);
            sums.fill(128);
            for (k, &weight) in WEIGHTS.iter().enumerate() {
                for (sum, &value) in sums.iter_mut().zip(&padded[k..k + width]) {
                    *sum += weight * u16::from(value);
                }
            }
            for (out, &sum) in out.iter_mut().zip(&sums) {
                *out = (sum >> 8) as u8;
            }
        }
        let mut pixels = vec![0u8; width * height];
        for (y, out) in pixels.chunks_exact_mut(width).enumerate() {
            sums.fill(128);
            for (k, &weight) in WEIGHTS.iter().enumerate() {
                let row = &across[clamp(y as isize + k as isize - 3, height) * width..][..width];
                for (sum, &value) in sums.iter_mut().zip(row) {
                    *sum += weight * u16::from(value);
                }
            }
            for (out, &sum) in out.iter_mut().zip(&sums) {
                *out = (sum >> 8) as u8;
            }
        }
        Self { width, height, pixels }
    }
}

/// One level of the pyramid and how many level-0 pixels one of its pixels spans (across, down).
pub(super) struct Level {
    pub image: Gray,
    pub scale: (f32, f32),
}

/// `base` and the images below it, each `factor` times smaller than the one before, down to
/// `levels` images or until one would be narrower than `min_side`.
pub(super) fn pyramid(base: Gray, levels: usize, factor: f32, min_side: usize) -> Vec<Level> {
    let (width, height) = (base.width, base.height);
    let mut pyramid = vec![Level { image: base, scale: (1.0, 1.0) }];
    for level in 1..levels {
        let scale = factor.powi(level as i32);
        let (w, h) = ((width as f32 / scale).round() as usize, (height as f32 / scale).round() as usize);
        if w.min(h) < min_side {
            break;
        }
        let Some(previous) = pyramid.last() else { break };
        let image = previous.image.shrunk(w, h);
        pyramid.push(Level { scale: (width as f32 / w as f32, height as f32 / h as f32), image });
    }
    pyramid
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gray(width: usize, height: usize, pixel: impl Fn(usize, usize) -> u8) -> Gray {
        let pixels = (0..height).flat_map(|y| (0..width).map(move |x| (x, y))).map(|(x, y)| pixel(x, y)).collect();
        Gray { width, height, pixels }
    }

    #[test]
    fn luma_weights_the_channels_as_bt601() {
        let data = [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255];
        let view = RgbView::new(4, 1, &data).unwrap();
        assert_eq!(Gray::of(view, view.full()).pixels, [76, 150, 29, 255]);
        let inner = Gray::of(view, Crop { x: 1, y: 0, width: 2, height: 1 });
        assert_eq!(inner.pixels, [150, 29]);
    }

    #[test]
    fn smoothing_keeps_flat_images_flat_and_spreads_a_point() {
        let flat = gray(20, 12, |_, _| 173);
        assert!(flat.smoothed().pixels.iter().all(|&v| v == 173));
        let point = gray(21, 21, |x, y| if (x, y) == (10, 10) { 255 } else { 0 });
        let smooth = point.smoothed();
        assert!(smooth.at(10, 10) > smooth.at(11, 10) && smooth.at(11, 10) > smooth.at(12, 10));
        assert_eq!(smooth.at(11, 10), smooth.at(9, 10));
        assert_eq!(smooth.at(10, 11), smooth.at(11, 10));
        assert_eq!(smooth.at(14, 10), 0);
    }

    #[test]
    fn pyramid_levels_shrink_by_the_factor_and_stop_when_too_small() {
        let base = gray(640, 480, |x, y| ((x * 7 + y * 3) % 256) as u8);
        let levels = pyramid(base, 8, 1.2, 40);
        assert_eq!(levels.len(), 8);
        assert_eq!((levels[1].image.width, levels[1].image.height), (533, 400));
        assert!((levels[7].scale.0 - 1.2f32.powi(7)).abs() < 0.02, "{:?}", levels[7].scale);
        let small = pyramid(gray(80, 60, |_, _| 9), 8, 1.2, 40);
        assert_eq!(small.len(), 3, "60 / 1.2^2 = 41.7 still fits, 60 / 1.2^3 = 34.7 does not");
    }
}
