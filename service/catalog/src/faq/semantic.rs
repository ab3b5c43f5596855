//! multilingual-e5 similarity between a question and the FAQ, for paraphrases and questions
//! in another language than the FAQ's. A question is compared with every phrasing (both are
//! questions: e5's "query" side) and every answer (e5's "passage" side). e5 cosines sit high
//! for any pair of texts (0.75-0.85 for unrelated ones), so they are not used raw: an entry's
//! best cosine on each side is measured against the median entry's for this question, as the
//! share of the way from that median to a perfect 1 (0 at the median and below), and the entry
//! scores the mean of its two sides.
//!
//! A question is also compared with common live-stream chatter (`chatter.txt`): one closer to
//! a line of chatter than to every phrasing of the FAQ is taken for chatter, whatever words it
//! happens to share with the FAQ ("我在地铁上看" is not about the earbuds' noise cancelling on
//! the underground).

use std::collections::HashSet;

use crate::text_embedding::Side;
use crate::{TEXT_EMBEDDING_DIM, TextEmbedder, TextEmbeddingError};

pub(crate) struct SemanticIndex {
    embedder: TextEmbedder,
    phrasings: Embedded,
    answers: Embedded,
    /// The lines of `chatter.txt`, all as entry 0.
    chatter: Embedded,
    entries: usize,
}

/// What the FAQ's embeddings say about a question.
pub(crate) struct SemanticScores {
    /// Per entry, the mean of its two normalised sides (see the module documentation).
    pub(crate) entries: Vec<f32>,
    /// Whether the question is closer to chatter than to any phrasing.
    pub(crate) is_chatter: bool,
}

const CHATTER: &str = include_str!("chatter.txt");

fn chatter_lines() -> impl Iterator<Item = &'static str> {
    CHATTER.lines().map(str::trim).filter(|line| !line.is_empty() && !line.starts_with('#'))
}

/// Texts of the FAQ, each an L2-normalised embedding with the entry it belongs to.
struct Embedded {
    entry_of: Vec<u32>,
    /// The embeddings back to back.
    vectors: Vec<f32>,
}

impl Embedded {
    /// Embeds `texts` for `side`, adding the keys they are remembered under to `used`.
    fn new(
        embedder: &TextEmbedder,
        side: Side,
        texts: &[(u32, &str)],
        used: &mut HashSet<Vec<u8>>,
    ) -> Result<Self, TextEmbeddingError> {
        let mut vectors = Vec::with_capacity(texts.len() * TEXT_EMBEDDING_DIM);
        for (_, text) in texts {
            let (embedding, key) = embedder.embed_remembered(side, text)?;
            used.insert(key);
            vectors.extend(embedding);
        }
        Ok(Self { entry_of: texts.iter().map(|(entry, _)| *entry).collect(), vectors })
    }

    /// Per entry, its best cosine to `asked` normalised as in the module documentation.
    fn entry_scores(&self, asked: &[f32], entries: usize) -> Vec<f32> {
        against_the_median(self.best_cosines(asked, entries))
    }

    /// Per entry, its best cosine to `asked`.
    fn best_cosines(&self, asked: &[f32], entries: usize) -> Vec<f32> {
        let mut best = vec![f32::NEG_INFINITY; entries];
        for (vector, entry) in self.vectors.chunks_exact(TEXT_EMBEDDING_DIM).zip(&self.entry_of) {
            let cosine: f32 = vector.iter().zip(asked).map(|(a, b)| a * b).sum();
            let slot = &mut best[*entry as usize];
            *slot = slot.max(cosine);
        }
        best
    }
}

/// Best cosines measured against the median one, as in the module documentation.
fn against_the_median(best: Vec<f32>) -> Vec<f32> {
    let mut sorted: Vec<f32> = best.iter().copied().filter(|c| c.is_finite()).collect();
    sorted.sort_by(f32::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
    let room = (1.0 - median).max(f32::EPSILON);
    best.into_iter().map(|cosine| ((cosine - median) / room).clamp(0.0, 1.0)).collect()
}

impl SemanticIndex {
    /// Embeds the phrasings and answers, each given with its entry (below `entries`).
    pub(crate) fn new(
        embedder: &TextEmbedder,
        phrasings: &[(u32, &str)],
        answers: &[(u32, &str)],
        entries: usize,
    ) -> Result<Self, TextEmbeddingError> {
        let mut used = HashSet::new();
        let chatter: Vec<(u32, &str)> = chatter_lines().map(|line| (0, line)).collect();
        let index = Self {
            phrasings: Embedded::new(embedder, Side::Query, phrasings, &mut used)?,
            answers: Embedded::new(embedder, Side::Passage, answers, &mut used)?,
            chatter: Embedded::new(embedder, Side::Query, &chatter, &mut used)?,
            embedder: embedder.clone(),
            entries,
        };
        embedder.forget_all_but(&used);
        Ok(index)
    }

    pub(crate) fn scores(&self, question: &str) -> Result<SemanticScores, TextEmbeddingError> {
        let asked = self.embedder.embed_query(question)?;
        let best_phrasings = self.phrasings.best_cosines(&asked, self.entries);
        let closest_phrasing = best_phrasings.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let is_chatter = self.chatter.best_cosines(&asked, 1)[0] > closest_phrasing;
        let by_phrasing = against_the_median(best_phrasings);
        let by_answer = self.answers.entry_scores(&asked, self.entries);
        Ok(SemanticScores {
            entries: by_phrasing.into_iter().zip(by_answer).map(|(p, a)| (p + a) / 2.0).collect(),
            is_chatter,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(direction: &[(usize, f32)]) -> Vec<f32> {
        let mut vector = vec![0.0; TEXT_EMBEDDING_DIM];
        for &(at, value) in direction {
            vector[at] = value;
        }
        let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
        vector.iter().map(|v| v / norm).collect()
    }

    #[test]
    fn entries_are_scored_by_their_best_text_against_the_median_entry() {
        // Entries 0..3 all lean on dimension 0 (e5's shared "everything is a bit alike"); entry
        // 1 has a second text close to the question's own direction.
        let texts = [
            (0, unit(&[(0, 1.0), (1, 0.3)])),
            (1, unit(&[(0, 1.0), (2, 0.3)])),
            (1, unit(&[(0, 1.0), (3, 1.0)])),
            (2, unit(&[(0, 1.0), (4, 0.3)])),
        ];
        let embedded = Embedded {
            entry_of: texts.iter().map(|(entry, _)| *entry).collect(),
            vectors: texts.iter().flat_map(|(_, vector)| vector.clone()).collect(),
        };
        let asked = unit(&[(0, 1.0), (3, 1.0)]);
        let scores = embedded.entry_scores(&asked, 3);
        assert!((scores[1] - 1.0).abs() < 1e-5, "a perfect match scores 1: {scores:?}");
        assert_eq!(scores[0], 0.0, "the median entry scores 0: {scores:?}");
        assert_eq!(scores[2], 0.0, "{scores:?}");
    }
}
