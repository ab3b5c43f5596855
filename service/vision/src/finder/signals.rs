//! The signals beside the image embedding: text read by OCR and local features matched under a
//! homography, at enrollment (what a photo prints, the product's features) and on a frame.

use crate::{
    Crop, Embedding, FeatureOptions, Finder, Gallery, LocalFeatures, Region, RgbView, ShapeMatch, Strategy, TextReader,
    VisionError, product_bounds, verify,
};

/// How many of the image's best products local features are matched against.
const SHAPE_CANDIDATES: usize = 5;
/// The product's box in a photo on a plain backdrop is widened by this share of its sides, so
/// that its edges are in the crop.
const BOUNDS_MARGIN: f32 = 0.04;

/// What one photo of a product enrolls.
#[derive(Clone, Debug)]
pub struct EnrolledPhoto {
    /// Where the product is in the photo: its box on a plain backdrop, else the whole photo.
    pub product: Crop,
    /// The image references, as the strategy enrolls a photo (see [`Finder::references`]).
    pub embeddings: Vec<Embedding>,
    /// The lines of text read on the photo (empty without a text reader, or when none).
    pub text: Vec<String>,
    /// The product's local features (`None` when it has too few to match).
    pub features: Option<LocalFeatures>,
}

/// Fewer keypoints than this on a reference cannot make a homography worth trusting.
const MIN_REFERENCE_KEYPOINTS: usize = 20;
/// The product's longer side in the shrunk copy it must find itself in: a product held at a
/// third of a 480-pixel frame's height.
const SELF_CHECK_SIDE: u32 = 160;
/// The inliers it must find there: the shape rule's default.
const SELF_CHECK_INLIERS: usize = 12;

impl Finder {
    /// The same finder reading text with `reader` (none: text is not read).
    pub fn with_text_reader(mut self, reader: Option<TextReader>) -> Self {
        self.text = reader;
        self
    }

    pub fn text_reader(&self) -> Option<&TextReader> {
        self.text.as_ref()
    }

    /// The lines of text read in `crop`, or `None` without a text reader.
    pub fn read_text(&self, view: RgbView<'_>, crop: Crop) -> Result<Option<Vec<String>>, VisionError> {
        let Some(reader) = &self.text else { return Ok(None) };
        Ok(Some(reader.read(view, crop)?.lines.into_iter().map(|line| line.text).collect()))
    }

    /// Everything one photo of a product enrolls: the product is found on a plain backdrop and
    /// cropped to, then embedded, read and described by its local features.
    pub fn enroll(&self, photo: RgbView<'_>) -> Result<EnrolledPhoto, VisionError> {
        let product = product_bounds(photo).map_or(photo.full(), |bounds| widened(bounds, photo));
        let cropped = photo.cropped(product)?;
        let embeddings = self.references(cropped.view()?)?;
        let text = self.read_text(photo, photo.full())?.unwrap_or_default();
        let features = LocalFeatures::detect(photo, product, &FeatureOptions::REFERENCE)?;
        let features = (features.len() >= MIN_REFERENCE_KEYPOINTS && finds_itself_smaller(photo, product, &features)?)
            .then_some(features);
        Ok(EnrolledPhoto { product, embeddings, text, features })
    }

    /// What the studio looks like in a frame without a product, as calibration records it: the
    /// embeddings of the kinds of region recognition looks at (the whole frame, the centre
    /// square, squares of two thirds and of two fifths of the frame's height across it).
    pub fn studio_embeddings(&self, view: RgbView<'_>) -> Result<Vec<Embedding>, VisionError> {
        let (width, height) = (view.width(), view.height());
        let mut crops = Strategy::multi_crop().regions(width, height, None, &[]);
        for x in [0.2, 0.5, 0.8] {
            for y in [0.3, 0.7] {
                if let Some(crop) = (Region::Fixed { x, y, side: 0.4 }).crop(width, height, None) {
                    crops.push(crop);
                }
            }
        }
        crops.iter().map(|&crop| self.embedder().embed(view, crop)).collect()
    }

