//! Text to matchable terms: normalisation, tokens, how informative a token is, and the
//! OCR-aware edit distance between two words.

/// What a term is, which decides how it is compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// A run of letters (any alphabetic script but Han), possibly with digits.
    Word,
    /// A run of ASCII digits only.
    Number,
    /// Two consecutive Han characters.
    HanBigram,
}

/// A matchable piece of text. `parts` are the tokens it stands for: one, or two for a compound
/// (adjacent words written together, as OCR often reads "PAN DUCALE" as "PANDUCALE").
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Term {
    pub text: String,
    pub kind: Kind,
    pub parts: [Option<usize>; 2],
}

/// The tokens of a text (words, numbers, Han bigrams: each a unit of evidence) and the terms
/// to match them by: every token, plus each pair of adjacent words or numbers joined.
#[derive(Debug, Default)]
pub(super) struct Tokens {
    pub tokens: Vec<(String, Kind)>,
    pub terms: Vec<Term>,
}

/// Packaging words that say nothing about which product it is (in any catalog), and Han
/// phrases whose bigrams do the same. Listed words weigh nothing.
const GENERIC_WORDS: &[&str] = &[
    "new",
    "net",
    "wt",
    "weight",
    "ml",
    "kg",
    "oz",
    "lb",
    "lbs",
    "the",
    "and",
    "with",
    "for",
    "of",
    "in",
    "free",
    "natural",
    "original",
    "classic",
    "made",
    "product",
    "ingredients",
    "best",
    "before",
    "exp",
    "lot",
    "mfg",
    "contents",
    "pack",
    "size",
    "fresh",
    "quality",
    "premium",
    "flavor",
    "flavour",
    "www",
    "com",
];
const GENERIC_HAN: &[&str] = &[
    "新品",
    "净含量",
    "配料表",
    "配料",
    "保质期",
    "生产日期",
    "生产商",
    "产地",
    "产品",
    "规格",
    "食品",
    "成分",
    "营养成分",
    "贮存",
    "储存",
    "方法",
    "有限公司",
    "制造商",
    "地址",
    "电话",
    "批号",
    "天然",
    "经典",
    "正品",
];

/// Lowercase, full-width forms as ASCII; everything that is not a letter, digit or Han
/// character becomes a space.
pub(super) fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = match u32::from(c) {
            code @ 0xFF01..=0xFF5E => char::from_u32(code - 0xFEE0).unwrap_or(' '),
            _ => c,
        };
        if is_han(c) || c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else {
            out.push(' ');
        }
    }
    out
}

