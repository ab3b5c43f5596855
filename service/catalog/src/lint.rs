//! Compliance and completeness lint of a catalog: the absolute, superlative and other terms that
//! China's Advertising Law forbids (the word list `data/advertising-terms.yaml`, built in), and
//! what a show needs that the catalog lacks (prices, photos, cue cards, texts in every locale).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::sync::LazyLock;

use crate::generate::{CUE_NEAR_DUPLICATE, text_similarity};
use crate::parse::{Validator, join};
use crate::yaml::{self, Location, Node};
use crate::{Catalog, FaqEntry, Parsed, Problem, Text, is_locale, parse_catalog};

const WORD_LIST: &str = include_str!("../data/advertising-terms.yaml");
const WORD_LIST_FILE: &str = "service/catalog/data/advertising-terms.yaml";

static EMBEDDED: LazyLock<TermList> = LazyLock::new(|| {
    let (list, problems) = TermList::parse(WORD_LIST);
    for problem in problems {
        tracing::error!("{WORD_LIST_FILE}:{problem}");
    }
    list
});

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Warning,
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// Why a term is listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Category {
    Absolute,
    Superlative,
    Ranking,
    Authority,
    MedicalClaim,
    Guarantee,
    PriceClaim,
}

const CATEGORY_NAMES: [(Category, &str); 7] = [
    (Category::Absolute, "absolute"),
    (Category::Superlative, "superlative"),
    (Category::Ranking, "ranking"),
    (Category::Authority, "authority"),
    (Category::MedicalClaim, "medical-claim"),
    (Category::Guarantee, "guarantee"),
    (Category::PriceClaim, "price-claim"),
];

impl Category {
    /// The name used in the word list, like `medical-claim`.
    pub fn name(self) -> &'static str {
        CATEGORY_NAMES.iter().find(|(c, _)| *c == self).map_or("", |(_, name)| name)
    }

    fn from_name(name: &str) -> Option<Self> {
        CATEGORY_NAMES.iter().find(|(_, n)| *n == name).map(|(c, _)| *c)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One entry of the word list.
#[derive(Clone, Debug, PartialEq)]
pub struct Term {
    /// As listed, like `最佳` or `no. 1`.
    pub term: String,
    pub category: Category,
    pub severity: Severity,
    pub reason: String,
    /// What to say instead, in the term's locale.
    pub suggest: String,
    pattern: Pattern,
}

/// A listed term found in a text.
#[derive(Clone, Debug, PartialEq)]
pub struct TermHit<'a> {
    pub term: &'a Term,
    /// The words as written in the text.
    pub found: String,
    /// Where they are in the text, in bytes.
    pub range: Range<usize>,
}

impl fmt::Display for TermHit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Term { category, reason, suggest, .. } = self.term;
        write!(f, "{:?} ({category}): {reason}; say instead: {suggest}", self.found)
    }
}

/// The advertising word list: terms and allowed words per locale.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TermList {
    locales: BTreeMap<String, LocaleTerms>,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct LocaleTerms {
    terms: Vec<Term>,
    /// Words that contain a term but make no claim (最近 contains 最).
    allow: Vec<(String, Pattern)>,
}

