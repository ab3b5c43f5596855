//! Text → search terms, in three views of the same text, each indexed on its own:
//! - words: Chinese cut into words by jieba (its dictionary is compiled into the binary);
//! - characters: pairs of neighbouring Han characters, which meet even where jieba cuts a
//!   question and a phrasing differently ("能开发票吗" is 开发/票 to jieba);
//! - sounds: the pinyin of those pairs, so a homophone typed by a pinyin input method ("包油"
//!   for "包邮") still meets its word.
//!
//! Latin words (stemmed: "shipping" → "ship"; in questions corrected by one edit to a word the
//! FAQ uses: "dishwaser" → "dishwasher") and numbers are in every view. Words that say nothing
//! about what is asked ("主播", "请问", "the", "can") are dropped.

use std::collections::{HashMap, HashSet};

use jieba_rs::Jieba;
use pinyin::ToPinyin;
use rust_stemmers::{Algorithm, Stemmer};

use super::text::{Script, normalise, words};

/// Marks a sound term, so that it never equals a Latin word ("~la" is the sound of 辣).
const SOUND_MARK: char = '~';
/// Shortest Latin word a question may have corrected: shorter ones are too easily another word.
const SHORTEST_CORRECTED: usize = 4;

/// Chat fillers and grammar words in Chinese: forms of address, particles, pronouns, modals.
const CHINESE_STOP_WORDS: &[&str] = &[
    "主播",
    "主播们",
    "家人",
    "家人们",
    "姐妹",
    "姐妹们",
    "小姐姐",
    "老铁",
    "老铁们",
    "亲",
    "亲们",
    "大家",
    "各位",
    "请问",
    "问下",
    "问一下",
    "问问",
    "想问",
    "想问下",
    "求问",
    "一下",
    "那么",
    "这么",
    "这样",
    "那样",
    "的话",
    "的",
    "了",
    "吗",
    "呢",
    "啊",
    "呀",
    "吧",
    "嘛",
    "哦",
    "喔",
    "哈",
    "啦",
    "么",
    "哟",
    "呐",
    "嗯",
    "额",
    "呃",
    "诶",
    "哎",
    "吖",
    "滴",
    "捏",
    "鸭",
    "着",
    "过",
    "地",
    "得",
    "在",
    "和",
    "跟",
    "与",
    "及",
    "或",
    "还是",
    "就",
    "都",
    "也",
    "还",
    "又",
    "我",
    "你",
    "您",
    "他",
    "她",
    "它",
    "我们",
    "你们",
    "他们",
    "她们",
    "咱",
    "咱们",
    "俺",
    "自己",
    "人家",
    "这",
    "那",
    "这个",
    "那个",
    "这款",
    "那款",
    "这件",
    "那件",
    "这种",
    "那种",
    "这些",
    "那些",
    "此",
    "该",
    "是",
    "是不是",
    "是否",
    "能",
    "能不能",
    "可以",
    "可不可以",
    "可否",
    "会",
    "会不会",
    "要",
    "要不要",
    "需要",
    "有",
    "有没有",
    "请",
    "麻烦",
    "谢谢",
    "一个",
    "个",
];

/// Grammar words in English questions and chat.
const ENGLISH_STOP_WORDS: &[&str] = &[
    "a", "an", "the", "is", "are", "am", "was", "were", "be", "been", "being", "do", "does", "did", "doing", "done",
    "i", "im", "me", "my", "mine", "you", "your", "yours", "u", "ur", "we", "our", "us", "they", "them", "their", "he",
    "she", "his", "her", "him", "it", "its", "this", "that", "these", "those", "there", "here", "of", "to", "in", "on",
    "at", "for", "with", "from", "by", "about", "as", "into", "and", "or", "but", "if", "so", "than", "then", "too",
    "very", "just", "also", "please", "pls", "plz", "can", "could", "would", "will", "should", "shall", "may", "might",
    "must", "have", "has", "had", "what", "whats", "which", "who", "whom", "how", "when", "where", "why", "any",
    "some", "get", "got", "one", "ones", "much", "many", "hi", "hey", "hello", "guys", "dear", "ok", "okay", "s", "t",
    "d", "ll", "re", "ve", "m",
];