    /// The products whose local features match the frame under a valid homography, most inliers
    /// first: the frame's features against those of the references of `products` (the image's
    /// best first; only the first few are tried).
    pub fn match_shapes(
        &self,
        view: RgbView<'_>,
        gallery: &Gallery,
        products: &[&str],
    ) -> Result<Vec<ShapeMatch>, VisionError> {
        if !gallery.has_shapes() {
            return Ok(Vec::new());
        }
        let frame = LocalFeatures::detect(view, view.full(), &FeatureOptions::FRAME)?;
        let mut matches: Vec<ShapeMatch> = Vec::new();
        for sku in products.iter().take(SHAPE_CANDIDATES) {
            let best =
                gallery.shapes_of(sku).filter_map(|reference| verify(reference, &frame)).map(|m| m.inliers).max();
            if let Some(inliers) = best {
                matches.push(ShapeMatch { sku: (*sku).to_owned(), inliers });
            }
        }
        matches.sort_by(|a, b| b.inliers.cmp(&a.inliers).then_with(|| a.sku.cmp(&b.sku)));
        Ok(matches)
    }
}

/// Whether the product's local features find it again in a copy of the photo shrunk to the size
/// a held product has in a frame: features that do not (fine texture without print, such as a
/// fruit's skin, which averages away) would never match a live frame, so none are kept, and the
/// product is not expected to show its shape.
#[expect(
    clippy::indexing_slicing,
    reason = "planes holds 3 planes of width * height values: c * plane + i < 3 * plane for c < 3 and i < plane"
)]
fn finds_itself_smaller(photo: RgbView<'_>, product: Crop, features: &LocalFeatures) -> Result<bool, VisionError> {
    let scale = (SELF_CHECK_SIDE as f32 / product.width.max(product.height) as f32).min(1.0);
    let (width, height) = (
        ((photo.width() as f32 * scale).round() as usize).max(1),
        ((photo.height() as f32 * scale).round() as usize).max(1),
    );
    let mut planes = vec![0f32; 3 * width * height];
    photo.resample_normalized_to(photo.full(), (width, height), 0.0, 1.0, &mut planes)?;
    let plane = width * height;
    let packed: Vec<u8> =
        (0..plane).flat_map(|i| [0, 1, 2].map(|c| planes[c * plane + i].round().clamp(0.0, 255.0) as u8)).collect();
    let small = RgbView::new(width as u32, height as u32, &packed)?;
    let found = LocalFeatures::detect(small, small.full(), &FeatureOptions::FRAME)?;
    Ok(verify(features, &found).is_some_and(|m| m.inliers >= SELF_CHECK_INLIERS))
}

/// `bounds` widened by [`BOUNDS_MARGIN`] on every side, inside the photo.
fn widened(bounds: Crop, photo: RgbView<'_>) -> Crop {
    let (dx, dy) =
        ((bounds.width as f32 * BOUNDS_MARGIN).round() as u32, (bounds.height as f32 * BOUNDS_MARGIN).round() as u32);
    let (x, y) = (bounds.x.saturating_sub(dx), bounds.y.saturating_sub(dy));
    let right = (bounds.x + bounds.width + dx).min(photo.width());
    let bottom = (bounds.y + bounds.height + dy).min(photo.height());
    Crop { x, y, width: right - x, height: bottom - y }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_widened_inside_the_photo() {
        let data = vec![0u8; 100 * 50 * 3];
        let photo = RgbView::new(100, 50, &data).unwrap();
        assert_eq!(
            widened(Crop { x: 10, y: 10, width: 50, height: 25 }, photo),
            Crop { x: 8, y: 9, width: 54, height: 27 }
        );
        assert_eq!(widened(Crop { x: 0, y: 0, width: 100, height: 50 }, photo), photo.full());
    }
}
