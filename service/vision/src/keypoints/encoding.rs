//! The byte form of local features, kept with a reference's embeddings.
//!
//! Little-endian throughout: the magic `CBLF`, a version byte, the region (x, y, width, height as
//! u32), the pixel scale (f32), the keypoint count (u32), then each keypoint's x and y (f32) and
//! level (u8), then each descriptor (four u64). Version 1 descriptors are steered BRIEF on the
//! pattern drawn from `brief`'s seed; a change of the pattern or the detector needs a new version.

use super::brief::Descriptor;
use super::{Keypoint, LocalFeatures};
use crate::{Crop, VisionError};

const MAGIC: &[u8; 4] = b"CBLF";
const VERSION: u8 = 1;
const HEADER: usize = 4 + 1 + 16 + 4 + 4;
const KEYPOINT: usize = 4 + 4 + 1;
const DESCRIPTOR: usize = 32;
/// More keypoints than any detection keeps: a count beyond it is a damaged header.
const MAX_KEYPOINTS: usize = 1 << 20;
const MAX_LEVEL: u8 = 32;

pub(super) fn to_bytes(features: &LocalFeatures) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + features.keypoints.len() * (KEYPOINT + DESCRIPTOR));
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    let region = features.region;
    for value in [region.x, region.y, region.width, region.height] {
        out.extend_from_slice(&value.to_le_bytes());
    }
    out.extend_from_slice(&features.pixel_scale.to_le_bytes());
    out.extend_from_slice(&(features.keypoints.len() as u32).to_le_bytes());
    for keypoint in &features.keypoints {
        out.extend_from_slice(&keypoint.x.to_le_bytes());
        out.extend_from_slice(&keypoint.y.to_le_bytes());
        out.push(keypoint.level);
    }
    for descriptor in &features.descriptors {
        for word in descriptor {
            out.extend_from_slice(&word.to_le_bytes());
        }
    }
    out
}

/// The `N` bytes of `bytes` from `at` (zeros past its end; the callers check lengths first).
fn word<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    bytes.get(at..).and_then(|rest| rest.first_chunk()).copied().unwrap_or([0; N])
}

