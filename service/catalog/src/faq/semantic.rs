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
//!
//! Across languages, e5 puts every text of one language nearer every other text of that
//! language than to its own translation: an English question finds English entries first,
//! whatever they say. So an entry written in none of the question's language is compared with
//! the question after each text is moved by its language's mean (the mean of that language's
//! lines of `languages.txt`, the same everyday sentences in every language the FAQ tells apart;
//! a language without lines takes the mean of them all): what is left is what the text says.

use std::collections::HashSet;

use crate::text_embedding::Side;
use crate::{TEXT_EMBEDDING_DIM, TextEmbedder, TextEmbeddingError};

pub(crate) struct SemanticIndex {
    embedder: TextEmbedder,
    phrasings: Embedded,
    answers: Embedded,
    /// The phrasings and answers moved by their language's mean.
    phrasings_apart: Embedded,
    answers_apart: Embedded,
    /// The lines of `chatter.txt`, all as entry 0.
    chatter: Embedded,
    /// Per entry, the languages (subtags) its phrasings and answers are written in.
    entry_languages: Vec<Vec<String>>,
    /// Where each language sits on the query side, for questions.
    query_means: LanguageMeans,
    entries: usize,
}

/// What the FAQ's embeddings say about a question.
pub(crate) struct SemanticScores {
    /// Per entry, the mean of its two normalised sides (see the module documentation), compared
    /// apart from languages for an entry not written in the question's language.
    pub(crate) entries: Vec<f32>,
    /// Per entry, whether it is written in none of the question's language.
    pub(crate) across_languages: Vec<bool>,
    /// Whether the question is closer to chatter than to any phrasing.
    pub(crate) is_chatter: bool,
}

const CHATTER: &str = include_str!("chatter.txt");
const LANGUAGES: &str = include_str!("languages.txt");

/// The `(language, sentence)` lines of `languages.txt`.
fn language_lines() -> impl Iterator<Item = (&'static str, &'static str)> {
    LANGUAGES.lines().filter(|line| !line.starts_with('#')).filter_map(|line| line.split_once('\t'))
}

/// The language subtag of a catalog locale (`zh-CN` -> `zh`).
pub(crate) fn language_of(locale: &str) -> String {
    locale.split(['-', '_']).next().unwrap_or(locale).to_ascii_lowercase()
}

/// Each language's mean embedding on one side, and the mean of them all for the others.
struct LanguageMeans {
    means: Vec<(String, Vec<f32>)>,
    all: Vec<f32>,
}

impl LanguageMeans {
    /// The means of the languages `only` names (all when `None`).
    fn new(
        embedder: &TextEmbedder,
        side: Side,
        only: Option<&[String]>,
        used: &mut HashSet<Vec<u8>>,
    ) -> Result<Self, TextEmbeddingError> {
        let mut sums: Vec<(String, Vec<f32>, usize)> = Vec::new();
        let wanted = |language: &str| only.is_none_or(|only| only.iter().any(|l| l == language));
        for (language, sentence) in language_lines().filter(|(language, _)| wanted(language)) {
            let (embedding, key) = embedder.embed_remembered(side, sentence)?;
            used.insert(key);
            if !sums.iter().any(|(l, _, _)| l == language) {
                sums.push((language.to_owned(), vec![0.0; TEXT_EMBEDDING_DIM], 0));
            }
            let Some((_, sum, count)) = sums.iter_mut().find(|(l, _, _)| l == language) else { continue };
            sum.iter_mut().zip(&embedding).for_each(|(s, e)| *s += e);
            *count += 1;
        }
        let means: Vec<(String, Vec<f32>)> =
            sums.into_iter().map(|(l, sum, n)| (l, sum.into_iter().map(|v| v / n as f32).collect())).collect();
        let mut all = vec![0.0; TEXT_EMBEDDING_DIM];
        for (_, mean) in &means {
            all.iter_mut().zip(mean).for_each(|(a, m)| *a += m / means.len() as f32);
        }

        Ok(Self { means, all })
    }

    fn of(&self, language: &str) -> &[f32] {
        self.means.iter().find(|(l, _)| l == language).map_or(&self.all, |(_, mean)| mean)
    }

