use std::sync::Arc;

use tract_onnx::prelude::tract_ndarray::{ArrayView2, ShapeBuilder};

use crate::{
    EMBEDDING_DIM, Embedding, LocalFeatures, ShapeMatch, ShapeRule, Signal, TextIndex, TextMatch, TextRule, verify,
};

/// Enrolled reference embeddings, several per product.
#[derive(Clone, Debug, Default)]
pub struct Gallery {
    references: Vec<(String, Embedding)>,
    /// The references' values one after the other, for comparing many queries at once.
    matrix: Vec<f32>,
    /// Embeddings of what the studio looks like without a product (its calibration, the
    /// backgrounds of the enrollment photos), one after the other.
    studio: Vec<f32>,
    /// What each product prints or is called, for text read in a frame.
    text: Arc<TextIndex>,
    /// The local features of the products' reference photos.
    shapes: Vec<(String, Arc<LocalFeatures>)>,
    /// Products whose local features found one reference photo in another: their shape holds
    /// across a change of view and light, so a frame showing them usually shows it.
    steady_shapes: Vec<String>,
}

/// The inliers one reference photo's local features must find in another of the same product
/// for its shape to count as steady: the shape rule's default.
const STEADY_SHAPE_INLIERS: usize = 12;

/// How many of the studio's nearest embeddings a query's likeness to the studio averages.
const STUDIO_NEAREST: usize = 3;

/// A product and its best similarity to the query.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub sku: String,
    pub score: f32,
    /// How close the region where the product scored comes to the studio without a product
    /// (0 when the studio is not known): a product must stand out from it.
    pub studio: f32,
}

/// When a best match counts as "this product is in view".
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DecisionRule {
    /// Lowest cosine similarity to a reference that still names a product.
    pub min_score: f32,
    /// Lowest lead of the best product over the second best.
    pub min_margin: f32,
    /// Lowest lead of the best product's similarity over how close its region comes to the
    /// studio without a product.
    pub min_studio_margin: f32,
    /// Lowest image similarity that names, on the image's word alone, a product whose reference
    /// photos read text or have local features, when neither shows in the frame.
    pub min_lone_score: f32,
    /// When text read in the frame names a product.
    pub text: TextRule,
    /// When local features matched under a homography name a product.
    pub shape: ShapeRule,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub sku: Option<String>,
    /// The image similarity of the product named (of the best product when none is).
    pub score: f32,
    /// Best first, one entry per product: the image's ranking.
    pub candidates: Vec<Candidate>,
    /// Which signal named the product.
    pub signal: Option<Signal>,
    /// Products whose local features matched, most inliers first.
    pub shapes: Vec<ShapeMatch>,
    /// What the text read in the frame pointed to, if text was read.
    pub text: Option<TextMatch>,
}

impl Gallery {
    pub fn add(&mut self, sku: impl Into<String>, embedding: Embedding) {
        self.matrix.extend_from_slice(embedding.as_slice());
        self.references.push((sku.into(), embedding));
    }

    /// For each query (normalised embeddings one after the other), the nearest reference's
    /// product and similarity; `None` for every query when nothing is enrolled.
    pub fn best_per_row(&self, queries: &[f32]) -> Vec<Option<(&str, f32)>> {
        let rows = queries.len() / EMBEDDING_DIM;
        let shapes = (
            ArrayView2::from_shape((rows, EMBEDDING_DIM), queries.get(..rows * EMBEDDING_DIM).unwrap_or_default()),
            ArrayView2::from_shape((EMBEDDING_DIM, self.references.len()).f(), &self.matrix),
        );
        let (Ok(queries), Ok(references)) = shapes else { return vec![None; rows] };
        let similarities = queries.dot(&references);
        similarities
            .rows()
            .into_iter()
            .map(|row| {
                row.iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .and_then(|(index, &score)| Some((self.references.get(index)?.0.as_str(), score)))
            })
            .collect()
    }

    /// The references of `sku` alone, as a gallery of their own.
    pub fn only(&self, sku: &str) -> Gallery {
        let mut own = Gallery::default();
        for (known, embedding) in self.references.iter().filter(|(known, _)| known == sku) {
            own.add(known.clone(), embedding.clone());
        }
        own
    }

