//! How a reference photo becomes references: the photo as it is, mirrored, and zoomed out to
//! the scale a held product has in a frame.

use crate::{RgbImage, RgbView};

/// The photo's longer side as a fraction of the square it is zoomed out into.
pub const ZOOMED_OUT: f32 = 0.7;
/// Mid-grey: what the embedding model's input normalisation turns into zero.
const CANVAS_GREY: u8 = 127;

/// The image centred in a mid-grey square whose side is its longer side over [`ZOOMED_OUT`].
#[expect(
    clippy::indexing_slicing,
    reason = "the canvas side is the image's longer side over ZOOMED_OUT (< 1), so each image row, offset by the centring margins, lies inside the canvas"
)]
pub(super) fn zoomed_out(view: RgbView<'_>) -> RgbImage {
    let (width, height) = (view.width() as usize, view.height() as usize);
    let side = (width.max(height) as f32 / ZOOMED_OUT).round() as usize;
    let (left, top) = ((side - width) / 2, (side - height) / 2);
    let mut data = vec![CANVAS_GREY; side * side * 3];
    for (row, pixels) in view.data().chunks_exact(width * 3).enumerate() {
        let start = ((top + row) * side + left) * 3;
        data[start..start + pixels.len()].copy_from_slice(pixels);
    }
    RgbImage { width: side as u32, height: side as u32, data }
}

/// The image flipped left to right.
pub(super) fn mirrored(view: RgbView<'_>) -> RgbImage {
    let row_bytes = view.width() as usize * 3;
    let mut data = Vec::with_capacity(view.data().len());
    for row in view.data().chunks_exact(row_bytes) {
        for pixel in row.chunks_exact(3).rev() {
            data.extend_from_slice(pixel);
        }
    }
    RgbImage { width: view.width(), height: view.height(), data }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zooming_out_centres_the_photo_in_grey() {
        let data = [200u8; 7 * 2 * 3];
        let view = RgbView::new(7, 2, &data).unwrap();
        let zoomed = zoomed_out(view);
        assert_eq!((zoomed.width, zoomed.height), (10, 10));
        let pixel = |x: usize, y: usize| zoomed.data[(y * 10 + x) * 3];
        assert_eq!((pixel(0, 0), pixel(1, 4), pixel(7, 5), pixel(8, 5), pixel(1, 6)), (127, 200, 200, 127, 127));
    }

    #[test]
    fn mirroring_reverses_each_row() {
        let data = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
        let view = RgbView::new(2, 2, &data).unwrap();
        assert_eq!(mirrored(view).data, vec![4, 5, 6, 1, 2, 3, 10, 11, 12, 7, 8, 9]);
    }
}
