//! A cheap signature of a frame, to skip recognition while the scene does not change.

use crate::RgbView;

const COLUMNS: usize = 32;
const ROWS: usize = 24;

/// The frame's luma averaged over a 32x24 grid.
#[derive(Clone, Debug, PartialEq)]
pub struct SceneSignature([f32; COLUMNS * ROWS]);

impl SceneSignature {
    #[expect(
        clippy::indexing_slicing,
        reason = "an RgbView holds width * height RGB pixels (RgbView::new checks it); y * ROWS / height < ROWS and x * COLUMNS / width < COLUMNS pick one of the grid's cells"
    )]
    pub fn of(view: RgbView<'_>) -> Self {
        let (width, height) = (view.width() as usize, view.height() as usize);
        let mut sums = [0f32; COLUMNS * ROWS];
        let mut counts = [0u32; COLUMNS * ROWS];
        let data = view.data();
        // Every second pixel of every second row is plenty for a 32x24 average.
        for y in (0..height).step_by(2) {
            let cell_row = y * ROWS / height * COLUMNS;
            let row = &data[y * width * 3..(y + 1) * width * 3];
            for x in (0..width).step_by(2) {
                let p = &row[x * 3..x * 3 + 3];
                let luma = 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]);
                let cell = cell_row + x * COLUMNS / width;
                sums[cell] += luma;
                counts[cell] += 1;
            }
        }
        for (sum, count) in sums.iter_mut().zip(counts) {
            *sum /= count.max(1) as f32;
        }
        Self(sums)
    }

    /// Mean absolute difference of the cells, in luma levels (0..=255).
    pub fn difference(&self, other: &SceneSignature) -> f32 {
        self.0.iter().zip(other.0.iter()).map(|(a, b)| (a - b).abs()).sum::<f32>() / (COLUMNS * ROWS) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(width: u32, height: u32, pixel: impl Fn(u32, u32) -> u8) -> Vec<u8> {
        let pixel = &pixel;
        (0..height).flat_map(|y| (0..width).map(move |x| pixel(x, y))).flat_map(|v| [v; 3]).collect()
    }

    #[test]
    fn identical_frames_do_not_differ_and_a_moved_object_does() {
        let still = frame(320, 240, |x, _| if x < 160 { 40 } else { 200 });
        let same = SceneSignature::of(RgbView::new(320, 240, &still).unwrap());
        assert_eq!(same.difference(&same.clone()), 0.0);
        let moved = frame(320, 240, |x, _| if x < 200 { 40 } else { 200 });
        let other = SceneSignature::of(RgbView::new(320, 240, &moved).unwrap());
        let difference = same.difference(&other);
        assert!(difference > 15.0, "an eighth of the frame changed by 160 levels: {difference}");
    }

    #[test]
    fn noise_of_a_level_or_two_is_small() {
        let base = frame(320, 240, |x, y| ((x + y) % 200) as u8 + 20);
        let noisy = frame(320, 240, |x, y| ((x + y) % 200) as u8 + 20 + ((x * 7 + y * 13) % 3) as u8);
        let a = SceneSignature::of(RgbView::new(320, 240, &base).unwrap());
        let b = SceneSignature::of(RgbView::new(320, 240, &noisy).unwrap());
        assert!(a.difference(&b) < 1.5, "{}", a.difference(&b));
    }
}
