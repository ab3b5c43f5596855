//! How the signals decide together. The image embedding ranks every product but cannot tell
//! look-alikes or a busy background apart for sure; printed text and local features matched
//! under a homography rarely name anything by chance, but are absent on plain or small
//! products. So a confident text match or a valid geometric match names a product on its own,
//! the image names one when it is sure, and each signal can stop another from naming a product
//! it contradicts. Absent or unreadable text never blocks a decision.

use crate::{Candidate, Decision, DecisionRule, TextMatch};

/// A product whose local features matched the frame under a valid homography.
#[derive(Clone, Debug, PartialEq)]
pub struct ShapeMatch {
    pub sku: String,
    /// Matches consistent with the homography.
    pub inliers: usize,
}

/// When local features name a product.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ShapeRule {
    /// The least number of inliers of the best product.
    pub min_inliers: usize,
    /// How many times the second product's inliers the best must have.
    pub min_ratio: f32,
}

impl ShapeRule {
    /// The product local features name, if any (`matches` best first).
    pub fn named<'a>(&self, matches: &'a [ShapeMatch]) -> Option<&'a str> {
        let best = matches.first()?;
        let second = matches.get(1).map_or(0, |m| m.inliers);
        (best.inliers >= self.min_inliers && best.inliers as f32 >= self.min_ratio * second.max(1) as f32)
            .then_some(best.sku.as_str())
    }
}

/// Which signal named the product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    Image,
    Text,
    Shape,
}

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Image => "image",
            Signal::Text => "text",
            Signal::Shape => "shape",
        }
    }
}

/// What each signal said about a frame.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Evidence {
    /// Every product with its best image similarity, best first.
    pub image: Vec<Candidate>,
    /// Products whose local features matched, most inliers first.
    pub shapes: Vec<ShapeMatch>,
    /// What the text read in the frame points to (`None`: no text was read).
    pub text: Option<TextMatch>,
    /// Products whose reference photos read text or whose shape is steady across them
    /// ([`crate::Gallery::is_printed`]): a frame showing one of them usually shows some of it too.
    pub printed: Vec<String>,
}

impl Evidence {
    fn text_score(&self, sku: &str) -> f32 {
        self.text.as_ref().and_then(|t| t.candidates.iter().find(|c| c.sku == sku)).map_or(0.0, |c| c.score)
    }

    /// Whether text or local features point to `sku` at all.
    fn corroborates(&self, sku: &str) -> bool {
        self.text_score(sku) > 0.0 || self.inliers(sku) > 0
    }

    fn inliers(&self, sku: &str) -> usize {
        self.shapes.iter().find(|m| m.sku == sku).map_or(0, |m| m.inliers)
    }

    /// Whether the text points to another product than `sku`: by half the text rule's lead
    /// (a distinctive word, or two Han characters of a name, more than `sku` has).
    fn text_contradicts(&self, sku: &str, rule: &DecisionRule) -> bool {
        let Some(text) = &self.text else { return false };
        let mine = self.text_score(sku);
        text.candidates.iter().any(|c| c.sku != sku && c.score - mine >= rule.text.min_lead / 2.0)
    }

    /// Whether local features match another product than `sku` well enough to name one, and
    /// better than `sku`'s.
    fn shapes_contradict(&self, sku: &str, rule: &DecisionRule) -> bool {
        let mine = self.inliers(sku);
        self.shapes.iter().any(|m| m.sku != sku && m.inliers >= rule.shape.min_inliers && m.inliers > mine)
    }
}

