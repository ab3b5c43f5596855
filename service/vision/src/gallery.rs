use crate::Embedding;

/// Enrolled reference embeddings, several per product.
#[derive(Clone, Debug, Default)]
pub struct Gallery {
    references: Vec<(String, Embedding)>,
}

/// A product and its best similarity to the query.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub sku: String,
    pub score: f32,
}

/// When a best match counts as "this product is in view".
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DecisionRule {
    /// Lowest cosine similarity to a reference that still names a product.
    pub min_score: f32,
    /// Lowest lead of the best product over the second best.
    pub min_margin: f32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub sku: Option<String>,
    pub score: f32,
    /// Best first, one entry per product.
    pub candidates: Vec<Candidate>,
}

impl Gallery {
    pub fn add(&mut self, sku: impl Into<String>, embedding: Embedding) {
        self.references.push((sku.into(), embedding));
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
        let mut best: Vec<Candidate> = Vec::new();
        for (sku, reference) in &self.references {
            let score = query.cosine(reference);
            match best.iter_mut().find(|c| &c.sku == sku) {
                Some(c) if c.score < score => c.score = score,
                Some(_) => {}
                None => best.push(Candidate { sku: sku.clone(), score }),
            }
        }
        best.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.sku.cmp(&b.sku)));
        best
    }
}

impl DecisionRule {
    pub fn decide(&self, candidates: Vec<Candidate>) -> Decision {
        let score = candidates.first().map_or(0.0, |c| c.score);
        let sku = if self.names(&candidates) { candidates.first().map(|c| c.sku.clone()) } else { None };
        Decision { sku, score, candidates }
    }

    /// Whether the best of `candidates` (best first) is confidently in view.
    pub fn names<'a>(&self, candidates: impl IntoIterator<Item = &'a Candidate>) -> bool {
        let mut candidates = candidates.into_iter();
        let score = candidates.next().map_or(0.0, |c| c.score);
        let second = candidates.next().map_or(0.0, |c| c.score.max(0.0));
        score >= self.min_score && score - second >= self.min_margin
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
        let rule = DecisionRule { min_score: 0.5, min_margin: 0.1 };
        let c = |s: &str, score| Candidate { sku: s.into(), score };
        assert_eq!(rule.decide(vec![c("A", 0.8), c("B", 0.3)]).sku.as_deref(), Some("A"));
        assert_eq!(rule.decide(vec![c("A", 0.45), c("B", 0.1)]).sku, None, "below the score");
        assert_eq!(rule.decide(vec![c("A", 0.8), c("B", 0.75)]).sku, None, "ambiguous");
        assert_eq!(rule.decide(vec![c("A", 0.6)]).sku.as_deref(), Some("A"));
        assert_eq!(rule.decide(vec![]).sku, None);
    }
}