impl TermList {
    /// The list built into this Cuebox (`service/catalog/data/advertising-terms.yaml`).
    pub fn embedded() -> &'static TermList {
        &EMBEDDED
    }

    /// The locales that have their own list.
    pub fn locales(&self) -> impl Iterator<Item = &str> {
        self.locales.keys().map(String::as_str)
    }

    /// The terms listed under exactly `locale`.
    pub fn terms(&self, locale: &str) -> &[Term] {
        self.locales.get(locale).map_or(&[], |l| l.terms.as_slice())
    }

    /// The words listed under exactly `locale` that contain a term but are not flagged.
    pub fn allowed(&self, locale: &str) -> impl Iterator<Item = &str> {
        self.locales.get(locale).into_iter().flat_map(|l| l.allow.iter().map(|(word, _)| word.as_str()))
    }

    /// The listed terms in `text`, in order. Each stretch of words is reported once: where terms
    /// overlap (最 in 最佳; 全网最低 and 最低价 in 全网最低价), the one that starts first, and of
    /// those the longest, is reported. A text is checked against the list of its
    /// locale (exact, else the same language), or against every list when none fits (ja).
    pub fn check<'a>(&'a self, text: &str, locale: &str) -> Vec<TermHit<'a>> {
        let folded = fold(text);
        let lists = self.lists_for(locale);
        let allowed: Vec<Range<usize>> =
            lists.iter().flat_map(|l| &l.allow).flat_map(|(_, pattern)| pattern.find_all(&folded)).collect();
        let mut hits: Vec<(Range<usize>, &Term)> = lists
            .iter()
            .flat_map(|l| &l.terms)
            .flat_map(|term| term.pattern.find_all(&folded).map(move |found| (found, term)))
            .filter(|(found, _)| !allowed.iter().any(|a| contains(a, found)))
            .collect();
        hits.sort_by_key(|(found, _)| (found.start, Reverse(found.end)));
        let mut kept: Vec<(Range<usize>, &Term)> = Vec::new();
        for (found, term) in hits {
            if !kept.iter().any(|(earlier, _)| earlier.end > found.start) {
                kept.push((found, term));
            }
        }
        let byte = |i: usize| folded.get(i).map_or(text.len(), |(_, at)| *at);
        kept.into_iter()
            .map(|(found, term)| {
                let range = byte(found.start)..byte(found.end);
                TermHit { term, found: text[range.clone()].to_owned(), range }
            })
            .collect()
    }

    fn lists_for(&self, locale: &str) -> Vec<&LocaleTerms> {
        if let Some(list) = self.locales.get(locale) {
            return vec![list];
        }
        let same_language: Vec<&LocaleTerms> =
            self.locales.iter().filter(|(l, _)| language(l) == language(locale)).map(|(_, list)| list).collect();
        if same_language.is_empty() { self.locales.values().collect() } else { same_language }
    }

    /// Reads a word list, keeping every good entry and reporting every bad one.
    fn parse(text: &str) -> (TermList, Vec<Problem>) {
        let mut v = Validator::default();
        let list = match yaml::parse(text) {
            Ok(root) => read_term_list(&mut v, &root),
            Err(problem) => {
                v.problems.push(problem);
                TermList::default()
            }
        };
        (list, v.problems)
    }
}

fn read_term_list(v: &mut Validator, root: &Node) -> TermList {
    let mut list = TermList::default();
    let Some(entries) = v.map(root, "", &["version", "locales"]) else { return list };
    match field(entries, "version") {
        Some(Node::Scalar { value, plain: true, .. }) if value == "1" => {}
        _ => v.problem(root.at(), "version", "expected version: 1"),
    }
    let Some(Node::Map { entries: locales, .. }) = field(entries, "locales") else {
        v.problem(root.at(), "locales", "expected a map from locale to its terms");
        return list;
    };
    for (locale, at, node) in locales {
        if !is_locale(locale) {
            v.problem(*at, locale, format!("{locale:?} is not a locale like zh-CN or en"));
            continue;
        }
        let path = join("locales", locale);
        let Some(entries) = v.map(node, &path, &["allow", "terms"]) else { continue };
        let mut terms: Vec<Term> = Vec::new();
        if let Some(Node::Seq { items, .. }) = field(entries, "terms") {
            for (i, item) in items.iter().enumerate() {
                let item_path = format!("{path}.terms[{i}]");
                if let Some(term) = read_term(v, item, &item_path) {
                    if terms.iter().any(|t| t.pattern == term.pattern) {
                        v.problem(item.at(), &item_path, format!("{:?} is listed twice", term.term));
                    } else {
                        terms.push(term);
                    }
                }
            }
        } else {
            v.problem(node.at(), &join(&path, "terms"), "expected a list of terms");
        }
        let mut allow = Vec::new();
        if let Some(node) = field(entries, "allow") {
            let allow_path = join(&path, "allow");
            for (i, word) in v.string_list(node, &allow_path).into_iter().enumerate() {
                let folded = fold(&word);
                if terms.iter().any(|t| t.pattern.find_all(&folded).next().is_some()) {
                    allow.push((word.clone(), Pattern::new(&word)));
                } else {
                    v.problem(node.at(), &format!("{allow_path}[{i}]"), format!("{word:?} contains no listed term"));
                }
            }
        }
        list.locales.insert(locale.clone(), LocaleTerms { terms, allow });
    }
    list
}

