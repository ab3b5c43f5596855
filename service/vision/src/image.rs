use std::path::Path;

use crate::VisionError;

/// A borrowed, tightly packed RGB8 image (row stride = 3 * width).
#[derive(Clone, Copy, Debug)]
pub struct RgbView<'a> {
    width: u32,
    height: u32,
    data: &'a [u8],
}

impl<'a> RgbView<'a> {
    pub fn new(width: u32, height: u32, data: &'a [u8]) -> Result<Self, VisionError> {
        let expected = width as usize * height as usize * 3;
        if width == 0 || height == 0 || data.len() != expected {
            return Err(VisionError::BadBuffer { width, height, len: data.len() });
        }
        Ok(Self { width, height, data })
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The largest centred square: where a host holds a product up to a fixed camera.
    pub fn center_square(&self) -> Crop {
        let side = self.width.min(self.height);
        Crop { x: (self.width - side) / 2, y: (self.height - side) / 2, width: side, height: side }
    }

    pub fn full(&self) -> Crop {
        Crop { x: 0, y: 0, width: self.width, height: self.height }
    }

    /// Resample of `crop` to a `size`x`size` planar (CHW) tensor with `(value - mean) / scale`
    /// normalisation, written into `out` (len 3*size*size); see [`RgbView::resample`].
    pub fn resample_normalized(
        &self,
        crop: Crop,
        size: usize,
        mean: f32,
        scale: f32,
        out: &mut [f32],
    ) -> Result<(), VisionError> {
        self.resample(crop, size as u32, size as u32, mean, 1.0 / scale, out)
    }

    /// As [`RgbView::resample_normalized`], to a `width`x`height` tensor (the crop stretched to it).
    pub fn resample_normalized_to(
        &self,
        crop: Crop,
        (width, height): (usize, usize),
        mean: f32,
        scale: f32,
        out: &mut [f32],
    ) -> Result<(), VisionError> {
        self.resample(crop, width as u32, height as u32, mean, 1.0 / scale, out)
    }

    /// Resample of `crop` to `width`x`height`, planar (CHW), each value `v` in 0..=255 written
    /// as `(v - mean) * factor` into `out` (len 3*width*height). Along an axis that shrinks,
    /// each output pixel is the mean of the source pixels under it (area resampling: fine
    /// patterns such as print on packaging average out instead of aliasing, as they do in the
    /// antialiased resizing the models were trained with); along one that grows, it blends the
    /// two nearest (bilinear).
    #[expect(
        clippy::indexing_slicing,
        reason = "the crop was checked to lie inside the image, the row and column taps stay inside the crop (Taps::new), blended is one crop row long and out was checked to hold 3 planes of out_w * out_h"
    )]
    pub(crate) fn resample(
        &self,
        crop: Crop,
        width: u32,
        height: u32,
        mean: f32,
        factor: f32,
        out: &mut [f32],
    ) -> Result<(), VisionError> {
        if crop.width == 0
            || crop.height == 0
            || crop.x.checked_add(crop.width).is_none_or(|r| r > self.width)
            || crop.y.checked_add(crop.height).is_none_or(|b| b > self.height)
        {
            return Err(VisionError::BadCrop { crop, width: self.width, height: self.height });
        }
        let (out_w, out_h) = (width as usize, height as usize);
        let plane = out_w * out_h;
        if out.len() != 3 * plane {
            return Err(VisionError::Dimension { got: out.len(), expected: 3 * plane });
        }
        let columns = Taps::new(crop.width as usize, out_w);
        let rows = Taps::new(crop.height as usize, out_h);
        let stride = self.width as usize * 3;
        let (start, span) = (3 * crop.x as usize, 3 * crop.width as usize);
        // The source rows under an output row are blended first (contiguous, so vectorised),
        // then each output column blends the pixels under it in that blended row.
        let mut blended = vec![0f32; span];
        let (red, rest) = out.split_at_mut(plane);
        let (green, blue) = rest.split_at_mut(plane);
        for (oy, ((red, green), blue)) in
            red.chunks_exact_mut(out_w).zip(green.chunks_exact_mut(out_w)).zip(blue.chunks_exact_mut(out_w)).enumerate()
        {
            let (first_row, row_weights) = rows.of(oy);
            blended.fill(0.0);
            for (k, &weight) in row_weights.iter().enumerate() {
                let row = &self.data[(crop.y as usize + first_row + k) * stride + start..][..span];
                for (sum, &value) in blended.iter_mut().zip(row) {
                    *sum += weight * f32::from(value);
                }
            }
            for ox in 0..out_w {
                let (first_column, column_weights) = columns.of(ox);
                let mut pixel = [0f32; 3];
                for (k, &weight) in column_weights.iter().enumerate() {
                    let at = 3 * (first_column + k);
                    for (c, sum) in pixel.iter_mut().enumerate() {
                        *sum += weight * blended[at + c];
                    }
                }
                red[ox] = (pixel[0] - mean) * factor;
                green[ox] = (pixel[1] - mean) * factor;
                blue[ox] = (pixel[2] - mean) * factor;
            }
        }
        Ok(())
    }
}