    /// `embedding` moved by its language's mean, L2-normalised again.
    fn apart(&self, embedding: &[f32], language: &str) -> Vec<f32> {
        let moved: Vec<f32> = embedding.iter().zip(self.of(language)).map(|(e, m)| e - m).collect();
        let norm = moved.iter().map(|v| v * v).sum::<f32>().sqrt().max(f32::EPSILON);
        moved.into_iter().map(|v| v / norm).collect()
    }
}

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

    /// The same texts, each moved by its language's mean (`languages`: each text's language).
    fn apart(&self, means: &LanguageMeans, languages: &[String]) -> Self {
        let vectors = self
            .vectors
            .chunks_exact(TEXT_EMBEDDING_DIM)
            .zip(languages)
            .flat_map(|(vector, language)| means.apart(vector, language))
            .collect();
        Self { entry_of: self.entry_of.clone(), vectors }
    }

    /// Per entry, its best cosine to `asked`.
    fn best_cosines(&self, asked: &[f32], entries: usize) -> Vec<f32> {
        let mut best = vec![f32::NEG_INFINITY; entries];
        for (vector, entry) in self.vectors.chunks_exact(TEXT_EMBEDDING_DIM).zip(&self.entry_of) {
            let cosine: f32 = vector.iter().zip(asked).map(|(a, b)| a * b).sum();
            if let Some(slot) = best.get_mut(*entry as usize) {
                *slot = slot.max(cosine);
            }
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

/// A text of the FAQ: its entry, its language subtag and the text itself.
pub(crate) type FaqText<'a> = (u32, String, &'a str);

impl SemanticIndex {
    /// Embeds the phrasings and answers, each given with its entry (below `entries`) and
    /// language.
    pub(crate) fn new(
        embedder: &TextEmbedder,
        phrasings: &[FaqText],
        answers: &[FaqText],
        entries: usize,
    ) -> Result<Self, TextEmbeddingError> {
        let mut used = HashSet::new();
        let chatter: Vec<(u32, &str)> = chatter_lines().map(|line| (0, line)).collect();
        fn texts<'a>(list: &[FaqText<'a>]) -> Vec<(u32, &'a str)> {
            list.iter().map(|(entry, _, text)| (*entry, *text)).collect()
        }
        let languages = |list: &[FaqText]| list.iter().map(|(_, language, _)| language.clone()).collect::<Vec<_>>();
        // Questions come in any language; answers only in the catalog's.
        let query_means = LanguageMeans::new(embedder, Side::Query, None, &mut used)?;
        let mut answer_languages = languages(answers);
        answer_languages.sort();
        answer_languages.dedup();
        let passage_means = LanguageMeans::new(embedder, Side::Passage, Some(&answer_languages), &mut used)?;
        let phrasings_embedded = Embedded::new(embedder, Side::Query, &texts(phrasings), &mut used)?;
        let answers_embedded = Embedded::new(embedder, Side::Passage, &texts(answers), &mut used)?;
        let mut entry_languages = vec![Vec::new(); entries];
        for (entry, language, _) in phrasings.iter().chain(answers) {
            let Some(known) = entry_languages.get_mut(*entry as usize) else { continue };
            if !known.contains(language) {
                known.push(language.clone());
            }
        }
        let index = Self {
            phrasings_apart: phrasings_embedded.apart(&query_means, &languages(phrasings)),
            answers_apart: answers_embedded.apart(&passage_means, &languages(answers)),
            phrasings: phrasings_embedded,
            answers: answers_embedded,
            chatter: Embedded::new(embedder, Side::Query, &chatter, &mut used)?,
            entry_languages,
            query_means,
            embedder: embedder.clone(),
            entries,
        };
        embedder.forget_all_but(&used);
        Ok(index)
    }

    /// How the question (written in `language`, a subtag) compares with every entry.
    pub(crate) fn scores(&self, question: &str, language: &str) -> Result<SemanticScores, TextEmbeddingError> {
        let asked = self.embedder.embed_query(question)?;
        let best_phrasings = self.phrasings.best_cosines(&asked, self.entries);
        let closest_phrasing = best_phrasings.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let is_chatter = self.chatter.best_cosines(&asked, 1).first().is_some_and(|&c| c > closest_phrasing);
        let by_phrasing = against_the_median(best_phrasings);
        let by_answer = self.answers.entry_scores(&asked, self.entries);
        let across_languages: Vec<bool> =
            self.entry_languages.iter().map(|languages| !languages.iter().any(|l| l == language)).collect();
        let mut entries: Vec<f32> = by_phrasing.into_iter().zip(by_answer).map(|(p, a)| (p + a) / 2.0).collect();
        if across_languages.contains(&true) {
            let asked_apart = self.query_means.apart(&asked, language);
            let by_phrasing = self.phrasings_apart.entry_scores(&asked_apart, self.entries);
            let by_answer = self.answers_apart.entry_scores(&asked_apart, self.entries);
            let apart = by_phrasing.iter().zip(&by_answer).map(|(p, a)| (p + a) / 2.0);
            for ((score, across), apart) in entries.iter_mut().zip(&across_languages).zip(apart) {
                if *across {
                    *score = apart;
                }
            }
        }
        Ok(SemanticScores { entries, across_languages, is_chatter })
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
