//! Naming a product from the text read on it: a [`TextIndex`] of what each enrolled product
//! prints or is called, matched fuzzily against OCR output.
//!
//! Text is normalised (full-width forms to ASCII, lowercase, punctuation and symbols as spaces)
//! and cut into tokens: runs of letters and digits are words (or numbers when all digits), runs
//! of Han characters give their character bigrams. Adjacent words are also matched joined, as
//! OCR drops and adds spaces. A read word matches an enrolled one within an edit distance
//! scaled to its length, where characters OCR confuses (l/1, O/0, ...) cost a quarter edit;
//! numbers match exactly (one edit for codes of 8 digits or more); Han bigrams exactly, so a
//! Han name matches by how many of its bigrams were read.
//!
//! Each enrolled token weighs its information (0 for generic packaging words, quantities such as
//! "250g", numbers under 4 digits and words under 3 letters; up to 1 for a long word, 0.75 a Han
//! bigram, 2 a code of 8 digits or more) times its distinctiveness across products,
//! `ln(N / df) / ln(N)` for a token printed by `df` of `N` products: 1 for a token only one
//! product prints, 0 for one they all print. A product scores the sum of its tokens' weights,
//! each times how well it was read (1 exact, less with edits). Every source weighs the same; it
//! is reported with the evidence. A lone Han character is no token: whether single characters
//! would help was not measured, and a stray mark read as one is common (see the OCR tests).

use std::collections::HashMap;

mod terms;

use terms::{Kind, edit_distance, information, tokenise, tolerance};

/// Where an enrolled text comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TextSource {
    /// Read by OCR on the product's reference photos at enrollment.
    Photo,
    /// A catalog name of the product, in any locale.
    Name,
    /// The brand's words.
    Brand,
    /// A barcode's digits.
    Barcode,
    /// Other words printed on the packaging.
    Printed,
}

/// When a text match is confident enough to name a product.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TextRule {
    /// The least score of the best product.
    pub min_score: f32,
    /// The least lead of the best product over the second (over 0 when it is alone).
    pub min_lead: f32,
}

impl TextRule {
    /// At least one and a half distinctive long words' worth of evidence (two long words, three
    /// consecutive Han characters of a name, or a barcode) and a lead of one long word over any
    /// other product.
    pub const DEFAULT: TextRule = TextRule { min_score: 1.5, min_lead: 1.0 };

    pub fn is_confident(&self, candidates: &[TextCandidate]) -> bool {
        let Some(best) = candidates.first() else { return false };
        let second = candidates.get(1).map_or(0.0, |c| c.score);
        best.score >= self.min_score && best.score - second >= self.min_lead
    }
}

