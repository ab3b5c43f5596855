//! Where the held product is and which product it is. A [`Strategy`] names the regions of a frame
//! worth embedding: fixed ones, or squares placed along the host's hand when the palm detector
//! sees one. Each region is matched against the enrolled references, a product scores its best
//! over the regions, and the [`DecisionRule`] decides. Reference photos are embedded through the
//! same finder ([`Finder::references`]), so enrollment and recognition agree.
//!
//! The strategies and the rule were compared and calibrated on the project's evaluation set
//! (`eval/README.md`); [`Strategy::recommended`] and [`RECOMMENDED_RULE`] are what measured best.

mod enroll;
mod showing;
mod signals;
mod strategy;

pub use enroll::ZOOMED_OUT;
pub use showing::{SAME_VIEW, diverse_views, sharpness};
pub use signals::EnrolledPhoto;
pub use strategy::{Enrollment, Region, Strategy};

use enroll::{mirrored, zoomed_out};

use crate::{
    Candidate, Crop, DEFAULT_MIN_PALM_SCORE, Decision, DecisionRule, Embedder, Embedding, Evidence, Gallery, Palm,
    PalmDetector, Proposal, RgbImage, RgbView, ShapeRule, TextReader, TextRule, VisionError,
};

/// The rule calibrated for [`Strategy::recommended`] on the evaluation set's calibration split:
/// the highest accuracy that keeps empty and hand-only frames at most 1% named as a product.
pub const RECOMMENDED_RULE: DecisionRule = DecisionRule {
    min_score: 0.33,
    min_margin: 0.015,
    min_studio_margin: 0.0,
    min_lone_score: 0.42,
    text: TextRule::DEFAULT,
    shape: ShapeRule { min_inliers: 12, min_ratio: 1.5 },
};

/// What the finder decided, and where.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub decision: Decision,
    /// The region where the best product scored best.
    pub region: Crop,
    /// The hand that placed the regions, if the strategy looks for one and one was seen.
    pub hand: Option<Palm>,
    /// How many of the strategy's regions were embedded: they are tried in order, and once
    /// those embedded name a product the rest are skipped.
    pub regions_embedded: usize,
}

/// The embedding model, the optional palm detector and the strategy: everything needed to turn a
/// frame into a decision. Cheap to clone (the models are shared).
#[derive(Clone)]
pub struct Finder {
    embedder: Embedder,
    palm: Option<PalmDetector>,
    strategy: Strategy,
    /// Reads printed text, when the OCR models are installed.
    text: Option<TextReader>,
}

/// Every product with its best score over the embedded regions and the region where it scored
/// it, best first.
pub fn rank_regions(gallery: &Gallery, embedded: &[(Crop, Embedding)]) -> Vec<(Candidate, Crop)> {
    let mut best: Vec<(Candidate, Crop)> = Vec::new();
    for (crop, embedding) in embedded {
        for candidate in gallery.rank(embedding) {
            match best.iter_mut().find(|(known, _)| known.sku == candidate.sku) {
                Some(entry) if entry.0.score < candidate.score => *entry = (candidate, *crop),
                Some(_) => {}
                None => best.push((candidate, *crop)),
            }
        }
    }
    best.sort_by(|(a, _), (b, _)| b.score.total_cmp(&a.score).then_with(|| a.sku.cmp(&b.sku)));
    best
}

impl Finder {
    /// Without a palm detector, hand regions are never used: the strategy's `without_hand`
    /// regions apply to every frame.
    pub fn new(embedder: Embedder, palm: Option<PalmDetector>, strategy: Strategy) -> Self {
        Self { embedder, palm, strategy, text: None }
    }

    pub fn embedder(&self) -> &Embedder {
        &self.embedder
    }

    pub fn strategy(&self) -> &Strategy {
        &self.strategy
    }

    /// The best hand in the frame, when the strategy places regions by it and there is a detector.
    pub fn hand(&self, view: RgbView<'_>) -> Result<Option<Palm>, VisionError> {
        match &self.palm {
            Some(detector) if self.strategy.uses_hand() => {
                Ok(detector.detect(view, DEFAULT_MIN_PALM_SCORE)?.into_iter().next())
            }
            _ => Ok(None),
        }
    }