/// For each output pixel along one axis, the first source pixel it reads and the weights of
/// the source pixels from there on (they sum to 1).
pub(crate) struct Taps {
    first: Vec<usize>,
    /// Where each output pixel's weights start in `weights`, and one past the last pixel's.
    bounds: Vec<usize>,
    weights: Vec<f32>,
}

impl Taps {
    /// Taps resampling `source` pixels to `output` (both at least 1): each output pixel
    /// averages the source pixels its footprint covers (weighted by how much of each it
    /// covers) when shrinking, and blends the two nearest source pixels when growing.
    pub(crate) fn new(source: usize, output: usize) -> Self {
        let scale = source as f64 / output as f64;
        let mut taps = Self { first: Vec::with_capacity(output), bounds: vec![0], weights: Vec::new() };
        for o in 0..output {
            if scale > 1.0 {
                let (begin, end) = (o as f64 * scale, ((o + 1) as f64 * scale).min(source as f64));
                let first = begin.floor() as usize;
                taps.first.push(first);
                for i in first..(end.ceil() as usize).min(source) {
                    let covered = (end.min((i + 1) as f64) - begin.max(i as f64)).max(0.0);
                    taps.weights.push((covered / (end - begin)) as f32);
                }
            } else {
                let position = ((o as f64 + 0.5) * scale - 0.5).clamp(0.0, (source - 1) as f64);
                let first = position.floor() as usize;
                let right = (position - first as f64) as f32;
                taps.first.push(first);
                taps.weights.push(1.0 - right);
                if first + 1 < source {
                    taps.weights.push(right);
                }
            }
            taps.bounds.push(taps.weights.len());
        }
        taps
    }

    #[expect(
        clippy::indexing_slicing,
        reason = "output is below the output size the taps were made for: first has one entry per output and bounds one more"
    )]
    pub(crate) fn of(&self, output: usize) -> (usize, &[f32]) {
        (self.first[output], &self.weights[self.bounds[output]..self.bounds[output + 1]])
    }
}

impl RgbView<'_> {
    /// A copy of the pixels inside `crop`.
    pub fn cropped(&self, crop: Crop) -> Result<RgbImage, VisionError> {
        if crop.width == 0
            || crop.height == 0
            || crop.x.checked_add(crop.width).is_none_or(|r| r > self.width)
            || crop.y.checked_add(crop.height).is_none_or(|b| b > self.height)
        {
            return Err(VisionError::BadCrop { crop, width: self.width, height: self.height });
        }
        let stride = 3 * self.width as usize;
        let (start, span) = (3 * crop.x as usize, 3 * crop.width as usize);
        let data = (crop.y..crop.y + crop.height)
            .flat_map(|row| {
                self.data.get(row as usize * stride + start..).and_then(|r| r.get(..span)).unwrap_or_default()
            })
            .copied()
            .collect();
        Ok(RgbImage { width: crop.width, height: crop.height, data })
    }

    /// `crop` scaled down so that its longer side is at most `max_side`, as a JPEG.
    #[expect(
        clippy::indexing_slicing,
        reason = "resample filled planar with 3 planes of width * height values: c * plane + i < 3 * plane"
    )]
    pub fn jpeg(&self, crop: Crop, max_side: u32, quality: u8) -> Result<Vec<u8>, VisionError> {
        let scale = (max_side as f32 / crop.width.max(crop.height) as f32).min(1.0);
        let width = ((crop.width as f32 * scale).round() as u32).max(1);
        let height = ((crop.height as f32 * scale).round() as u32).max(1);
        let mut planar = vec![0f32; 3 * width as usize * height as usize];
        self.resample(crop, width, height, 0.0, 1.0, &mut planar)?;
        let plane = width as usize * height as usize;
        let mut packed = Vec::with_capacity(3 * plane);
        for i in 0..plane {
            for c in 0..3 {
                packed.push(planar[c * plane + i].round().clamp(0.0, 255.0) as u8);
            }
        }
        let mut out = Vec::new();
        ::image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
            .encode(&packed, width, height, ::image::ExtendedColorType::Rgb8)
            .map_err(|e| VisionError::Inference(format!("JPEG encoding: {e}")))?;
        Ok(out)
    }
}