impl Default for TextRule {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// One enrolled token found in what was read.
#[derive(Clone, Debug, PartialEq)]
pub struct TextEvidence {
    /// The token as read (normalised; two words joined when matched as one).
    pub read: String,
    /// The enrolled token it matched (normalised).
    pub enrolled: String,
    pub source: TextSource,
    /// What it added to the product's score.
    pub weight: f32,
}

/// A product the text points to.
#[derive(Clone, Debug, PartialEq)]
pub struct TextCandidate {
    pub sku: String,
    pub score: f32,
    /// Heaviest first.
    pub evidence: Vec<TextEvidence>,
}

/// The products the text points to, best first, and whether the best is named under the rule.
#[derive(Clone, Debug, PartialEq)]
pub struct TextMatch {
    pub candidates: Vec<TextCandidate>,
    pub confident: bool,
}

impl TextMatch {
    /// The product named by the text: the best candidate, when the match is confident.
    pub fn named(&self) -> Option<&str> {
        self.confident.then(|| self.candidates.first().map(|c| c.sku.as_str())).flatten()
    }
}

/// One enrolled token of one product.
#[derive(Debug)]
struct Unit {
    product: usize,
    text: String,
    source: TextSource,
    weight: f32,
}

/// What a read term is compared with: an enrolled token, or two adjacent ones joined.
#[derive(Debug)]
struct Key {
    chars: Vec<char>,
    kind: Kind,
    units: [Option<usize>; 2],
}

/// What each enrolled product prints or is called, for naming a product from text read on it.
#[derive(Debug, Default)]
pub struct TextIndex {
    skus: Vec<String>,
    units: Vec<Unit>,
    /// Han bigrams, matched exactly.
    bigrams: HashMap<String, Vec<Key>>,
    /// Words and numbers by their length in characters, matched within an edit distance.
    words: HashMap<usize, Vec<Key>>,
}

impl TextIndex {
    /// The index of entries `(sku, source, text)`; a product may have any number of entries.
    pub fn new<I, S, T>(entries: I) -> Self
    where
        I: IntoIterator<Item = (S, TextSource, T)>,
        S: AsRef<str>,
        T: AsRef<str>,
    {
        let mut index = Self::default();
        let mut products: HashMap<String, usize> = HashMap::new();
        let mut units: HashMap<(usize, String), usize> = HashMap::new();
        let mut keys: HashMap<(String, [Option<usize>; 2]), Kind> = HashMap::new();
        for (sku, source, text) in entries {
            let next = products.len();
            let product = *products.entry(sku.as_ref().to_owned()).or_insert(next);
            if product == index.skus.len() {
                index.skus.push(sku.as_ref().to_owned());
            }
            let tokens = tokenise(text.as_ref());
            let unit_of: Vec<usize> = tokens
                .tokens
                .iter()
                .map(|(text, kind)| {
                    *units.entry((product, text.clone())).or_insert_with(|| {
                        let weight = information(text, *kind);
                        index.units.push(Unit { product, text: text.clone(), source, weight });
                        index.units.len() - 1
                    })
                })
                .collect();
            for term in tokens.terms {
                keys.insert((term.text, term.parts.map(|part| part.and_then(|p| unit_of.get(p).copied()))), term.kind);
            }
        }
        index.weigh_by_distinctiveness();
        for ((text, units), kind) in keys {
            if units.iter().flatten().all(|&u| index.units.get(u).is_none_or(|unit| unit.weight == 0.0)) {
                continue;
            }
            let key = Key { chars: text.chars().collect(), kind, units };
            match kind {
                Kind::HanBigram => index.bigrams.entry(text).or_default().push(key),
                Kind::Word | Kind::Number => index.words.entry(key.chars.len()).or_default().push(key),
            }
        }
        index
    }

    /// How many products have entries.
    pub fn products(&self) -> usize {
        self.skus.len()
    }

    /// Whether OCR read words on the reference photos of `sku` that tell it from the others.
    pub fn has_photo_text(&self, sku: &str) -> bool {
        let Some(product) = self.skus.iter().position(|known| known == sku) else { return false };
        self.units.iter().any(|u| u.product == product && u.source == TextSource::Photo && u.weight > 0.0)
    }

    /// Multiplies each token's information by `ln(N / df) / ln(N)`.
    fn weigh_by_distinctiveness(&mut self) {
        let products = self.skus.len() as f32;
        if products < 2.0 {
            return;
        }
        let mut printed_by: HashMap<&str, usize> = HashMap::new();
        for unit in &self.units {
            *printed_by.entry(&unit.text).or_default() += 1;
        }
        let spread: Vec<f32> = self
            .units
            .iter()
            .map(|u| (products / printed_by.get(u.text.as_str()).copied().unwrap_or(1) as f32).ln() / products.ln())
            .collect();
        for (unit, spread) in self.units.iter_mut().zip(spread) {
            unit.weight *= spread;
        }
    }

    /// The products pointed to by `lines` (text read on one view), best first, judged by `rule`.
    pub fn search<I, S>(&self, lines: I, rule: TextRule) -> TextMatch
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        // Per enrolled token: how well it was read, and as what.
        let mut read_as: HashMap<usize, (f32, String)> = HashMap::new();
        let mut cover = |units: &[Option<usize>; 2], similarity: f32, read: &str| {
            for &unit in units.iter().flatten() {
                let known = read_as.entry(unit).or_insert((0.0, String::new()));
                if similarity > known.0 {
                    *known = (similarity, read.to_owned());
                }
            }
        };
        for line in lines {
            for term in tokenise(line.as_ref()).terms {
                if term.kind == Kind::HanBigram {
                    for key in self.bigrams.get(&term.text).into_iter().flatten() {
                        cover(&key.units, 1.0, &term.text);
                    }
                    continue;
                }
                let chars: Vec<char> = term.text.chars().collect();
                for length in chars.len().saturating_sub(2)..=chars.len() + 2 {
                    for key in self.words.get(&length).into_iter().flatten() {
                        let limit = tolerance(key.kind, length);
                        if let Some(distance) = edit_distance(&chars, &key.chars, limit) {
                            cover(&key.units, 1.0 - distance / length as f32, &term.text);
                        }
                    }
                }
            }
        }
        let candidates = self.candidates(read_as);
        TextMatch { confident: rule.is_confident(&candidates), candidates }
    }