pub(super) fn is_han(c: char) -> bool {
    matches!(u32::from(c), 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

/// The tokens and terms of one line of text.
pub(super) fn tokenise(text: &str) -> Tokens {
    let normalised = normalise(text);
    let mut tokens = Tokens::default();
    // The index of the previous word or number, while no Han run lies between.
    let mut previous_word: Option<usize> = None;
    for run in split_runs(&normalised) {
        let chars: Vec<char> = run.chars().collect();
        if chars.first().is_some_and(|&c| is_han(c)) {
            previous_word = None;
            for (first, second) in chars.iter().zip(chars.iter().skip(1)) {
                tokens.push([first, second].into_iter().collect(), Kind::HanBigram);
            }
            continue;
        }
        let kind = if chars.iter().all(char::is_ascii_digit) { Kind::Number } else { Kind::Word };
        let index = tokens.push(run.to_owned(), kind);
        if let Some((before, (text, before_kind))) = previous_word.and_then(|b| Some((b, tokens.tokens.get(b)?))) {
            let joined = format!("{text}{run}");
            let kind = if kind == Kind::Number && *before_kind == Kind::Number { kind } else { Kind::Word };
            tokens.terms.push(Term { text: joined, kind, parts: [Some(before), Some(index)] });
        }
        previous_word = Some(index);
    }
    tokens
}

impl Tokens {
    fn push(&mut self, text: String, kind: Kind) -> usize {
        let index = self.tokens.len();
        self.terms.push(Term { text: text.clone(), kind, parts: [Some(index), None] });
        self.tokens.push((text, kind));
        index
    }
}

/// Maximal runs of Han characters and of other letters and digits, in order.
fn split_runs(normalised: &str) -> Vec<&str> {
    let mut runs = Vec::new();
    let mut start: Option<(usize, bool)> = None;
    for (at, c) in normalised.char_indices() {
        let class = (c != ' ').then(|| is_han(c));
        match (start, class) {
            (Some((from, han)), Some(now)) if han != now => {
                runs.push(&normalised[from..at]);
                start = Some((at, now));
            }
            (Some((from, _)), None) => {
                runs.push(&normalised[from..at]);
                start = None;
            }
            (None, Some(now)) => start = Some((at, now)),
            _ => {}
        }
    }
    if let Some((from, _)) = start {
        runs.push(&normalised[from..]);
    }
    runs
}

/// How much a token says about which product it is, before counting how many products print
/// it: 0 for generic or too short tokens, up to 1 for a long word and 2 for a long code.
pub(super) fn information(text: &str, kind: Kind) -> f32 {
    let length = text.chars().count();
    match kind {
        Kind::HanBigram if GENERIC_HAN.iter().any(|phrase| phrase.contains(text)) => 0.0,
        Kind::HanBigram => 0.75,
        Kind::Number => match length {
            0..=3 => 0.0,
            4..=7 => 0.5,
            _ => 2.0,
        },
        Kind::Word if GENERIC_WORDS.contains(&text) || is_quantity(text) => 0.0,
        Kind::Word => match length {
            0..=2 => 0.0,
            3 => 0.35,
            4 => 0.6,
            5 => 0.8,
            _ => 1.0,
        },
    }
}

/// Digits followed by a unit of one or two letters ("250g", "500ml", "8oz"): a quantity.
fn is_quantity(text: &str) -> bool {
    let letters = text.trim_start_matches(|c: char| c.is_ascii_digit());
    letters.len() < text.len() && (1..=2).contains(&letters.chars().count()) && letters.chars().all(char::is_alphabetic)
}

/// Characters OCR confuses with each other; substituting one for the other costs
/// [`CONFUSABLE_COST`] instead of 1.
const CONFUSABLE: &[(char, char)] =
    &[('o', '0'), ('l', '1'), ('i', '1'), ('i', 'l'), ('s', '5'), ('b', '8'), ('z', '2'), ('g', '9'), ('u', 'v')];
const CONFUSABLE_COST: f32 = 0.25;

fn substitution_cost(a: char, b: char) -> f32 {
    if a == b {
        0.0
    } else if CONFUSABLE.iter().any(|&(x, y)| (x, y) == (a, b) || (y, x) == (a, b)) {
        CONFUSABLE_COST
    } else {
        1.0
    }
}

/// The edit distance (insertion, deletion 1; substitution 1, or less between characters OCR
/// confuses), or `None` when it exceeds `limit`.
#[expect(clippy::indexing_slicing, reason = "the two rows have b.len() + 1 entries and j < b.len()")]
pub(super) fn edit_distance(a: &[char], b: &[char], limit: f32) -> Option<f32> {
    if (a.len() as f32 - b.len() as f32).abs() > limit {
        return None;
    }
    let mut previous: Vec<f32> = (0..=b.len()).map(|j| j as f32).collect();
    let mut current = vec![0.0; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        current[0] = (i + 1) as f32;
        let mut row_min = current[0];
        for (j, &cb) in b.iter().enumerate() {
            let value = (previous[j] + substitution_cost(ca, cb)).min(previous[j + 1] + 1.0).min(current[j] + 1.0);
            current[j + 1] = value;
            row_min = row_min.min(value);
        }
        if row_min > limit {
            return None;
        }
        std::mem::swap(&mut previous, &mut current);
    }
    let distance = previous[b.len()];
    (distance <= limit).then_some(distance)
}

/// The edits an enrolled word or number of `kind` tolerates in what was read: a confusion in a
/// short number, one edit in a long code, and for words about one edit in four characters.
pub(super) fn tolerance(kind: Kind, length: usize) -> f32 {
    match kind {
        Kind::HanBigram => 0.0,
        Kind::Number if length >= 8 => 1.0,
        Kind::Number => CONFUSABLE_COST,
        Kind::Word => length.saturating_sub(1) as f32 / 4.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(tokens: &Tokens) -> Vec<&str> {
        tokens.terms.iter().map(|t| t.text.as_str()).collect()
    }

    #[test]
    fn normalisation_folds_full_width_and_case_and_drops_punctuation() {
        assert_eq!(normalise("ＡＢＣ１２３！Tea-Time"), "abc123 tea time");
        assert_eq!(normalise("100%"), "100 ");
        assert_eq!(normalise("茉莉花茶，Ｎｅｗ"), "茉莉花茶 new");
    }

    #[test]
    fn words_numbers_compounds_and_han_bigrams() {
        let tokens = tokenise("PAN DUCALE 250 g 山岚茶舍");
        assert_eq!(
            texts(&tokens),
            ["pan", "ducale", "panducale", "250", "ducale250", "g", "250g", "山岚", "岚茶", "茶舍"]
        );
        assert_eq!(tokens.tokens.len(), 7);
        assert_eq!(tokens.terms[2].parts, [Some(0), Some(1)]);
        assert_eq!(tokens.terms[2].kind, Kind::Word);
        let han_between = tokenise("abc 茶 def");
        assert_eq!(texts(&han_between), ["abc", "def"], "a single Han character is no token and breaks compounds");
    }

    #[test]
    fn other_scripts_are_words_and_symbols_vanish() {
        assert_eq!(texts(&tokenise("Чай зелёный")), ["чай", "зелёный", "чайзелёный"]);
        assert!(tokenise("🍵 ★ — …").terms.is_empty());
        assert!(tokenise("").terms.is_empty());
    }

    #[test]
    fn generic_and_short_tokens_carry_no_information() {
        for (text, kind) in [("new", Kind::Word), ("ml", Kind::Word), ("a", Kind::Word), ("250g", Kind::Word)] {
            assert_eq!(information(text, kind), 0.0, "{text}");
        }
        assert_eq!(information("100", Kind::Number), 0.0);
        assert_eq!(information("含量", Kind::HanBigram), 0.0);
        assert!(information("cantuccini", Kind::Word) > information("tea", Kind::Word));
        assert!(information("6901234567892", Kind::Number) > information("cantuccini", Kind::Word));
        assert!(information("茉莉", Kind::HanBigram) > 0.0);
    }

    #[test]
    fn edit_distance_is_cheaper_for_ocr_confusions() {
        let chars = |s: &str| s.chars().collect::<Vec<char>>();
        assert_eq!(edit_distance(&chars("cantuccini"), &chars("cantucc1ni"), 2.0), Some(0.25));
        assert_eq!(edit_distance(&chars("cookies"), &chars("cookes"), 2.0), Some(1.0));
        assert_eq!(edit_distance(&chars("69o1234567892"), &chars("6901234567892"), 1.0), Some(0.25));
        assert_eq!(edit_distance(&chars("jasmine"), &chars("oolong"), 1.5), None);
        assert_eq!(edit_distance(&chars("abc"), &chars("abcdef"), 2.0), None);
        assert_eq!(edit_distance(&[], &chars("ab"), 2.0), Some(2.0));
    }
}