fn read_term(v: &mut Validator, node: &Node, path: &str) -> Option<Term> {
    let entries = v.map(node, path, &["term", "category", "severity", "reason", "suggest"])?;
    let required = |v: &mut Validator, name: &str| match field(entries, name) {
        Some(n) => v.string(n, &join(path, name)),
        None => {
            v.problem(node.at(), &join(path, name), "missing");
            None
        }
    };
    let term = required(v, "term");
    let category = required(v, "category");
    let reason = required(v, "reason");
    let suggest = required(v, "suggest");
    let category = category.and_then(|name| {
        let found = Category::from_name(&name);
        if found.is_none() {
            let names: Vec<&str> = CATEGORY_NAMES.iter().map(|(_, n)| *n).collect();
            v.problem(node.at(), &join(path, "category"), format!("{name:?} is not one of {}", names.join(", ")));
        }
        found
    });
    let severity = match field(entries, "severity") {
        None => Some(Severity::Error),
        Some(n) => match v.string(n, &join(path, "severity")).as_deref() {
            Some("error") => Some(Severity::Error),
            Some("warning") => Some(Severity::Warning),
            _ => {
                v.problem(n.at(), &join(path, "severity"), "expected error or warning");
                None
            }
        },
    };
    let term = term?;
    Some(Term {
        pattern: Pattern::new(&term),
        term,
        category: category?,
        severity: severity?,
        reason: reason?,
        suggest: suggest?,
    })
}

fn field<'n>(entries: &'n [(String, Location, Node)], name: &str) -> Option<&'n Node> {
    entries.iter().find(|(k, _, _)| k == name).map(|(_, _, n)| n)
}

/// The language of a locale, lower case: `zh` for `zh-CN`.
pub(crate) fn language(locale: &str) -> String {
    locale.split(['-', '_']).next().unwrap_or(locale).to_ascii_lowercase()
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end
}

/// A term made ready for matching: folded characters, spaces turned into gaps.
#[derive(Clone, Debug, PartialEq)]
struct Pattern(Vec<Token>);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Token {
    Char(char),
    /// Any run of spaces or hyphens, or none.
    Gap,
}

impl Pattern {
    fn new(term: &str) -> Self {
        let mut tokens = Vec::new();
        for c in term.trim().chars().map(fold_char) {
            if c.is_whitespace() {
                if tokens.last() != Some(&Token::Gap) {
                    tokens.push(Token::Gap);
                }
            } else {
                tokens.push(Token::Char(c));
            }
        }
        Pattern(tokens)
    }

    fn first_char(&self) -> Option<char> {
        self.0.iter().find_map(|t| if let Token::Char(c) = t { Some(*c) } else { None })
    }

    fn last_char(&self) -> Option<char> {
        self.0.iter().rev().find_map(|t| if let Token::Char(c) = t { Some(*c) } else { None })
    }

    /// Every match in a folded text, as ranges of its characters.
    fn find_all<'p>(&'p self, text: &'p [(char, usize)]) -> impl Iterator<Item = Range<usize>> + 'p {
        (0..text.len()).filter_map(move |start| self.match_at(text, start).map(|end| start..end))
    }

