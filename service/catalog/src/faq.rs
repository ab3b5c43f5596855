//! FAQ retrieval: a viewer's chat message → the FAQ answers that fit it, best first, or none.
//!
//! Every phrasing (`q`, in every locale) and every answer (`a`) of the studio FAQ and of every
//! product's FAQ is a document. A question is scored against each FAQ entry by its best
//! document:
//! - lexically, by normalised BM25 (see `lexical`) in the view of the text that scores best
//!   (words, character pairs or sounds: see `analysis`). Against a phrasing, that is combined
//!   with how much of the phrasing the question covers; an answer only counts for part, as it
//!   says much more than what it answers. Words of the entry's product name or tags count as
//!   found ("保温杯能装牛奶吗" finds the tumbler's "能装牛奶吗") for part of their weight.
//! - optionally also semantically, by multilingual-e5 (see `semantic`), weighted in.
//!
//! An entry written in none of the question's language (a Chinese-only entry asked in
//! English) has no words in common with it: it is scored by meaning alone, compared apart from
//! languages (see `semantic`), and answers above a minimum score of its own, as such scores run
//! lower than those of entries in the question's language.
//!
//! Product context then weighs in: the FAQ of the product in view counts for more, and the FAQ
//! of other products counts for less unless the question names them, so "保质期多久" answers
//! for the product on camera and "牛肉干保质期多久" for the jerky. Scores are comparable across
//! questions; answers below the index's minimum score (calibrated on the calibration split of
//! the evaluation set in `tests/data/faq-eval`, separately for lexical-only and hybrid
//! retrieval) are not returned.

mod analysis;
mod duplicate;
mod lexical;
mod semantic;
mod text;

use crate::{FaqEntry, FaqError, Product, Text, TextEmbedder};
use analysis::{Analyzer, Spelling, Terms, VIEWS, View};
use lexical::{DocId, LexicalIndex, Query};
use semantic::SemanticIndex;

pub use duplicate::{NEAR_DUPLICATE_SIMILARITY, QuestionKey, near_duplicate};
pub use text::Language;

/// Minimum score of an answer with lexical retrieval only: of those that still reject 95% of
/// the off-topic messages of the evaluation set's calibration split, the one that handles the
/// most of its messages right (`tests/catalog.rs` recomputes it and fails when it drifts).
pub const LEXICAL_MIN_SCORE: f32 = 0.5;
/// Minimum score of an answer with hybrid (lexical and semantic) retrieval, calibrated alike
/// (with the next, on the calibration splits of both evaluation sets).
pub const HYBRID_MIN_SCORE: f32 = 0.27;
/// Minimum score, with hybrid retrieval, of an answer from an entry written in none of the
/// question's language.
pub const HYBRID_CROSS_MIN_SCORE: f32 = 0.09;

// The weights below were chosen on the calibration split of the evaluation set, for the most
// right answers at the calibrated minimum score (a grid over the semantic weight and the two
// product factors; the others by hand, checked on it).

/// The sounds view is weaker evidence than words and characters: it also matches other
/// words that sound alike.
const SOUND_VIEW_FACTOR: f32 = 0.8;
/// An answer explaining the question counts for this much of a phrasing explaining it.
const ANSWER_FACTOR: f32 = 0.7;
/// Credit for a question word found in the entry's product name or tags rather than in the
/// document, relative to finding it in the document.
const NAME_CREDIT: f32 = 0.8;
/// How much the share of a phrasing found in the question counts against the share of the
/// question found in the phrasing (geometric weighting).
const PHRASING_COVERAGE_EXPONENT: f32 = 0.4;
/// Weight of the semantic score in the hybrid score.
const SEMANTIC_WEIGHT: f32 = 0.8;
/// Factor on every score of a message that the semantic index takes for chatter.
const CHATTER_FACTOR: f32 = 0.5;
/// Factor on the score of the FAQ of the product in view, unless the question names another.
const IN_VIEW_FACTOR: f32 = 1.5;
/// Factor on the score of another product's FAQ while a product is in view and the question
/// does not name that other product.
const OTHER_PRODUCT_FACTOR: f32 = 0.5;