    /// Adds the local features of a reference photo of `sku` (checked against its other
    /// photos' until one finds another).
    pub fn add_shape(&mut self, sku: impl Into<String>, features: LocalFeatures) {
        let sku = sku.into();
        if !self.steady_shapes.contains(&sku) {
            let found =
                |a: &LocalFeatures, b: &LocalFeatures| verify(a, b).is_some_and(|m| m.inliers >= STEADY_SHAPE_INLIERS);
            if self.shapes_of(&sku).any(|known| found(known, &features) || found(&features, known)) {
                self.steady_shapes.push(sku.clone());
            }
        }
        self.shapes.push((sku, Arc::new(features)));
    }

    pub fn has_shapes(&self) -> bool {
        !self.shapes.is_empty()
    }

    /// The local features of the reference photos of `sku`.
    pub fn shapes_of<'a>(&'a self, sku: &'a str) -> impl Iterator<Item = &'a LocalFeatures> + 'a {
        self.shapes.iter().filter(move |(known, _)| known == sku).map(|(_, features)| features.as_ref())
    }

    /// Whether a frame showing `sku` is expected to show some of it beyond its look: its
    /// reference photos read text, or its shape is steady (found from one photo in another;
    /// a product enrolled from one photo, or whose surface changes with the view, is not).
    pub fn is_printed(&self, sku: &str) -> bool {
        self.steady_shapes.iter().any(|known| known == sku) || self.text.has_photo_text(sku)
    }

    /// Replaces what the products print or are called.
    pub fn set_text(&mut self, index: TextIndex) {
        self.text = Arc::new(index);
    }

    /// What text read in a frame points to (`None` when no product has text).
    pub fn match_text<S: AsRef<str>>(&self, lines: &[S], rule: TextRule) -> Option<TextMatch> {
        (self.text.products() > 0).then(|| self.text.search(lines, rule))
    }

    /// Replaces what the studio looks like without a product.
    pub fn set_studio(&mut self, embeddings: &[Embedding]) {
        self.studio = embeddings.iter().flat_map(|e| e.as_slice().iter().copied()).collect();
    }

    /// How many embeddings of the studio without a product are known.
    pub fn studio_len(&self) -> usize {
        self.studio.len() / EMBEDDING_DIM
    }

    /// How close `query` comes to the studio without a product: the mean similarity of its
    /// nearest few studio embeddings (0 when the studio is not known).
    pub fn studio_likeness(&self, query: &Embedding) -> f32 {
        let mut nearest = [f32::NEG_INFINITY; STUDIO_NEAREST];
        for known in self.studio.chunks_exact(EMBEDDING_DIM) {
            let similarity: f32 = known.iter().zip(query.as_slice()).map(|(a, b)| a * b).sum();
            if let Some(weakest) = nearest.iter_mut().min_by(|a, b| a.total_cmp(b))
                && similarity > *weakest
            {
                *weakest = similarity;
            }
        }
        let known: Vec<f32> = nearest.into_iter().filter(|v| v.is_finite()).collect();
        if known.is_empty() { 0.0 } else { known.iter().sum::<f32>() / known.len() as f32 }
    }

    pub fn len(&self) -> usize {
        self.references.len()
    }

    pub fn is_empty(&self) -> bool {
        self.references.is_empty()
    }

    pub fn products(&self) -> usize {
        let mut skus: Vec<&str> = self.references.iter().map(|(s, _)| s.as_str()).collect();
        skus.sort_unstable();
        skus.dedup();
        skus.len()
    }

    /// Every product with its best reference similarity, best first.
    pub fn rank(&self, query: &Embedding) -> Vec<Candidate> {
        let studio = self.studio_likeness(query);
        let mut best: Vec<Candidate> = Vec::new();
        for (sku, reference) in &self.references {
            let score = query.cosine(reference);
            match best.iter_mut().find(|c| &c.sku == sku) {
                Some(c) if c.score < score => c.score = score,
                Some(_) => {}
                None => best.push(Candidate { sku: sku.clone(), score, studio }),
            }
        }
        best.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.sku.cmp(&b.sku)));
        best
    }
}

