//! Conversions the direct V4L2 backend does in Rust: packed YUYV (4:2:2) and MJPEG to tightly
//! packed RGB8.
//!
//! YUYV uses the BT.601 matrix, the one V4L2 defines for SD cameras (`V4L2_COLORSPACE_SMPTE170M`).
//! Its range comes from the driver's `quantization` field: limited range (Y 16-235, Cb/Cr 16-240)
//! is the V4L2 default for YUV formats and what almost every UVC camera sends; full range
//! (0-255) is used when the driver says so. MJPEG frames are JFIF, always full-range BT.601;
//! the JPEG decoder applies that itself.

use zune_jpeg::JpegDecoder;
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

/// How the Y, Cb and Cr samples of a YUV picture map to 0-255 RGB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum YuvRange {
    /// Y in 16-235, Cb/Cr in 16-240 (studio swing; the V4L2 default for YUV).
    #[default]
    Limited,
    /// Y, Cb and Cr in 0-255 (JFIF, some webcams' raw modes).
    Full,
}

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("YUYV needs an even width, got {width}")]
    OddWidth { width: u32 },
    #[error("YUYV row stride {stride} is shorter than a {width}-pixel row ({} bytes)", 2 * *width as usize)]
    StrideTooShort { stride: usize, width: u32 },
    #[error("buffer of {got} bytes is too small for {width}x{height} (needs {needed})")]
    BufferTooSmall { got: usize, needed: usize, width: u32, height: u32 },
    #[error("not a JPEG frame: {0}")]
    Jpeg(String),
}

/// A decoded picture, RGB8, tightly packed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RgbImage {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

/// BT.601 coefficients for one range, in 1/128ths. Blue's Cb coefficient (about 2) is split
/// in two so that each product fits an i16.
struct Matrix {
    y_offset: i16,
    y_gain: i16,
    v_to_r: i16,
    u_to_g: i16,
    v_to_g: i16,
    u_to_b: [i16; 2],
}

const LIMITED: Matrix = Matrix { y_offset: 16, y_gain: 149, v_to_r: 204, u_to_g: 50, v_to_g: 104, u_to_b: [129, 129] };
const FULL: Matrix = Matrix { y_offset: 0, y_gain: 128, v_to_r: 179, u_to_g: 44, v_to_g: 91, u_to_b: [113, 114] };

/// Pixels converted together: sixteen i16 lanes let the compiler use SIMD registers.
const BLOCK: usize = 16;

/// Converts packed YUYV (Y0 Cb Y1 Cr per pixel pair) rows of `stride` bytes into `rgb`, which
/// must hold exactly `width * height * 3` bytes. Within 1 of exact BT.601 arithmetic; the
/// chroma of a pixel pair is used for both pixels.
pub fn yuyv_to_rgb(
    yuyv: &[u8],
    width: u32,
    height: u32,
    stride: usize,
    range: YuvRange,
    rgb: &mut [u8],
) -> Result<(), ConvertError> {
    if !width.is_multiple_of(2) {
        return Err(ConvertError::OddWidth { width });
    }
    let (w, h) = (width as usize, height as usize);
    if stride < 2 * w {
        return Err(ConvertError::StrideTooShort { stride, width });
    }
    let needed = if h == 0 { 0 } else { stride * (h - 1) + 2 * w };
    if yuyv.len() < needed {
        return Err(ConvertError::BufferTooSmall { got: yuyv.len(), needed, width, height });
    }
    if rgb.len() != 3 * w * h {
        return Err(ConvertError::BufferTooSmall { got: rgb.len(), needed: 3 * w * h, width, height });
    }
    let m = match range {
        YuvRange::Limited => &LIMITED,
        YuvRange::Full => &FULL,
    };
    for (row_in, row_out) in yuyv.chunks(stride).zip(rgb.chunks_exact_mut(3 * w)) {
        let Some(row_in) = row_in.get(..2 * w) else { continue };
        let mut blocks_in = row_in.chunks_exact(2 * BLOCK);
        let mut blocks_out = row_out.chunks_exact_mut(3 * BLOCK);
        for (block_in, block_out) in (&mut blocks_in).zip(&mut blocks_out) {
            if let (Ok(block_in), Ok(block_out)) = (block_in.try_into(), block_out.try_into()) {
                convert_block(m, block_in, block_out);
            }
        }
        let (rest_in, rest_out) = (blocks_in.remainder(), blocks_out.into_remainder());
        if !rest_in.is_empty() {
            let mut block_in = [0; 2 * BLOCK];
            let mut block_out = [0; 3 * BLOCK];
            block_in.iter_mut().zip(rest_in).for_each(|(to, from)| *to = *from);
            convert_block(m, &block_in, &mut block_out);
            rest_out.iter_mut().zip(block_out).for_each(|(to, from)| *to = from);
        }
    }
    Ok(())
}