/// A rectangle in pixel coordinates of the image it applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Crop {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// An owned, tightly packed RGB8 image.
#[derive(Clone, Debug)]
pub struct RgbImage {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl RgbImage {
    pub fn view(&self) -> Result<RgbView<'_>, VisionError> {
        RgbView::new(self.width, self.height, &self.data)
    }
}

/// Decodes a JPEG or PNG file (any colour type) to RGB8.
pub fn load_image(path: &Path) -> Result<RgbImage, VisionError> {
    let bytes =
        std::fs::read(path).map_err(|e| VisionError::Image { path: path.to_owned(), message: e.to_string() })?;
    decode_image(&bytes).map_err(|message| VisionError::Image { path: path.to_owned(), message })
}

/// The most pixels a photo may declare: larger ones are refused from their header, before any
/// pixel is decoded (a small file may declare a huge image: a decompression bomb).
pub const MAX_DECODED_PIXELS: u64 = 40_000_000;

/// The width and height a JPEG or PNG declares in its header, without decoding it.
pub fn image_dimensions(bytes: &[u8]) -> Result<(u32, u32), String> {
    ::image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?
        .into_dimensions()
        .map_err(|e| e.to_string())
}

/// Decodes JPEG or PNG bytes to RGB8; the error says what is wrong with the bytes. An image that
/// declares more than [`MAX_DECODED_PIXELS`] is refused before decoding.
pub fn decode_image(bytes: &[u8]) -> Result<RgbImage, String> {
    let format = ::image::guess_format(bytes).map_err(|_| "not a JPEG or PNG image".to_owned())?;
    let (width, height) = image_dimensions(bytes)?;
    let pixels = u64::from(width) * u64::from(height);
    if pixels > MAX_DECODED_PIXELS {
        return Err(format!(
            "{width}x{height} is {:.1} megapixels, over the limit of {} megapixels",
            pixels as f64 / 1e6,
            MAX_DECODED_PIXELS / 1_000_000
        ));
    }
    let decoded = ::image::load_from_memory_with_format(bytes, format).map_err(|e| e.to_string())?;
    let rgb = decoded.into_rgb8();
    let (width, height) = rgb.dimensions();
    if width < 16 || height < 16 {
        return Err(format!("{width}x{height} is too small to recognize anything (at least 16x16)"));
    }
    Ok(RgbImage { width, height, data: rgb.into_raw() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resample_of_uniform_image_is_uniform_and_normalized() {
        let data = vec![200u8; 40 * 30 * 3];
        let view = RgbView::new(40, 30, &data).unwrap();
        let mut out = vec![0.0; 3 * 8 * 8];
        view.resample_normalized(view.center_square(), 8, 127.0, 128.0, &mut out).unwrap();
        for v in out {
            assert!((v - (200.0 - 127.0) / 128.0).abs() < 1e-6);
        }
    }

    #[test]
    fn resample_keeps_channel_planes_apart() {
        let mut data = Vec::new();
        for _ in 0..16 * 16 {
            data.extend_from_slice(&[10, 20, 30]);
        }
        let view = RgbView::new(16, 16, &data).unwrap();
        let mut out = vec![0.0; 3 * 4 * 4];
        view.resample_normalized(view.full(), 4, 0.0, 1.0, &mut out).unwrap();
        assert!(out[..16].iter().all(|&v| v == 10.0));
        assert!(out[16..32].iter().all(|&v| v == 20.0));
        assert!(out[32..].iter().all(|&v| v == 30.0));
    }

    #[test]
    fn resample_follows_a_horizontal_gradient() {
        let mut data = Vec::new();
        for _y in 0..2 {
            for x in 0..256u32 {
                data.extend_from_slice(&[x as u8; 3]);
            }
        }
        let view = RgbView::new(256, 2, &data).unwrap();
        let mut out = vec![0.0; 3 * 2 * 2];
        view.resample_normalized(view.full(), 2, 0.0, 1.0, &mut out).unwrap();
        assert!((out[0] - 63.5).abs() < 1.0, "left half averages around 64, got {}", out[0]);
        assert!((out[1] - 191.5).abs() < 1.0, "right half averages around 192, got {}", out[1]);
    }

    #[test]
    fn shrinking_averages_fine_stripes_instead_of_aliasing_them() {
        // Columns alternately black and white, shrunk by 480/224: every output pixel covers
        // about two stripes, so each is mid-grey; sampling two pixels per output pixel (plain
        // bilinear) would give values from black to white.
        let data: Vec<u8> = (0..480 * 4).flat_map(|i| [if i % 2 == 0 { 0 } else { 255 }; 3]).collect();
        let view = RgbView::new(480, 4, &data).unwrap();
        let mut out = vec![0.0; 3 * 224 * 224];
        view.resample(view.full(), 224, 224, 0.0, 1.0, &mut out).unwrap();
        let (low, high) = out.iter().fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
        assert!(low > 100.0 && high < 155.0, "shrunk stripes range from {low} to {high}");
    }

    #[test]
    fn growing_blends_the_nearest_pixels() {
        let data = [0, 0, 0, 200, 200, 200];
        let view = RgbView::new(2, 1, &data).unwrap();
        let mut out = vec![0.0; 3 * 4];
        view.resample(view.full(), 4, 1, 0.0, 1.0, &mut out).unwrap();
        assert_eq!(&out[..4], &[0.0, 50.0, 150.0, 200.0]);
    }

    #[test]
    fn taps_cover_the_source_once_with_weights_summing_to_one() {
        for (source, output) in [(480, 224), (640, 224), (224, 224), (100, 224), (7, 3), (1, 5)] {
            let taps = Taps::new(source, output);
            let mut coverage = vec![0f64; source];
            for o in 0..output {
                let (first, weights) = taps.of(o);
                let sum: f32 = weights.iter().sum();
                assert!((sum - 1.0).abs() < 1e-5, "{source}->{output} pixel {o}: weights sum to {sum}");
                assert!(first + weights.len() <= source, "{source}->{output} pixel {o} reads past the source");
                for (k, w) in weights.iter().enumerate() {
                    coverage[first + k] += f64::from(*w);
                }
            }
            if source >= output {
                let each = output as f64 / source as f64;
                assert!(coverage.iter().all(|c| (c - each).abs() < 1e-4), "{source}->{output}: {coverage:?}");
            }
        }
    }

    #[test]
    fn jpeg_thumbnails_keep_the_aspect_and_decode_back() {
        let data: Vec<u8> = (0..256 * 128).flat_map(|i| [(i % 256) as u8, 128, 30]).collect();
        let view = RgbView::new(256, 128, &data).unwrap();
        let jpeg = view.jpeg(view.full(), 64, 90).unwrap();
        let back = decode_image(&jpeg).unwrap();
        assert_eq!((back.width, back.height), (64, 32));
        let left = back.data[3 * (16 * 64 + 2)];
        let right = back.data[3 * (16 * 64 + 61)];
        assert!(left < 30 && right > 220, "the gradient survives: {left} .. {right}");
    }

    #[test]
    fn cropped_copies_exactly_the_pixels_inside() {
        let data: Vec<u8> = (0..4 * 3 * 3).map(|v| v as u8).collect();
        let view = RgbView::new(4, 3, &data).unwrap();
        let piece = view.cropped(Crop { x: 1, y: 1, width: 2, height: 2 }).unwrap();
        assert_eq!((piece.width, piece.height), (2, 2));
        assert_eq!(piece.data, [15, 16, 17, 18, 19, 20, 27, 28, 29, 30, 31, 32]);
        assert!(view.cropped(Crop { x: 3, y: 0, width: 2, height: 1 }).is_err());
    }

    #[test]
    fn crop_outside_image_is_refused() {
        let data = vec![0u8; 10 * 10 * 3];
        let view = RgbView::new(10, 10, &data).unwrap();
        let mut out = vec![0.0; 3 * 4 * 4];
        let crop = Crop { x: 5, y: 0, width: 6, height: 4 };
        assert!(matches!(view.resample_normalized(crop, 4, 0.0, 1.0, &mut out), Err(VisionError::BadCrop { .. })));
    }

    #[test]
    fn buffer_of_wrong_length_is_refused() {
        assert!(RgbView::new(4, 4, &[0u8; 47]).is_err());
        assert!(RgbView::new(0, 4, &[]).is_err());
    }

    #[test]
    fn garbage_bytes_are_not_an_image() {
        let err = decode_image(b"definitely not a picture").unwrap_err();
        assert!(err.contains("not a JPEG or PNG"), "{err}");
    }
}