impl DecisionRule {
    /// The product in view from the image alone.
    pub fn decide(&self, candidates: Vec<Candidate>) -> Decision {
        let score = candidates.first().map_or(0.0, |c| c.score);
        let sku = if self.names(&candidates) { candidates.first().map(|c| c.sku.clone()) } else { None };
        let signal = sku.is_some().then_some(Signal::Image);
        Decision { sku, score, candidates, signal, shapes: Vec::new(), text: None }
    }

    /// Whether the best of `candidates` (best first) is confidently in view.
    pub fn names<'a>(&self, candidates: impl IntoIterator<Item = &'a Candidate>) -> bool {
        let mut candidates = candidates.into_iter();
        let Some(best) = candidates.next() else { return false };
        let second = candidates.next().map_or(0.0, |c| c.score.max(0.0));
        best.score >= self.min_score
            && best.score - second >= self.min_margin
            && best.score - best.studio >= self.min_studio_margin
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EMBEDDING_DIM;

    fn axis(i: usize, j: usize, mix: f32) -> Embedding {
        let mut v = vec![0.0; EMBEDDING_DIM];
        v[i] = 1.0;
        v[j] += mix;
        Embedding::from_raw(v).unwrap()
    }

    #[test]
    fn rank_keeps_the_best_reference_per_product() {
        let mut g = Gallery::default();
        g.add("A", axis(0, 1, 0.0));
        g.add("A", axis(2, 1, 0.0));
        g.add("B", axis(1, 0, 0.0));
        let ranked = g.rank(&axis(2, 0, 0.1));
        assert_eq!(ranked.len(), 2);
        assert_eq!(ranked[0].sku, "A");
        assert!(ranked[0].score > 0.99);
        assert_eq!(g.products(), 2);
    }

    #[test]
    fn decision_needs_score_and_margin() {
        let rule = DecisionRule { min_score: 0.5, min_margin: 0.1, ..crate::RECOMMENDED_RULE };
        let c = |s: &str, score| Candidate { sku: s.into(), score, studio: 0.0 };
        assert_eq!(rule.decide(vec![c("A", 0.8), c("B", 0.3)]).sku.as_deref(), Some("A"));
        assert_eq!(rule.decide(vec![c("A", 0.45), c("B", 0.1)]).sku, None, "below the score");
        assert_eq!(rule.decide(vec![c("A", 0.8), c("B", 0.75)]).sku, None, "ambiguous");
        assert_eq!(rule.decide(vec![c("A", 0.6)]).sku.as_deref(), Some("A"));
        assert_eq!(rule.decide(vec![]).sku, None);
        let strict = DecisionRule { min_studio_margin: 0.2, ..rule };
        let like_the_studio = Candidate { sku: "A".into(), score: 0.8, studio: 0.7 };
        assert_eq!(strict.decide(vec![like_the_studio]).sku, None, "no better than the empty studio");
        assert_eq!(strict.decide(vec![c("A", 0.8)]).sku.as_deref(), Some("A"));
    }

    #[test]
    fn likeness_to_the_studio_averages_its_nearest_embeddings() {
        let mut g = Gallery::default();
        assert_eq!(g.studio_likeness(&axis(0, 1, 0.0)), 0.0, "an unknown studio is like nothing");
        g.set_studio(&[axis(0, 1, 0.0), axis(0, 1, 1.0), axis(2, 1, 0.0), axis(3, 1, 0.0)]);
        assert_eq!(g.studio_len(), 4);
        let expected = (1.0 + 1.0 / 2f32.sqrt() + 0.0) / 3.0;
        assert!((g.studio_likeness(&axis(0, 1, 0.0)) - expected).abs() < 1e-5);
        let ranked = {
            g.add("A", axis(0, 1, 0.0));
            g.rank(&axis(0, 1, 0.0))
        };
        assert!((ranked[0].studio - expected).abs() < 1e-5);
    }
}