pub(super) fn from_bytes(bytes: &[u8]) -> Result<LocalFeatures, VisionError> {
    let bad = |message: String| VisionError::FeatureBytes(message);
    if bytes.len() < HEADER {
        return Err(bad(format!("{} bytes are fewer than the {HEADER}-byte header", bytes.len())));
    }
    if bytes.first_chunk() != Some(MAGIC) {
        return Err(bad("they do not start with CBLF".to_owned()));
    }
    let version = bytes.get(4).copied().unwrap_or_default();
    if version != VERSION {
        return Err(bad(format!("version {version} is not the supported version {VERSION}")));
    }
    let u32_at = |at: usize| u32::from_le_bytes(word(bytes, at));
    let f32_at = |at: usize| f32::from_bits(u32_at(at));
    let region = Crop { x: u32_at(5), y: u32_at(9), width: u32_at(13), height: u32_at(17) };
    if region.width == 0
        || region.height == 0
        || region.x.checked_add(region.width).is_none()
        || region.y.checked_add(region.height).is_none()
    {
        return Err(bad(format!("the region {region:?} is empty or out of range")));
    }
    let pixel_scale = f32_at(21);
    if !(pixel_scale.is_finite() && pixel_scale >= 1.0) {
        return Err(bad(format!("the pixel scale {pixel_scale} is not a finite number of at least 1")));
    }
    let count = u32_at(25) as usize;
    if count > MAX_KEYPOINTS {
        return Err(bad(format!("{count} keypoints is more than {MAX_KEYPOINTS}")));
    }
    let expected = HEADER + count * (KEYPOINT + DESCRIPTOR);
    if bytes.len() != expected {
        return Err(bad(format!("{count} keypoints take {expected} bytes, not {}", bytes.len())));
    }
    let mut keypoints = Vec::with_capacity(count);
    let (keypoint_bytes, descriptor_bytes) =
        bytes.get(HEADER..).unwrap_or_default().split_at_checked(count * KEYPOINT).unwrap_or_default();
    for (index, chunk) in keypoint_bytes.chunks_exact(KEYPOINT).enumerate() {
        let x = f32::from_le_bytes(word(chunk, 0));
        let y = f32::from_le_bytes(word(chunk, 4));
        let level = chunk.get(8).copied().unwrap_or(MAX_LEVEL);
        if !(x.is_finite() && y.is_finite()) || level >= MAX_LEVEL {
            return Err(bad(format!("keypoint {index} ({x}, {y}) at level {level} is not a keypoint")));
        }
        keypoints.push(Keypoint { x, y, level });
    }
    let descriptors: Vec<Descriptor> = descriptor_bytes
        .chunks_exact(DESCRIPTOR)
        .map(|chunk| std::array::from_fn(|k| u64::from_le_bytes(word(chunk, 8 * k))))
        .collect();
    Ok(LocalFeatures { region, pixel_scale, keypoints, descriptors })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> LocalFeatures {
        LocalFeatures {
            region: Crop { x: 12, y: 7, width: 300, height: 200 },
            pixel_scale: 1.5,
            keypoints: vec![Keypoint { x: 20.5, y: 30.25, level: 0 }, Keypoint { x: 290.0, y: 199.0, level: 7 }],
            descriptors: vec![[1, 2, 3, u64::MAX], [0x0123_4567_89ab_cdef, 0, 42, 1 << 63]],
        }
    }

    #[test]
    fn features_come_back_from_their_bytes_unchanged() {
        let features = sample();
        let bytes = to_bytes(&features);
        assert_eq!(bytes.len(), HEADER + 2 * 41);
        assert_eq!(from_bytes(&bytes).unwrap(), features);
        let empty = LocalFeatures { keypoints: Vec::new(), descriptors: Vec::new(), ..sample() };
        assert_eq!(from_bytes(&to_bytes(&empty)).unwrap(), empty);
    }

    #[test]
    fn every_truncation_and_damaged_field_is_an_error() {
        let bytes = to_bytes(&sample());
        for length in 0..bytes.len() {
            assert!(matches!(from_bytes(&bytes[..length]), Err(VisionError::FeatureBytes(_))), "{length} bytes");
        }
        let damaged = |at: usize, value: &[u8]| {
            let mut copy = bytes.clone();
            copy[at..at + value.len()].copy_from_slice(value);
            from_bytes(&copy).unwrap_err().to_string()
        };
        assert!(damaged(0, b"PNG!").contains("CBLF"));
        assert!(damaged(4, &[2]).contains("version 2"));
        assert!(damaged(13, &0u32.to_le_bytes()).contains("region"));
        assert!(damaged(5, &u32::MAX.to_le_bytes()).contains("region"));
        assert!(damaged(21, &f32::NAN.to_le_bytes()).contains("pixel scale"));
        assert!(damaged(25, &3u32.to_le_bytes()).contains("3 keypoints"));
        assert!(damaged(25, &u32::MAX.to_le_bytes()).contains("more than"));
        assert!(damaged(HEADER, &f32::INFINITY.to_le_bytes()).contains("keypoint 0"));
        assert!(damaged(HEADER + KEYPOINT + 8, &[200]).contains("keypoint 1"));
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(from_bytes(&longer).is_err());
    }

    #[test]
    fn random_bytes_behind_a_valid_header_never_panic() {
        let header = &to_bytes(&sample())[..HEADER];
        let mut random = super::super::SplitMix64::new(5);
        for round in 0..2000 {
            let mut bytes = header.to_vec();
            let length = random.below(200);
            bytes.extend((0..length).map(|_| random.next_u64() as u8));
            if round % 2 == 0 {
                // A count that fits the length, so that the keypoints themselves are read.
                let count = (length / (KEYPOINT + DESCRIPTOR)) as u32;
                bytes.truncate(HEADER + count as usize * (KEYPOINT + DESCRIPTOR));
                bytes[25..29].copy_from_slice(&count.to_le_bytes());
            }
            if let Ok(features) = from_bytes(&bytes) {
                assert_eq!(features.keypoints.len(), features.descriptors.len());
                assert_eq!(to_bytes(&features), bytes);
            }
        }
    }
}