/// One answer to a viewer's question.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    pub faq_id: String,
    /// The product whose FAQ answered; `None` for the studio FAQ.
    pub sku: Option<String>,
    /// The answer text in the question's language when the catalog has it, else in the
    /// catalog's default locale (else any); the first variant.
    pub answer: String,
    /// The locale `answer` is in, as the catalog names it.
    pub locale: String,
    /// The language the question was written in (a BCP 47 language subtag: `zh`, `en`, `ja`...).
    pub question_lang: String,
    /// Whether the entry is written in none of the question's language.
    pub across_languages: bool,
    /// From 0 to 1, comparable across questions; never below the index's minimum score.
    pub score: f32,
}

struct Entry {
    id: String,
    /// Index into `FaqIndex::products`; `None` for the studio FAQ.
    product: Option<usize>,
    answer: Text,
}

struct ProductTerms {
    sku: String,
    /// Per view, the sorted terms of the product's name in every locale and of its tags.
    name_terms: [Vec<String>; 3],
    /// The sorted compounds ("t恤") of its name and tags.
    name_compounds: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Phrasing,
    Answer,
}

/// The documents of one field, indexed in every view.
struct Documents {
    field: Field,
    /// The entry of each document, by `DocId`.
    entry_of: Vec<u32>,
    /// One index per view, in `VIEWS` order.
    views: Vec<LexicalIndex>,
}

impl Documents {
    fn new(field: Field, texts: &[(u32, &str)], analyzer: &Analyzer) -> Self {
        let terms: Vec<Terms> = texts.iter().map(|(_, text)| analyzer.terms(text, None)).collect();
        let views = VIEWS
            .iter()
            .map(|&view| LexicalIndex::new(&terms.iter().map(|t| t.of(view)).collect::<Vec<_>>()))
            .collect();
        Self { field, entry_of: texts.iter().map(|(entry, _)| *entry).collect(), views }
    }
}

/// The FAQ of one catalog, ready to answer questions; `Send + Sync`, so one index (in an
/// `Arc`) serves every thread. Rebuild it when the catalog changes.
pub struct FaqIndex {
    analyzer: Analyzer,
    spelling: Spelling,
    phrasings: Documents,
    answers: Documents,
    semantic: Option<SemanticIndex>,
    entries: Vec<Entry>,
    products: Vec<ProductTerms>,
    default_locale: String,
    min_score: f32,
    /// For entries in none of the question's language (hybrid retrieval only).
    cross_min_score: f32,
}