/// Turns texts into search terms; built once (loading jieba's dictionary takes a moment).
pub(crate) struct Analyzer {
    jieba: Jieba,
    stemmer: Stemmer,
    stop_words: HashSet<&'static str>,
}

/// One way of describing a text by its terms (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum View {
    Words,
    Characters,
    Sounds,
}

pub(crate) const VIEWS: [View; 3] = [View::Words, View::Characters, View::Sounds];

impl View {
    /// This view's entry of an array with one entry per view, in the order of `VIEWS`.
    pub(crate) fn of<T>(self, [words, characters, sounds]: &[T; 3]) -> &T {
        match self {
            View::Words => words,
            View::Characters => characters,
            View::Sounds => sounds,
        }
    }

    fn of_mut<T>(self, [words, characters, sounds]: &mut [T; 3]) -> &mut T {
        match self {
            View::Words => words,
            View::Characters => characters,
            View::Sounds => sounds,
        }
    }
}

/// A text's distinct terms in each view, in order of first appearance.
#[derive(Debug, Default)]
pub(crate) struct Terms([Vec<String>; 3], Vec<String>);

/// Longest run of letters that makes a compound with the Han characters after it.
const COMPOUND_LETTERS: usize = 2;

impl Terms {
    /// Product words written as a letter or two and Han characters ("T恤", "U盘", "A字裙"),
    /// which the views split apart: the letters and the first Han character that follows them
    /// ("t恤"). They only tell which product a question names.
    pub(crate) fn compounds(&self) -> &[String] {
        &self.1
    }

    pub(crate) fn of(&self, view: View) -> &[String] {
        view.of(&self.0).as_slice()
    }

    /// Whether the text had nothing to search for (fillers, punctuation and emoji only).
    pub(crate) fn is_empty(&self) -> bool {
        self.0.iter().all(Vec::is_empty)
    }

    fn push(&mut self, view: View, term: String) {
        view.of_mut(&mut self.0).push(term);
    }

    fn push_to_every_view(&mut self, term: String) {
        for view in VIEWS {
            self.push(view, term.clone());
        }
    }
}

impl Analyzer {
    pub(crate) fn new() -> Self {
        let mut jieba = Jieba::new();
        // Newer chat words ("主播") are not in jieba's dictionary: cut them whole to drop them.
        for word in CHINESE_STOP_WORDS.iter().filter(|w| w.chars().count() > 1) {
            if !jieba.has_word(word) {
                jieba.add_word(word, None, None);
            }
        }
        Self {
            jieba,
            stemmer: Stemmer::create(Algorithm::English),
            stop_words: CHINESE_STOP_WORDS.iter().chain(ENGLISH_STOP_WORDS).copied().collect(),
        }
    }

    /// The terms of `text` in every view. With `spelling`, Latin words it does not know are
    /// replaced by the known word one edit away, if any.
    pub(crate) fn terms(&self, text: &str, spelling: Option<&Spelling>) -> Terms {
        let normalised = normalise(text);
        let mut terms = Terms::default();
        let mut previous: Option<(Script, &str)> = None;
        for (script, word) in words(&normalised) {
            if let (Some((Script::Latin, letters)), Script::Han) = (previous, script)
                && letters.chars().count() <= COMPOUND_LETTERS
                && let Some(first) = word.chars().next()
            {
                terms.1.push(format!("{letters}{first}"));
            }
            previous = Some((script, word));
            match script {
                Script::Han => self.han_terms(word, &mut terms),
                Script::Latin if !self.stop_words.contains(word) => {
                    let word = spelling.and_then(|s| s.correct(word)).unwrap_or(word);
                    terms.push_to_every_view(self.stemmer.stem(word).into_owned());
                }
                Script::Latin => {}
                Script::Number => terms.push_to_every_view(word.to_owned()),
            }
        }
        for list in &mut terms.0 {
            let mut seen = HashSet::new();
            list.retain(|term| seen.insert(term.clone()));
        }
        terms
    }