    /// The end of a match that starts at `start`. Words of letters and digits match whole (an
    /// English term in "bestow" is no match), with an optional plural "s".
    fn match_at(&self, text: &[(char, usize)], start: usize) -> Option<usize> {
        let at = |i: usize| text.get(i).map(|(c, _)| *c);
        let (first, last) = (self.first_char()?, self.last_char()?);
        if is_word_char(first) && start > 0 && at(start - 1).is_some_and(is_word_char) {
            return None;
        }
        let mut i = start;
        for token in &self.0 {
            match token {
                Token::Char(c) if at(i) == Some(*c) => i += 1,
                Token::Char(_) => return None,
                Token::Gap => {
                    while at(i).is_some_and(|c| c.is_whitespace() || c == '-') {
                        i += 1;
                    }
                }
            }
        }
        if is_word_char(last) {
            if last.is_alphabetic() && at(i) == Some('s') && !at(i + 1).is_some_and(is_word_char) {
                i += 1;
            }
            if at(i).is_some_and(is_word_char) {
                return None;
            }
        }
        Some(i)
    }
}

/// The text's characters folded for matching (full-width forms to ASCII, curly apostrophes to
/// straight ones, lower case), one for
/// each character of the text, with its byte offset.
fn fold(text: &str) -> Vec<(char, usize)> {
    text.char_indices().map(|(at, c)| (fold_char(c), at)).collect()
}

fn fold_char(c: char) -> char {
    let c = match c {
        '\u{3000}' => ' ',
        '\u{2018}' | '\u{2019}' => '\'',
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
        _ => c,
    };
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// A letter or digit of a script that separates words with spaces (so not Chinese, Japanese or Korean).
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
        && !matches!(c, '\u{2E80}'..='\u{9FFF}' | '\u{AC00}'..='\u{D7AF}' | '\u{F900}'..='\u{FAFF}' | '\u{20000}'..='\u{3FFFF}')
}

/// The listed terms in a text about to be shown or spoken in `locale`, using the built-in list.
pub fn lint_text(text: &str, locale: &str) -> Vec<TermHit<'static>> {
    TermList::embedded().check(text, locale)
}

/// One thing a catalog should fix: a listed term in a text, or something a show needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    pub severity: Severity,
    /// Field path like `products[2].script[0].text.zh-CN[1]` (text variants always carry their
    /// locale and index).
    pub path: String,
    /// Where in the file, when the catalog came from one (the field, or its closest written parent).
    pub location: Option<Location>,
    /// The listed term, for compliance findings.
    pub term: Option<String>,
    pub message: String,
}

impl From<Problem> for Finding {
    fn from(problem: Problem) -> Self {
        let location = Some(Location { line: problem.line, column: problem.column });
        Finding { severity: Severity::Error, path: problem.path, location, term: None, message: problem.message }
    }
}

/// `LINE:COLUMN: severity: path: message` (without the place when it is unknown).
impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(at) = self.location {
            write!(f, "{}:{}: ", at.line, at.column)?;
        }
        write!(f, "{}: ", self.severity)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Lints a catalog file's text: its parse problems as errors if it has any, else [`lint_parsed`].
pub fn lint_source(text: &str, images_exist: impl Fn(&str) -> bool) -> Vec<Finding> {
    match parse_catalog(text) {
        Ok(parsed) => lint_parsed(&parsed, images_exist),
        Err(problems) => problems.into_iter().map(Finding::from).collect(),
    }
}

/// [`lint_catalog`] with each finding located in the file, in file order.
pub fn lint_parsed(parsed: &Parsed, images_exist: impl Fn(&str) -> bool) -> Vec<Finding> {
    let mut findings = lint_catalog(&parsed.catalog, images_exist);
    for finding in &mut findings {
        finding.location = parsed.locations.find(&finding.path);
    }
    findings.sort_by_key(|f| f.location.map(|at| (at.line, at.column)));
    findings
}