impl FaqIndex {
    /// Indexes the studio FAQ and every product's FAQ. With `semantic`, every phrasing and
    /// answer is embedded now (a few milliseconds each) and questions are embedded as they come.
    pub fn build<'a>(
        studio_faq: &'a [FaqEntry],
        products: &'a [Product],
        default_locale: &str,
        semantic: Option<&TextEmbedder>,
    ) -> Result<Self, FaqError> {
        let analyzer = Analyzer::new();
        let sources = studio_faq
            .iter()
            .map(|entry| (entry, None))
            .chain(products.iter().enumerate().flat_map(|(at, p)| p.faq.iter().map(move |e| (e, Some(at)))));
        let mut entries = Vec::new();
        let mut phrasings: Vec<semantic::FaqText> = Vec::new();
        let mut answers: Vec<semantic::FaqText> = Vec::new();
        let texts = |text: &'a Text, at: u32| {
            text.0.iter().flat_map(move |(locale, variants)| {
                variants.iter().map(move |variant| (at, semantic::language_of(locale), variant.as_str()))
            })
        };
        for (entry, product) in sources {
            let at = entries.len() as u32;
            phrasings.extend(texts(&entry.q, at));
            answers.extend(texts(&entry.a, at));
            entries.push(Entry { id: entry.id.clone(), product, answer: entry.a.clone() });
        }
        let lexical_texts =
            |list: &[semantic::FaqText<'a>]| list.iter().map(|(at, _, text)| (*at, *text)).collect::<Vec<_>>();
        let (phrasing_texts, answer_texts) = (lexical_texts(&phrasings), lexical_texts(&answers));
        let known_words: Vec<String> = phrasing_texts.iter().flat_map(|(_, p)| analyzer.correctable_words(p)).collect();
        let spelling = Spelling::new(known_words.iter().map(String::as_str));
        let products = products.iter().map(|product| product_terms(product, &analyzer)).collect();
        let semantic = match semantic {
            Some(embedder) => Some(SemanticIndex::new(embedder, &phrasings, &answers, entries.len())?),
            None => None,
        };
        Ok(Self {
            phrasings: Documents::new(Field::Phrasing, &phrasing_texts, &analyzer),
            answers: Documents::new(Field::Answer, &answer_texts, &analyzer),
            analyzer,
            spelling,
            min_score: if semantic.is_some() { HYBRID_MIN_SCORE } else { LEXICAL_MIN_SCORE },
            cross_min_score: if semantic.is_some() { HYBRID_CROSS_MIN_SCORE } else { LEXICAL_MIN_SCORE },
            semantic,
            entries,
            products,
            default_locale: default_locale.to_owned(),
        })
    }

    /// Whether questions are also matched semantically.
    pub fn is_hybrid(&self) -> bool {
        self.semantic.is_some()
    }

    /// The score below which nothing is answered.
    pub fn min_score(&self) -> f32 {
        self.min_score
    }

    /// The score below which an entry written in none of the question's language does not
    /// answer.
    pub fn cross_min_score(&self) -> f32 {
        self.cross_min_score
    }

    /// Replaces both calibrated minimum scores (e.g. 0 to see every candidate).
    pub fn with_min_score(mut self, min_score: f32) -> Self {
        self.min_score = min_score;
        self.cross_min_score = min_score;
        self
    }

    /// The best `limit` answers to `question`, best first, none scoring below the minimum
    /// score. `in_view` is the SKU of the product on camera, if any.
    pub fn ask(&self, question: &str, in_view: Option<&str>, limit: usize) -> Result<Vec<Answer>, FaqError> {
        let language = Language::detect(question);
        let (scores, across_languages) = self.scores(question, language, in_view)?;
        let mut scored: Vec<(usize, f32, bool)> = scores
            .into_iter()
            .zip(across_languages)
            .enumerate()
            .filter(|&(_, (score, across))| {
                let min_score = if across { self.cross_min_score } else { self.min_score };
                score >= min_score && score > 0.0
            })
            .map(|(entry, (score, across))| (entry, score, across))
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored.truncate(limit);
        Ok(scored
            .into_iter()
            .filter_map(|(entry, score, across)| self.answer(entry, score, language, across))
            .collect())
    }

    /// Per entry, the question's score and whether the entry is written in none of the
    /// question's language (known with semantic retrieval only); all 0 for a message of nothing
    /// but chat fillers, punctuation and emoji, which is not even embedded.
    fn scores(
        &self,
        question: &str,
        language: Language,
        in_view: Option<&str>,
    ) -> Result<(Vec<f32>, Vec<bool>), FaqError> {
        let terms = self.analyzer.terms(question, Some(&self.spelling));
        let mut across_languages = vec![false; self.entries.len()];
        if terms.is_empty() {
            return Ok((vec![0.0; self.entries.len()], across_languages));
        }
        let mut scores = self.lexical_scores(&terms);
        if let Some(semantic) = &self.semantic {
            let semantic = semantic.scores(question, language.code())?;
            let factor = if semantic.is_chatter { CHATTER_FACTOR } else { 1.0 };
            for ((score, semantic), across) in scores.iter_mut().zip(semantic.entries).zip(&semantic.across_languages) {
                // An entry in another language shares no words with the question: its meaning
                // stands in for its words.
                let lexical = if *across { semantic } else { *score };
                *score = factor * ((1.0 - SEMANTIC_WEIGHT) * lexical + SEMANTIC_WEIGHT * semantic);
            }
            across_languages = semantic.across_languages;
        }
        let named = self.named_products(&terms);
        let in_view = in_view.and_then(|sku| self.products.iter().position(|p| p.sku == sku));
        let names_another = named.iter().enumerate().any(|(product, &named)| named && Some(product) != in_view);
        for (score, entry) in scores.iter_mut().zip(&self.entries) {
            match (entry.product, in_view) {
                (Some(product), Some(_)) if Some(product) == in_view && !names_another => *score *= IN_VIEW_FACTOR,
                (Some(product), Some(_)) if Some(product) != in_view && !named.get(product).is_some_and(|n| *n) => {
                    *score *= OTHER_PRODUCT_FACTOR
                }
                _ => {}
            }
        }
        Ok((scores, across_languages))
    }

    /// Per entry, the lexical score of its best document in the view that scores it best.
    fn lexical_scores(&self, terms: &Terms) -> Vec<f32> {
        let mut best = vec![0.0f32; self.entries.len()];
        for view in VIEWS {
            let view_terms = terms.of(view);
            let in_name: Vec<u64> = self.products.iter().map(|p| name_positions(p, view, view_terms)).collect();
            let view_factor = if view == View::Sounds { SOUND_VIEW_FACTOR } else { 1.0 };
            for documents in [&self.phrasings, &self.answers] {
                let Some(index) = documents.views.get(view as usize) else { continue };
                let query = index.query(view_terms);
                if query.total_weight <= 0.0 {
                    continue;
                }
                for (doc, found) in index.matches(&query) {
                    let Some(&entry) = documents.entry_of.get(doc as usize) else { continue };
                    let entry = entry as usize;
                    let mut explained = found.explained;
                    if let Some(product) = self.entries.get(entry).and_then(|e| e.product) {
                        let in_name = in_name.get(product).copied().unwrap_or(0);
                        explained += NAME_CREDIT * weight_of(&query, in_name & !found.terms);
                    }
                    let question_covered = (explained / query.total_weight).min(1.0);
                    let score = match documents.field {
                        Field::Phrasing => {
                            let phrasing_covered = (found.shared_weight / index.doc_weight(doc as DocId)).min(1.0);
                            question_covered.powf(1.0 - PHRASING_COVERAGE_EXPONENT)
                                * phrasing_covered.powf(PHRASING_COVERAGE_EXPONENT)
                        }
                        Field::Answer => ANSWER_FACTOR * question_covered,
                    };
                    if let Some(best) = best.get_mut(entry) {
                        *best = best.max(view_factor * score);
                    }
                }
            }
        }
        best
    }

    /// Per product, whether the question uses a word of its name or tags that can tell it
    /// apart (not a number, not a single Han character like 茶 or 杯, not a Latin word of two
    /// letters) or one of its compounds ("T恤").
    fn named_products(&self, terms: &Terms) -> Vec<bool> {
        let telling = |word: &&String| {
            let (characters, latin) = (word.chars().count(), word.chars().all(|c| c.is_ascii_alphabetic()));
            !word.chars().all(char::is_numeric) && characters >= if latin { 3 } else { 2 }
        };
        let words: Vec<&String> = terms.of(View::Words).iter().filter(telling).collect();
        self.products
            .iter()
            .map(|product| {
                let name_words = View::Words.of(&product.name_terms);
                words.iter().any(|word| name_words.binary_search(word).is_ok())
                    || terms.compounds().iter().any(|compound| product.name_compounds.binary_search(compound).is_ok())
            })
            .collect()
    }

    fn answer(&self, entry: usize, score: f32, language: Language, across_languages: bool) -> Option<Answer> {
        let entry = self.entries.get(entry)?;
        let (locale, variants) = entry.answer.resolve(language.code(), &self.default_locale)?;
        Some(Answer {
            faq_id: entry.id.clone(),
            sku: entry.product.and_then(|p| self.products.get(p)).map(|p| p.sku.clone()),
            answer: variants.first()?.clone(),
            locale: locale.to_owned(),
            question_lang: language.code().to_owned(),
            across_languages,
            score: score.min(1.0),
        })
    }
}

