//! EAN/UPC and QR codes in a frame (rxing), read on the luma of the image.

use rxing::{BarcodeFormat, DecodeHints};

use crate::{RgbView, VisionError};

/// A code read in an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Barcode {
    /// e.g. "EAN_13", "UPC_A", "QR_CODE".
    pub format: String,
    pub text: String,
}

/// Reads the most prominent EAN-8/13, UPC-A/E or QR code of an image.
#[derive(Clone, Debug, Default)]
pub struct BarcodeReader;

impl BarcodeReader {
    pub fn read(&self, view: RgbView<'_>) -> Result<Option<Barcode>, VisionError> {
        let luma: Vec<u8> = view
            .data()
            .as_chunks()
            .0
            .iter()
            .map(|[r, g, b]| ((u32::from(*r) * 77 + u32::from(*g) * 150 + u32::from(*b) * 29) >> 8) as u8)
            .collect();
        let mut hints = DecodeHints {
            TryHarder: Some(true),
            PossibleFormats: Some(
                [
                    BarcodeFormat::EAN_13,
                    BarcodeFormat::EAN_8,
                    BarcodeFormat::UPC_A,
                    BarcodeFormat::UPC_E,
                    BarcodeFormat::QR_CODE,
                ]
                .into_iter()
                .collect(),
            ),
            ..DecodeHints::default()
        };
        match rxing::helpers::detect_in_luma_with_hints(luma, view.width(), view.height(), None, &mut hints) {
            Ok(found) => Ok(Some(Barcode {
                format: format!("{:?}", found.getBarcodeFormat()),
                text: found.getText().to_owned(),
            })),
            Err(rxing::Exceptions::NotFoundException(_))
            | Err(rxing::Exceptions::ChecksumException(_))
            | Err(rxing::Exceptions::FormatException(_)) => Ok(None),
            Err(other) => Err(VisionError::Inference(format!("barcode reader: {other}"))),
        }
    }
}