    fn candidates(&self, read_as: HashMap<usize, (f32, String)>) -> Vec<TextCandidate> {
        let mut by_product: HashMap<usize, TextCandidate> = HashMap::new();
        for (unit, (similarity, read)) in read_as {
            let Some(unit) = self.units.get(unit) else { continue };
            let weight = unit.weight * similarity;
            if weight <= 0.0 {
                continue;
            }
            let candidate = by_product.entry(unit.product).or_insert_with(|| TextCandidate {
                sku: self.skus.get(unit.product).cloned().unwrap_or_default(),
                score: 0.0,
                evidence: Vec::new(),
            });
            candidate.score += weight;
            candidate.evidence.push(TextEvidence { read, enrolled: unit.text.clone(), source: unit.source, weight });
        }
        let mut candidates: Vec<TextCandidate> = by_product.into_values().collect();
        for candidate in &mut candidates {
            candidate.evidence.sort_by(|a, b| b.weight.total_cmp(&a.weight).then_with(|| a.enrolled.cmp(&b.enrolled)));
        }
        candidates.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.sku.cmp(&b.sku)));
        candidates
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two teas of one brand and a biscuit box, in the forms a catalog gives them.
    fn catalog() -> TextIndex {
        TextIndex::new([
            ("TEA-JASMINE", TextSource::Name, "茉莉花茶 Jasmine Green Tea"),
            ("TEA-JASMINE", TextSource::Brand, "山岚茶舍 Shanlan Tea House"),
            ("TEA-JASMINE", TextSource::Barcode, "6901234567892"),
            ("TEA-JASMINE", TextSource::Printed, "净含量 250g NET WT 8.8 OZ 新品 NEW"),
            ("TEA-OOLONG", TextSource::Name, "铁观音乌龙茶 Tieguanyin Oolong Tea"),
            ("TEA-OOLONG", TextSource::Brand, "山岚茶舍 Shanlan Tea House"),
            ("TEA-OOLONG", TextSource::Printed, "净含量 250g NET WT 8.8 OZ 新品 NEW"),
            ("COOKIES", TextSource::Name, "Cantuccini alla Mandorla"),
            ("COOKIES", TextSource::Brand, "Bastoncini"),
            ("COOKIES", TextSource::Photo, "Crisp Almond Cookies PAN DUCALE Product of Italy"),
        ])
    }

    fn named(index: &TextIndex, lines: &[&str]) -> Option<String> {
        index.search(lines, TextRule::DEFAULT).named().map(str::to_owned)
    }

    #[test]
    fn chinese_and_english_packaging_text_names_its_product() {
        let index = catalog();
        assert_eq!(index.products(), 3);
        assert_eq!(named(&index, &["茉莉花茶"]).as_deref(), Some("TEA-JASMINE"));
        assert_eq!(named(&index, &["Jasmine Green Tea"]).as_deref(), Some("TEA-JASMINE"));
        assert_eq!(named(&index, &["铁观音", "乌龙茶"]).as_deref(), Some("TEA-OOLONG"));
        assert_eq!(named(&index, &["Crisp Almond Cookies", "Cantuccini"]).as_deref(), Some("COOKIES"));
        assert_eq!(named(&index, &["6901234567892"]).as_deref(), Some("TEA-JASMINE"));
        let found = index.search(["JASMINE GREEN TEA", "山岚茶舍"], TextRule::DEFAULT);
        let evidence: Vec<&str> = found.candidates[0].evidence.iter().map(|e| e.enrolled.as_str()).collect();
        assert!(evidence.contains(&"jasmine") && evidence.contains(&"green"), "{evidence:?}");
    }

    #[test]
    fn what_every_product_of_the_brand_prints_names_none_of_them() {
        let index = catalog();
        let found = index.search(["山岚茶舍", "SHANLAN TEA HOUSE", "净含量 250g", "新品 NEW"], TextRule::DEFAULT);
        assert!(!found.confident, "{found:?}");
        let teas: Vec<&str> = found.candidates.iter().map(|c| c.sku.as_str()).collect();
        assert_eq!(teas.len(), 2, "{found:?}");
        assert!((found.candidates[0].score - found.candidates[1].score).abs() < 1e-6, "the brand weighs the same");
    }

    #[test]
    fn ocr_misreadings_still_match() {
        let index = catalog();
        for lines in [
            &["Cantucc1ni alla Mand0rla"][..],
            &["Crisp Alm0nd Cookes", "BASTONClNI"],
            &["PANDUCALE", "Bastoncin"],
            &["69O1234567892"],
            &["6901234567882"],
            &["Jasmlne Gren Tea"],
            &["茉莉花荼"],
        ] {
            let found = index.search(lines, TextRule::DEFAULT);
            assert!(found.confident, "{lines:?}: {found:?}");
            let expected = if lines[0].contains("69") || lines[0].contains("Jasm") || lines[0].contains('茉') {
                "TEA-JASMINE"
            } else {
                "COOKIES"
            };
            assert_eq!(found.named(), Some(expected), "{lines:?}");
        }
        let short_number = TextIndex::new([("A", TextSource::Printed, "Model 4711"), ("B", TextSource::Printed, "x")]);
        assert!(short_number.search(["4712"], TextRule::DEFAULT).candidates.is_empty(), "short numbers match exactly");
    }

    #[test]
    fn absent_short_generic_or_foreign_text_names_nothing() {
        let index = catalog();
        for lines in [
            &[][..],
            &[""],
            &["100%", "NEW", "ml", "g", "a", "x", "OZ", "net wt"],
            &["净含量", "新品", "250g", "8.8"],
            &["Tea"],
            &["Чай зелёный", "شاي أخضر", "녹차", "緑茶のティーバッグ", "🍵✨"],
            &["completely unrelated words printed somewhere"],
        ] {
            let found = index.search(lines, TextRule::DEFAULT);
            assert_eq!(found.named(), None, "{lines:?}: {found:?}");
        }
        assert!(index.search(["100%", "NEW", "ml"], TextRule::DEFAULT).candidates.is_empty());
        assert!(
            TextIndex::new(Vec::<(&str, TextSource, &str)>::new())
                .search(["Jasmine"], TextRule::DEFAULT)
                .candidates
                .is_empty()
        );
    }

    #[test]
    fn a_lone_distinctive_word_is_evidence_but_not_confident() {
        let index = catalog();
        let found = index.search(["Mandorla"], TextRule::DEFAULT);
        assert_eq!(found.candidates.first().map(|c| c.sku.as_str()), Some("COOKIES"));
        assert!(!found.confident, "{found:?}");
        let lenient = TextRule { min_score: 0.5, min_lead: 0.5 };
        assert_eq!(index.search(["Mandorla"], lenient).named(), Some("COOKIES"));
    }

    #[test]
    fn a_word_every_product_prints_weighs_nothing() {
        let index = TextIndex::new([
            ("A", TextSource::Name, "Organic Mango Juice"),
            ("B", TextSource::Name, "Organic Apple Juice"),
            ("C", TextSource::Name, "Organic Grape Juice"),
        ]);
        assert!(index.search(["ORGANIC JUICE"], TextRule::DEFAULT).candidates.is_empty());
        let mango = index.search(["Organic Mango Juice"], TextRule { min_score: 0.5, min_lead: 0.5 });
        assert_eq!(mango.named(), Some("A"));
        assert_eq!(mango.candidates.len(), 1, "{mango:?}");
    }

    #[test]
    fn one_product_catalog_still_needs_enough_evidence() {
        let index = TextIndex::new([("ONLY", TextSource::Name, "Cantuccini alla Mandorla")]);
        assert_eq!(named(&index, &["Cantuccini Mandorla"]).as_deref(), Some("ONLY"));
        assert_eq!(named(&index, &["alla"]), None);
    }
}