impl DecisionRule {
    /// The product in view, from all the evidence: a confident text match, else a confident
    /// shape match the text does not contradict, else the image's product when the image rule
    /// names it and neither text nor shapes point elsewhere.
    pub fn decide_all(&self, evidence: Evidence) -> Decision {
        let text_named = evidence.text.as_ref().and_then(|t| t.named()).map(str::to_owned);
        let shape_named = self.shape.named(&evidence.shapes).map(str::to_owned);
        let image_named = self.names(&evidence.image).then(|| evidence.image.first()).flatten().filter(|best| {
            best.score >= self.min_lone_score
                || !evidence.printed.contains(&best.sku)
                || evidence.corroborates(&best.sku)
        });
        let image_named = image_named.map(|best| best.sku.clone());
        let (sku, signal) = if let Some(sku) = text_named.filter(|s| !evidence.shapes_contradict(s, self)) {
            (Some(sku), Some(Signal::Text))
        } else if let Some(sku) = shape_named.filter(|s| !evidence.text_contradicts(s, self)) {
            (Some(sku), Some(Signal::Shape))
        } else if let Some(sku) =
            image_named.filter(|s| !evidence.text_contradicts(s, self) && !evidence.shapes_contradict(s, self))
        {
            (Some(sku), Some(Signal::Image))
        } else {
            (None, None)
        };
        let score = match &sku {
            Some(sku) => evidence.image.iter().find(|c| &c.sku == sku).map_or(0.0, |c| c.score),
            None => evidence.image.first().map_or(0.0, |c| c.score),
        };
        Decision { sku, score, candidates: evidence.image, signal, shapes: evidence.shapes, text: evidence.text }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{TextCandidate, TextRule};

    const RULE: DecisionRule = DecisionRule {
        min_score: 0.5,
        min_margin: 0.05,
        min_studio_margin: 0.0,
        min_lone_score: 0.6,
        text: TextRule { min_score: 1.5, min_lead: 1.0 },
        shape: ShapeRule { min_inliers: 12, min_ratio: 1.5 },
    };

    fn image(scores: &[(&str, f32)]) -> Vec<Candidate> {
        scores.iter().map(|&(sku, score)| Candidate { sku: sku.into(), score, studio: 0.0 }).collect()
    }

    fn text(scores: &[(&str, f32)]) -> Option<TextMatch> {
        let candidates: Vec<TextCandidate> =
            scores.iter().map(|&(sku, score)| TextCandidate { sku: sku.into(), score, evidence: Vec::new() }).collect();
        let confident = TextRule::DEFAULT.is_confident(&candidates);
        Some(TextMatch { candidates, confident })
    }

    fn shapes(inliers: &[(&str, usize)]) -> Vec<ShapeMatch> {
        inliers.iter().map(|&(sku, inliers)| ShapeMatch { sku: sku.into(), inliers }).collect()
    }

    fn decided(evidence: Evidence) -> (Option<String>, Option<Signal>) {
        let decision = RULE.decide_all(evidence);
        (decision.sku, decision.signal)
    }

    #[test]
    fn the_image_names_a_product_alone_when_nothing_else_was_seen() {
        let evidence = Evidence { image: image(&[("A", 0.7), ("B", 0.3)]), ..Evidence::default() };
        assert_eq!(decided(evidence), (Some("A".into()), Some(Signal::Image)));
        let unsure = Evidence { image: image(&[("A", 0.4), ("B", 0.3)]), ..Evidence::default() };
        assert_eq!(decided(unsure), (None, None));
    }

    #[test]
    fn confident_text_names_a_product_the_image_scores_low() {
        let evidence =
            Evidence { image: image(&[("B", 0.3), ("A", 0.2)]), text: text(&[("A", 2.5)]), ..Evidence::default() };
        let decision = RULE.decide_all(evidence);
        assert_eq!((decision.sku.as_deref(), decision.signal), (Some("A"), Some(Signal::Text)));
        assert!((decision.score - 0.2).abs() < 1e-6, "the image's score of the product named");
    }

    #[test]
    fn text_of_another_product_stops_the_image() {
        let evidence = Evidence {
            image: image(&[("A", 0.7), ("B", 0.6)]),
            text: text(&[("B", 1.2), ("A", 0.1)]),
            ..Evidence::default()
        };
        assert_eq!(decided(evidence), (None, None));
    }

    #[test]
    fn unreadable_or_unrelated_text_never_blocks_the_image() {
        for text in [None, text(&[]), text(&[("A", 0.4)])] {
            let evidence = Evidence { image: image(&[("A", 0.7), ("B", 0.3)]), text, ..Evidence::default() };
            assert_eq!(decided(evidence), (Some("A".into()), Some(Signal::Image)));
        }
    }

    #[test]
    fn a_printed_product_seen_by_the_image_alone_needs_a_higher_score() {
        let printed = vec!["A".to_owned()];
        let alone =
            Evidence { image: image(&[("A", 0.55), ("B", 0.3)]), printed: printed.clone(), ..Evidence::default() };
        assert_eq!(decided(alone), (None, None), "neither its text nor its shape was seen");
        let sure =
            Evidence { image: image(&[("A", 0.65), ("B", 0.3)]), printed: printed.clone(), ..Evidence::default() };
        assert_eq!(decided(sure), (Some("A".into()), Some(Signal::Image)));
        let some_text = Evidence {
            image: image(&[("A", 0.55), ("B", 0.3)]),
            text: text(&[("A", 0.4)]),
            printed: printed.clone(),
            ..Evidence::default()
        };
        assert_eq!(decided(some_text), (Some("A".into()), Some(Signal::Image)));
        let some_shape =
            Evidence { image: image(&[("A", 0.55), ("B", 0.3)]), shapes: shapes(&[("A", 7)]), printed, text: None };
        assert_eq!(decided(some_shape), (Some("A".into()), Some(Signal::Image)));
    }

    #[test]
    fn a_clear_shape_match_names_its_product_and_stops_a_look_alike() {
        let evidence = Evidence {
            image: image(&[("B", 0.7), ("A", 0.68)]),
            shapes: shapes(&[("A", 40), ("B", 8)]),
            ..Evidence::default()
        };
        assert_eq!(decided(evidence), (Some("A".into()), Some(Signal::Shape)));
        let close = Evidence {
            image: image(&[("B", 0.7), ("A", 0.68)]),
            shapes: shapes(&[("A", 20), ("B", 16)]),
            ..Evidence::default()
        };
        assert_eq!(decided(close), (None, None), "neither the shapes nor the image are clear");
        let contradicted = Evidence {
            image: image(&[("B", 0.7), ("A", 0.4)]),
            shapes: shapes(&[("A", 30), ("B", 16)]),
            ..Evidence::default()
        };
        assert_eq!(decided(contradicted), (Some("A".into()), Some(Signal::Shape)));
        let few = Evidence { image: image(&[("A", 0.3)]), shapes: shapes(&[("A", 6)]), ..Evidence::default() };
        assert_eq!(decided(few), (None, None));
    }

    #[test]
    fn text_and_shapes_that_disagree_name_nothing_by_shape() {
        let evidence = Evidence {
            image: image(&[("A", 0.3), ("B", 0.2)]),
            shapes: shapes(&[("A", 30)]),
            text: text(&[("B", 1.4), ("A", 0.2)]),
            ..Evidence::default()
        };
        assert_eq!(decided(evidence), (None, None));
    }
}
