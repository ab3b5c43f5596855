//! BM25 over the FAQ phrasings, normalised so that scores of different questions compare:
//! a question's score against a phrasing is its BM25 score divided by the BM25 score of an
//! average-length phrasing holding every term of the question once (each term's share capped
//! there), so 1 means every term was found, weighted by how telling each term is.

use std::collections::HashMap;

/// BM25 term-frequency saturation and length normalisation (the usual values).
const K1: f32 = 1.2;
const B: f32 = 0.75;

pub(crate) type TermId = u32;
pub(crate) type DocId = u32;

/// A question's terms as the index knows them: each term's weight (how telling it is), and
/// its id when some phrasing uses it.
pub(crate) struct Query {
    pub(crate) terms: Vec<(Option<TermId>, f32)>,
    pub(crate) total_weight: f32,
}

pub(crate) struct LexicalIndex {
    ids: HashMap<String, TermId>,
    /// Per term: the phrasings using it, with how often.
    postings: Vec<Vec<(DocId, u16)>>,
    /// Per term: its inverse document frequency.
    weights: Vec<f32>,
    /// The weight of a term no phrasing uses.
    unknown_word_weight: f32,
    doc_lengths: Vec<f32>,
    average_length: f32,
    /// Per phrasing: the summed weight of its distinct terms.
    doc_weights: Vec<f32>,
}

impl LexicalIndex {
    /// Indexes phrasings given as their terms, in `DocId` order.
    pub(crate) fn new(docs: &[&[String]]) -> Self {
        let mut ids: HashMap<String, TermId> = HashMap::new();
        let mut postings: Vec<Vec<(DocId, u16)>> = Vec::new();
        for (doc, terms) in docs.iter().enumerate() {
            let mut counts: HashMap<TermId, u16> = HashMap::new();
            for term in *terms {
                let next = ids.len() as TermId;
                let id = *ids.entry(term.clone()).or_insert(next);
                if id == next {
                    postings.push(Vec::new());
                }
                *counts.entry(id).or_default() += 1;
            }
            for (id, count) in counts {
                if let Some(list) = postings.get_mut(id as usize) {
                    list.push((doc as DocId, count));
                }
            }
        }
        let documents = docs.len() as f32;
        let idf = |frequency: f32| (1.0 + (documents - frequency + 0.5) / (frequency + 0.5)).ln();
        let weights: Vec<f32> = postings.iter().map(|list| idf(list.len() as f32)).collect();
        let mut doc_weights = vec![0.0; docs.len()];
        for (weight, list) in weights.iter().zip(&postings) {
            for &(doc, _) in list {
                if let Some(doc_weight) = doc_weights.get_mut(doc as usize) {
                    *doc_weight += weight;
                }
            }
        }
        let doc_lengths: Vec<f32> = docs.iter().map(|terms| terms.len() as f32).collect();
        let average_length = (doc_lengths.iter().sum::<f32>() / documents.max(1.0)).max(1.0);
        Self { ids, postings, weights, unknown_word_weight: idf(0.0), doc_lengths, average_length, doc_weights }
    }

    pub(crate) fn term_id(&self, term: &str) -> Option<TermId> {
        self.ids.get(term).copied()
    }

    pub(crate) fn query(&self, terms: &[String]) -> Query {
        let terms: Vec<(Option<TermId>, f32)> = terms
            .iter()
            .map(|term| match self.term_id(term) {
                Some(id) => (Some(id), self.weights.get(id as usize).copied().unwrap_or_default()),
                None => (None, self.unknown_word_weight),
            })
            .collect();
        let total_weight = terms.iter().map(|(_, weight)| weight).sum();
        Query { terms, total_weight }
    }