    /// The Latin words of `text` a question may be corrected to (not stop words, long enough).
    pub(crate) fn correctable_words(&self, text: &str) -> Vec<String> {
        words(&normalise(text))
            .filter(|&(script, word)| {
                script == Script::Latin && word.chars().count() >= SHORTEST_CORRECTED && !self.stop_words.contains(word)
            })
            .map(|(_, word)| word.to_owned())
            .collect()
    }

    /// Jieba's words without the stop words; the character and sound pairs within each
    /// stretch of words that no stop word interrupts (the character itself, and its sound,
    /// for a stretch of one).
    fn han_terms(&self, text: &str, terms: &mut Terms) {
        let mut stretch: Vec<char> = Vec::new();
        for token in self.jieba.cut(text, false) {
            if self.stop_words.contains(token.word) {
                push_pairs(&stretch, terms);
                stretch.clear();
            } else {
                terms.push(View::Words, token.word.to_owned());
                stretch.extend(token.word.chars());
            }
        }
        push_pairs(&stretch, terms);
    }
}

fn push_pairs(stretch: &[char], terms: &mut Terms) {
    let sound = |c: char| c.to_pinyin().map_or_else(|| c.to_string(), |pinyin| pinyin.plain().to_owned());
    if let [only] = stretch {
        terms.push(View::Characters, only.to_string());
        terms.push(View::Sounds, format!("{SOUND_MARK}{}", sound(*only)));
    }
    for (&first, &second) in stretch.iter().zip(stretch.iter().skip(1)) {
        terms.push(View::Characters, [first, second].iter().collect());
        terms.push(View::Sounds, format!("{SOUND_MARK}{}|{}", sound(first), sound(second)));
    }
}

/// The Latin words of the FAQ, for correcting questions by one edit (insertion, deletion,
/// substitution or swap of neighbours), looked up through their one-deletion variants.
pub(crate) struct Spelling {
    /// Each known word and how often the FAQ uses it.
    known: HashMap<String, usize>,
    /// Each one-deletion variant of a known word → the known words it comes from.
    variants: HashMap<String, Vec<String>>,
}

impl Spelling {
    pub(crate) fn new<'a>(words: impl IntoIterator<Item = &'a str>) -> Self {
        let mut known: HashMap<String, usize> = HashMap::new();
        for word in words {
            *known.entry(word.to_owned()).or_default() += 1;
        }
        let mut variants: HashMap<String, Vec<String>> = HashMap::new();
        for word in known.keys() {
            for variant in deletions(word) {
                variants.entry(variant).or_default().push(word.clone());
            }
        }
        Self { known, variants }
    }

    /// The most used known word one edit away from an unknown `word`; `None` if `word` is
    /// known, short, or has no such neighbour.
    pub(crate) fn correct(&self, word: &str) -> Option<&str> {
        if self.known.contains_key(word) || word.chars().count() < SHORTEST_CORRECTED {
            return None;
        }
        let mut candidates: Vec<&str> = Vec::new();
        if let Some(words) = self.variants.get(word) {
            candidates.extend(words.iter().map(String::as_str));
        }
        for variant in deletions(word) {
            if let Some((known, _)) = self.known.get_key_value(&variant) {
                candidates.push(known);
            }
            if let Some(words) = self.variants.get(&variant) {
                candidates.extend(words.iter().map(String::as_str));
            }
        }
        candidates
            .into_iter()
            .filter(|candidate| within_one_edit(word, candidate))
            .max_by(|a, b| self.known.get(*a).cmp(&self.known.get(*b)).then_with(|| b.cmp(a)))
    }
}

fn deletions(word: &str) -> impl Iterator<Item = String> + '_ {
    word.char_indices().map(move |(at, c)| {
        let (before, after) = (word.get(..at), word.get(at + c.len_utf8()..));
        format!("{}{}", before.unwrap_or_default(), after.unwrap_or_default())
    })
}

