//! The direct V4L2 backend's own decoding, on camera buffers recorded from GStreamer
//! (tests/data/README.md says how), against known colours and against GStreamer's own
//! conversion of the same buffers.

use cuebox_capture::{ConvertError, YuvRange, decode_mjpeg, yuyv_to_rgb};

use crate::{assert_close, fixture};

const BARS: [(u32, [u8; 3]); 7] = [
    (11, [255, 255, 255]),
    (34, [255, 255, 0]),
    (57, [0, 255, 255]),
    (80, [0, 255, 0]),
    (103, [255, 0, 255]),
    (126, [255, 0, 0]),
    (148, [0, 0, 255]),
];

fn read(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn at(rgb: &[u8], x: u32, y: u32) -> [u8; 3] {
    let i = ((y * 160 + x) * 3) as usize;
    [rgb[i], rgb[i + 1], rgb[i + 2]]
}

/// Mean and largest absolute difference per channel from `reference`, where the reference is
/// flat (every pixel two columns and one row around within 6 of it). At sharp colour edges
/// decoders differ by design: GStreamer interpolates 4:2:2 chroma between pixel pairs, Cuebox
/// repeats it; JPEG decoders each upsample chroma their own way.
fn difference_where_flat(ours: &[u8], reference: &[u8]) -> (f64, u8) {
    assert_eq!(ours.len(), reference.len());
    let flat = |x: u32, y: u32| {
        let centre = at(reference, x, y);
        (x.saturating_sub(2)..=(x + 2).min(159))
            .flat_map(|nx| (y.saturating_sub(1)..=(y + 1).min(119)).map(move |ny| (nx, ny)))
            .all(|(nx, ny)| at(reference, nx, ny).iter().zip(centre).all(|(a, b)| a.abs_diff(b) <= 6))
    };
    let differences: Vec<u8> = (0..120)
        .flat_map(|y| (0..160).map(move |x| (x, y)))
        .filter(|&(x, y)| flat(x, y))
        .flat_map(|(x, y)| at(ours, x, y).into_iter().zip(at(reference, x, y)).map(|(a, b)| a.abs_diff(b)))
        .collect();
    assert!(differences.len() > 160 * 120 * 3 / 2, "most of the picture is flat");
    let total: u64 = differences.iter().map(|&d| u64::from(d)).sum();
    (total as f64 / differences.len() as f64, differences.iter().copied().max().unwrap_or(0))
}

#[test]
fn yuyv_recorded_buffers_give_the_expected_pixels() {
    let yuyv = read("smpte_160x120.yuyv");
    let mut rgb = vec![0; 160 * 120 * 3];
    yuyv_to_rgb(&yuyv, 160, 120, 320, YuvRange::Limited, &mut rgb).unwrap();
    for (x, colour) in BARS {
        assert_close(at(&rgb, x, 40), colour, 1, &format!("bar at x={x}"));
    }
    let (mean, max) = difference_where_flat(&rgb, &read("smpte_160x120.yuyv.gst.rgb"));
    println!("YUYV vs GStreamer videoconvert where flat: mean {mean:.2}, max {max}");
    assert!(mean < 2.5 && max <= 6, "mean {mean:.2}, max {max}");
}

#[test]
fn yuyv_recorded_buffers_read_as_full_range_are_flatter() {
    let yuyv = read("smpte_160x120.yuyv");
    let mut rgb = vec![0; 160 * 120 * 3];
    yuyv_to_rgb(&yuyv, 160, 120, 320, YuvRange::Full, &mut rgb).unwrap();
    // Studio white (Y 235) stays 235 when the driver says the range is full.
    assert_close(at(&rgb, 11, 40), [235, 235, 235], 1, "white bar");
}

#[test]
fn mjpeg_recorded_buffers_give_the_expected_pixels() {
    let jpeg = read("smpte_160x120.mjpeg");
    let image = decode_mjpeg(&jpeg).unwrap();
    assert_eq!((image.width, image.height, image.rgb.len()), (160, 120, 160 * 120 * 3));
    for (x, colour) in BARS {
        assert_close(at(&image.rgb, x, 40), colour, 6, &format!("bar at x={x}"));
    }
    let (mean, max) = difference_where_flat(&image.rgb, &read("smpte_160x120.mjpeg.gst.rgb"));
    println!("MJPEG vs GStreamer jpegdec + videoconvert where flat: mean {mean:.2}, max {max}");
    assert!(mean < 1.5 && max <= 16, "mean {mean:.2}, max {max}");
}

#[test]
fn mjpeg_recorded_buffers_without_huffman_tables_decode_the_same() {
    let jpeg = read("smpte_160x120.mjpeg");
    let mut stripped = jpeg[..2].to_vec();
    let mut at = 2;
    while jpeg[at + 1] != 0xDA {
        let length = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        if jpeg[at + 1] != 0xC4 {
            stripped.extend_from_slice(&jpeg[at..at + 2 + length]);
        }
        at += 2 + length;
    }
    stripped.extend_from_slice(&jpeg[at..]);
    assert!(stripped.len() + 400 < jpeg.len(), "the four DHT segments are gone");
    assert_eq!(decode_mjpeg(&stripped).unwrap(), decode_mjpeg(&jpeg).unwrap());
}

#[test]
fn a_cut_mjpeg_buffer_is_an_error() {
    let jpeg = read("smpte_160x120.mjpeg");
    assert!(matches!(decode_mjpeg(&jpeg[..200]), Err(ConvertError::Jpeg(_))));
}