fn product_terms(product: &Product, analyzer: &Analyzer) -> ProductTerms {
    let names: Vec<Terms> =
        product.name.0.values().flatten().chain(&product.tags).map(|name| analyzer.terms(name, None)).collect();
    let name_terms = VIEWS.map(|view| {
        let mut terms: Vec<String> = names.iter().flat_map(|n| n.of(view)).cloned().collect();
        terms.sort();
        terms.dedup();
        terms
    });
    let mut name_compounds: Vec<String> = names.iter().flat_map(|n| n.compounds()).cloned().collect();
    name_compounds.sort();
    name_compounds.dedup();
    ProductTerms { sku: product.sku.clone(), name_terms, name_compounds }
}

/// The positions (as bits, the first 64) of the terms of a question found in a product's name.
fn name_positions(product: &ProductTerms, view: View, terms: &[String]) -> u64 {
    let name_terms = view.of(&product.name_terms);
    terms
        .iter()
        .take(64)
        .enumerate()
        .filter(|(_, term)| name_terms.binary_search(term).is_ok())
        .fold(0, |bits, (position, _)| bits | 1 << position)
}

fn weight_of(query: &Query, positions: u64) -> f32 {
    query.terms.iter().take(64).enumerate().filter(|(at, _)| positions & (1 << at) != 0).map(|(_, (_, w))| w).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_catalog;

    const CATALOG: &str = r#"
version: 1
default_locale: zh-CN
faq:
  - id: shipping-fee
    q: {zh-CN: ["包邮吗", "运费多少"], en: ["is shipping free"]}
    a: {zh-CN: "全场包邮。", en: "Shipping is free."}
  - id: invoice
    q: ["能开发票吗"]
    a: "可以开电子发票。"
products:
  - sku: BEEF-1
    name: {zh-CN: 风干牛肉干, en: beef jerky}
    faq:
      - id: beef-keep
        q: {zh-CN: ["保质期多久"], en: ["how long does it keep"]}
        a: {zh-CN: "保质期9个月。", en: "9 months."}
  - sku: NUTS-1
    name: {zh-CN: 每日坚果, en: daily nuts}
    faq:
      - id: nuts-keep
        q: {zh-CN: ["保质期多久"], en: ["how long does it keep"]}
        a: {zh-CN: "保质期8个月。", en: "8 months."}
      - id: nuts-dishwasher
        q: {en: ["is the jar dishwasher safe"]}
        a: {en: "Yes, the jar is dishwasher safe."}
"#;

    fn index() -> &'static FaqIndex {
        static INDEX: std::sync::OnceLock<FaqIndex> = std::sync::OnceLock::new();
        INDEX.get_or_init(|| {
            let catalog = parse_catalog(CATALOG).unwrap().catalog;
            FaqIndex::build(&catalog.faq, &catalog.products, &catalog.default_locale, None).unwrap()
        })
    }

    fn best(question: &str, in_view: Option<&str>) -> Option<Answer> {
        index().ask(question, in_view, 3).unwrap().into_iter().next()
    }

    #[test]
    fn the_product_in_view_answers_what_several_products_could() {
        assert_eq!(best("保质期多久", Some("BEEF-1")).unwrap().faq_id, "beef-keep");
        assert_eq!(best("保质期多久", Some("NUTS-1")).unwrap().faq_id, "nuts-keep");
    }

    #[test]
    fn a_named_product_answers_even_when_another_is_in_view() {
        let answer = best("牛肉干保质期多久", Some("NUTS-1")).unwrap();
        assert_eq!((answer.faq_id.as_str(), answer.sku.as_deref()), ("beef-keep", Some("BEEF-1")));
        assert_eq!(best("daily nuts: how long do they keep?", Some("BEEF-1")).unwrap().faq_id, "nuts-keep");
    }

    #[test]
    fn a_product_named_in_letters_and_han_counts_as_named() {
        let catalog = parse_catalog(
            r#"
version: 1
default_locale: zh-CN
products:
  - sku: TEE-1
    name: 纯棉短袖T恤
    faq: [{id: tee-colors, q: ["有几种颜色"], a: "白黑灰三色。"}]
  - sku: PAN-1
    name: 不粘炒锅
    faq: [{id: pan-colors, q: ["有几种颜色"], a: "只有黑色。"}]
"#,
        )
        .unwrap()
        .catalog;
        let index = FaqIndex::build(&catalog.faq, &catalog.products, &catalog.default_locale, None).unwrap();
        let best = |question: &str| index.ask(question, Some("PAN-1"), 1).unwrap().into_iter().next().unwrap().faq_id;
        assert_eq!(best("有几种颜色"), "pan-colors");
        assert_eq!(best("那个T恤有几种颜色"), "tee-colors");
        assert_eq!(best("那个Ｔ恤有几种颜色"), "tee-colors");
    }

    #[test]
    fn studio_answers_have_no_sku_and_stay_whole_whatever_is_in_view() {
        let in_view = best("包邮吗", Some("BEEF-1")).unwrap();
        let none = best("包邮吗", None).unwrap();
        assert_eq!((in_view.faq_id.as_str(), in_view.sku), ("shipping-fee", None));
        assert_eq!(in_view.score, none.score);
    }

    #[test]
    fn answers_are_in_the_language_of_the_question_when_the_catalog_has_it() {
        let english = best("Is shipping free?", None).unwrap();
        assert_eq!((english.answer.as_str(), english.locale.as_str()), ("Shipping is free.", "en"));
        let chinese = best("运费多少？", None).unwrap();
        assert_eq!((chinese.answer.as_str(), chinese.locale.as_str()), ("全场包邮。", "zh-CN"));
        let only_chinese = best("can I get an 发票", None).unwrap();
        assert_eq!((only_chinese.faq_id.as_str(), only_chinese.locale.as_str()), ("invoice", "zh-CN"));
    }

    #[test]
    fn chat_noise_typos_and_mixed_language_still_find_the_answer() {
        assert_eq!(best("主播包邮吗？？？😭😭", None).unwrap().faq_id, "shipping-fee");
        assert_eq!(best("ＦＲＥＥ  shiping??", None).unwrap().faq_id, "shipping-fee");
        assert_eq!(best("包油吗", None).unwrap().faq_id, "shipping-fee", "a homophone typo");
        assert_eq!(best("这个dishwasher safe吗", Some("NUTS-1")).unwrap().faq_id, "nuts-dishwasher");
    }

    #[test]
    fn chatter_gets_no_answer() {
        for message in ["主播好漂亮", "666", "哈哈哈哈", "hello", "🌹🌹🌹", "", "how are you"] {
            assert_eq!(index().ask(message, Some("BEEF-1"), 3).unwrap(), [], "{message:?}");
        }
    }

    #[test]
    fn answers_come_best_first_within_the_limit_and_above_the_minimum() {
        let all = FaqIndex::build(&[], &parse_catalog(CATALOG).unwrap().catalog.products, "zh-CN", None)
            .unwrap()
            .with_min_score(0.0);
        let answers = all.ask("保质期多久", Some("NUTS-1"), 5).unwrap();
        assert_eq!(answers.iter().map(|a| a.faq_id.as_str()).collect::<Vec<_>>(), ["nuts-keep", "beef-keep"]);
        assert!(answers[0].score > answers[1].score && answers[1].score > 0.0);
        assert_eq!(all.ask("保质期多久", Some("NUTS-1"), 1).unwrap().len(), 1);
        assert!(index().ask("保质期多久", None, 5).unwrap().iter().all(|a| a.score >= LEXICAL_MIN_SCORE));
        assert_eq!(index().min_score(), LEXICAL_MIN_SCORE);
        assert!(!index().is_hybrid());
    }

    #[test]
    fn an_index_is_shared_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<FaqIndex>();
    }

    #[test]
    fn the_language_of_a_question_is_detected() {
        assert_eq!(Language::detect("这个dishwasher safe吗"), Language::Chinese);
        assert_eq!(Language::detect("is this 龙井 good"), Language::English);
        assert_eq!(Language::detect("666"), Language::English);
        assert_eq!(Language::detect("包邮吗"), Language::Chinese);
    }
}