    /// Per phrasing that shares a term with the query: how much of the query's weight it
    /// explains (normalised BM25, see the module documentation), and which of the query's
    /// terms it has (by position in `query.terms`, as a bit set of the first 64).
    pub(crate) fn matches(&self, query: &Query) -> HashMap<DocId, Match> {
        let mut found: HashMap<DocId, Match> = HashMap::new();
        for (position, &(id, weight)) in query.terms.iter().enumerate() {
            let Some(id) = id else { continue };
            for &(doc, count) in self.postings.get(id as usize).into_iter().flatten() {
                let share = weight * self.saturation(doc, count);
                let entry = found.entry(doc).or_default();
                entry.explained += share;
                entry.shared_weight += weight;
                if position < 64 {
                    entry.terms |= 1 << position;
                }
            }
        }
        found
    }

    /// BM25's term-frequency part, relative to one use in an average-length phrasing, capped at 1.
    fn saturation(&self, doc: DocId, count: u16) -> f32 {
        let count = f32::from(count);
        let length_ratio = self.doc_lengths.get(doc as usize).copied().unwrap_or_default() / self.average_length;
        let part = count * (K1 + 1.0) / (count + K1 * (1.0 - B + B * length_ratio));
        part.min(1.0)
    }

    /// The summed weight of a phrasing's distinct terms.
    pub(crate) fn doc_weight(&self, doc: DocId) -> f32 {
        self.doc_weights.get(doc as usize).copied().unwrap_or_default()
    }
}

/// How one phrasing meets one query.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Match {
    /// Summed weight of the query terms found, each scaled by BM25's saturation.
    pub(crate) explained: f32,
    /// Summed weight of the query terms found.
    pub(crate) shared_weight: f32,
    /// The query terms found, by position.
    pub(crate) terms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Vec<String> {
        text.split(' ').map(str::to_owned).collect()
    }

    fn index(docs: &[&str]) -> LexicalIndex {
        let docs: Vec<Vec<String>> = docs.iter().map(|d| terms(d)).collect();
        LexicalIndex::new(&docs.iter().map(Vec::as_slice).collect::<Vec<_>>())
    }

    fn explained_share(index: &LexicalIndex, question: &str, doc: DocId) -> f32 {
        let query = index.query(&terms(question));
        index.matches(&query).get(&doc).map_or(0.0, |m| m.explained / query.total_weight)
    }

    #[test]
    fn a_question_whose_every_term_is_found_scores_one() {
        let index = index(&["ship free", "return policy", "ship time"]);
        assert!((explained_share(&index, "ship free", 0) - 1.0).abs() < 1e-6);
        assert!((explained_share(&index, "free ship", 0) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn rare_terms_explain_more_than_common_ones() {
        let index = index(&["ship free", "return policy", "ship time"]);
        let by_rare = explained_share(&index, "free ship", 0);
        let by_common = explained_share(&index, "free ship", 2);
        assert!(by_common > 0.0 && by_common < 0.5 && by_rare > 0.99, "{by_common} {by_rare}");
        assert!(explained_share(&index, "ship xyz", 2) < explained_share(&index, "ship", 2), "unknown terms weigh");
    }

    #[test]
    fn long_phrasings_explain_a_term_less_and_repeats_saturate() {
        let index = index(&["leak", "leak seal lid bag upside down shaken", "leak leak leak"]);
        assert!(explained_share(&index, "leak", 1) < explained_share(&index, "leak", 0));
        assert!(explained_share(&index, "leak", 2) <= 1.0);
    }

    #[test]
    fn matches_say_which_terms_were_found() {
        let index = index(&["a b", "c"]);
        let query = index.query(&terms("b x c"));
        let matches = index.matches(&query);
        assert_eq!(matches[&0].terms, 0b001);
        assert_eq!(matches[&1].terms, 0b100);
        assert_eq!(query.terms[1].0, None);
        let weight_of_a = index.query(&terms("a")).total_weight;
        assert!((index.doc_weight(0) - matches[&0].shared_weight - weight_of_a).abs() < 1e-6, "b is shared, a is not");
    }
}