/// Every compliance and completeness finding for a catalog. `images_exist` is asked about each
/// reference photo as the catalog names it (relative to the catalog file unless absolute).
///
/// Checked for listed terms: names, promos, selling points, cue cards and FAQ answers (what goes
/// on air); FAQ questions are viewers' words and are not. Completeness: a product without price,
/// photos or cue cards; a photo that does not exist (an error: import would fail); a text missing
/// a locale that other texts in the catalog have; a FAQ answer missing a locale its questions
/// have; a cue card variant nearly the same as another of the card.
pub fn lint_catalog(catalog: &Catalog, images_exist: impl Fn(&str) -> bool) -> Vec<Finding> {
    let mut linter = Linter { findings: Vec::new(), locales: catalog_locales(catalog) };
    linter.faq(&catalog.faq, "faq");
    for (i, product) in catalog.products.iter().enumerate() {
        let path = format!("products[{i}]");
        let text_fields = [
            ("name", Some(&product.name)),
            ("promo", product.promo.as_ref()),
            ("selling_points", product.selling_points.as_ref()),
        ];
        for (name, text) in text_fields {
            if let Some(text) = text {
                linter.text(text, &join(&path, name));
            }
        }
        if product.price.is_none() {
            linter.warn(join(&path, "price"), "no price: the overlay shows none".into());
        }
        if product.images.is_empty() {
            let message = "no reference photos: vision cannot recognize the product until photos are enrolled";
            linter.warn(join(&path, "images"), message.into());
        }
        for (k, image) in product.images.iter().enumerate() {
            if !images_exist(image) {
                linter.push(Severity::Error, format!("{path}.images[{k}]"), None, format!("{image}: no such file"));
            }
        }
        if product.script.is_empty() {
            let message = "no cue cards: the host gets no cues (`cuebox catalog generate` can write some)";
            linter.warn(join(&path, "script"), message.into());
        }
        for (j, card) in product.script.iter().enumerate() {
            let text_path = format!("{path}.script[{j}].text");
            linter.text(&card.text, &text_path);
            linter.repeated_variants(&card.text, &text_path);
        }
        linter.faq(&product.faq, &join(&path, "faq"));
    }
    linter.findings
}

/// Every locale any text of the catalog is written in.
pub(crate) fn catalog_locales(catalog: &Catalog) -> BTreeSet<String> {
    let mut texts: Vec<&Text> = catalog.faq.iter().flat_map(|e| [&e.q, &e.a]).collect();
    for p in &catalog.products {
        texts.push(&p.name);
        texts.extend(p.promo.iter().chain(&p.selling_points));
        texts.extend(p.script.iter().map(|c| &c.text));
        texts.extend(p.faq.iter().flat_map(|e| [&e.q, &e.a]));
    }
    texts.iter().flat_map(|t| t.0.keys().cloned()).collect()
}

struct Linter {
    findings: Vec<Finding>,
    locales: BTreeSet<String>,
}

impl Linter {
    fn push(&mut self, severity: Severity, path: String, term: Option<String>, message: String) {
        self.findings.push(Finding { severity, path, location: None, term, message });
    }

    fn warn(&mut self, path: String, message: String) {
        self.push(Severity::Warning, path, None, message);
    }

    /// Listed terms in every variant, and the catalog's locales the text lacks.
    fn text(&mut self, text: &Text, path: &str) {
        self.terms(text, path);
        let missing = self.missing_locales(text, |_| true);
        if !missing.is_empty() {
            self.warn(path.to_owned(), format!("no {missing} text, though other texts in the catalog have one"));
        }
    }

    fn terms(&mut self, text: &Text, path: &str) {
        for (locale, variants) in &text.0 {
            for (i, variant) in variants.iter().enumerate() {
                for hit in lint_text(variant, locale) {
                    let term = Some(hit.term.term.clone());
                    self.push(hit.term.severity, format!("{path}.{locale}[{i}]"), term, hit.to_string());
                }
            }
        }
    }

    /// The catalog's locales (chosen by `wanted`) that `text` lacks, joined by ", ".
    fn missing_locales(&self, text: &Text, wanted: impl Fn(&str) -> bool) -> String {
        let missing: Vec<&str> =
            self.locales.iter().map(String::as_str).filter(|l| !text.0.contains_key(*l) && wanted(l)).collect();
        missing.join(", ")
    }