    /// The product in view, or none: `decision.sku` is `None` unless the rule is met. Regions are
    /// embedded in the strategy's order until the image names a product (a product held up in the
    /// first region costs one embedding); `text` is what was read in the frame, when it was read.
    pub fn find(
        &self,
        view: RgbView<'_>,
        gallery: &Gallery,
        rule: DecisionRule,
        text: Option<&[String]>,
    ) -> Result<Finding, VisionError> {
        let hand = self.hand(view)?;
        let found = self.search(view, gallery)?;
        let crops = self.strategy.regions(view.width(), view.height(), hand.as_ref(), &found);
        let mut embedded = Vec::with_capacity(crops.len());
        let mut ranked = Vec::new();
        for &crop in &crops {
            embedded.push((crop, self.embedder.embed(view, crop)?));
            ranked = rank_regions(gallery, &embedded);
            if rule.names(ranked.iter().map(|(candidate, _)| candidate)) {
                break;
            }
        }
        let region = ranked.first().map(|(_, crop)| *crop).or(crops.first().copied()).unwrap_or(view.full());
        let image: Vec<Candidate> = ranked.into_iter().map(|(candidate, _)| candidate).collect();
        let best: Vec<&str> = image.iter().map(|c| c.sku.as_str()).collect();
        let shapes = self.match_shapes(view, gallery, &best)?;
        let printed = image.iter().map(|c| c.sku.clone()).filter(|sku| gallery.is_printed(sku)).collect();
        let evidence =
            Evidence { image, shapes, text: text.and_then(|lines| gallery.match_text(lines, rule.text)), printed };
        Ok(Finding { decision: rule.decide_all(evidence), region, hand, regions_embedded: embedded.len() })
    }

    /// The product in a still image: its text read (when there is a text reader), then
    /// [`Finder::find`].
    pub fn recognize(&self, view: RgbView<'_>, gallery: &Gallery, rule: DecisionRule) -> Result<Finding, VisionError> {
        let text = self.read_text(view, view.full())?;
        self.find(view, gallery, rule, text.as_deref())
    }

    /// The feature-map windows the strategy looks at, best first (none when it searches none,
    /// nothing is enrolled or the model has no feature map).
    pub fn search(&self, view: RgbView<'_>, gallery: &Gallery) -> Result<Vec<Proposal>, VisionError> {
        let count = self.strategy.searched();
        if count == 0 || gallery.is_empty() {
            return Ok(Vec::new());
        }
        Ok(match self.embedder.feature_map(view)? {
            Some(map) => map.candidates(gallery, view.width(), view.height(), count),
            None => Vec::new(),
        })
    }

    /// The reference embeddings of one photo of a product, as the strategy enrolls it.
    pub fn references(&self, photo: RgbView<'_>) -> Result<Vec<Embedding>, VisionError> {
        let mut references = vec![self.embedder.embed(photo, photo.full())?];
        if self.strategy.enrollment == Enrollment::WholePhoto {
            return Ok(references);
        }
        let mirrored = mirrored(photo);
        references.push(self.embed_whole(&mirrored)?);
        if self.strategy.enrollment == Enrollment::WholeMirroredAndZoomedOut {
            references.push(self.embed_whole(&zoomed_out(photo))?);
            references.push(self.embed_whole(&zoomed_out(mirrored.view()?))?);
        }
        Ok(references)
    }

    fn embed_whole(&self, image: &RgbImage) -> Result<Embedding, VisionError> {
        let view = image.view()?;
        self.embedder.embed(view, view.full())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EMBEDDING_DIM;

    fn axis(i: usize) -> Embedding {
        let mut values = vec![0.0; EMBEDDING_DIM];
        values[i] = 1.0;
        Embedding::from_raw(values).unwrap()
    }
    #[test]
    fn a_product_scores_its_best_region() {
        let mut gallery = Gallery::default();
        gallery.add("A", axis(0));
        gallery.add("B", axis(1));
        let left = Crop { x: 0, y: 0, width: 10, height: 10 };
        let right = Crop { x: 10, y: 0, width: 10, height: 10 };
        let mixed = |a: f32, b: f32| {
            let mut values = vec![0.0; EMBEDDING_DIM];
            values[0] = a;
            values[1] = b;
            Embedding::from_raw(values).unwrap()
        };
        let ranked = rank_regions(&gallery, &[(left, mixed(0.6, 0.8)), (right, mixed(0.9, 0.1))]);
        let summary: Vec<(&str, Crop)> = ranked.iter().map(|(c, crop)| (c.sku.as_str(), *crop)).collect();
        assert_eq!(summary, vec![("A", right), ("B", left)]);
        assert!((ranked[0].0.score - 0.9 / (0.82f32).sqrt()).abs() < 1e-5);
    }
}