/// The sums run in i16 with a bias of -16384, saturating: a sum that saturates lies outside
/// 0-255 either way, so clamping afterwards still gives the exact value.
#[expect(
    clippy::indexing_slicing,
    reason = "every index is below the length of its fixed-size array (i < BLOCK, 4 * (i / 2) + 3 < 2 * BLOCK \
              as BLOCK is even, 3 * i + 2 < 3 * BLOCK); the plain loops over arrays are what the compiler vectorises"
)]
fn convert_block(m: &Matrix, yuyv: &[u8; 2 * BLOCK], rgb: &mut [u8; 3 * BLOCK]) {
    const BIAS: i16 = -16384;
    const ROUND: i16 = 64;
    let mut y = [0i16; BLOCK];
    let mut u = [0i16; BLOCK];
    let mut v = [0i16; BLOCK];
    for i in 0..BLOCK {
        y[i] = m.y_gain * (i16::from(yuyv[2 * i]) - m.y_offset) + ROUND + BIAS;
        u[i] = i16::from(yuyv[4 * (i / 2) + 1]) - 128;
        v[i] = i16::from(yuyv[4 * (i / 2) + 3]) - 128;
    }
    let to_u8 = |sum: i16| ((sum >> 7) - (BIAS >> 7)).clamp(0, 255) as u8;
    let (mut r, mut g, mut b) = ([0u8; BLOCK], [0u8; BLOCK], [0u8; BLOCK]);
    for i in 0..BLOCK {
        r[i] = to_u8(y[i].saturating_add(m.v_to_r * v[i]));
        g[i] = to_u8(y[i].saturating_sub(m.u_to_g * u[i]).saturating_sub(m.v_to_g * v[i]));
        b[i] = to_u8(y[i].saturating_add(m.u_to_b[0] * u[i]).saturating_add(m.u_to_b[1] * u[i]));
    }
    for i in 0..BLOCK {
        rgb[3 * i] = r[i];
        rgb[3 * i + 1] = g[i];
        rgb[3 * i + 2] = b[i];
    }
}

/// Decodes one MJPEG frame as a camera sends it. Many UVC cameras leave out the Huffman tables
/// (the AVI "MJPG" convention); such frames are decoded with the standard tables of JPEG
/// Annex K.3.
pub fn decode_mjpeg(jpeg: &[u8]) -> Result<RgbImage, ConvertError> {
    match huffman_tables(jpeg) {
        Tables::Present => decode_jpeg(jpeg),
        Tables::Missing => decode_jpeg(&with_avi1_marker(jpeg)),
    }
}

fn decode_jpeg(jpeg: &[u8]) -> Result<RgbImage, ConvertError> {
    let options = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(jpeg), options);
    decoder.decode_headers().map_err(|e| ConvertError::Jpeg(e.to_string()))?;
    let (width, height) = decoder
        .dimensions()
        .map(|(w, h)| (w as u32, h as u32))
        .ok_or_else(|| ConvertError::Jpeg("no frame header".into()))?;
    let mut rgb = vec![0; width as usize * height as usize * 3];
    decoder.decode_into(&mut rgb).map_err(|e| ConvertError::Jpeg(e.to_string()))?;
    Ok(RgbImage { width, height, rgb })
}

enum Tables {
    Present,
    Missing,
}

/// Whether a DHT segment, or the AVI1 marker that tells decoders to use the standard tables,
/// comes before the first scan.
fn huffman_tables(jpeg: &[u8]) -> Tables {
    const DHT: u8 = 0xC4;
    const SOS: u8 = 0xDA;
    const APP0: u8 = 0xE0;
    let mut at = 2;
    while let Some(&[0xFF, marker, high, low]) = jpeg.get(at..at + 4) {
        let length = usize::from(u16::from_be_bytes([high, low]));
        match marker {
            DHT => return Tables::Present,
            APP0 if jpeg.get(at + 4..at + 8) == Some(b"AVI1") => return Tables::Present,
            SOS => return Tables::Missing,
            _ => at += 2 + length,
        }
    }
    // Not a marker sequence this function understands: let the decoder report what is wrong.
    Tables::Present
}