/// Optimal string alignment distance ≤ 1 (one insertion, deletion, substitution or swap).
fn within_one_edit(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let (a, b) = (a.get(prefix..).unwrap_or_default(), b.get(prefix..).unwrap_or_default());
    let swapped = |a: &[char], b: &[char]| matches!((a, b), ([a0, a1, a_rest @ ..], [b0, b1, b_rest @ ..]) if a0 == b1 && a1 == b0 && a_rest == b_rest);
    match (a, b) {
        ([], []) => true,
        ([_, a_rest @ ..], [_, b_rest @ ..]) if a.len() == b.len() => a_rest == b_rest || swapped(a, b),
        ([_, a_rest @ ..], _) if a.len() == b.len() + 1 => a_rest == b,
        (_, [_, b_rest @ ..]) if b.len() == a.len() + 1 => a == b_rest,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analyzer() -> &'static Analyzer {
        static ANALYZER: std::sync::OnceLock<Analyzer> = std::sync::OnceLock::new();
        ANALYZER.get_or_init(Analyzer::new)
    }

    #[test]
    fn chinese_is_described_by_words_character_pairs_and_sounds_without_chat_fillers() {
        let terms = analyzer().terms("主播，这个能用洗碗机吗？？？辣吗", None);
        assert_eq!(terms.of(View::Words), ["用", "洗碗机", "辣"]);
        assert_eq!(terms.of(View::Characters), ["用洗", "洗碗", "碗机", "辣"]);
        assert_eq!(terms.of(View::Sounds), ["~yong|xi", "~xi|wan", "~wan|ji", "~la"]);
    }

    #[test]
    fn a_homophone_typo_keeps_the_sounds_of_the_word() {
        let right = analyzer().terms("包邮吗", None);
        let typo = analyzer().terms("包油吗", None);
        assert_eq!(right.of(View::Sounds), ["~bao|you"]);
        assert_eq!(typo.of(View::Sounds), ["~bao|you"]);
        assert_ne!(right.of(View::Characters), typo.of(View::Characters));
    }

    #[test]
    fn latin_words_and_numbers_are_in_every_view_stemmed_without_stop_words() {
        for view in VIEWS {
            assert_eq!(analyzer().terms("How long does SHIPPING take?", None).of(view), ["long", "ship", "take"]);
            assert_eq!(analyzer().terms("10000mAh", None).of(view), ["10000", "mah"]);
        }
        assert_eq!(analyzer().terms("这个dishwasher safe吗", None).of(View::Sounds), ["dishwash", "safe"]);
    }

    #[test]
    fn fillers_punctuation_and_emoji_leave_nothing_to_search() {
        for message in ["主播在吗？？", "🌹🌹🌹", "how are you", ""] {
            assert!(analyzer().terms(message, None).is_empty(), "{message:?}");
        }
        assert!(!analyzer().terms("666", None).is_empty());
    }

    #[test]
    fn unknown_latin_words_are_corrected_by_one_edit() {
        let spelling = Spelling::new(["dishwasher", "shipping", "warranty", "waterproof"]);
        assert_eq!(spelling.correct("dishwaser"), Some("dishwasher"));
        assert_eq!(spelling.correct("shpiping"), Some("shipping"), "a swap of neighbours");
        assert_eq!(spelling.correct("warrranty"), Some("warranty"));
        assert_eq!(spelling.correct("waterprof"), Some("waterproof"));
        assert_eq!(spelling.correct("shipping"), None, "known");
        assert_eq!(spelling.correct("garantee"), None, "two edits away from anything");
        assert_eq!(spelling.correct("shp"), None, "too short");
        let terms = analyzer().terms("is it dishwaser safe", Some(&spelling));
        assert_eq!(terms.of(View::Words), ["dishwash", "safe"]);
    }

    #[test]
    fn correction_prefers_the_word_the_faq_uses_most() {
        let spelling = Spelling::new(["cold", "cold", "bold"]);
        assert_eq!(spelling.correct("xold"), Some("cold"));
    }

    #[test]
    fn edit_distance_of_one() {
        assert!(within_one_edit("abc", "abc"));
        assert!(within_one_edit("abc", "abd"));
        assert!(within_one_edit("abc", "acb"));
        assert!(within_one_edit("abc", "abcd"));
        assert!(within_one_edit("abcd", "acd"));
        assert!(!within_one_edit("abc", "cab"));
        assert!(!within_one_edit("abcd", "ab"));
        assert!(!within_one_edit("abcd", "badc"));
    }
}