    fn faq(&mut self, entries: &[FaqEntry], path: &str) {
        for (i, entry) in entries.iter().enumerate() {
            let entry_path = format!("{path}[{i}]");
            let missing = self.missing_locales(&entry.q, |_| true);
            if !missing.is_empty() {
                let message = format!("no {missing} phrasing, though other texts in the catalog have one");
                self.warn(join(&entry_path, "q"), message);
            }
            let answer_path = join(&entry_path, "a");
            self.terms(&entry.a, &answer_path);
            let asked = self.missing_locales(&entry.a, |l| entry.q.0.contains_key(l));
            if !asked.is_empty() {
                self.warn(
                    answer_path.clone(),
                    format!("no {asked} answer, though the questions have {asked} phrasings"),
                );
            }
            let other = self.missing_locales(&entry.a, |l| !entry.q.0.contains_key(l));
            if !other.is_empty() {
                self.warn(answer_path, format!("no {other} answer, though other texts in the catalog have one"));
            }
        }
    }

    /// A variant the host would say almost as another one of the same card.
    fn repeated_variants(&mut self, text: &Text, path: &str) {
        for (locale, variants) in &text.0 {
            for (later, variant) in variants.iter().enumerate() {
                let earlier = variants.iter().take(later).enumerate().find_map(|(i, other)| {
                    let score = text_similarity(other, variant);
                    (score >= CUE_NEAR_DUPLICATE).then_some((i, score))
                });
                if let Some((i, score)) = earlier {
                    let message = format!(
                        "nearly the same as variant {i} (similarity {score:.2}): the host would repeat themself"
                    );
                    self.warn(format!("{path}.{locale}[{later}]"), message);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str, locale: &str) -> Vec<String> {
        lint_text(text, locale).into_iter().map(|hit| hit.term.term.clone()).collect()
    }

    #[test]
    fn the_built_in_list_reads_without_problems() {
        let (list, problems) = TermList::parse(WORD_LIST);
        assert!(problems.is_empty(), "{problems:#?}");
        assert_eq!(list.locales().collect::<Vec<_>>(), vec!["en", "zh-CN"]);
        assert!(list.terms("zh-CN").len() >= 40 && list.terms("en").len() >= 25);
        assert_eq!(&list, TermList::embedded());
    }

    #[test]
    fn every_listed_term_is_found_in_a_sentence_and_no_allowed_word_is_flagged() {
        let list = TermList::embedded();
        for locale in list.locales() {
            for term in list.terms(locale) {
                let sentence = if locale == "en" {
                    format!("This is {} for you.", term.term)
                } else {
                    format!("这款{}的商品", term.term)
                };
                let hits = list.check(&sentence, locale);
                assert_eq!(hits.len(), 1, "{sentence}: {hits:?}");
                assert_eq!(hits[0].term, term, "{sentence}");
                assert_eq!(hits[0].found, term.term, "{sentence}");
            }
            for word in list.allowed(locale) {
                assert_eq!(list.check(word, locale), vec![], "{word}");
            }
        }
    }

    #[test]
    fn the_longest_term_wins_and_allowed_words_excuse_only_themselves() {
        assert_eq!(found("这是最佳选择", "zh-CN"), vec!["最佳"]);
        assert_eq!(found("全网最低价，最近很火", "zh-CN"), vec!["全网最低"]);
        assert_eq!(found("最近最好卖", "zh-CN"), vec!["最好"]);
        assert_eq!(found("第一次来的家人，销量第一", "zh-CN"), vec!["第一"]);
        assert_eq!(found("最后三单", "zh-CN"), Vec::<String>::new());
        assert_eq!(found("best before May, best price", "en"), vec!["best"]);
    }

    #[test]
    fn latin_terms_match_whole_words_in_any_case_and_width() {
        assert_eq!(found("The BEST-selling mug", "en"), vec!["best"]);
        assert_eq!(found("bestow a gift on the bestsellers", "en"), vec!["bestseller"]);
        assert_eq!(found("It cures colds; not for cured ham or secure lids", "en"), vec!["cure"]);
        assert_eq!(
            found("World-class, our No.1 and #1, number-one", "en"),
            vec!["world class", "no. 1", "#1", "number one"]
        );
        assert_eq!(found("#10 in line, no. 12", "en"), Vec::<String>::new());
        assert_eq!(found("销量ＮＯ．１，好评率１００％", "zh-CN"), vec!["NO. 1", "100%"]);
        let hit = &lint_text("好评率１００％", "zh-CN")[0];
        assert_eq!((hit.found.as_str(), hit.range.clone()), ("１００％", 9..21));
    }

    #[test]
    fn a_locale_picks_its_list_and_an_unlisted_locale_gets_every_list() {
        assert_eq!(found("最高の品質 best", "ja"), vec!["最", "best"]);
        assert_eq!(found("the best", "en-GB"), vec!["best"]);
        assert_eq!(found("the best 最好", "zh-CN"), vec!["最好"]);
        assert_eq!(found("the best 最好", "zh-TW"), vec!["最好"]);
    }

    #[test]
    fn a_bad_word_list_keeps_its_good_entries_and_reports_the_rest() {
        let text = "version: 1\nlocales:\n  en:\n    allow: [best before, fine]\n    terms:\n      - {term: best, category: superlative, reason: r, suggest: s}\n      - {term: top, category: topness, reason: r, suggest: s}\n      - {term: best, category: superlative, reason: r, suggest: s}\n      - {term: only, category: absolute, reason: r}\n  not a locale: {terms: []}\n";
        let (list, problems) = TermList::parse(text);
        let messages: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(messages.len(), 5, "{messages:#?}");
        for expected in [
            "allow[1]: \"fine\" contains no listed term",
            "\"topness\" is not one of",
            "\"best\" is listed twice",
            "terms[3].suggest: missing",
            "not a locale",
        ] {
            assert!(messages.iter().any(|m| m.contains(expected)), "{expected} not in {messages:#?}");
        }
        assert_eq!(list.terms("en").len(), 1);
        assert_eq!(list.check("best before best", "en").len(), 1);
    }

    #[test]
    fn findings_render_with_place_severity_and_path() {
        let finding = Finding {
            severity: Severity::Warning,
            path: "products[0].price".into(),
            location: Some(Location { line: 3, column: 5 }),
            term: None,
            message: "no price".into(),
        };
        assert_eq!(finding.to_string(), "3:5: warning: products[0].price: no price");
        assert_eq!(Finding { location: None, ..finding }.to_string(), "warning: products[0].price: no price");
    }

    #[test]
    fn completeness_findings_name_what_is_missing() {
        let text = "version: 1\nfaq: [{id: s, q: {en: when, zh-CN: 何时}, a: {zh-CN: 很快}}]\nproducts:\n  - {sku: A, name: {en: Mug}, images: [a.jpg, gone.jpg], script: [{id: i, text: {en: [Hello there friends, Hello there friends!], zh-CN: 你好}}]}\n";
        let findings = lint_source(text, |image| image == "a.jpg");
        let rendered: Vec<String> = findings.iter().map(ToString::to_string).collect();
        let expected = [
            "2:45: warning: faq[0].a: no en answer, though the questions have en phrasings",
            "4:6: warning: products[0].price: no price: the overlay shows none",
            "4:21: warning: products[0].name: no zh-CN text, though other texts in the catalog have one",
            "4:47: error: products[0].images[1]: gone.jpg: no such file",
            "4:108: warning: products[0].script[0].text.en[1]: nearly the same as variant 0 (similarity 1.00)",
        ];
        assert_eq!(rendered.len(), expected.len(), "{rendered:#?}");
        for (got, want) in rendered.iter().zip(expected) {
            assert!(got.starts_with(want), "{got:?} should start with {want:?}");
        }
    }

    #[test]
    fn parse_problems_are_error_findings() {
        let findings = lint_source("version: 1\nproducts: [{sku: A}]\n", |_| true);
        assert_eq!(
            findings.iter().map(ToString::to_string).collect::<Vec<_>>(),
            vec!["2:13: error: products[0].name: missing"]
        );
    }
}
