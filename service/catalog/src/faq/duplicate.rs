//! Telling when many viewers ask the same thing, so the host sees "12 viewers asked: 包邮吗"
//! once instead of twelve prompts. Two messages are near duplicates when, once normalised
//! (width, case, punctuation, emoji and typed-over characters gone), the pairs of neighbouring
//! characters they are made of mostly coincide (Jaccard similarity of the character bigrams).

use std::collections::BTreeSet;

use super::text::normalise;

/// Smallest Jaccard similarity of two messages' character bigrams that makes them the same question.
pub const NEAR_DUPLICATE_SIMILARITY: f32 = 0.5;

/// A viewer message reduced to what near-duplicate detection compares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuestionKey {
    /// The normalised message without spaces: identical for messages that differ only in noise.
    text: String,
    bigrams: BTreeSet<(char, char)>,
}

impl QuestionKey {
    pub fn new(message: &str) -> Self {
        let text: String = normalise(message).chars().filter(|c| *c != ' ').collect();
        let chars: Vec<char> = text.chars().collect();
        let bigrams = match chars.as_slice() {
            [only] => BTreeSet::from([(*only, *only)]),
            _ => chars.iter().copied().zip(chars.iter().copied().skip(1)).collect(),
        };
        Self { text, bigrams }
    }

    /// The normalised message: equal keys mean messages that differ only in noise.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Jaccard similarity of the two messages' character bigrams, from 0 to 1.
    pub fn similarity(&self, other: &Self) -> f32 {
        let union = self.bigrams.union(&other.bigrams).count();
        if union == 0 {
            return if self.text == other.text { 1.0 } else { 0.0 };
        }
        self.bigrams.intersection(&other.bigrams).count() as f32 / union as f32
    }

    pub fn is_near_duplicate(&self, other: &Self) -> bool {
        self.similarity(other) >= NEAR_DUPLICATE_SIMILARITY
    }
}

/// Whether two viewer messages ask the same thing in nearly the same words.
pub fn near_duplicate(a: &str, b: &str) -> bool {
    QuestionKey::new(a).is_near_duplicate(&QuestionKey::new(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_does_not_make_a_different_question() {
        assert_eq!(QuestionKey::new("包邮吗？？？😭").text(), "包邮吗");
        assert_eq!(QuestionKey::new("包邮吗？？？😭"), QuestionKey::new("包邮吗"));
        assert_eq!(QuestionKey::new("ＦＲＥＥ Shipping!!"), QuestionKey::new("free shipping?"));
        assert!(near_duplicate("包邮吗吗吗", "包邮吗"));
    }

    #[test]
    fn small_additions_and_changes_are_near_duplicates() {
        assert!(near_duplicate("主播包邮吗", "包邮吗"));
        assert!(near_duplicate("耳机续航多久", "耳机续航多长"));
        assert!(near_duplicate("is shipping free", "free shipping?"));
        assert!(near_duplicate("这个多少钱", "那个多少钱"));
    }

    #[test]
    fn different_questions_are_not() {
        assert!(!near_duplicate("能用洗碗机吗", "能用烘干机吗"));
        assert!(!near_duplicate("几号发货", "什么时候发货"));
        assert!(!near_duplicate("包邮吗", "能退货吗"));
        assert!(!near_duplicate("666", "888"));
    }

    #[test]
    fn messages_of_nothing_but_noise_are_alike_and_single_characters_compare() {
        assert!(near_duplicate("？？？", "🌹🌹"));
        assert!(near_duplicate("6", "6"));
        assert!(!near_duplicate("6", "8"));
        assert!(!near_duplicate("？？？", "包邮吗"));
        assert_eq!(QuestionKey::new("好").similarity(&QuestionKey::new("好")), 1.0);
    }
}