/// `jpeg` with an APP0 "AVI1" segment after SOI, which makes the decoder fill in the standard
/// Huffman tables.
fn with_avi1_marker(jpeg: &[u8]) -> Vec<u8> {
    const AVI1_APP0: [u8; 9] = [0xFF, 0xE0, 0x00, 0x07, b'A', b'V', b'I', b'1', 0x00];
    let mut patched = Vec::with_capacity(jpeg.len() + AVI1_APP0.len());
    patched.extend_from_slice(jpeg.get(..2).unwrap_or(jpeg));
    patched.extend_from_slice(&AVI1_APP0);
    patched.extend_from_slice(jpeg.get(2..).unwrap_or_default());
    patched
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(yuyv: &[u8], width: u32, range: YuvRange) -> Vec<u8> {
        let mut rgb = vec![0; width as usize * 3];
        yuyv_to_rgb(yuyv, width, 1, yuyv.len(), range, &mut rgb).unwrap();
        rgb
    }

    #[test]
    fn limited_range_maps_studio_black_white_and_primaries() {
        // (Y, Cb, Cr) of BT.601 studio-swing black, white and 100% red, green, blue.
        for ((y, u, v), rgb) in [
            ((16, 128, 128), [0, 0, 0]),
            ((235, 128, 128), [255, 255, 255]),
            ((81, 90, 240), [255, 0, 0]),
            ((145, 54, 34), [0, 255, 0]),
            ((41, 240, 110), [0, 0, 255]),
        ] {
            let got = convert(&[y, u, y, v], 2, YuvRange::Limited);
            for (channel, (g, want)) in got[..3].iter().zip(rgb).enumerate() {
                assert!(g.abs_diff(want) <= 2, "Y{y} Cb{u} Cr{v}: channel {channel} is {g}, want {want}");
            }
            assert_eq!(got[..3], got[3..], "both pixels of a pair share chroma");
        }
    }

    /// Every (Y, Cb, Cr) against BT.601 in floating point.
    #[test]
    fn every_colour_is_within_one_of_exact_bt601() {
        let exact = |range: YuvRange, y: u8, u: u8, v: u8| -> [f64; 3] {
            let (u, v) = (f64::from(u) - 128.0, f64::from(v) - 128.0);
            let (y, [rv, gu, gv, bu]) = match range {
                YuvRange::Limited => {
                    (255.0 / 219.0 * (f64::from(y) - 16.0), [1.596_027, 0.391_762, 0.812_968, 2.017_232])
                }
                YuvRange::Full => (f64::from(y), [1.402, 0.344_136, 0.714_136, 1.772]),
            };
            [y + rv * v, y - gu * u - gv * v, y + bu * u].map(|c| c.round().clamp(0.0, 255.0))
        };
        for range in [YuvRange::Limited, YuvRange::Full] {
            let mut worst = 0.0f64;
            let mut row = vec![0u8; 512];
            let mut rgb = vec![0u8; 256 * 3];
            for u in 0..=255u8 {
                for v in 0..=255u8 {
                    for (pair, y) in row.chunks_exact_mut(4).zip((0..=255u8).step_by(2)) {
                        pair.copy_from_slice(&[y, u, y + 1, v]);
                    }
                    yuyv_to_rgb(&row, 256, 1, 512, range, &mut rgb).unwrap();
                    for (y, got) in (0..=255u8).zip(rgb.chunks_exact(3)) {
                        for (g, want) in got.iter().zip(exact(range, y, u, v)) {
                            worst = worst.max((f64::from(*g) - want).abs());
                        }
                    }
                }
            }
            assert!(worst <= 1.0, "{range:?}: off by {worst}");
        }
    }

    #[test]
    fn full_range_keeps_luma_as_is() {
        assert_eq!(convert(&[0, 128, 255, 128], 2, YuvRange::Full), [0, 0, 0, 255, 255, 255]);
        assert_eq!(convert(&[16, 128, 235, 128], 2, YuvRange::Limited), [0, 0, 0, 255, 255, 255]);
        assert_eq!(convert(&[16, 128, 235, 128], 2, YuvRange::Full), [16, 16, 16, 235, 235, 235]);
    }

    #[test]
    fn widths_that_are_not_whole_blocks_convert_the_same() {
        let row: Vec<u8> = (0..2 * 38).map(|i| (i * 37 % 256) as u8).collect();
        let mut whole = vec![0; 38 * 3];
        yuyv_to_rgb(&row, 38, 1, row.len(), YuvRange::Limited, &mut whole).unwrap();
        for (pair, out) in row.chunks_exact(4).zip(whole.chunks_exact(6)) {
            assert_eq!(convert(pair, 2, YuvRange::Limited), out);
        }
    }

    #[test]
    fn stride_padding_is_skipped_and_bad_shapes_are_refused() {
        let padded = [16, 128, 16, 128, 9, 9, 235, 128, 235, 128, 9, 9];
        let mut rgb = vec![0; 12];
        yuyv_to_rgb(&padded, 2, 2, 6, YuvRange::Limited, &mut rgb).unwrap();
        assert_eq!(rgb, [0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 255, 255]);
        assert!(matches!(
            yuyv_to_rgb(&padded, 3, 2, 6, YuvRange::Limited, &mut rgb),
            Err(ConvertError::OddWidth { .. })
        ));
        assert!(matches!(
            yuyv_to_rgb(&padded, 4, 2, 6, YuvRange::Limited, &mut rgb),
            Err(ConvertError::StrideTooShort { .. })
        ));
        assert!(matches!(
            yuyv_to_rgb(&padded[..8], 2, 2, 6, YuvRange::Limited, &mut rgb),
            Err(ConvertError::BufferTooSmall { .. })
        ));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [&[][..], &[0xFF, 0xD8], &[0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02], &[1, 2, 3, 4, 5, 6, 7, 8]] {
            assert!(decode_mjpeg(bytes).is_err(), "{bytes:?}");
        }
    }
}
